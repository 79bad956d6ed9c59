package window

import (
	"math"
	"testing"
	"time"
)

// The cache must answer exactly as Config.Start whatever order times come
// in: ascending within a window, jumping back, across zero and near the ends
// of int64, where Start itself overflows.
func TestWindowCacheMatchesStart(t *testing.T) {
	times := []int64{
		0, 1, 1999, 2000, 2001, 1999, -1, -2000, -2001, 5, 1_764_000_001_234, 1_764_000_001_999,
		1_764_000_002_000, 1_764_000_000_000, 1_763_999_999_999,
		math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 - 3000, math.MaxInt64,
		math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 3000, math.MinInt64, math.MaxInt64 - 1,
	}
	for _, size := range []time.Duration{time.Millisecond, 2 * time.Second, 24 * time.Hour} {
		cfg := Config{Size: size}
		var c windowCache
		for _, ts := range times {
			if got, want := c.startOf(cfg, ts), cfg.Start(ts); got != want {
				t.Fatalf("size %v: startOf(%d) = %d, Start says %d", size, ts, got, want)
			}
		}
	}
}
