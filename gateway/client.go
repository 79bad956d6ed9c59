package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Why a client's connection ends, besides the client closing it.
var (
	errSlowClient   = errors.New("slow client")
	errWriteTimeout = errors.New("write timed out")
	errNoPong       = errors.New("no pong")
	errShutdown     = errors.New("server shutting down")
)

// client is one WebSocket connection. The hub queues updates with enqueue;
// the connection's writer drains them. Pending updates are kept per ISIN,
// newest only, so a slow client costs at most one envelope per ISIN it
// follows, never a growing queue.
type client struct {
	conn    *websocket.Conn
	cfg     WebSocketConfig
	metrics *metrics
	logger  *slog.Logger
	now     func() time.Time

	// wake has a token when the writer has something to write.
	wake chan struct{}

	mu sync.Mutex
	// sub is what the client follows; written under the hub's lock too,
	// so the hub may read it holding only its own.
	sub subscription
	// sent is, per ISIN, the greatest window end queued for this client
	// while it follows a list; nothing not newer is ever queued.
	sent map[string]int64
	// cursor, while the client follows all ISINs, is the seq of the last
	// item of the hub's log it was queued; what it was sent of an ISIN is
	// then the latest item when that item's seq is at most cursor, and
	// older than the latest otherwise.
	cursor uint64
	// pending holds the newest unsent update per ISIN, in order of first
	// arrival; oldest is when the first of them was queued.
	pending map[string]*item
	order   []string
	oldest  time.Time
	// control holds frames (snapshots, errors) written before the pending
	// updates.
	control [][]byte
}

func newClient(conn *websocket.Conn, cfg WebSocketConfig, m *metrics, logger *slog.Logger) *client {
	return &client{conn: conn, cfg: cfg, metrics: m, logger: logger, now: time.Now,
		wake: make(chan struct{}, 1), sent: map[string]int64{}, pending: map[string]*item{}}
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// following returns the ISINs of a subscription to a list; the hub calls
// it holding its lock, which every change of sub also holds.
func (c *client) following() map[string]struct{} { return c.sub.isins }

// enqueue queues it for the client unless it is not newer than what the
// client was already queued for its ISIN; a pending older update of the
// ISIN is replaced (conflated). It reports whether the client had nothing
// pending before, and so needs waking; the hub wakes it.
func (c *client) enqueue(it *item) (wake bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it.windowEnd <= c.sent[it.isin] {
		return false
	}
	c.sent[it.isin] = it.windowEnd
	if _, ok := c.pending[it.isin]; ok {
		c.metrics.conflated.Inc()
	} else {
		if len(c.order) == 0 {
			c.oldest = c.now()
			wake = true
		}
		c.order = append(c.order, it.isin)
	}
	c.pending[it.isin] = it
	return wake
}

// resubscribe sets the subscription and queues its snapshot: the stored
// envelope of each followed ISIN that the client was not sent yet. Pending
// updates of the new set move into the snapshot (the stored envelope is
// the pending one); those of ISINs no longer followed are dropped. The hub
// calls it holding its lock, with its latest items and seq.
func (c *client) resubscribe(sub subscription, stored []*item, latest map[string]*item, seq uint64) {
	c.mu.Lock()
	if c.sub.all {
		// Leaving the log: what it sent is known from the cursor.
		for id, it := range latest {
			if it.seq <= c.cursor {
				c.sent[id] = max(c.sent[id], it.windowEnd)
			}
		}
	}
	var items []*item
	for _, it := range stored {
		if _, ok := c.pending[it.isin]; ok || it.windowEnd > c.sent[it.isin] {
			items = append(items, it)
			if !sub.all {
				c.sent[it.isin] = it.windowEnd
			}
		}
	}
	clear(c.pending)
	clear(c.order)
	c.order, c.oldest = c.order[:0], time.Time{}
	c.sub, c.cursor = sub, seq
	slices.SortFunc(items, func(a, b *item) int { return strings.Compare(a.isin, b.isin) })
	c.control = append(c.control, snapshotFrame(sub, items))
	c.mu.Unlock()
	c.signal()
}

// reply queues a control frame (an error) ahead of the pending updates.
func (c *client) reply(frame []byte) {
	c.mu.Lock()
	c.control = append(c.control, frame)
	c.mu.Unlock()
	c.signal()
}

// batch is what a client's writer takes to write: control frames first,
// then one updates frame.
type batch struct {
	control [][]byte
	// items are the updates, and frame their message: shared with other
	// clients of the log, or built in buf for a client of a list.
	items []*item
	frame []byte
	// oldest is when the oldest of the updates was queued; skipped counts
	// the updates superseded before this client could be sent them.
	oldest  time.Time
	skipped int
	// scratch backs items for a client of a list, reused between takes.
	scratch []*item
}

// take empties the client's queues into b, holding the hub's lock for
// reading and then the client's, the order subscribe takes them in.
func (c *client) take(h *hub, b *batch, buf []byte) []byte {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	b.control, c.control = c.control, nil
	b.items, b.frame, b.oldest, b.skipped = nil, nil, time.Time{}, 0
	if c.sub.all {
		f, seq := h.after(c.cursor)
		c.cursor = seq
		if f != nil && len(f.items) > 0 {
			b.items, b.frame, b.oldest, b.skipped = f.items, f.frame, f.oldest, f.skipped
		}
		return buf
	}
	clear(b.scratch) // let envelopes replaced since the last take go
	b.items = b.scratch[:0]
	for _, id := range c.order {
		b.items = append(b.items, c.pending[id])
	}
	b.scratch = b.items
	clear(c.pending)
	clear(c.order)
	c.order = c.order[:0]
	b.oldest, c.oldest = c.oldest, time.Time{}
	if len(b.items) > 0 {
		buf = updatesFrame(buf[:0], b.items)
		b.frame = buf
	}
	return buf
}

// writeLoop writes what is queued until ctx is done or a write fails. It
// returns errSlowClient when the updates it was about to write had waited
// longer than max_lag.
func (c *client) writeLoop(ctx context.Context, h *hub) error {
	var b batch
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-c.wake:
		}
		buf = c.take(h, &b, buf)
		if b.skipped > 0 {
			c.metrics.conflated.Add(float64(b.skipped))
		}
		if !b.oldest.IsZero() {
			if lag := c.now().Sub(b.oldest); lag > c.cfg.MaxLag {
				return fmt.Errorf("%w: updates waited %s, limit %s", errSlowClient, lag.Round(time.Millisecond), c.cfg.MaxLag)
			}
		}
		for _, f := range b.control {
			if err := c.write(ctx, f); err != nil {
				return err
			}
		}
		if len(b.items) == 0 {
			continue
		}
		if err := c.write(ctx, b.frame); err != nil {
			return err
		}
		now := c.now().UnixMilli()
		for _, it := range b.items {
			c.metrics.delay.Observe(float64(now-it.windowEnd) / 1000)
		}
		c.metrics.updatesSent.Add(float64(len(b.items)))
	}
}

