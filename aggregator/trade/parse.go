// Package trade turns a raw trade record into what the window engine needs (its
// ISIN and event time) or into a reason for the dead-letter queue. Only the
// ISIN and time fields are read; every other field is opaque and forwarded as
// the original bytes.
package trade

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"tickcompact/aggregator/window"
	"tickcompact/internal/isin"
)

// Reason is why a record was rejected; its text is the dlq-reason header.
type Reason string

// The rejection reasons of the contract.
const (
	InvalidJSON Reason = "invalid-json"
	MissingISIN Reason = "missing-isin"
	InvalidISIN Reason = "invalid-isin"
	InvalidTime Reason = "invalid-time"
	FutureTime  Reason = "future-time"
)

// Reasons lists every Reason, for metrics that should show zeros.
var Reasons = []Reason{InvalidJSON, MissingISIN, InvalidISIN, InvalidTime, FutureTime}

// Rejection is a record the aggregator will not use, with why.
type Rejection struct {
	Reason Reason
	Err    error
}

func (r *Rejection) Error() string { return fmt.Sprintf("%s: %v", r.Reason, r.Err) }

// Fields says where the parser finds what it needs.
type Fields struct {
	// ISIN is the name of the top-level field holding the ISIN.
	ISIN string
	// Time, when set, names the top-level field holding the event time as
	// epoch milliseconds (a number) or an RFC 3339 string. Empty means the
	// Kafka record timestamp is the event time.
	Time string
	// MaxFuture is how far ahead of the wall clock an event time may be.
	MaxFuture time.Duration
}

// Parser extracts trades. After warm-up, parsing a valid record with the
// event time from the record timestamp or an epoch-milliseconds field does not
// allocate. A Parser holds no state between calls.
type Parser struct {
	fields Fields
}

// NewParser returns a parser for fields.
func NewParser(fields Fields) *Parser { return &Parser{fields: fields} }

// Parse validates value and returns its ISIN and event time in epoch
// milliseconds. recordTime is the Kafka record timestamp (epoch ms) and now
// the wall clock, which bounds event times from above. A rejection is
// returned as *Rejection.
func (p *Parser) Parse(value []byte, recordTime int64, now time.Time) (window.ISIN, int64, *Rejection) {
	var id window.ISIN
	var isinField, timeField field
	if err := scanTrade(value, p.fields.ISIN, p.fields.Time, &isinField, &timeField); err != nil {
		return id, 0, &Rejection{Reason: InvalidJSON, Err: err}
	}
	switch isinField.kind {
	case kindNone, kindNull:
		return id, 0, &Rejection{Reason: MissingISIN, Err: fmt.Errorf("no %q field", p.fields.ISIN)}
	case kindString:
	default:
		return id, 0, &Rejection{Reason: InvalidISIN, Err: fmt.Errorf("field %q is a JSON %s, not a string", p.fields.ISIN, isinField.kind)}
	}
	raw := isinField.raw
	if isinField.escaped {
		s, err := unescape(raw)
		if err != nil {
			return id, 0, &Rejection{Reason: InvalidISIN, Err: err}
		}
		raw = []byte(s)
	}
	if !isin.Valid(raw) {
		return id, 0, &Rejection{Reason: InvalidISIN, Err: fmt.Errorf("%q is not an ISO 6166 ISIN with a valid check digit", clip(raw))}
	}
	copy(id[:], raw)

	eventTime := recordTime
	if p.fields.Time != "" {
		var err error
		eventTime, err = p.eventTime(timeField)
		if err != nil {
			return id, 0, &Rejection{Reason: InvalidTime, Err: err}
		}
	} else if recordTime <= 0 {
		return id, 0, &Rejection{Reason: InvalidTime, Err: fmt.Errorf("record timestamp %d is not a valid event time", recordTime)}
	}
	if limit := now.Add(p.fields.MaxFuture).UnixMilli(); eventTime > limit {
		return id, 0, &Rejection{Reason: FutureTime, Err: fmt.Errorf("event time %s is more than %v ahead of the wall clock %s",
			time.UnixMilli(eventTime).UTC().Format(time.RFC3339Nano), p.fields.MaxFuture, now.UTC().Format(time.RFC3339Nano))}
	}
	return id, eventTime, nil
}

// maxTime bounds event times to what time.Time and the headers represent
// sanely: year 9999.
const maxTime = 253402300799999

// eventTime reads the time field: epoch milliseconds or an RFC 3339 string.
func (p *Parser) eventTime(f field) (int64, error) {
	name := p.fields.Time
	switch f.kind {
	case kindNone:
		return 0, fmt.Errorf("no %q field", name)
	case kindNumber:
		ms, ok := wholeNumber(f.raw)
		if !ok || ms <= 0 || ms > maxTime {
			return 0, fmt.Errorf("field %q = %s is not a positive whole number of epoch milliseconds", name, clip(f.raw))
		}
		return ms, nil
	case kindString:
		s := string(f.raw)
		if f.escaped {
			var err error
			if s, err = unescape(f.raw); err != nil {
				return 0, fmt.Errorf("field %q: %w", name, err)
			}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("field %q: %w", name, err)
		}
		ms := t.UnixMilli()
		if ms <= 0 || ms > maxTime {
			return 0, fmt.Errorf("field %q = %q is out of range", name, clip(f.raw))
		}
		return ms, nil
	default:
		return 0, fmt.Errorf("field %q is a JSON %s, want a number or an RFC 3339 string", name, f.kind)
	}
}

// wholeNumber returns the integer a JSON number denotes, when it denotes one
// that fits: plain digits directly, other forms (1.7e12, 5.0) through float
// parsing.
func wholeNumber(raw []byte) (int64, bool) {
	var n int64
	plain := len(raw) > 0 && len(raw) <= 18
	for _, c := range raw {
		if c < '0' || c > '9' {
			plain = false
			break
		}
		n = n*10 + int64(c-'0')
	}
	if plain {
		return n, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxTime {
		return 0, false
	}
	return int64(f), true
}

// clip shortens hostile values before they go into error headers and logs.
func clip(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

// ErrRejected is matched by every *Rejection through errors.Is.
var ErrRejected = errors.New("trade rejected")

// Is lets errors.Is(rejection, ErrRejected) hold.
func (r *Rejection) Is(target error) bool { return target == ErrRejected }
