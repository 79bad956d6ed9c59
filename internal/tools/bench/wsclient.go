package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// Gateway metric names (gateway/metrics.go).
const (
	metricGatewayDelay        = "tickcompact_gateway_delivery_delay_seconds"
	metricGatewaySlow         = "tickcompact_gateway_slow_clients_disconnected_total"
	metricGatewayConflated    = "tickcompact_gateway_updates_conflated_total"
	metricGatewayUpdatesSent  = "tickcompact_gateway_updates_sent_total"
	metricGatewayMessagesSent = "tickcompact_gateway_messages_sent_total"
	metricGatewayConnections  = "tickcompact_gateway_connections"
	metricGatewayPingTimeouts = "tickcompact_gateway_ping_timeouts_total"
)

// startGateway runs the gateway binary on redisAddr with defaults for
// everything but the HTTP address and extra flags.
func (e *env) startGateway(ctx context.Context, redisAddr string, flags ...string) (*service, error) {
	if e.opts.GatewayBin == "" {
		return nil, fmt.Errorf("no gateway binary (--gateway-bin)")
	}
	return startService(ctx, "gateway", e.opts.GatewayBin, e.opts.WorkDir, e.perfDir(), e.opts.ServiceEnv, append([]string{
		"--redis.addr=" + redisAddr,
		"--http.addr=127.0.0.1:0",
		"--log.level=info",
	}, flags...))
}

// wsSample is one updates message a client received: when, the window end
// of its first update, and how many updates it held.
type wsSample struct {
	received  time.Time
	windowEnd int64
	updates   int
	// delays holds every update's delay (receive time - window end), in
	// seconds, when the client keeps them.
	delays []float64
}

// wsClient is one WebSocket client of the benchmark, subscribed to every
// instrument. It reads each message into a buffer of its own and notes its
// window ends without decoding the JSON: the envelope format puts
// "window_end": in every update.
type wsClient struct {
	conn     *websocket.Conn
	buf      bytes.Buffer
	keepEach bool

	mu      sync.Mutex
	samples []wsSample
	closed  error
}

var (
	updatesPrefix = []byte(`{"type":"updates"`)
	windowEndKey  = []byte(`"window_end":`)
)

// dialClients opens n connections to url, each subscribed to every
// instrument, at most 64 dials at a time.
func dialClients(ctx context.Context, url string, n int, keepEach bool) ([]*wsClient, error) {
	clients := make([]*wsClient, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range clients {
		g.Go(func() error {
			dialCtx, cancel := context.WithTimeout(gctx, 30*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(dialCtx, url, nil)
			if err != nil {
				return fmt.Errorf("client %d: %w", i, err)
			}
			conn.SetReadLimit(-1)
			if err := conn.Write(dialCtx, websocket.MessageText, []byte(`{"type":"subscribe","all":true}`)); err != nil {
				_ = conn.CloseNow()
				return fmt.Errorf("client %d: subscribing: %w", i, err)
			}
			clients[i] = &wsClient{conn: conn, keepEach: keepEach}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		closeClients(clients)
		return nil, err
	}
	return clients, nil
}

// run reads messages until the connection ends.
func (c *wsClient) run(ctx context.Context) {
	for {
		_, r, err := c.conn.Reader(ctx)
		if err == nil {
			c.buf.Reset()
			_, err = c.buf.ReadFrom(r)
		}
		if err != nil {
			c.mu.Lock()
			c.closed = err
			c.mu.Unlock()
			return
		}
		now := time.Now()
		b := c.buf.Bytes()
		if !bytes.HasPrefix(b, updatesPrefix) {
			continue // the snapshot
		}
		s := wsSample{received: now, updates: bytes.Count(b, windowEndKey)}
		for rest := b; ; {
			i := bytes.Index(rest, windowEndKey)
			if i < 0 {
				break
			}
			rest = rest[i+len(windowEndKey):]
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			end, _ := strconv.ParseInt(string(rest[:j]), 10, 64)
			if s.windowEnd == 0 {
				s.windowEnd = end
			}
			if !c.keepEach {
				break
			}
			s.delays = append(s.delays, now.Sub(time.UnixMilli(end)).Seconds())
		}
		c.mu.Lock()
		c.samples = append(c.samples, s)
		c.mu.Unlock()
	}
}

// between returns the samples received in [from, to].
func (c *wsClient) between(from, to time.Time) []wsSample {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []wsSample
	for _, s := range c.samples {
		if !s.received.Before(from) && !s.received.After(to) {
			out = append(out, s)
		}
	}
	return out
}

func (c *wsClient) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func closeClients(clients []*wsClient) {
	for _, c := range clients {
		if c != nil {
			_ = c.conn.CloseNow()
		}
	}
}
