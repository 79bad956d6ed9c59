package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

const baseEnd = int64(1767225600000) // 2026-01-01T00:00:00Z, a window boundary

func windowEnd(w int) int64 { return baseEnd + int64(w)*2000 }

// TestE2ESinkSnapshot runs broker -> sink -> Redis over a backlog and then
// live records, with stale replays, duplicates and invalid records mixed in,
// an ACL user, per-ISIN channels and a stream; then checks the snapshot, what
// was published, the stream, the metrics and the committed offsets, and that
// an idle sink notices Redis going away.
func TestE2ESinkSnapshot(t *testing.T) {
	const isins, windows = 40, 5
	h := newE2E(t, 3, testkit.WithRedisUser("sink", "e2e-Pw-5521"))
	cfg := h.config(func(c *Config) {
		c.Redis.Channel = "trades:2s:{isin}"
		c.Redis.StreamKey = "trades:stream"
		c.Redis.StreamMaxLen = 1000
	})

	// Everything published, per channel, in order.
	sub := h.redis.Client().PSubscribe(context.Background(), "trades:2s:*")
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	published := map[string][]string{}
	publishedCount := 0
	go func() {
		for msg := range sub.Channel() {
			mu.Lock()
			published[msg.Channel] = append(published[msg.Channel], msg.Payload)
			publishedCount++
			mu.Unlock()
		}
	}()

	var backlog []testkit.Record
	stale := 0
	for w := 1; w <= windows; w++ {
		for i := range isins {
			backlog = append(backlog, trade(testISIN(i), windowEnd(w), "live"))
		}
		if w == 3 {
			for i := range 10 { // redelivered older windows
				backlog = append(backlog, trade(testISIN(i), windowEnd(2), "replay"))
			}
			for i := 10; i < 15; i++ { // exact duplicates of the newest window
				backlog = append(backlog, trade(testISIN(i), windowEnd(3), "dup"))
			}
			stale += 15
		}
	}
	noHeader := trade(testISIN(0), windowEnd(9), "invalid")
	noHeader.Headers = noHeader.Headers[:1]
	badHeader := trade(testISIN(1), windowEnd(9), "invalid")
	badHeader.Headers[1].Value = []byte("soon")
	emptyKey := trade("", windowEnd(9), "invalid")
	emptyKey.Partition = 0
	backlog = append(backlog, noHeader, badHeader, emptyKey)
	h.produce(backlog)

	in := h.start(cfg, nil)
	h.waitSnapshot(30 * time.Second)
	testkit.WaitFor(t, 10*time.Second, "/readyz 200", func() (bool, string) {
		code, body := in.get("/readyz")
		return code == 200, body
	})

	// Live: one more window for every ISIN.
	var live []testkit.Record
	for i := range isins {
		live = append(live, trade(testISIN(i), windowEnd(windows+1), "live"))
	}
	h.produce(live)
	h.waitSnapshot(15 * time.Second)

	wantWritten := isins * (windows + 1)
	testkit.WaitFor(t, 10*time.Second, "every update published", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return publishedCount >= wantWritten, fmt.Sprintf("%d of %d", publishedCount, wantWritten)
	})
	time.Sleep(200 * time.Millisecond) // room for an unwanted extra publication to show
	mu.Lock()
	if publishedCount != wantWritten || len(published) != isins {
		t.Errorf("published %d messages on %d channels, want %d on %d", publishedCount, len(published), wantWritten, isins)
	}
	for i := range isins {
		id := testISIN(i)
		msgs := published["trades:2s:"+id]
		if len(msgs) != windows+1 {
			t.Errorf("%s: %d messages, want %d", id, len(msgs), windows+1)
			continue
		}
		for w, payload := range msgs {
			if want := string(trade(id, windowEnd(w+1), "live").Value); payload != want {
				t.Errorf("%s message %d = %s, want %s (a stale or duplicate value was published?)", id, w, payload, want)
			}
		}
	}
	mu.Unlock()
	_ = sub.Close()

	client := h.redis.Client()
	if n := client.XLen(context.Background(), "trades:stream").Val(); n != int64(wantWritten) {
		t.Errorf("stream has %d entries, want %d", n, wantWritten)
	}
	ends := client.HGetAll(context.Background(), "trades:latest:window-end").Val()
	for i := range isins {
		if ends[testISIN(i)] != strconv.FormatInt(windowEnd(windows+1), 10) {
			t.Errorf("window end of %s = %q", testISIN(i), ends[testISIN(i)])
		}
	}
	for name, want := range map[string]float64{
		"tickcompact_sink_records_consumed_total": float64(h.produced),
		"tickcompact_sink_records_written_total":  float64(wantWritten),
		"tickcompact_sink_stale_skipped_total":    float64(stale),
		"tickcompact_sink_invalid_records_total":  3,
		"tickcompact_sink_paused":                 0,
		"tickcompact_sink_ready":                  1,
	} {
		if got := in.metric(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	testkit.WaitCaughtUp(t, in.svc.HTTPAddr(), "tickcompact_sink_consumer_lag", 3, 10*time.Second)
	if got := in.metric("tickcompact_sink_batch_latency_seconds_count"); got < 1 {
		t.Errorf("batch_latency_seconds_count = %v", got)
	}
	if !strings.Contains(in.logs.String(), "skipping invalid record") {
		t.Error("no log line for the invalid records")
	}

	// An idle sink notices Redis going away, and coming back.
	h.redis.Kill()
	testkit.WaitFor(t, 5*time.Second, "/readyz 503 and paused with Redis down", func() (bool, string) {
		code, body := in.get("/readyz")
		return code == 503 && in.metric("tickcompact_sink_paused") == 1, body
	})
	h.redis.Restart()
	testkit.WaitFor(t, 10*time.Second, "/readyz 200 after Redis is back", func() (bool, string) {
		code, body := in.get("/readyz")
		return code == 200, body
	})

	if err := in.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.checkCommittedAtEnd()
	if strings.Contains(in.logs.String(), "e2e-Pw-5521") {
		t.Error("the Redis password appears in the logs")
	}
}

// TestE2ESinkRedisOutage kills Redis while records are pending, so the batch
// fails, the sink pauses and retries with backoff, and after a restart that
// emptied the script cache it writes everything: nothing lost,
// nothing older written over newer.
func TestE2ESinkRedisOutage(t *testing.T) {
	const isins = 30
	h := newE2E(t, 3, testkit.WithRedisPersistence())
	in := h.start(h.config(nil), func(s *Service) {
		s.healthInterval = time.Hour // the outage must be found by a batch
	})
	var first []testkit.Record
	for w := 1; w <= 3; w++ {
		for i := range isins {
			first = append(first, trade(testISIN(i), windowEnd(w), "first"))
		}
	}
	h.produce(first)
	h.waitSnapshot(30 * time.Second)
	consumedBefore := in.metric("tickcompact_sink_records_consumed_total")

	h.redis.Kill()
	var second []testkit.Record
	for w := 4; w <= 6; w++ {
		for i := range isins {
			second = append(second, trade(testISIN(i), windowEnd(w), "second"))
		}
		for i := range 5 {
			second = append(second, trade(testISIN(i), windowEnd(w-2), "replay"))
		}
	}
	h.produce(second)
	testkit.WaitFor(t, 10*time.Second, "paused, not ready, with records pending and retries failing", func() (bool, string) {
		code, body := in.get("/readyz")
		paused := in.metric("tickcompact_sink_paused")
		consumed := in.metric("tickcompact_sink_records_consumed_total")
		errs := in.metric("tickcompact_sink_redis_errors_total")
		return code == 503 && paused == 1 && consumed > consumedBefore && errs >= 3,
			fmt.Sprintf("readyz %d %q, paused %v, consumed %v (was %v), redis errors %v", code, strings.TrimSpace(body), paused, consumed, consumedBefore, errs)
	})
	// Offsets are stored once Redis acknowledged, and committed by librdkafka
	// within auto.commit.interval.ms: those of the records written before the
	// outage show up, and none beyond them while Redis is down.
	sum := func(offsets []int64) (total int64) {
		for _, off := range offsets {
			total += max(0, off)
		}
		return total
	}
	var committedDuringOutage []int64
	testkit.WaitFor(t, 10*time.Second, "the records written before the outage committed", func() (bool, string) {
		committedDuringOutage = h.committedOffsets()
		return sum(committedDuringOutage) >= int64(len(first)), fmt.Sprint(committedDuringOutage)
	})
	time.Sleep(1500 * time.Millisecond) // more than one auto-commit interval, still in the outage
	committedDuringOutage = h.committedOffsets()

	h.redis.Restart()
	h.waitSnapshot(20 * time.Second)
	testkit.WaitFor(t, 10*time.Second, "resumed and ready", func() (bool, string) {
		code, body := in.get("/readyz")
		return code == 200 && in.metric("tickcompact_sink_paused") == 0, body
	})
	// Each pipeline's first command, an EVAL, cached the script again: no
	// command met NOSCRIPT.
	if got := in.metric("tickcompact_sink_script_reloads_total"); got != 0 {
		t.Errorf("script_reloads_total = %v: a command met NOSCRIPT after the restart", got)
	}
	if got, want := in.metric("tickcompact_sink_records_written_total"), float64(6*isins); got != want {
		t.Errorf("records_written_total = %v, want %v", got, want)
	}
	if err := in.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.checkCommittedAtEnd()
	// While Redis was down, the offsets of the pending records were not committed.
	if producedFirst := sum(committedDuringOutage); producedFirst != int64(len(first)) {
		t.Errorf("offsets committed during the outage cover %d records, want the %d written before it", producedFirst, len(first))
	}
}

// TestE2ESinkRevokeWhilePaused has one sink whose Redis refuses the writes
// (its user may not run scripts), so it holds a backlog as a pending batch,
// paused, while a second one joins: the first drops the revoked partitions'
// records uncommitted, the second writes them, and when the first stops
// without committing, the second takes the rest. The final snapshot is
// complete.
func TestE2ESinkRevokeWhilePaused(t *testing.T) {
	h := newE2E(t, 4)
	refusing := testkit.StartRedis(t)
	if err := refusing.Client().Do(context.Background(), "ACL", "SETUSER", "default", "-evalsha", "-eval").Err(); err != nil {
		t.Fatal(err)
	}
	// The backlog is on partitions 0 and 1 only: the ones cooperative-sticky
	// moves to a second member first, so the pending records get revoked.
	var records []testkit.Record
	for w := 1; w <= 3; w++ {
		for i := range 24 {
			r := trade(testISIN(i), windowEnd(w), "x")
			r.Partition = int32(i % 2)
			records = append(records, r)
		}
	}
	h.produce(records)

	stuck := h.start(h.config(func(c *Config) { c.Redis.Addr = refusing.Addr }), func(s *Service) { s.healthInterval = time.Hour })
	testkit.WaitFor(t, 20*time.Second, "the first sink to own every partition and be paused", func() (bool, string) {
		assigned := stuck.metric("tickcompact_sink_assigned_partitions")
		return assigned == 4 && stuck.metric("tickcompact_sink_paused") == 1, fmt.Sprintf("assigned %v", assigned)
	})
	if code, body := stuck.get("/readyz"); code != 503 || !strings.Contains(body, "NOPERM") {
		t.Errorf("/readyz of the refused sink = %d %s", code, body)
	}

	healthy := h.start(h.config(nil), nil)
	testkit.WaitFor(t, 30*time.Second, "partitions shared between the two sinks", func() (bool, string) {
		a, b := stuck.metric("tickcompact_sink_assigned_partitions"), healthy.metric("tickcompact_sink_assigned_partitions")
		return a+b == 4 && b > 0 && healthy.metric("tickcompact_sink_records_written_total") > 0, fmt.Sprintf("assigned %v and %v", a, b)
	})
	pendingRevoked, dropped := revokedWhilePending(t, stuck.logs.String())
	if pendingRevoked && !dropped {
		t.Error("the paused sink did not drop its revoked partitions' pending records")
	}
	t.Logf("pending records on a revoked partition: %v; dropped: %v", pendingRevoked, dropped)
	if err := stuck.stop(); err != nil {
		t.Fatalf("stuck sink: %v", err)
	}
	if ok := testkit.MetricValue(scrape(t, stuck.svc), `tickcompact_sink_offset_commits_total{result="ok"}`); ok != 0 {
		t.Errorf("the sink whose Redis refused writes committed offsets %v times", ok)
	}
	h.waitSnapshot(30 * time.Second)
	if err := healthy.stop(); err != nil {
		t.Fatalf("healthy sink: %v", err)
	}
	h.checkCommittedAtEnd()
}

// revokedWhilePending reads a sink's JSON logs: whether the first revocation
// took a partition that had pending records, and whether records were
// dropped for it.
func revokedWhilePending(t *testing.T, logs string) (pendingRevoked, dropped bool) {
	t.Helper()
	var pending []float64
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry struct {
			Msg        string    `json:"msg"`
			Pending    []float64 `json:"pending_partitions"`
			Partitions []float64 `json:"partitions"`
		}
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		switch {
		case strings.HasPrefix(entry.Msg, "redis failing"):
			pending = entry.Pending
		case strings.HasPrefix(entry.Msg, "dropped uncommitted records"):
			dropped = true
		case entry.Msg == "partitions revoked":
			for _, p := range entry.Partitions {
				pendingRevoked = pendingRevoked || slices.Contains(pending, p)
			}
			return pendingRevoked, dropped
		}
	}
	return false, dropped
}

