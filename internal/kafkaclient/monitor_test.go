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

	"tickcompact/internal/readiness"
)

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
