package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"tickcompact/internal/tools/demo"
	"tickcompact/internal/tools/testkit"
)

// TestDemoEndToEnd runs the demo headless (its output is not a terminal)
// with the embedded broker and Redis, and checks while it runs that the
// pipeline delivers: committed trades-2s records, Redis messages, snapshot
// entries and stream entries (so the sink's Lua script runs on miniredis),
// and a board whose ratios match its own counts. Then it stops the demo as
// Ctrl-C would and expects a clean, prompt stop.
func TestDemoEndToEnd(t *testing.T) {
	const boardLines = 4
	out := &lineBuffer{}
	opts := demo.DefaultOptions()
	opts.GatewayHTTP = "127.0.0.1:0" // 8080 may be taken on a shared machine
	opts.Stdout = out
	opts.Logs = serviceLog(t)
	opts.StreamKey = "trades:stream"
	ready := make(chan demo.Endpoints, 1)
	opts.Ready = func(e demo.Endpoints) { ready <- e }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, opts) }()

	var endpoints demo.Endpoints
	select {
	case endpoints = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo not ready within 30s")
	}
	if !endpoints.EmbeddedKafka || !endpoints.EmbeddedRedis {
		t.Fatalf("want embedded Kafka and Redis, got %+v", endpoints)
	}

	// A subscriber of our own, as `redis-cli SUBSCRIBE trades:2s` would be.
	client := redis.NewClient(&redis.Options{Addr: endpoints.Redis})
	t.Cleanup(func() { _ = client.Close() })
	pubsub := client.Subscribe(ctx, demo.Channel)
	if _, err := pubsub.Receive(ctx); err != nil {
		t.Fatalf("subscribing to %s: %v", demo.Channel, err)
	}
	var received atomic.Int64
	var publishedMu sync.Mutex
	var published []string
	go func() {
		for m := range pubsub.Channel() {
			received.Add(1)
			publishedMu.Lock()
			published = append(published, m.Payload)
			publishedMu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = pubsub.Close() })

	deadline := time.Now().Add(25 * time.Second)
	for countPrefix(out.lines(), "window=") < boardLines {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d board lines within 25s:\n%s", boardLines, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("demo stopped early: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}

	// While it runs: trades-2s has committed records with the contract's
	// headers, and Redis has what the sink wrote.
	kafka := &testkit.Kafka{Brokers: endpoints.Brokers, Kind: "kfake"}
	records := kafka.ReadCommitted(t, demo.OutputTopic, 50, 0, 10*time.Second)
	if len(records) == 0 {
		t.Fatal("no committed record on trades-2s")
	}
	for _, h := range []string{"window-start", "window-end", "trade-count", "window-open", "window-high", "window-low", "window-volume", "window-vwap"} {
		if testkit.Header(records[0], h) == "" {
			t.Errorf("trades-2s record lacks the %s header", h)
		}
	}
	publishedMu.Lock()
	publishedSoFar := append([]string(nil), published...)
	publishedMu.Unlock()
	checkEnvelopeAggregates(t, ctx, client, kafka, publishedSoFar)
	if received.Load() == 0 {
		t.Error("our subscriber received no message on", demo.Channel)
	}
	// The gateway serves the same data to a WebSocket client: a snapshot of
	// envelopes.
	wsURL := "ws" + strings.TrimSuffix(strings.TrimPrefix(endpoints.Page, "http"), "/") + "/ws"
	conn, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		t.Fatalf("dialing the gateway at %s: %v", wsURL, err)
	}
	conn.SetReadLimit(-1)
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","all":true}`)); err != nil {
		t.Fatal(err)
	}
	var snapshot struct {
		Type  string `json:"type"`
		Items []struct {
			ISIN      string `json:"isin"`
			WindowEnd int64  `json:"window_end"`
		} `json:"items"`
	}
	if _, data, err := conn.Read(ctx); err != nil || json.Unmarshal(data, &snapshot) != nil || snapshot.Type != "snapshot" ||
		len(snapshot.Items) == 0 || snapshot.Items[0].WindowEnd == 0 {
		t.Errorf("gateway snapshot: %+v, err %v", snapshot, err)
	}
	_ = conn.CloseNow()
	if n, err := client.HLen(ctx, demo.SnapshotKey).Result(); err != nil || n == 0 {
		t.Errorf("snapshot hash %s: %d entries, err %v", demo.SnapshotKey, n, err)
	}
	if n, err := client.XLen(ctx, "trades:stream").Result(); err != nil || n == 0 {
		t.Errorf("stream trades:stream: %d entries, err %v", n, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo did not stop cleanly: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("demo did not stop within 25s of its context ending")
	}

	text := out.String()
	if strings.ContainsRune(text, '\x1b') {
		t.Errorf("non-terminal output has escape codes:\n%q", text)
	}
	for _, want := range []string{"kcat -C -b " + endpoints.Brokers, "redis-cli -h", endpoints.Page,
		strings.TrimPrefix(endpoints.AggregatorMetrics, "http://"), strings.TrimPrefix(endpoints.SinkMetrics, "http://")} {
		if !strings.Contains(text, want) {
			t.Errorf("header lacks %q:\n%s", want, text)
		}
	}
	checkBoardArithmetic(t, out.lines())
	if !strings.Contains(text, " high ") || !strings.Contains(text, " volume ") {
		t.Errorf("no board line shows a window's high, low and volume:\n%s", text)
	}
	if countPrefix(out.lines(), "stopped (interrupted):") != 1 {
		t.Errorf("want one closing line:\n%s", text)
	}
}