// scrape renders a stopped service's registry (its HTTP server is gone).
func scrape(t *testing.T, s *Service) string {
	t.Helper()
	families, err := s.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += fmt.Sprintf(`%s=%q`, l.GetName(), l.GetValue())
			}
			if labels != "" {
				labels = "{" + labels + "}"
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			fmt.Fprintf(&b, "%s%s %v\n", f.GetName(), labels, v)
		}
	}
	return b.String()
}

// TestE2ESinkRedisAuth runs the sink with a wrong Redis password: it stays
// up, not ready with a clear reason, writes and commits nothing, and never
// shows the password.
func TestE2ESinkRedisAuth(t *testing.T) {
	const wrong = "wrong-Pw-0042"
	h := newE2E(t, 2, testkit.WithRedisUser("sink", "right-Pw-0042"))
	in := h.start(h.config(func(c *Config) { c.Redis.Password = wrong }), nil)
	h.produce([]testkit.Record{trade(testISIN(1), windowEnd(1), "x"), trade(testISIN(2), windowEnd(1), "x")})
	testkit.WaitFor(t, 10*time.Second, "/readyz 503 naming the refused credentials", func() (bool, string) {
		code, body := in.get("/readyz")
		return code == 503 && strings.Contains(body, "WRONGPASS") && strings.Contains(body, "redis.password"), body
	})
	time.Sleep(time.Second) // let the retries run
	_, body := in.get("/readyz")
	if strings.Contains(body, wrong) {
		t.Errorf("/readyz reveals the password: %s", body)
	}
	if n := h.redis.Client().HLen(context.Background(), "trades:latest").Val(); n != 0 {
		t.Errorf("snapshot has %d fields although Redis refused the sink", n)
	}
	if err := in.stop(); err != nil {
		t.Fatalf("Run: %v (a wrong password must not crash the sink)", err)
	}
	for _, off := range h.committedOffsets() {
		if off >= 0 {
			t.Errorf("offsets committed although nothing was written: %v", h.committedOffsets())
			break
		}
	}
	logs := in.logs.String()
	if !strings.Contains(logs, "WRONGPASS") || !strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("logs lack an error line with Redis's WRONGPASS:\n%s", logs)
	}
	if strings.Contains(logs, wrong) {
		t.Error("the password appears in the logs")
	}
}

