package kafkaclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/logging"
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