// checkEnvelopeAggregates checks that the interval aggregates reach Redis:
// each envelope, published or in the snapshot, carries its trades-2s
// record's aggregate headers as numbers, digit for digit.
func checkEnvelopeAggregates(t *testing.T, ctx context.Context, client *redis.Client, k *testkit.Kafka, published []string) {
	t.Helper()
	// The snapshot first: every record it holds is then committed, and read
	// below.
	snapshot, err := client.HGetAll(ctx, demo.SnapshotKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{"open": "window-open", "high": "window-high", "low": "window-low", "volume": "window-volume", "vwap": "window-vwap"}
	headers := map[string]map[string]string{} // by "ISIN window-end"
	for _, m := range k.ReadCommitted(t, demo.OutputTopic, -1, 0, 15*time.Second) {
		h := map[string]string{}
		for field, header := range fields {
			h[field] = testkit.Header(m, header)
		}
		headers[string(m.Key)+" "+testkit.Header(m, "window-end")] = h
	}
	compared := map[string]int{}
	check := func(where, value string) {
		var env map[string]json.RawMessage
		if err := json.Unmarshal([]byte(value), &env); err != nil {
			t.Errorf("%s: %s is not an envelope: %v", where, value, err)
			return
		}
		var isin string
		_ = json.Unmarshal(env["isin"], &isin)
		want, ok := headers[isin+" "+string(env["window_end"])]
		if !ok {
			return // a window committed after the read
		}
		compared[where]++
		for field, text := range want {
			if string(env[field]) != text {
				t.Errorf("%s: %s %s = %s, the trades-2s record says %q", where, isin, field, env[field], text)
			}
		}
	}
	for _, value := range snapshot {
		check("snapshot", value)
	}
	for _, value := range published {
		check("published", value)
	}
	if compared["snapshot"] == 0 || compared["published"] == 0 {
		t.Errorf("envelopes compared with their trades-2s records: %v; want some of each", compared)
	}
}

// checkBoardArithmetic parses the plain board lines and checks that each
// ratio is the quotient of the counts printed beside it, that the totals add
// up, and that output and Redis messages were reported.
func checkBoardArithmetic(t *testing.T, lines []string) {
	t.Helper()
	var sumIn, sumOut, lastTotalIn, lastTotalOut, redisTotal int64
	for _, line := range lines {
		if !strings.HasPrefix(line, "window=") {
			continue
		}
		f := fields(line)
		in, out := f.int(t, "in"), f.int(t, "out")
		totalIn, totalOut := f.int(t, "total_in"), f.int(t, "total_out")
		checkRatio(t, line, f["ratio"], in, out)
		checkRatio(t, line, f["total_ratio"], totalIn, totalOut)
		sumIn, sumOut = sumIn+in, sumOut+out
		lastTotalIn, lastTotalOut = totalIn, totalOut
		if in < 0 || out < 0 {
			t.Errorf("negative count: %s", line)
		}
		redisTotal = f.int(t, "redis_total")
	}
	if sumIn != lastTotalIn || sumOut != lastTotalOut {
		t.Errorf("per-window counts add up to in=%d out=%d, totals say %d and %d", sumIn, sumOut, lastTotalIn, lastTotalOut)
	}
	if lastTotalOut == 0 || lastTotalIn <= lastTotalOut {
		t.Errorf("want output, and fewer records out than trades in: in=%d out=%d", lastTotalIn, lastTotalOut)
	}
	if redisTotal == 0 {
		t.Error("the board's subscriber reported no Redis message")
	}
}

func checkRatio(t *testing.T, line, printed string, in, out int64) {
	t.Helper()
	if out == 0 {
		if printed != "-" {
			t.Errorf("ratio with no output should be -, got %q: %s", printed, line)
		}
		return
	}
	got, err := strconv.ParseFloat(printed, 64)
	if err != nil {
		t.Errorf("ratio %q: %v: %s", printed, err, line)
		return
	}
	if want := float64(in) / float64(out); math.Abs(got-want) > 0.005+1e-9 {
		t.Errorf("ratio %s is not %d/%d = %.4f: %s", printed, in, out, want, line)
	}
}

// boardFields are the key=value fields of a plain board line.
type boardFields map[string]string

func fields(line string) boardFields {
	f := boardFields{}
	for _, token := range strings.Fields(line) {
		if k, v, ok := strings.Cut(token, "="); ok {
			f[k] = v
		}
	}
	return f
}

func (f boardFields) int(t *testing.T, key string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(f[key], 10, 64)
	if err != nil {
		t.Fatalf("field %s=%q: %v", key, f[key], err)
	}
	return n
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// TestDemoReportsTakenPorts expects a clear error naming the port when an
// embedded server's port is in use.
func TestDemoReportsTakenPorts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		set  func(*demo.Options)
		flag string
	}{
		{"kafka", func(o *demo.Options) { o.KafkaPort = port }, "--kafka-port"},
		{"redis", func(o *demo.Options) { o.RedisPort = port }, "--redis-port"},
		{"gateway", func(o *demo.Options) { o.GatewayHTTP = ln.Addr().String() }, "--gateway-http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := demo.DefaultOptions()
			opts.GatewayHTTP = "127.0.0.1:0" // 8080 may be taken on a shared machine
			opts.Stdout, opts.Logs = &lineBuffer{}, serviceLog(t)
			tc.set(&opts)
			err := demo.Run(context.Background(), opts)
			if !errors.Is(err, demo.ErrPortTaken) {
				t.Fatalf("want ErrPortTaken, got %v", err)
			}
			if msg := err.Error(); !strings.Contains(msg, strconv.Itoa(port)) || !strings.Contains(msg, tc.flag) {
				t.Errorf("error should name port %d and %s: %v", port, tc.flag, err)
			}
		})
	}
}

