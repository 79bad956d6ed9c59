package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/coder/websocket"

	"tickcompact/internal/isin"
)

// The close codes the gateway sends besides the standard ones (1001 going
// away on shutdown, 1009 message too big, 1013 try again later when the
// connection limit is reached).
const (
	// CloseSlowClient: the client stayed behind for longer than
	// websocket.max_lag, or a write to it timed out.
	CloseSlowClient websocket.StatusCode = 4008
	// CloseNoPong: the client did not answer a ping in time.
	CloseNoPong websocket.StatusCode = 4009
)

// The message types. Inbound: subscribe. Outbound: snapshot, updates, error.
const (
	typeSubscribe = "subscribe"
	typeSnapshot  = "snapshot"
	typeUpdates   = "updates"
	typeError     = "error"
)

// subscription is the set of ISINs a client follows.
type subscription struct {
	// all follows every ISIN; isins is then nil.
	all   bool
	isins map[string]struct{}
}

func (s subscription) has(id string) bool {
	if s.all {
		return true
	}
	_, ok := s.isins[id]
	return ok
}

// subscribeRequest is the one inbound message: it replaces the client's
// subscription.
type subscribeRequest struct {
	Type  string   `json:"type"`
	ISINs []string `json:"isins"`
	All   bool     `json:"all"`
}

// errBadRequest is wrapped by every parseRequest error; its text is sent to
// the client.
var errBadRequest = errors.New("bad request")

// parseRequest reads one inbound message: a subscribe to all ISINs or to a
// list of at most maxISINs valid ones (duplicates allowed and merged).
func parseRequest(data []byte, maxISINs int) (subscription, error) {
	bad := func(format string, args ...any) (subscription, error) {
		return subscription{}, fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req subscribeRequest
	if err := dec.Decode(&req); err != nil {
		return bad("not a JSON object of the form {\"type\":\"subscribe\",\"isins\":[...]} or {\"type\":\"subscribe\",\"all\":true}: %v", err)
	}
	if dec.More() {
		return bad("more than one JSON value in one message")
	}
	switch {
	case req.Type != typeSubscribe:
		return bad("unknown type %q: the only request is %q", req.Type, typeSubscribe)
	case req.All && len(req.ISINs) > 0:
		return bad(`give either "all": true or "isins", not both`)
	case req.All:
		return subscription{all: true}, nil
	case len(req.ISINs) > maxISINs:
		return bad("%d ISINs in one subscription, the limit is %d (subscribe to all instead)", len(req.ISINs), maxISINs)
	}
	set := make(map[string]struct{}, len(req.ISINs))
	for _, id := range req.ISINs {
		if !isin.ValidString(id) {
			return bad("%q is not a valid ISIN (12 characters, ISO 6166 check digit)", clip(id))
		}
		set[id] = struct{}{}
	}
	return subscription{isins: set}, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// appendItems appends the envelopes of items as a JSON array.
func appendItems(dst []byte, items []*item) []byte {
	dst = append(dst, '[')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, it.envelope...)
	}
	return append(dst, ']')
}

// updatesFrame is {"type":"updates","items":[envelope,...]}.
func updatesFrame(dst []byte, items []*item) []byte {
	size := len(`{"type":"`+typeUpdates+`","items":[]}`) + len(items)
	for _, it := range items {
		size += len(it.envelope)
	}
	// Sized once: a frame of 900 envelopes would otherwise grow through
	// a dozen copies, and clients of all ISINs build one per cursor.
	dst = slices.Grow(dst[:0], size)
	dst = append(dst, `{"type":"`+typeUpdates+`","items":`...)
	dst = appendItems(dst, items)
	return append(dst, '}')
}

// snapshotFrame is {"type":"snapshot","all":bool,"isins":[...],"items":[...]}:
// the answer to a subscribe, with the subscription as understood (isins
// sorted, absent with all) and the stored envelope of each subscribed ISIN
// newer than what the client was already sent.
func snapshotFrame(sub subscription, items []*item) []byte {
	b := []byte(`{"type":"` + typeSnapshot + `","all":` + strconv.FormatBool(sub.all))
	if !sub.all {
		ids := make([]string, 0, len(sub.isins))
		for id := range sub.isins {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		list, _ := json.Marshal(ids) // strings always marshal
		b = append(b, `,"isins":`...)
		b = append(b, list...)
	}
	b = append(b, `,"items":`...)
	b = appendItems(b, items)
	return append(b, '}')
}

// errorFrame is {"type":"error","error":"..."}: a request was refused and the
// subscription is unchanged.
func errorFrame(err error) []byte {
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Error string `json:"error"`
	}{typeError, err.Error()})
	return b
}
