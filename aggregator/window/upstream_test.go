package window

import (
	"testing"
	"time"
)

// upstreamCfg is a partition of the repartition topic: 2 s windows fed by
// the sources of a repartition stage.
var upstreamCfg = Config{Size: 2 * time.Second, IdleTimeout: time.Second, Upstream: true}

// ms is an event time ms after t0.
func ms(at int64) int64 { return t0.UnixMilli() + at }

// upstreamFeed drives one partition with sources, numbering offsets.
type upstreamFeed struct {
	t      *testing.T
	p      *Partition
	offset int64
	closed []Closed
}

func newUpstreamFeed(t *testing.T) *upstreamFeed {
	return &upstreamFeed{t: t, p: NewPartition(upstreamCfg, t0)}
}

// record adds a trade copied from source at event time at (ms after t0),
// stamped with the source's watermark then (NoTime for none).
func (f *upstreamFeed) record(source int32, at, stamp int64, value string) Outcome {
	f.t.Helper()
	out := f.p.Add(Record{ISIN: samsung, EventTime: ms(at), Offset: f.offset, Value: []byte(value), Source: source, Stamp: stamp}, t0)
	f.offset++
	f.closed = append(f.closed, f.p.TakeClosed()...)
	return out
}

// marker applies a progress marker announcing sources sources.
func (f *upstreamFeed) marker(sources int, progress ...Progress) {
	f.p.Mark(progress, sources, f.offset)
	f.offset++
	f.closed = append(f.closed, f.p.TakeClosed()...)
}

func (f *upstreamFeed) take() []string {
	out := emitted(f.closed)
	f.closed = nil
	return out
}

func active(source int32, watermarkAt int64) Progress {
	return Progress{Source: source, Watermark: ms(watermarkAt), Offset: 100}
}

func idle(source int32, watermarkAt, offset int64) Progress {
	return Progress{Source: source, Watermark: ms(watermarkAt), Offset: offset, Idle: true}
}

// A source copied far ahead of the others does not close their windows: a
// window closes once every source's watermark has passed it.
func TestUpstreamClosesOnTheLeastSourceWatermark(t *testing.T) {
	f := newUpstreamFeed(t)
	f.record(0, 100, NoTime, "a")
	f.record(0, 9000, ms(100), "far ahead") // source 0's chunk runs ahead
	f.marker(3, active(0, 9000))
	if got := f.take(); len(got) != 0 {
		t.Fatalf("closed %v while sources 1 and 2 had said nothing", got)
	}
	f.record(1, 1500, NoTime, "b") // source 1 is still in the first window: not late
	f.marker(3, active(1, 2100), active(2, 1900))
	if got := f.take(); len(got) != 0 {
		t.Fatalf("closed %v before source 2 passed 2000", got)
	}
	f.marker(3, active(2, 2000))
	want := []string{rel(0, 2000, "KR7005930003 b 2")}
	if got := f.take(); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("closed %v, want %v", got, want)
	}
}

// A record is late when its window had ended in its own source, whatever
// the other sources say: its stamp decides, not the interleaving.
func TestUpstreamLateAtSource(t *testing.T) {
	f := newUpstreamFeed(t)
	f.marker(2, active(0, 0), active(1, 0))
	if out := f.record(0, 1900, ms(2300), "late in its source"); out != Late {
		t.Fatalf("record stamped past its window: %v, want Late", out)
	}
	if out := f.record(1, 1900, ms(1950), "in time"); out != Accepted {
		t.Fatalf("record stamped before its window's end: %v, want Accepted", out)
	}
	f.marker(2, active(0, 2300), active(1, 2000))
	want := rel(0, 2000, "KR7005930003 in time 1")
	if got := f.take(); len(got) != 1 || got[0] != want {
		t.Fatalf("closed %v, want [%s]", got, want)
	}
	// With grace, the stamp must reach the end plus grace.
	g := &upstreamFeed{t: t, p: NewPartition(Config{Size: 2 * time.Second, Grace: 500 * time.Millisecond, Upstream: true}, t0)}
	if out := g.record(0, 1900, ms(2400), "within grace"); out != Accepted {
		t.Fatalf("stamp within grace: %v, want Accepted", out)
	}
	if out := g.record(0, 1901, ms(2500), "past grace"); out != Late {
		t.Fatalf("stamp at end+grace: %v, want Late", out)
	}
}

