package memtune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if got := SetGCPercent(DefaultGCPercent); got != DefaultGCPercent {
		t.Fatalf("SetGCPercent = %d", got)
	}
	if prev := debug.SetGCPercent(100); prev != DefaultGCPercent {
		t.Fatalf("the collector's target is %d, want %d", prev, DefaultGCPercent)
	}
	t.Setenv("GOGC", "200")
	if got := SetGCPercent(DefaultGCPercent); got != 0 {
		t.Fatalf("with GOGC set, SetGCPercent = %d, want 0", got)
	}
	if prev := debug.SetGCPercent(100); prev != 100 {
		t.Fatalf("with GOGC set the target changed to %d", prev)
	}
}

func TestTargetPercent(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		live uint64
		want int
	}{
		{0, maxGCPercent},
		{1 * mb, maxGCPercent},        // 3,200 % capped
		{8 * mb, 400},                 // 32 MB over 8 MB live
		{30 * mb, 100},                // 106 % rounded down
		{64 * mb, DefaultGCPercent},   // 50 % is headroom enough
		{1024 * mb, DefaultGCPercent}, // never below the floor
	}
	for _, tt := range tests {
		if got := targetPercent(DefaultGCPercent, DefaultGCHeadroom, tt.live); got != tt.want {
			t.Errorf("targetPercent(live %d MB) = %d, want %d", tt.live/mb, got, tt.want)
		}
	}
}

// The target rises above the floor with a small live heap and comes back to
// it with a large one.
func TestKeepGCHeadroomFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	tuner := keepGCHeadroom(DefaultGCPercent, DefaultGCHeadroom)
	if tuner == nil {
		t.Fatal("keepGCHeadroom did not apply")
	}
	defer tuner.Stop()
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	waitFor := func(what string, ok func(percent uint64) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			runtime.GC()
			time.Sleep(3 * adjustEvery) // the tuner's next ticks see the collection's live heap
			if metrics.Read(gogc); ok(gogc[0].Value.Uint64()) {
				return
			}
		}
		t.Fatalf("GC target %d %%: never %s", gogc[0].Value.Uint64(), what)
	}
	// First raised, with the test binary's few MB live...
	waitFor("raised above the floor", func(p uint64) bool { return p > DefaultGCPercent })
	// ...then back to the floor once the live heap is three times the headroom.
	live := make([]byte, 96<<20)
	for i := range live {
		live[i] = byte(i)
	}
	waitFor("back to the floor with 96 MB live", func(p uint64) bool { return p == DefaultGCPercent })
	runtime.KeepAlive(live)
}

func TestKeepGCHeadroomLeavesGOGCAlone(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "200")
	if KeepGCHeadroom(DefaultGCPercent, DefaultGCHeadroom) {
		t.Fatal("KeepGCHeadroom applied although GOGC is set")
	}
}

// One collection is enough: the target follows the live heap it measured
// within a few ticks, without waiting for another collection (which, with
// a stale raised target, could come hundreds of MB later).
func TestKeepGCHeadroomFollowsWithoutAnotherCollection(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/cycles/total:gc-cycles"}}
	read := func() (percent, cycles uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64(), samples[1].Value.Uint64()
	}
	runtime.GC() // the test binary's few MB live
	tuner := keepGCHeadroom(DefaultGCPercent, DefaultGCHeadroom)
	if tuner == nil {
		t.Fatal("keepGCHeadroom did not apply")
	}
	defer tuner.Stop()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(adjustEvery / 2) {
		if p, _ := read(); p > DefaultGCPercent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the target was never raised above the floor with a few MB live")
		}
	}
	live := make([]byte, 96<<20)
	for i := range live {
		live[i] = byte(i)
	}
	runtime.GC() // measures 96 MB live
	_, cycles := read()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(adjustEvery / 2) {
		p, now := read()
		if now != cycles {
			t.Fatalf("another collection ran (%d -> %d cycles) before the target came down (%d %%)", cycles, now, p)
		}
		if p == DefaultGCPercent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GC target %d %% 5 s after a collection measured 96 MB live, want %d %%", p, DefaultGCPercent)
		}
	}
	runtime.KeepAlive(live)
}
