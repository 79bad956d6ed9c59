package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tickcompact/internal/tools/testkit"
)

// newTestWriter returns a writer on r with the default keys, changed by edit,
// and the configuration it uses.
func newTestWriter(t *testing.T, r *testkit.Redis, edit func(*RedisConfig)) (*RedisWriter, RedisConfig) {
	t.Helper()
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Redis.Addr = r.Addr
	cfg.Redis.Username, cfg.Redis.Password = r.Username, r.Password
	cfg.Redis.Timeout = time.Second
	if edit != nil {
		edit(&cfg.Redis)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	client, err := NewRedisClient(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return NewRedisWriter(client, cfg.Redis), cfg.Redis
}

func loadDefaults(cfg *Config) error {
	// The test's working directory is sink/, which has no configs/sink.yaml:
	// these are the defaults.
	loaded, err := LoadConfig(nil, nil)
	*cfg = loaded
	return err
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// subscribe subscribes to pattern and waits until Redis confirmed it.
func subscribe(t *testing.T, c *redis.Client, pattern string) *redis.PubSub {
	t.Helper()
	ps := c.PSubscribe(testContext(t), pattern)
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(testContext(t)); err != nil {
		t.Fatalf("subscribing to %s: %v", pattern, err)
	}
	return ps
}

// receiveUntil collects published messages as "channel=payload" until one
// with payload last arrives. Redis delivers a connection's publications in
// order, so anything published before last is in the list.
func receiveUntil(t *testing.T, ps *redis.PubSub, last string) []string {
	t.Helper()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("waiting for %q, got %v so far: %v", last, got, err)
		}
		got = append(got, msg.Channel+"="+msg.Payload)
		if msg.Payload == last {
			return got
		}
	}
}

func write(t *testing.T, w *RedisWriter, updates ...Update) (written, stale int) {
	t.Helper()
	written, stale, err := w.WriteBatch(testContext(t), updates)
	if err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	return written, stale
}

func TestWriterNeverGoesBackwards(t *testing.T) {
	r := testkit.StartRedis(t)
	w, cfg := newTestWriter(t, r, nil)
	c := r.Client()
	ps := subscribe(t, c, cfg.Channel)
	ctx := testContext(t)

	steps := []struct {
		name          string
		update        Update
		written, stal int
		wantValue     string
		wantEnd       string
	}{
		{"first", Update{"KR7005930003", 2000, []byte("v2000")}, 1, 0, "v2000", "2000"},
		{"older is stale", Update{"KR7005930003", 1000, []byte("v1000")}, 0, 1, "v2000", "2000"},
		{"equal is a duplicate", Update{"KR7005930003", 2000, []byte("dup2000")}, 0, 1, "v2000", "2000"},
		{"newer wins", Update{"KR7005930003", 4000, []byte("v4000")}, 1, 0, "v4000", "4000"},
	}
	for _, s := range steps {
		written, stale := write(t, w, s.update)
		if written != s.written || stale != s.stal {
			t.Fatalf("%s: written, stale = %d, %d; want %d, %d", s.name, written, stale, s.written, s.stal)
		}
		if got := c.HGet(ctx, cfg.SnapshotKey, s.update.ISIN).Val(); got != s.wantValue {
			t.Fatalf("%s: snapshot = %q, want %q", s.name, got, s.wantValue)
		}
		if got := c.HGet(ctx, cfg.WindowEndKey(), s.update.ISIN).Val(); got != s.wantEnd {
			t.Fatalf("%s: window end = %q, want %q", s.name, got, s.wantEnd)
		}
	}
	// Within one batch too: only the updates newer than everything before them apply.
	written, stale := write(t, w,
		Update{"KR7000660001", 3000, []byte("b3000")},
		Update{"KR7000660001", 1000, []byte("b1000")},
		Update{"KR7000660001", 3000, []byte("b3000dup")},
		Update{"KR7000660001", 5000, []byte("b5000")},
	)
	if written != 2 || stale != 2 {
		t.Fatalf("batch: written, stale = %d, %d; want 2, 2", written, stale)
	}
	got := receiveUntil(t, ps, "b5000")
	want := []string{"trades:2s=v2000", "trades:2s=v4000", "trades:2s=b3000", "trades:2s=b5000"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published %v, want %v: a stale or duplicate update was published", got, want)
	}
	if n := c.Exists(ctx, "trades:stream").Val(); n != 0 {
		t.Fatal("a stream was written although redis.stream_key is empty")
	}
}

func TestWriterPerISINChannels(t *testing.T) {
	r := testkit.StartRedis(t)
	w, _ := newTestWriter(t, r, func(c *RedisConfig) { c.Channel = "px:{isin}:2s" })
	ps := subscribe(t, r.Client(), "px:*")
	write(t, w,
		Update{"KR7005930003", 2000, []byte("samsung")},
		Update{"KR7000660001", 2000, []byte("hynix")},
		Update{"KR7005930003", 2000, []byte("samsung-dup")},
		Update{"KR7005930003", 4000, []byte("samsung-4000")},
	)
	got := receiveUntil(t, ps, "samsung-4000")
	want := []string{"px:KR7005930003:2s=samsung", "px:KR7000660001:2s=hynix", "px:KR7005930003:2s=samsung-4000"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published %v, want %v", got, want)
	}
}

func TestWriterStreamTrimmed(t *testing.T) {
	r := testkit.StartRedis(t)
	const maxLen = 100
	w, cfg := newTestWriter(t, r, func(c *RedisConfig) { c.StreamKey = "trades:stream"; c.StreamMaxLen = maxLen })
	c := r.Client()
	ctx := testContext(t)
	var updates []Update
	for i := range 1000 {
		updates = append(updates, Update{fmt.Sprintf("ISIN%04d", i%50), int64(2000 * (1 + i/50)), []byte("v" + strconv.Itoa(i))})
	}
	for start := 0; start < len(updates); start += 250 {
		if written, _ := write(t, w, updates[start:start+250]...); written != 250 {
			t.Fatalf("written = %d, want 250", written)
		}
	}
	n := c.XLen(ctx, cfg.StreamKey).Val()
	// MAXLEN ~ trims whole macro nodes (100 entries by default): never below
	// the limit, and not far above it.
	if n < maxLen || n > maxLen+200 {
		t.Fatalf("XLEN = %d, want about %d", n, maxLen)
	}
	last := c.XRevRangeN(ctx, cfg.StreamKey, "+", "-", 1).Val()
	if len(last) != 1 {
		t.Fatal("stream is empty")
	}
	want := map[string]any{"isin": "ISIN0049", "window_end": "40000", "value": "v999"}
	for k, v := range want {
		if last[0].Values[k] != v {
			t.Fatalf("last entry = %v, want %v", last[0].Values, want)
		}
	}
	// A stale update appends nothing.
	if _, stale := write(t, w, Update{"ISIN0049", 40000, []byte("dup")}); stale != 1 {
		t.Fatal("duplicate not stale")
	}
	if again := c.XRevRangeN(ctx, cfg.StreamKey, "+", "-", 1).Val(); again[0].ID != last[0].ID {
		t.Fatalf("stale update appended %v", again[0])
	}
}

// TestWriterPrimesTheScriptAfterRestart: a restarted Redis has lost the
// script; the EVAL that starts every pipeline caches it again, so no command
// meets NOSCRIPT (which could apply a pipeline's tail before its head).
func TestWriterPrimesTheScriptAfterRestart(t *testing.T) {
	r := testkit.StartRedis(t)
	w, cfg := newTestWriter(t, r, nil)
	var reloads atomic.Int32
	w.onReload = func() { reloads.Add(1) }
	if err := w.LoadScript(testContext(t)); err != nil {
		t.Fatal(err)
	}
	write(t, w, Update{"A", 2000, []byte("a2000")})

	r.Kill()
	if _, _, err := w.WriteBatch(testContext(t), []Update{{"A", 4000, []byte("a4000")}}); err == nil {
		t.Fatal("WriteBatch succeeded with Redis down")
	} else if errors.Is(err, ErrRedisAuth) {
		t.Fatalf("a dead server reported as an auth problem: %v", err)
	}
	r.Restart() // empty data and script cache
	written, stale := write(t, w, Update{"A", 4000, []byte("a4000")}, Update{"B", 2000, []byte("b2000")}, Update{"A", 6000, []byte("a6000")})
	if written != 3 || stale != 0 {
		t.Fatalf("after restart: written, stale = %d, %d; want 3, 0", written, stale)
	}
	if reloads.Load() != 0 {
		t.Fatalf("script reloads = %d, want 0: a command met NOSCRIPT", reloads.Load())
	}
	if got := r.Client().HGetAll(testContext(t), cfg.SnapshotKey).Val(); len(got) != 2 || got["A"] != "a6000" || got["B"] != "b2000" {
		t.Fatalf("snapshot after restart = %v", got)
	}
}

// TestWriterReloadsTheScriptOnNoscript covers the fallback for a script
// cache emptied in the middle of a pipeline, by sending EVALSHA first too.
func TestWriterReloadsTheScriptOnNoscript(t *testing.T) {
	r := testkit.StartRedis(t)
	w, cfg := newTestWriter(t, r, nil)
	w.evalPrefix = w.prefix // no priming EVAL: the pipeline meets NOSCRIPT
	var reloads atomic.Int32
	w.onReload = func() { reloads.Add(1) }
	if err := r.Client().ScriptFlush(testContext(t)).Err(); err != nil {
		t.Fatal(err)
	}
	written, stale := write(t, w, Update{"A", 4000, []byte("a4000")}, Update{"B", 2000, []byte("b2000")})
	if written != 2 || stale != 0 || reloads.Load() != 1 {
		t.Fatalf("written, stale, reloads = %d, %d, %d; want 2, 0, 1", written, stale, reloads.Load())
	}
	if got := r.Client().HGetAll(testContext(t), cfg.SnapshotKey).Val(); len(got) != 2 || got["A"] != "a4000" {
		t.Fatalf("snapshot = %v", got)
	}
}

func TestWriterACL(t *testing.T) {
	const password = "pw-Kx81!secret"
	r := testkit.StartRedis(t, testkit.WithRedisUser("tickcompact", password))
	w, _ := newTestWriter(t, r, nil)
	if err := w.LoadScript(testContext(t)); err != nil {
		t.Fatalf("right user: %v", err)
	}
	if written, _ := write(t, w, Update{"A", 2000, []byte("a")}); written != 1 {
		t.Fatal("right user could not write")
	}
	bad, _ := newTestWriter(t, r, func(c *RedisConfig) { c.Password = "not-" + password })
	_, _, err := bad.WriteBatch(testContext(t), []Update{{"A", 4000, []byte("a4000")}})
	if !errors.Is(err, ErrRedisAuth) || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: err = %v, want ErrRedisAuth with Redis's WRONGPASS", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("error reveals the password: %v", err)
	}
	if got := r.Client().HGet(testContext(t), "trades:latest", "A").Val(); got != "a" {
		t.Fatalf("snapshot = %q after a refused write", got)
	}
}

