package main

import (
	"strings"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

// TestUnreachableDependenciesAreQuiet runs the sink for half a minute against
// a broker that is not there, with Redis and without: it says what is
// missing in a line of its own, then writes about one line per backoff or
// folding step, keeps retrying, and /readyz gives one reason per missing
// dependency.
func TestUnreachableDependenciesAreQuiet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		redis     func(t *testing.T) string
		maxLines  int
		ownLines  []string
		reasons   []string
		noReasons []string
	}{
		{
			name:  "no kafka",
			redis: func(t *testing.T) string { return testkit.StartRedis(t).Addr },
			// Start and stop, the monitor's lines at 0, 1, 3, 7, 15 s and
			// librdkafka's connection failure folded the same way.
			maxLines:  16,
			ownLines:  []string{"kafka: no broker reachable; retrying"},
			reasons:   []string{"kafka: no broker reachable"},
			noReasons: []string{"redis"},
		},
		{
			name:  "neither kafka nor redis",
			redis: func(t *testing.T) string { return testkit.FreeAddr(t) },
			// Also one line per Redis retry (backoff from 100 ms to 5 s:
			// about a dozen in 30 s) and go-redis's own notice, folded.
			maxLines: 40,
			ownLines: []string{"kafka: no broker reachable; retrying", "redis failing; consumption paused, retrying"},
			reasons:  []string{"kafka: no broker reachable", "; redis: ping failed: dial tcp"},
			// The reason says "redis" once, not "redis: sink: redis: ping".
			noReasons: []string{"sink:", "redis: redis"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := testkit.RunOutage(t, "sink", "--kafka.brokers="+testkit.FreeAddr(t), "--redis.addr="+tc.redis(t))
			t.Logf("%d lines in %v:\n%s", len(out.Lines), testkit.OutageFor, out.Summary())
			if len(out.Lines) > tc.maxLines {
				t.Errorf("%d lines in %v, want at most %d", len(out.Lines), testkit.OutageFor, tc.maxLines)
			}
			for _, msg := range tc.ownLines {
				line, after, ok := out.First(msg)
				if !ok {
					t.Errorf("no line %q", msg)
					continue
				}
				t.Logf("%q %v after the start: %v", msg, after.Round(time.Millisecond), line)
			}
			if out.ReadyzCode != 503 {
				t.Errorf("/readyz = %d %q", out.ReadyzCode, out.Readyz)
			}
			for _, want := range tc.reasons {
				if !strings.Contains(out.Readyz, want) {
					t.Errorf("/readyz %q does not say %q", out.Readyz, want)
				}
			}
			for _, not := range tc.noReasons {
				if strings.Contains(out.Readyz, not) {
					t.Errorf("/readyz %q says %q", out.Readyz, not)
				}
			}
		})
	}
}