// TestDemoReportsUnreachableServers expects a bounded, clear failure when a
// given broker or Redis does not answer.
func TestDemoReportsUnreachableServers(t *testing.T) {
	closed := testkit.FreeAddr(t) // nothing listens there
	for _, tc := range []struct {
		name string
		set  func(*demo.Options)
	}{
		{"redis", func(o *demo.Options) { o.Redis = closed }},
		{"kafka", func(o *demo.Options) { o.Brokers = closed }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := demo.DefaultOptions()
			opts.GatewayHTTP = "127.0.0.1:0" // 8080 may be taken on a shared machine
			opts.Stdout, opts.Logs = &lineBuffer{}, serviceLog(t)
			opts.ConnectTimeout = 2 * time.Second
			tc.set(&opts)
			start := time.Now()
			err := demo.Run(context.Background(), opts)
			if !errors.Is(err, demo.ErrUnreachable) || !strings.Contains(err.Error(), closed) {
				t.Fatalf("want ErrUnreachable naming %s, got %v", closed, err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v to give up, want about the 2s connect timeout", took)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*demo.Options)
		want string
	}{
		{"malformed share", func(o *demo.Options) { o.Malformed = 2 }, "--malformed"},
		{"port with given brokers", func(o *demo.Options) { o.Brokers, o.KafkaPort = "b:9092", 9092 }, "--kafka-port"},
		{"port range", func(o *demo.Options) { o.RedisPort = 70000 }, "--redis-port"},
		{"partitions", func(o *demo.Options) { o.Partitions = 0 }, "--partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := demo.DefaultOptions()
			opts.GatewayHTTP = "127.0.0.1:0" // 8080 may be taken on a shared machine
			tc.set(&opts)
			err := opts.Validate()
			if !errors.Is(err, demo.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want ErrInvalidOptions naming %s, got %v", tc.want, err)
			}
		})
	}
	if err := demo.DefaultOptions().Validate(); err != nil {
		t.Errorf("default options: %v", err)
	}
}

// lineBuffer is a goroutine-safe output buffer.
type lineBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lineBuffer) lines() []string { return strings.Split(b.String(), "\n") }

// serviceLog collects the services' log lines and shows them when the test
// fails. (Not t.Log: librdkafka's log goroutines may outlive the test.)
func serviceLog(t *testing.T) *lineBuffer {
	t.Helper()
	logs := &lineBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	return logs
}
