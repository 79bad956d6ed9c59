package tradegen

import (
	"math"
	"testing"
	"time"
)

// perSecond generates records until the schedule passes d and returns the
// number of records stamped in each second, from the timestamps.
func perSecond(t *testing.T, opts Options, d time.Duration) []int {
	t.Helper()
	opts.Start = testStart
	g := mustGenerator(t, opts)
	counts := make([]int, int(d/time.Second))
	for {
		rec := g.Next()
		offset := rec.Timestamp.Sub(testStart)
		if offset >= d {
			return counts
		}
		counts[offset/time.Second]++
	}
}

func TestScheduleAverageRate(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		secs int
	}{{800, 300}, {5_000, 60}, {50, 1_200}} {
		for _, seed := range []int64{1, 2} {
			counts := perSecond(t, Options{Seed: seed, Rate: tt.rate}, time.Duration(tt.secs)*time.Second)
			total := 0
			for _, c := range counts {
				total += c
			}
			avg := float64(total) / float64(tt.secs)
			if math.Abs(avg-tt.rate)/tt.rate > 0.08 {
				t.Errorf("rate %v seed %d: average %.1f trades/s over %d s", tt.rate, seed, avg, tt.secs)
			}
			t.Logf("rate %v seed %d: average %.1f trades/s over %d s", tt.rate, seed, avg, tt.secs)
		}
	}
	// Flat out, the schedule runs at DefaultRate.
	counts := perSecond(t, Options{Seed: 1, Rate: 0}, 300*time.Second)
	total := 0
	for _, c := range counts {
		total += c
	}
	if avg := float64(total) / 300; math.Abs(avg-DefaultRate)/DefaultRate > 0.08 {
		t.Errorf("flat out: schedule average %.1f trades/s, want about %d", avg, DefaultRate)
	}
}

func TestScheduleIsBursty(t *testing.T) {
	counts := perSecond(t, Options{Seed: 5, Rate: 800}, 120*time.Second)
	lo, hi := counts[0], counts[0]
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	// A Poisson process at 800/s stays within about 800±100 over 120 seconds.
	if hi < 1_100 || lo > 600 {
		t.Errorf("per-second counts %d..%d: not bursty", lo, hi)
	}
	t.Logf("per-second counts at 800/s: min %d, max %d", lo, hi)
}

func TestScheduleOpeningSpike(t *testing.T) {
	const secs = 60
	counts := perSecond(t, Options{Seed: 1, Rate: 800, OpeningSpike: true}, secs*time.Second)
	first5 := counts[0] + counts[1] + counts[2] + counts[3] + counts[4]
	rest := 0
	for _, c := range counts[10:] {
		rest += c
	}
	restAvg := float64(rest) / (secs - 10)
	// 900 auction prints plus about 4,000 boosted trades on top of 5 s at 800/s.
	if first5 < 7_000 || counts[0] < 2_000 {
		t.Errorf("first 5 s: %d trades (first second %d), want a spike of several thousand", first5, counts[0])
	}
	if math.Abs(restAvg-800)/800 > 0.15 {
		t.Errorf("after the spike: %.1f trades/s, want about 800", restAvg)
	}
	t.Logf("opening spike: first second %d, first 5 s %d trades; afterwards %.1f/s", counts[0], first5, restAvg)
}
