package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tickcompact/internal/envelope"
	"tickcompact/internal/isin"
	"tickcompact/internal/logging"
	"tickcompact/internal/redisconn"
	"tickcompact/internal/tools/testkit"
	"tickcompact/sink"
)

// baseEnd is the window end of window 0 in the tests: a 2-second boundary.
const baseEnd = int64(1_767_225_600_000)

func windowEnd(w int) int64 { return baseEnd + int64(w)*2000 }

// testISIN returns a valid KRX-like ISIN for i.
func testISIN(i int) string {
	body := fmt.Sprintf("KR7%06d00", 5930+i*7)
	check, _ := isin.CheckDigit(body)
	return body + string(check)
}

// feed writes envelopes to Redis the way the sink does: through the sink's
// own writer and never-backwards script.
type feed struct {
	t      *testing.T
	writer *sink.RedisWriter
	// padding is added to every trade, to make frames large.
	padding string
}

func newFeed(t *testing.T, r *testkit.Redis) *feed {
	t.Helper()
	return newFeedOn(t, r, sink.Defaults()["redis.channel"].(string))
}

// newFeedOn is newFeed publishing on channel.
func newFeedOn(t *testing.T, r *testkit.Redis, channel string) *feed {
	t.Helper()
	defaults := sink.Defaults()
	cfg := sink.RedisConfig{
		Config:      redisconn.Config{Addr: r.Addr, Username: r.Username, Password: r.Password, Timeout: 2 * time.Second},
		Channel:     channel,
		SnapshotKey: defaults["redis.snapshot_key"].(string),
		BatchSize:   500,
		Format:      sink.FormatEnvelope,
	}
	client, err := sink.NewRedisClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return &feed{t: t, writer: sink.NewRedisWriter(client, cfg)}
}

// envelopeOf is the envelope of isin's trade in window w.
func (f *feed) envelopeOf(id string, w int) []byte {
	trade := fmt.Sprintf(`{"isin":%q,"name":"Test %s","price":%d,"prevClose":70000,"pad":%q}`, id, id[3:9], 70000+w, f.padding)
	return envelope.Append(nil, &envelope.Envelope{ISIN: id, WindowStart: windowEnd(w) - 2000, WindowEnd: windowEnd(w),
		TradeCount: int64(w), Trade: []byte(trade)})
}

// write applies window w of the given ISINs; it returns how many were
// newer than what Redis held.
func (f *feed) write(w int, ids ...string) int {
	f.t.Helper()
	updates := make([]sink.Update, len(ids))
	for i, id := range ids {
		updates[i] = sink.Update{ISIN: id, WindowEnd: windowEnd(w), Value: f.envelopeOf(id, w)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	written, _, err := f.writer.WriteBatch(ctx, updates)
	if err != nil {
		f.t.Fatalf("writing window %d: %v", w, err)
	}
	return written
}

func isins(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = testISIN(i)
	}
	return out
}

// gw is a gateway running in this process.
type gw struct {
	t    *testing.T
	svc  *Service
	logs *testkit.SyncBuffer
	stop context.CancelFunc
	done chan error
}

// startGateway runs a gateway reading r, with cfg changed by edit, and waits
// until it is ready.
func startGateway(t *testing.T, r *testkit.Redis, edit func(*Config)) *gw {
	t.Helper()
	cfg, err := LoadConfig([]string{"--config=" + os.DevNull}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Redis.Addr, cfg.Redis.Username, cfg.Redis.Password = r.Addr, r.Username, r.Password
	cfg.Redis.Timeout = 2 * time.Second
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Log.Level = "debug"
	if edit != nil {
		edit(&cfg)
	}
	logs := &testkit.SyncBuffer{}
	logger, err := logging.New(logs, cfg.Log.Level, "text", cfg.Secrets())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gw{t: t, svc: svc, logs: logs, stop: cancel, done: make(chan error, 1)}
	go func() { g.done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-g.done:
			if err != nil {
				t.Errorf("gateway Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("the gateway did not stop within 20s")
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", logs.String())
		}
	})
	testkit.WaitReadyz(t, svc.HTTPAddr(), http.StatusOK, "", 20*time.Second)
	return g
}

func (g *gw) url() string { return "ws://" + g.svc.HTTPAddr() + WebSocketPath }

func (g *gw) metric(name string) float64 {
	g.t.Helper()
	v, err := testkit.ScrapeMetric(g.svc.HTTPAddr(), name)
	if err != nil {
		g.t.Fatal(err)
	}
	return v
}

// waitFor is testkit.WaitFor for a condition with nothing to explain.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// wsClient is a test's WebSocket client.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

// message is any message of the gateway, decoded.
type message struct {
	Type  string    `json:"type"`
	All   bool      `json:"all"`
	ISINs []string  `json:"isins"`
	Items []envItem `json:"items"`
	Error string    `json:"error"`
	Raw   []byte    `json:"-"`
}

type envItem struct {
	ISIN        string          `json:"isin"`
	WindowStart int64           `json:"window_start"`
	WindowEnd   int64           `json:"window_end"`
	TradeCount  int64           `json:"trade_count"`
	Trade       json.RawMessage `json:"trade"`
}

func dial(t *testing.T, url string, header http.Header) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	conn.SetReadLimit(64 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(text string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// read returns the next message, or the error that ended the connection.
func (c *wsClient) read(timeout time.Duration) (message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		return message{}, fmt.Errorf("message %s: %w", data, err)
	}
	m.Raw = data
	return m, nil
}

// next returns the next message, failing the test when none comes.
func (c *wsClient) next() message {
	c.t.Helper()
	m, err := c.read(20 * time.Second)
	if err != nil {
		c.t.Fatalf("reading: %v", err)
	}
	return m
}

// expect returns the next message, which must be of type typ.
func (c *wsClient) expect(typ string) message {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got a %s message, want %s: %s", m.Type, typ, clipBytes(m.Raw))
	}
	return m
}

// closeStatus reads until the connection ends and returns its close status
// and reason (-1 when it ended without a close frame).
func (c *wsClient) closeStatus(timeout time.Duration) (websocket.StatusCode, string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, err := c.read(time.Until(deadline))
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		return -1, err.Error()
	}
	c.t.Fatalf("the connection did not end within %s", timeout)
	return 0, ""
}

func clipBytes(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// ends returns the window end per ISIN of items.
func ends(items []envItem) map[string]int64 {
	out := map[string]int64{}
	for _, it := range items {
		out[it.ISIN] = it.WindowEnd
	}
	return out
}

func readBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return strings.TrimSpace(string(b))
}