// Until a marker has said how many sources there are, nothing closes: a
// record from one source says nothing of the others.
func TestUpstreamWaitsForTheSourceCount(t *testing.T) {
	f := newUpstreamFeed(t)
	f.record(0, 100, NoTime, "a")
	f.record(0, 5000, ms(100), "b")
	if got := f.take(); len(got) != 0 {
		t.Fatalf("closed %v with no marker read", got)
	}
	f.marker(2, active(0, 5000))
	if got := f.take(); len(got) != 0 {
		t.Fatalf("closed %v while source 1 is unknown", got)
	}
	f.marker(2, Progress{Source: 1, Watermark: NoTime, Offset: 0})
	if got := f.take(); len(got) != 0 {
		t.Fatalf("closed %v while source 1 has no valid record yet", got)
	}
}

// A marker from a previous owner of a source, read after the next owner's,
// does not move its watermark back.
func TestUpstreamWatermarkNeverGoesBack(t *testing.T) {
	f := newUpstreamFeed(t)
	f.record(0, 100, NoTime, "a")
	f.marker(1, active(0, 1000))
	f.marker(1, active(0, 2500))
	f.marker(1, active(0, 800)) // late marker of the previous owner
	if got := f.take(); len(got) != 1 {
		t.Fatalf("closed %v, want the first window once", got)
	}
	cp := f.p.Checkpoint(f.offset)
	if cp.Sources[0].Watermark != ms(2500) {
		t.Fatalf("source watermark %d, want %d", cp.Sources[0].Watermark, ms(2500))
	}
}

// Windows that only idle sources hold open close by wall clock once the
// clock passes them and the broker confirms the idle sources still end where
// they went idle; a raw backlog not yet copied holds them open.
func TestUpstreamCloseQuiet(t *testing.T) {
	newFeed := func() *upstreamFeed {
		f := newUpstreamFeed(t)
		f.record(0, 100, NoTime, "a")
		f.marker(3, active(0, 2500), idle(1, 50, 7), idle(2, -1, 3))
		return f
	}
	asked := map[int32]int64{}
	atEnd := func(answer bool) func(int32, int64) bool {
		return func(source int32, offset int64) bool {
			asked[source] = offset
			return answer
		}
	}

	f := newFeed()
	if f.p.CloseQuiet(t0.Add(1999*time.Millisecond), atEnd(true)) || len(asked) != 0 {
		t.Fatalf("closed, or asked the broker (%v), before the clock passed the window", asked)
	}
	if f.p.CloseQuiet(t0.Add(3*time.Second), atEnd(false)) {
		t.Fatal("closed while an idle source has records waiting to be copied")
	}
	if asked[1] != 7 {
		t.Fatalf("asked %v, want source 1 at its idle offset 7", asked)
	}
	if !f.p.CloseQuiet(t0.Add(3*time.Second), atEnd(true)) {
		t.Fatal("did not close a window only confirmed idle sources hold open")
	}
	if asked[1] != 7 || asked[2] != 3 {
		t.Fatalf("asked %v, want sources 1 and 2 at their idle offsets 7 and 3", asked)
	}
	closed := f.p.TakeClosed()
	if len(closed) != 1 || !closed[0].ByWallClock || closed[0].End != ms(2000) {
		t.Fatalf("closed %+v, want [0,2000) by wall clock", closed)
	}

	// A busy source still bounds it, idle sources or not.
	g := newUpstreamFeed(t)
	g.record(0, 100, NoTime, "a")
	g.record(0, 2100, ms(100), "b")
	g.marker(2, active(0, 2100), idle(1, 0, 0))
	clear(asked)
	if !g.p.CloseQuiet(t0.Add(10*time.Second), atEnd(true)) {
		t.Fatal("did not close the first window")
	}
	if closed := g.p.TakeClosed(); len(closed) != 1 || closed[0].End != ms(2000) {
		t.Fatalf("closed %+v, want only [0,2000): source 0 is at 2100", closed)
	}
	// A record from an idle source makes it busy again.
	g.record(1, 2200, ms(0), "c")
	clear(asked)
	if g.p.CloseQuiet(t0.Add(10*time.Second), atEnd(true)) || len(asked) != 0 {
		t.Fatalf("closed, or asked (%v), while every source is busy below 4000", asked)
	}
}

