package main

import (
	"strings"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

// TestUnreachableBrokerIsQuiet runs the aggregator for half a minute against
// a broker that is not there: it says so in a line of its own, then writes
// about one line per folding step instead of librdkafka's reports of every
// broker down (some twenty a second), keeps retrying, and /readyz gives the
// reason, naming Kafka.
func TestUnreachableBrokerIsQuiet(t *testing.T) {
	out := testkit.RunOutage(t, "aggregator", "--kafka.brokers="+testkit.FreeAddr(t))
	t.Logf("%d lines in %v:\n%s", len(out.Lines), testkit.OutageFor, out.Summary())
	// Start and stop (2), the monitor's own lines (at 0, 1, 3, 7, 15 s),
	// librdkafka's connection failure folded the same way, and the input
	// topic's lookup timing out every 12 s.
	if len(out.Lines) > 20 {
		t.Errorf("%d lines in %v, want at most 20", len(out.Lines), testkit.OutageFor)
	}
	line, after, ok := out.First("kafka: no broker reachable; retrying")
	if !ok {
		t.Fatal("no line of the aggregator's own says that no broker is reachable")
	}
	t.Logf("first own line %v after the start: %v", after.Round(time.Millisecond), line)
	if _, _, ok := out.First("kafka: still no broker reachable; retrying"); !ok {
		t.Error("no line says it is still retrying")
	}
	if out.ReadyzCode != 503 || !strings.HasPrefix(out.Readyz, "not ready: kafka: no broker reachable") {
		t.Errorf("/readyz = %d %q", out.ReadyzCode, out.Readyz)
	}
}
