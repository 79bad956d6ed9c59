package kafkaclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/logging"
	"tickcompact/internal/readiness"
)

func TestForwardLogsKeepsTheEventsTimeAndLevel(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logs := make(chan kafka.LogEvent, 3)
	at := time.Date(2026, 11, 26, 1, 2, 3, 456_000_000, time.UTC)
	logs <- kafka.LogEvent{Tag: "FAIL", Message: "broker down", Level: 3, Timestamp: at}
	logs <- kafka.LogEvent{Tag: "EOS", Message: "debug line", Level: 7, Timestamp: at}
	logs <- kafka.LogEvent{Tag: "CONFWARN", Message: "a warning", Level: 4, Timestamp: at.Add(time.Millisecond)}
	close(logs)
	NewMonitor(logger, "b:9092", nil).forwardLogs(context.Background(), logs, "test-consumer")

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (the debug one is below the level): %s", len(lines), out.String())
	}
	want := []struct{ time, level, msg, facility string }{
		{"2026-11-26T01:02:03.456Z", "ERROR", "broker down", "FAIL"},
		{"2026-11-26T01:02:03.457Z", "WARN", "a warning", "CONFWARN"},
	}
	for i, w := range want {
		got := lines[i]
		if got["time"] != w.time || got["level"] != w.level || got["msg"] != w.msg || got["facility"] != w.facility ||
			got["client"] != "test-consumer" || got["component"] != "librdkafka" {
			t.Errorf("line %d = %v, want time %s level %s msg %q facility %s client test-consumer", i, got, w.time, w.level, w.msg, w.facility)
		}
	}
}

func TestForwardLogsGoesThroughTheServiceLogger(t *testing.T) {
	var out bytes.Buffer
	logger, err := logging.New(&out, "info", "json", []string{"s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	logger = logger.With("service", "aggregator")
	logs := make(chan kafka.LogEvent, 1)
	logs <- kafka.LogEvent{Tag: "SASL", Message: "SASL authentication error: password s3cret refused", Level: 3, Timestamp: time.Now()}
	close(logs)
	NewMonitor(logger, "b:9092", nil).forwardLogs(context.Background(), logs, "window-consumer")

	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &line); err != nil {
		t.Fatalf("%s: %v", out.String(), err)
	}
	if line["service"] != "aggregator" {
		t.Errorf("the logger's own attributes are lost: %v", line)
	}
	if msg, _ := line["msg"].(string); msg != "SASL authentication error: password [REDACTED] refused" {
		t.Errorf("msg = %q: the secret was not redacted", msg)
	}
}

// TestForwardLogsWritesWhatIsWaitingWhenStopped: the caller ends ctx after
// closing the client, and what the client logged up to then must not be lost.
func TestForwardLogsWritesWhatIsWaitingWhenStopped(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	logs := make(chan kafka.LogEvent, 2) // left open, as confluent-kafka-go leaves it
	logs <- kafka.LogEvent{Tag: "TXN", Message: "last transaction committed", Level: 6, Timestamp: time.Now()}
	logs <- kafka.LogEvent{Tag: "ASSIGN", Message: "partitions revoked", Level: 6, Timestamp: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { NewMonitor(logger, "b:9092", nil).forwardLogs(ctx, logs, "c"); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forwardLogs did not return after ctx was done and the channel empty")
	}
	if got := strings.Count(out.String(), "\n"); got != 2 || !strings.Contains(out.String(), "partitions revoked") {
		t.Fatalf("%d lines, want both waiting events: %s", got, out.String())
	}
}

// TestForwardStopWaitsForWhatIsWaiting: stop returns only once the events
// already in the channel are written, since the process may exit right after.
func TestForwardStopWaitsForWhatIsWaiting(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	logs := make(chan kafka.LogEvent, 100)
	ctx, cancel := context.WithCancel(context.Background())
	stop := NewMonitor(logger, "b:9092", nil).Forward(ctx, logs, "c")
	cancel() // the service was told to stop; the client is still closing
	for i := range 100 {
		logs <- kafka.LogEvent{Tag: "T", Message: fmt.Sprintf("line %d", i), Level: 6, Timestamp: time.Now()}
	}
	stop()
	stop() // idempotent
	if got := strings.Count(out.String(), "\n"); got != 100 {
		t.Fatalf("%d lines written when stop returned, want 100", got)
	}
}

func jsonLines(t *testing.T, out *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// Half a minute of librdkafka reporting every broker down every 50 ms, as
// the admin client does, with the counts it gives (1/1, and 0/1 at times):
// the monitor says so in one line at once, then one line per folding step
// with the count of reports it stands for, and /readyz has one steady reason.
func TestMonitorFoldsBrokersDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&out, nil))
		state := readiness.New(nil)
		m := NewMonitor(logger, "127.0.0.1:1", state)
		if err := state.Check(); err == nil || err.Error() != "kafka: not connected yet" {
			t.Fatalf("before anything: %v", err)
		}
		m.Error("admin", kafka.NewError(kafka.ErrTransport, "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)", false))
		reports := 0
		wantReason := "kafka: no broker reachable (kafka.brokers 127.0.0.1:1): 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused"
		for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(50 * time.Millisecond) {
			m.Error("admin", kafka.NewError(kafka.ErrAllBrokersDown, fmt.Sprintf("%d/1 brokers are down", reports%2), false))
			reports++
			if err := state.Check(); err == nil || err.Error() != wantReason {
				t.Fatalf("after %d reports /readyz says %v, want %q", reports, err, wantReason)
			}
		}
		lines := jsonLines(t, &out)
		// At 0, 1, 3, 7, 15 and 31 s: the step doubles from 1 s.
		if len(lines) != 5 {
			t.Errorf("%d lines for %d reports in 30 s, want 5:\n%s", len(lines), reports, out.String())
		}
		if lines[0]["msg"] != "kafka: no broker reachable; retrying" || !strings.Contains(fmt.Sprint(lines[0]["cause"]), "Connection refused") {
			t.Errorf("first line %v", lines[0])
		}
		folded := 0
		for _, l := range lines[1:] {
			if l["msg"] != "kafka: still no broker reachable; retrying" {
				t.Errorf("line %v", l)
			}
			folded += int(l["reports"].(float64))
		}
		out.Reset()
		m.Answered()
		back := jsonLines(t, &out)
		if len(back) != 1 || back[0]["msg"] != "kafka: brokers reachable again" {
			t.Fatalf("after Answered: %s", out.String())
		}
		folded += int(back[0]["reports"].(float64))
		if folded+len(lines) != reports {
			t.Errorf("the lines stand for %d reports, want %d", folded+len(lines), reports)
		}
		if err := state.Check(); err != nil {
			t.Errorf("after Answered /readyz says %v", err)
		}
		out.Reset()
		m.Answered() // nothing to say any more
		if out.Len() != 0 {
			t.Errorf("a second Answered wrote %s", out.String())
		}
	})
}