// TestE2ESinkBinarySIGTERM runs the built command against the broker and
// Redis, then stops it with SIGTERM: it exits 0 within the bound, having
// written and committed everything, with JSON logs free of the password.
func TestE2ESinkBinarySIGTERM(t *testing.T) {
	const password = "bin-Pw-7781"
	bin := testkit.Binary(t, "sink")
	h := newE2E(t, 2, testkit.WithRedisUser("sink", password))
	var records []testkit.Record
	for i := range 20 {
		records = append(records, trade(testISIN(i), windowEnd(1), "bin"))
	}
	h.produce(records)

	httpAddr := testkit.FreeAddr(t)
	cmd := exec.Command(bin,
		"--kafka.brokers="+h.kafka.Brokers,
		"--kafka.properties=session.timeout.ms=6000",
		"--input.topic="+h.topic, "--input.group="+h.group,
		"--redis.addr="+h.redis.Addr, "--redis.username=sink",
		"--http.addr="+httpAddr)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "SINK_REDIS_PASSWORD="+password)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("sink stderr:\n%s", stderr.String())
		}
	})
	h.waitSnapshot(30 * time.Second)
	testkit.WaitReadyz(t, httpAddr, 200, "", 10*time.Second)
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the sink did not exit within 15s of SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	h.checkCommittedAtEnd()
	out := stderr.String()
	if strings.Contains(out, password) {
		t.Error("the password appears in the logs")
	}
	if !strings.Contains(out, "sink stopped cleanly") {
		t.Error("no clean-stop log line")
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}
