package gateway

import (
	"sync"
	"time"
)

// flushDelay is how long the hub gathers updates before waking the clients
// they were queued for. Redis delivers a window's updates as a burst of
// messages, one per ISIN: waking a client's writer for each would write as
// many small frames, where a few milliseconds of gathering let it write the
// burst as one.
const flushDelay = 5 * time.Millisecond

// item is one ISIN's envelope as read from Redis. It is never modified once
// made, so clients share it.
type item struct {
	isin      string
	windowEnd int64
	envelope  []byte
}

// hub holds the latest envelope of every ISIN (the gateway's copy of the
// snapshot) and the connected clients by what they follow, and hands each
// newer envelope to the clients that follow its ISIN. Subscribing and
// dispatching exclude each other, so that a client's snapshot and the
// updates after it are never interleaved.
type hub struct {
	metrics *metrics

	mu     sync.RWMutex
	latest map[string]*item
	// all holds the clients subscribed to every ISIN, byISIN the others by
	// each ISIN they follow.
	all     map[*client]struct{}
	byISIN  map[string]map[*client]struct{}
	clients int
	// maxClients caps clients.
	maxClients int
	// toWake holds the clients with updates queued since the last flush;
	// a flush is scheduled whenever it becomes non-empty.
	toWake []*client
}

func newHub(m *metrics, maxClients int) *hub {
	return &hub{metrics: m, latest: map[string]*item{}, all: map[*client]struct{}{},
		byISIN: map[string]map[*client]struct{}{}, maxClients: maxClients}
}

// apply stores it when it is newer than the stored envelope of its ISIN and
// hands it to the clients following that ISIN. It reports whether it was
// newer: Redis delivers an ISIN's windows in order, but after a
// reconnection the snapshot may repeat what Pub/Sub already brought.
func (h *hub) apply(it *item) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.latest[it.isin]; ok && old.windowEnd >= it.windowEnd {
		return false
	}
	h.latest[it.isin] = it
	h.metrics.instruments.Set(float64(len(h.latest)))
	for c := range h.all {
		h.queue(c, it)
	}
	for c := range h.byISIN[it.isin] {
		h.queue(c, it)
	}
	return true
}

// queue queues it for c and notes that c is to be woken; h.mu is held.
func (h *hub) queue(c *client, it *item) {
	if !c.enqueue(it) {
		return
	}
	if len(h.toWake) == 0 {
		time.AfterFunc(flushDelay, h.flush)
	}
	h.toWake = append(h.toWake, c)
}

// flush wakes the clients updates were queued for.
func (h *hub) flush() {
	h.mu.Lock()
	toWake := h.toWake
	h.toWake = nil
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
	c.resubscribe(sub, stored)
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

// size returns the number of ISINs stored.
func (h *hub) size() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.latest)
}