// A partition restored from its checkpoint knows its sources as they were,
// and markers replayed below the checkpoint change nothing.
func TestUpstreamCheckpointRestore(t *testing.T) {
	f := newUpstreamFeed(t)
	f.record(0, 100, NoTime, "a")
	f.marker(2, active(0, 1000), idle(1, 500, 12))
	cp := f.p.Checkpoint(f.offset)
	want := []SourceCheckpoint{
		{Progress: Progress{Source: 0, Watermark: ms(1000), Offset: -1}, Known: true},
		{Progress: Progress{Source: 1, Watermark: ms(500), Offset: 12, Idle: true}, Known: true},
	}
	if !equalSources(cp.Sources, want) {
		t.Fatalf("checkpoint sources %+v, want %+v", cp.Sources, want)
	}
	p := Restore(upstreamCfg, cp, t0)
	// Replay: the record and the marker again, then a marker below the
	// checkpoint that would have made source 1 busy.
	p.Add(Record{ISIN: samsung, EventTime: ms(100), Offset: 0, Value: []byte("a"), Source: 0, Stamp: NoTime}, t0)
	p.Mark([]Progress{active(1, 600)}, 2, 1)
	if got := p.Checkpoint(f.offset); !got.Equal(cp) {
		t.Fatalf("after replay %+v, want %+v", got, cp)
	}
	p.Mark([]Progress{active(0, 2000)}, 2, f.offset)
	if !p.CloseQuiet(t0.Add(3*time.Second), func(int32, int64) bool { return true }) {
		t.Fatal("restored idle source does not let the window close")
	}
	if got := emitted(p.TakeClosed()); len(got) != 1 || got[0] != rel(0, 2000, "KR7005930003 a 1") {
		t.Fatalf("closed %v", got)
	}
}

// A partition restored with idle sources, after the end of a window it had
// open, rebuilds that window from every replayed record before the window
// may close by wall clock.
func TestUpstreamCloseQuietWaitsForTheReplay(t *testing.T) {
	live := newUpstreamFeed(t)
	live.marker(1, active(0, 100))
	live.record(0, 100, NoTime, "a")  // offset 1
	live.record(0, 200, ms(100), "b") // offset 2
	live.marker(1, idle(0, 200, 3))   // offset 3: the only source idle
	cp := live.p.Checkpoint(4)        // committed with [0, 2000) open
	p := Restore(upstreamCfg, cp, t0) // restarted after the window's end
	later := t0.Add(10 * time.Second)
	atEnd := func(int32, int64) bool { return true }
	p.Add(Record{ISIN: samsung, EventTime: ms(100), Offset: 1, Value: []byte("a"), Source: 0, Stamp: NoTime}, later)
	if p.CloseQuiet(later, atEnd) {
		t.Fatal("closed a window while still replaying its records")
	}
	p.Add(Record{ISIN: samsung, EventTime: ms(200), Offset: 2, Value: []byte("b"), Source: 0, Stamp: ms(100)}, later)
	p.Mark(nil, 1, 3)
	if !p.CloseQuiet(later, atEnd) {
		t.Fatal("did not close the window once the replay was done")
	}
	closed := p.TakeClosed()
	if len(closed) != 1 || closed[0].Entries[0].Count != 2 || string(closed[0].Entries[0].Value) != "b" {
		t.Fatalf("window emitted as %+v, want b with both trades", closed)
	}
}