// librdkafka's own log lines repeat too (one per client, one per attempt);
// they are folded the same way, counting the lines each written one stands
// for, and lines of another kind are not held back.
func TestMonitorFoldsRepeatedLogLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		m := NewMonitor(slog.New(slog.NewJSONHandler(&out, nil)), "127.0.0.1:1", nil)
		logs := make(chan kafka.LogEvent, 1000)
		for i := range 40 {
			suffix := ""
			if i > 0 {
				suffix = fmt.Sprintf(", %d identical error(s) suppressed", i)
			}
			logs <- kafka.LogEvent{Tag: "FAIL", Level: 3, Timestamp: time.Now(),
				Message: "[thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT" + suffix + ")"}
			if i == 20 {
				logs <- kafka.LogEvent{Tag: "CONFWARN", Level: 4, Timestamp: time.Now(), Message: "a warning of another kind"}
			}
		}
		close(logs)
		m.forwardLogs(context.Background(), logs, "window-consumer")
		lines := jsonLines(t, &out)
		if len(lines) != 2 || lines[1]["msg"] != "a warning of another kind" {
			t.Fatalf("%d lines, want the first connection failure and the other warning:\n%s", len(lines), out.String())
		}
		time.Sleep(2 * time.Second)
		logs = make(chan kafka.LogEvent, 1)
		logs <- kafka.LogEvent{Tag: "FAIL", Level: 3, Timestamp: time.Now(), Message: "[thrd:x]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 1ms in state CONNECT)"}
		close(logs)
		out.Reset()
		m.forwardLogs(context.Background(), logs, "admin")
		if lines := jsonLines(t, &out); len(lines) != 1 || lines[0]["folded"] != float64(39) {
			t.Fatalf("after the step: %s", out.String())
		}
	})
}

// A refused SASL login is the reason, also when every broker then goes down.
func TestMonitorAuthenticationFailure(t *testing.T) {
	var out bytes.Buffer
	state := readiness.New([]string{"s3cret"})
	m := NewMonitor(slog.New(slog.NewJSONHandler(&out, nil)), "b:9092", state)
	logs := make(chan kafka.LogEvent, 1)
	logs <- kafka.LogEvent{Tag: "SASL", Level: 3, Timestamp: time.Now(), Message: "SASL authentication error: Authentication failed for s3cret"}
	close(logs)
	m.forwardLogs(context.Background(), logs, "admin")
	m.Error("admin", kafka.NewError(kafka.ErrAllBrokersDown, "1/1 brokers are down", false))
	err := state.Check()
	if err == nil || !strings.HasPrefix(err.Error(), "kafka: authentication failed (check kafka.properties sasl.*)") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("/readyz says %v", err)
	}
	m.Answered()
	if err := state.Check(); err != nil {
		t.Fatalf("after Answered: %v", err)
	}
}
