package gateway

import (
	"sort"
	"sync"
	"time"
)

// Redis delivers a window's updates as a burst of messages, one per ISIN.
// Waking clients for each would write as many small frames: the hub wakes
// them once the burst has paused for flushQuiet, or flushMax after its
// first update at the latest.
const (
	flushQuiet = 3 * time.Millisecond
	flushMax   = 25 * time.Millisecond
)

// item is one ISIN's envelope as read from Redis. It is never modified once
// applied, so clients share it.
type item struct {
	isin      string
	windowEnd int64
	envelope  []byte
	// seq numbers the items in the order applied; applied is when.
	seq     uint64
	applied time.Time
}

// hub holds the latest envelope of every ISIN (the gateway's copy of the
// snapshot) and the connected clients by what they follow.
//
// Clients of a list of ISINs get each newer envelope of those queued for
// them (client.enqueue). Clients of all ISINs share one log instead: each
// keeps a cursor into it, and clients at the same cursor share the frame
// of what follows it, so that serving thousands of them costs little more
// than serving one.
//
// Subscribing and applying exclude each other, so that a client's snapshot
// and the updates after it are never interleaved.
type hub struct {
	metrics *metrics
	now     func() time.Time

	mu     sync.RWMutex
	latest map[string]*item
	// seq is the seq of the last item applied; log holds the items applied,
	// in order, with the superseded ones removed from time to time.
	seq uint64
	log []*item
	// all holds the clients subscribed to every ISIN, byISIN the others by
	// each ISIN they follow.
	all     map[*client]struct{}
	byISIN  map[string]map[*client]struct{}
	clients int
	// maxClients caps clients.
	maxClients int

	// toWake holds the clients of lists with updates queued since the last
	// flush, allDirty whether the log grew; first and last are when the
	// first and the last of those updates came, zero when none is waiting.
	toWake      []*client
	allDirty    bool
	first, last time.Time

	// frames caches the updates frame of the log after a cursor, up to seq.
	framesMu sync.Mutex
	frames   map[uint64]*sharedFrame
}

// sharedFrame is the updates message of the log's items after one cursor.
type sharedFrame struct {
	frame []byte
	items []*item
	// skipped counts the items after the cursor superseded by a later one.
	skipped int
	// oldest is when the first item after the cursor was applied.
	oldest time.Time
}

func newHub(m *metrics, maxClients int) *hub {
	return &hub{metrics: m, now: time.Now, latest: map[string]*item{}, all: map[*client]struct{}{},
		byISIN: map[string]map[*client]struct{}{}, maxClients: maxClients}
}

// apply stores it when it is newer than the stored envelope of its ISIN and
// queues it for the clients following that ISIN. It reports whether it was
// newer: Redis delivers an ISIN's windows in order, but after a
// reconnection the snapshot may repeat what Pub/Sub already brought.
func (h *hub) apply(it *item) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.latest[it.isin]; ok && old.windowEnd >= it.windowEnd {
		return false
	}
	h.seq++
	it.seq, it.applied = h.seq, h.now()
	h.latest[it.isin] = it
	h.metrics.instruments.Set(float64(len(h.latest)))
	h.log = append(h.log, it)
	if len(h.log) > 2*len(h.latest)+1024 {
		h.compact()
	}
	h.framesMu.Lock()
	h.frames = nil
	h.framesMu.Unlock()
	if len(h.all) > 0 {
		h.allDirty = true
		h.scheduleFlush(it.applied)
	}
	for c := range h.byISIN[it.isin] {
		if c.enqueue(it) {
			h.toWake = append(h.toWake, c)
			h.scheduleFlush(it.applied)
		}
	}
	return true
}

// compact drops superseded items from the log; h.mu is held.
func (h *hub) compact() {
	kept := make([]*item, 0, 2*len(h.latest))
	for _, it := range h.log {
		if h.latest[it.isin] == it {
			kept = append(kept, it)
		}
	}
	h.log = kept
}

// scheduleFlush notes an update at now and makes sure a flush will come;
// h.mu is held.
func (h *hub) scheduleFlush(now time.Time) {
	if h.first.IsZero() {
		h.first = now
		time.AfterFunc(flushQuiet, h.flush)
	}
	h.last = now
}

// flush wakes the clients with updates waiting, once the burst has paused
// or has lasted flushMax; otherwise it comes back later.
func (h *hub) flush() {
	h.mu.Lock()
	now := h.now()
	if quiet, waited := now.Sub(h.last), now.Sub(h.first); quiet < flushQuiet && waited < flushMax {
		time.AfterFunc(min(flushQuiet-quiet, flushMax-waited), h.flush)
		h.mu.Unlock()
		return
	}
	toWake := h.toWake
	if h.allDirty {
		for c := range h.all {
			toWake = append(toWake, c)
		}
	}
	h.toWake, h.allDirty, h.first, h.last = nil, false, time.Time{}, time.Time{}
	h.mu.Unlock()
	for _, c := range toWake {
		c.signal()
	}
}

// register adds a client with no subscription; it returns false when the
// connection limit is reached.
func (h *hub) register(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clients >= h.maxClients {
		return false
	}
	h.clients++
	h.metrics.connections.Set(float64(h.clients))
	return true
}

// unregister removes a client and its subscription.
func (h *hub) unregister(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unindex(c)
	h.clients--
	h.metrics.connections.Set(float64(h.clients))
}

// subscribe replaces c's subscription with sub and queues the snapshot of
// sub's ISINs for c, ahead of any update that follows.
func (h *hub) subscribe(c *client, sub subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unindex(c)
	if sub.all {
		h.all[c] = struct{}{}
	} else {
		for id := range sub.isins {
			followers := h.byISIN[id]
			if followers == nil {
				followers = map[*client]struct{}{}
				h.byISIN[id] = followers
			}
			followers[c] = struct{}{}
		}
	}
	var stored []*item
	if sub.all {
		stored = make([]*item, 0, len(h.latest))
		for _, it := range h.latest {
			stored = append(stored, it)
		}
	} else {
		for id := range sub.isins {
			if it, ok := h.latest[id]; ok {
				stored = append(stored, it)
			}
		}
	}
	c.resubscribe(sub, stored, h.latest, h.seq)
}

// unindex removes c from the subscription indexes; h.mu is held.
func (h *hub) unindex(c *client) {
	delete(h.all, c)
	for id := range c.following() {
		if followers := h.byISIN[id]; followers != nil {
			delete(followers, c)
			if len(followers) == 0 {
				delete(h.byISIN, id)
			}
		}
	}
}

// after returns the updates frame of what the log holds after cursor, and
// the seq it goes up to; nil when nothing is there. h.mu is held for
// reading.
func (h *hub) after(cursor uint64) (*sharedFrame, uint64) {
	if cursor >= h.seq {
		return nil, h.seq
	}
	h.framesMu.Lock()
	defer h.framesMu.Unlock()
	if f, ok := h.frames[cursor]; ok {
		return f, h.seq
	}
	start := sort.Search(len(h.log), func(i int) bool { return h.log[i].seq > cursor })
	f := &sharedFrame{}
	if start < len(h.log) {
		// The log is in the order applied. Superseded items compacted away
		// waited longer, uncounted: lag is measured from what is left.
		f.oldest = h.log[start].applied
	}
	for _, it := range h.log[start:] {
		if h.latest[it.isin] != it {
			f.skipped++
			continue
		}
		f.items = append(f.items, it)
	}
	f.frame = updatesFrame(nil, f.items)
	if h.frames == nil {
		h.frames = map[uint64]*sharedFrame{}
	}
	h.frames[cursor] = f
	return f, h.seq
}