// BenchmarkWriteBatch measures the sink's Redis write path alone (script and
// pipeline, no Kafka) in batches of 500 over 1,000 ISINs, every update newer.
func BenchmarkWriteBatch(b *testing.B) {
	r := testkit.StartRedis(b)
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		b.Fatal(err)
	}
	cfg.Redis.Addr = r.Addr
	client, err := NewRedisClient(cfg.Redis)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	w := NewRedisWriter(client, cfg.Redis)
	ctx := context.Background()
	if err := w.LoadScript(ctx); err != nil {
		b.Fatal(err)
	}
	const batchSize = 500
	value := []byte(`{"isin":"KR7005930003","price":70100,"qty":10,"side":"B","ts":1767225601999}`)
	batch := make([]Update, batchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		for j := range batch {
			n := i + j
			batch[j] = Update{ISIN: fmt.Sprintf("ISIN%04d", n%1000), WindowEnd: int64(2000 * (1 + n/1000)), Value: value}
		}
		if _, _, err := w.WriteBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriterWritesNothingWhenAKeyHasTheWrongType: Redis keeps a script's
// writes when a later command fails, so a key of the wrong type must fail the
// update before anything is written; else the retry finds it stored, counts
// it stale, and its offset is committed with the rest never done.
func TestWriterWritesNothingWhenAKeyHasTheWrongType(t *testing.T) {
	r := testkit.StartRedis(t)
	c := r.Client()
	ctx := testContext(t)
	for _, tc := range []struct{ name, wrongKey string }{
		{"stream", "trades:stream"},
		{"snapshot", "trades:latest"},
		{"window ends", "trades:latest:window-end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			w, cfg := newTestWriter(t, r, func(c *RedisConfig) { c.StreamKey = "trades:stream" })
			if err := c.Set(ctx, tc.wrongKey, "not what the sink expects", 0).Err(); err != nil {
				t.Fatal(err)
			}
			ps := subscribe(t, c, "*")
			for attempt := 1; attempt <= 2; attempt++ {
				written, stale, err := w.WriteBatch(ctx, []Update{{"KR7005930003", 2000, []byte("v1")}})
				if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
					t.Fatalf("attempt %d: written %d, stale %d, err %v; want a WRONGTYPE error", attempt, written, stale, err)
				}
			}
			for _, key := range []string{cfg.SnapshotKey, cfg.SnapshotKey + ":window-end", cfg.StreamKey} {
				if key == tc.wrongKey {
					continue
				}
				if n := c.Exists(ctx, key).Val(); n != 0 {
					t.Errorf("%s was written although %s has the wrong type", key, tc.wrongKey)
				}
			}
			if msg, err := ps.ReceiveTimeout(ctx, 200*time.Millisecond); err == nil {
				if m, ok := msg.(*redis.Message); ok {
					t.Errorf("published %q although %s has the wrong type", m.Payload, tc.wrongKey)
				}
			}
		})
	}
}

// TestWriterOverwritesANonNumericWindowEnd: a stored window end that is not
// a number must not stop the sink on that ISIN for ever.
func TestWriterOverwritesANonNumericWindowEnd(t *testing.T) {
	r := testkit.StartRedis(t)
	w, cfg := newTestWriter(t, r, nil)
	c := r.Client()
	ctx := testContext(t)
	for _, garbage := range []string{"garbage", "inf", "1e999", "0x7fffffff"} {
		if err := c.HSet(ctx, cfg.SnapshotKey+":window-end", "KR7005930003", garbage).Err(); err != nil {
			t.Fatal(err)
		}
		if written, _ := write(t, w, Update{"KR7005930003", 2000, []byte("v1")}); written != 1 {
			t.Fatalf("stored %q: written = %d, want 1", garbage, written)
		}
		if got := c.HGet(ctx, cfg.SnapshotKey+":window-end", "KR7005930003").Val(); got != "2000" {
			t.Fatalf("stored %q: window end = %q, want 2000", garbage, got)
		}
	}
}