// write writes one frame within write_timeout. The write is bounded by
// write_timeout alone, not by ctx: coder/websocket closes the connection
// when a write's context ends, even just after the frame went out, and a
// shutdown must leave it open for the close frame.
func (c *client) write(ctx context.Context, frame []byte) error {
	writeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.WriteTimeout)
	defer cancel()
	if err := c.conn.Write(writeCtx, websocket.MessageText, frame); err != nil {
		if ctx.Err() == nil && writeCtx.Err() != nil {
			return fmt.Errorf("%w after %s", errWriteTimeout, c.cfg.WriteTimeout)
		}
		return fmt.Errorf("writing: %w", err)
	}
	c.metrics.messagesSent.Inc()
	return nil
}

// readLoop reads the client's requests until the connection ends,
// subscribing through h or answering with an error frame.
func (c *client) readLoop(ctx context.Context, h *hub) error {
	for {
		typ, data, err := c.conn.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			c.metrics.badRequests.Inc()
			c.reply(errorFrame(fmt.Errorf("%w: binary message: send JSON text", errBadRequest)))
			continue
		}
		sub, err := parseRequest(data, c.cfg.MaxISINs)
		if err != nil {
			c.metrics.badRequests.Inc()
			c.reply(errorFrame(err))
			continue
		}
		h.subscribe(c, sub)
	}
}

// pingLoop pings the client every ping_interval and returns errNoPong
// when a pong does not come back before the next ping is due.
func (c *client) pingLoop(ctx context.Context) error {
	ticker := time.NewTicker(c.cfg.PingInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		// Not ended by ctx, for the reason write gives; closing the
		// connection ends a ping that waits for its pong.
		pingCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.PingInterval)
		err := c.conn.Ping(pingCtx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("%w within %s", errNoPong, c.cfg.PingInterval)
		}
	}
}

// serve runs the connection until the client leaves, fails a limit or ctx
// is done, then closes it with the status that says why.
func (c *client) serve(ctx context.Context, h *hub) {
	// The reader's context outlives the others: coder/websocket closes the
	// connection when a read's context ends, and the close handshake needs
	// the reader to receive the client's close frame.
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	parent := ctx
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		stop(fmt.Errorf("reading: %w", c.readLoop(readCtx, h)))
	}()
	go func() {
		defer wg.Done()
		if err := c.pingLoop(ctx); err != nil {
			stop(err)
		}
	}()
	err := c.writeLoop(ctx, h)
	switch {
	case parent.Err() != nil:
		err = errShutdown
	case errors.Is(err, context.Canceled):
		err = context.Cause(ctx) // the reason another loop stopped
	}
	switch {
	case errors.Is(err, errSlowClient):
		c.metrics.slowDisconnects.WithLabelValues("lag").Inc()
		c.logger.Info("disconnecting slow client", "reason", err.Error())
		_ = c.conn.Close(CloseSlowClient, closeReason(err))
	case errors.Is(err, errWriteTimeout):
		c.metrics.slowDisconnects.WithLabelValues("write-timeout").Inc()
		c.logger.Info("disconnecting slow client", "reason", err.Error())
		_ = c.conn.CloseNow()
	case errors.Is(err, errNoPong):
		c.metrics.pingTimeouts.Inc()
		_ = c.conn.Close(CloseNoPong, closeReason(err))
	case errors.Is(err, errShutdown):
		_ = c.conn.Close(websocket.StatusGoingAway, errShutdown.Error())
	default:
		// The client closed, or broke the protocol (coder/websocket
		// answered with the close status itself), or a write failed.
		c.logger.Debug("client gone", "err", err)
		_ = c.conn.CloseNow()
	}
	stop(nil)
	stopReading()
	wg.Wait()
}

// closeReason fits err's text in a close frame (at most 123 bytes).
func closeReason(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
