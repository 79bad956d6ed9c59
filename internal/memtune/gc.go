package memtune

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultGCPercent is the garbage collector's target the services run with
// when the live heap is large: the heap may grow to 1.5 times the live data
// between collections instead of Go's default 2 times. The aggregator keeps
// every open window's latest trade of each ISIN live, and the default would
// double that in resident memory (make bench row 5 judges the peak).
const DefaultGCPercent = 50

// DefaultGCHeadroom is the least the heap may grow between collections. With
// a small live heap (900 ISINs: a few MB) a target of 50 % alone would mean a
// collection every few MB allocated, i.e. every few thousand records, since
// each record's message copied out of librdkafka is garbage: while draining a
// backlog the collector would take a large share of the aggregator's CPU.
const DefaultGCHeadroom = 32 << 20

// maxGCPercent bounds the target when the live heap is tiny (at start).
const maxGCPercent = 1000

// SetGCPercent sets the collector's target to percent unless GOGC is set (the
// operator's choice wins). It reports the target applied, or 0.
func SetGCPercent(percent int) int {
	if os.Getenv("GOGC") != "" || percent <= 0 {
		return 0
	}
	debug.SetGCPercent(percent)
	return percent
}

// adjustEvery is how often KeepGCHeadroom recomputes the target from the
// live heap the last collection measured.
const adjustEvery = 20 * time.Millisecond

// KeepGCHeadroom sets the collector's target to percent, raised so that the
// heap may grow by at least headroom bytes over the live heap before the next
// collection: max(percent, 100*headroom/live), recomputed every adjustEvery
// from the live heap the last collection measured, on a goroutine that runs
// for the life of the process. Unless GOGC is set (the operator's choice
// wins); it reports whether it applied.
func KeepGCHeadroom(percent int, headroom uint64) bool {
	return keepGCHeadroom(percent, headroom) != nil
}

func keepGCHeadroom(percent int, headroom uint64) *gcTuner {
	if SetGCPercent(percent) == 0 || headroom == 0 {
		return nil
	}
	t := &gcTuner{percent: percent, headroom: headroom, current: percent,
		live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, stop: make(chan struct{}), done: make(chan struct{})}
	go t.run(adjustEvery)
	return t
}

// gcTuner adjusts the GC target on a ticker rather than once per collection
// (from a finalizer), which lags a collection behind when two come back to
// back: at start, the target set for the near-empty live heap of the first
// (maxGCPercent) would still hold after the second found tens of MB live,
// letting the heap grow to ten times that. Polling the live heap costs a
// microsecond per tick.
type gcTuner struct {
	percent  int
	headroom uint64
	current  int
	live     []metrics.Sample
	stop     chan struct{}
	done     chan struct{}
}

func (t *gcTuner) run(every time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.adjust()
		}
	}
}

// Stop ends the adjustments and waits for the last one (tests); the target
// stays where it is.
func (t *gcTuner) Stop() {
	close(t.stop)
	<-t.done
}

func (t *gcTuner) adjust() {
	metrics.Read(t.live)
	if want := targetPercent(t.percent, t.headroom, t.live[0].Value.Uint64()); want != t.current {
		debug.SetGCPercent(want)
		t.current = want
	}
}

// targetPercent is max(percent, 100*headroom/live) within maxGCPercent,
// rounded down to a multiple of 10 so that small changes of the live heap do
// not reset the target after every collection.
func targetPercent(percent int, headroom, live uint64) int {
	want := maxGCPercent
	if live > 0 {
		want = int(min(uint64(maxGCPercent), headroom*100/live))
	}
	want -= want % 10
	return max(percent, want)
}
