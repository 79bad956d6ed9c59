package window

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"tickcompact/aggregator/decimal"
)

var (
	samsung = isinOf("KR7005930003")
	hynix   = isinOf("KR7000660001")
	t0      = time.UnixMilli(1_764_000_000_000) // aligned to 2 s
)

func isinOf(s string) ISIN {
	var id ISIN
	copy(id[:], s)
	return id
}

// emitted flattens closed windows into comparable strings:
// "start-end ISIN value count", then the aggregate when there is one.
func emitted(closed []Closed) []string {
	var out []string
	for _, c := range closed {
		for _, e := range c.Entries {
			line := fmt.Sprintf("%d-%d %s %s %d", c.Start, c.End, e.ISIN, e.Value, e.Count)
			if e.Aggregate != nil {
				line += " " + aggregateText(e.Aggregate)
			}
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

func TestBounds(t *testing.T) {
	tests := []struct {
		size       time.Duration
		t          int64
		start, end int64
	}{
		{2 * time.Second, 0, 0, 2000},
		{2 * time.Second, 1999, 0, 2000},
		{2 * time.Second, 2000, 2000, 4000},
		{2 * time.Second, 1_764_000_001_234, 1_764_000_000_000, 1_764_000_002_000},
		{500 * time.Millisecond, 1_764_000_001_234, 1_764_000_001_000, 1_764_000_001_500},
		{2 * time.Second, -1, -2000, 0},
	}
	for _, tt := range tests {
		c := Config{Size: tt.size}
		if s, e := c.Start(tt.t), c.End(tt.t); s != tt.start || e != tt.end {
			t.Errorf("size %v t %d: [%d,%d), want [%d,%d)", tt.size, tt.t, s, e, tt.start, tt.end)
		}
	}
}

// step is one input to a table test: a record (isin non-empty), a
// caught-up mark, or a wall-clock idle check.
type step struct {
	isin     string
	at       int64 // event time, ms after t0
	value    string
	caughtUp bool
	idleAt   time.Duration // wall clock after t0 for CloseIdle (with caughtUp or alone)
	want     Outcome
}

func run(t *testing.T, cfg Config, steps []step) (*Partition, []string) {
	t.Helper()
	p := NewPartition(cfg, t0)
	var closed []Closed
	offset := int64(0)
	for i, s := range steps {
		switch {
		case s.isin != "":
			got := p.Add(Record{ISIN: isinOf(s.isin), EventTime: t0.UnixMilli() + s.at, Offset: offset, Value: []byte(s.value)}, t0.Add(time.Duration(s.at)*time.Millisecond))
			offset++
			if got != s.want {
				t.Fatalf("step %d (%s@%d): outcome %v, want %v", i, s.value, s.at, got, s.want)
			}
		case s.caughtUp:
			p.MarkCaughtUp()
		default:
			p.CloseIdle(t0.Add(s.idleAt))
		}
		closed = append(closed, p.TakeClosed()...)
	}
	return p, emitted(closed)
}

func rel(start, end int64, rest string) string {
	return fmt.Sprintf("%d-%d %s", t0.UnixMilli()+start, t0.UnixMilli()+end, rest)
}

func TestWindowRules(t *testing.T) {
	sec2 := Config{Size: 2 * time.Second, IdleTimeout: time.Second}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
		want  []string
	}{
		{
			name: "disorder inside a window keeps the greatest event time",
			cfg:  sec2,
			steps: []step{
				{isin: "KR7005930003", at: 100, value: "a"},
				{isin: "KR7005930003", at: 900, value: "b"},
				{isin: "KR7005930003", at: 500, value: "c"}, // older, arrives later
				{isin: "KR7000660001", at: 1999, value: "h"},
				{isin: "KR7005930003", at: 2000, value: "next"}, // closes [0,2000)
			},
			want: []string{rel(0, 2000, "KR7000660001 h 1"), rel(0, 2000, "KR7005930003 b 3")},
		},
		{
			name: "equal event times: the greater offset wins",
			cfg:  sec2,
			steps: []step{
				{isin: "KR7005930003", at: 700, value: "first"},
				{isin: "KR7005930003", at: 700, value: "second"},
				{isin: "KR7000660001", at: 2500, value: "x"},
			},
			want: []string{rel(0, 2000, "KR7005930003 second 2")},
		},
		{
			name: "late records are counted as late and not emitted",
			cfg:  sec2,
			steps: []step{
				{isin: "KR7005930003", at: 100, value: "a"},
				{isin: "KR7005930003", at: 2100, value: "b"}, // closes [0,2000)
				{isin: "KR7005930003", at: 1900, value: "late", want: Late},
				{isin: "KR7000660001", at: 1500, value: "late2", want: Late},
				{isin: "KR7005930003", at: 4000, value: "c"}, // closes [2000,4000)
			},
			want: []string{rel(0, 2000, "KR7005930003 a 1"), rel(2000, 4000, "KR7005930003 b 1")},
		},
		{
			name: "grace keeps a window open past its end",
			cfg:  Config{Size: 2 * time.Second, Grace: 500 * time.Millisecond, IdleTimeout: time.Second},
			steps: []step{
				{isin: "KR7005930003", at: 100, value: "a"},
				{isin: "KR7005930003", at: 2300, value: "b"},
				{isin: "KR7005930003", at: 1900, value: "in-grace"}, // still accepted
				{isin: "KR7005930003", at: 2499, value: "c"},
				{isin: "KR7005930003", at: 2500, value: "d"}, // watermark = end + grace: closes
				{isin: "KR7005930003", at: 1950, value: "too-late", want: Late},
			},
			want: []string{rel(0, 2000, "KR7005930003 in-grace 2")},
		},
		{
			name: "watermark jump closes several windows in order",
			cfg:  sec2,
			steps: []step{
				{isin: "KR7005930003", at: 100, value: "a"},
				{isin: "KR7005930003", at: 2100, value: "b"},
				{isin: "KR7000660001", at: 1000, value: "lateish", want: Late},
				{isin: "KR7005930003", at: 9000, value: "jump"},
			},
			want: []string{rel(0, 2000, "KR7005930003 a 1"), rel(2000, 4000, "KR7005930003 b 1")},
		},
		{
			name: "a quiet caught-up partition closes by wall clock after the idle timeout",
			cfg:  sec2,
			steps: []step{
				{isin: "KR7005930003", at: 1500, value: "last"},
				{caughtUp: true},
				{idleAt: 2200 * time.Millisecond}, // past end but idle only 700ms: stays open
				{idleAt: 2600 * time.Millisecond}, // idle 1.1s and past end: closes
			},
			want: []string{rel(0, 2000, "KR7005930003 last 1")},
		},
		{
			name: "wall clock never closes a partition that is not caught up",
			cfg:  sec2,
			steps: []step{
				{isin: "KR7005930003", at: 1500, value: "last"},
				{idleAt: time.Hour},
			},
			want: nil,
		},
		{
			name: "wall clock does not close a window before its end plus grace",
			cfg:  Config{Size: 2 * time.Second, Grace: time.Second, IdleTimeout: 100 * time.Millisecond},
			steps: []step{
				{isin: "KR7005930003", at: 100, value: "a"},
				{caughtUp: true},
				{idleAt: 2900 * time.Millisecond},
				{isin: "KR7005930003", at: 1000, value: "b"}, // not late: window still open
				{caughtUp: true},
				{idleAt: 3100 * time.Millisecond},
			},
			want: []string{rel(0, 2000, "KR7005930003 b 2")},
		},
		{
			name: "after a wall-clock close the next record after the closed window is on time",
			cfg:  sec2,
			steps: []step{
				{isin: "KR7005930003", at: 100, value: "a"},
				{caughtUp: true},
				{idleAt: 5 * time.Second}, // closes [0,2000) only
				{isin: "KR7005930003", at: 1999, value: "x", want: Late}, // its window was emitted
				{isin: "KR7005930003", at: 2500, value: "b"},             // empty window in between: on time
				{isin: "KR7005930003", at: 4000, value: "c"},
			},
			want: []string{rel(0, 2000, "KR7005930003 a 1"), rel(2000, 4000, "KR7005930003 b 1")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := run(t, tt.cfg, tt.steps)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("emitted\n  %v\nwant\n  %v", got, tt.want)
			}
		})
	}
}

func TestCheckpointOffsetIsEarliestOpen(t *testing.T) {
	cfg := Config{Size: 2 * time.Second}
	p := NewPartition(cfg, t0)
	base := t0.UnixMilli()
	p.Add(Record{ISIN: samsung, EventTime: base + 100, Offset: 10}, t0)
	p.Add(Record{ISIN: hynix, EventTime: base + 2100, Offset: 11}, t0) // closes the first window
	p.Add(Record{ISIN: hynix, EventTime: base + 2200, Offset: 12}, t0)
	cp := p.Checkpoint(13)
	want := Checkpoint{Offset: 11, ProcessedThrough: 13, ClosedThrough: base + 2000, Watermark: base + 2200}
	if !cp.Equal(want) {
		t.Fatalf("checkpoint %+v, want %+v", cp, want)
	}
	if p.OpenISINs() != 1 {
		t.Fatalf("open ISINs = %d, want 1", p.OpenISINs())
	}
}

// TestReplayEqualsUninterruptedRun checks the exactly-once core: stopping at
// any point, restoring from the checkpoint and replaying from its offset gives
// exactly the windows of one uninterrupted run, and never re-reports late
// records from before the checkpoint.
func TestReplayEqualsUninterruptedRun(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	ids := []ISIN{samsung, hynix, isinOf("US0378331005"), isinOf("GB0002634946")}
	for trial := 0; trial < 200; trial++ {
		cfg := Config{Size: 2 * time.Second, Grace: time.Duration(rng.Intn(3)) * 300 * time.Millisecond, Aggregates: trial%2 == 0}
		var records []Record
		at := t0.UnixMilli()
		for i := 0; i < 60; i++ {
			at += int64(rng.Intn(400))
			ts := at - int64(rng.Intn(2500)) // disorder, some late
			price, volume := randomQuote(rng)
			records = append(records, Record{ISIN: ids[rng.Intn(len(ids))], EventTime: ts, Offset: int64(i), Value: []byte(fmt.Sprint(i)),
				Price: price, Volume: volume})
		}

		whole := NewPartition(cfg, t0)
		var want []Closed
		wantLate := 0
		for _, r := range records {
			if whole.Add(r, t0) == Late {
				wantLate++
			}
			want = append(want, whole.TakeClosed()...)
		}

		// The same input, interrupted at up to three random points.
		p := NewPartition(cfg, t0)
		var got []Closed
		gotLate := 0
		next := 0
		for restarts := 0; next < len(records); restarts++ {
			stop := len(records)
			if restarts < 3 {
				stop = next + rng.Intn(len(records)-next) + 1
			}
			for ; next < stop; next++ {
				if p.Add(records[next], t0) == Late {
					gotLate++
				}
				got = append(got, p.TakeClosed()...)
			}
			if next < len(records) {
				cp := p.Checkpoint(int64(next))
				p = Restore(cfg, cp, t0)
				next = int(cp.Offset)
			}
		}
		if fmt.Sprint(emitted(got)) != fmt.Sprint(emitted(want)) {
			t.Fatalf("trial %d: replayed run emitted\n%v\nwant\n%v", trial, emitted(got), emitted(want))
		}
		if gotLate != wantLate {
			t.Fatalf("trial %d: late = %d, want %d", trial, gotLate, wantLate)
		}
	}
}

// TestBacklogEqualsLive checks that a backlog processed in one go (never caught
// up) gives the same windows as the same records arriving live with idle
// checks in between that never find the partition quiet long enough.
func TestBacklogEqualsLive(t *testing.T) {
	cfg := Config{Size: 2 * time.Second, IdleTimeout: time.Second}
	base := t0.UnixMilli()
	var records []Record
	for i := 0; i < 100; i++ {
		records = append(records, Record{ISIN: ids4(i), EventTime: base + int64(i*97), Offset: int64(i), Value: []byte(fmt.Sprint(i))})
	}
	backlog := NewPartition(cfg, t0)
	var fromBacklog []Closed
	for _, r := range records {
		backlog.Add(r, t0.Add(time.Hour)) // processed long after the fact
		backlog.CloseIdle(t0.Add(2 * time.Hour))
		fromBacklog = append(fromBacklog, backlog.TakeClosed()...)
	}
	live := NewPartition(cfg, t0)
	var fromLive []Closed
	for _, r := range records {
		now := time.UnixMilli(r.EventTime)
		live.Add(r, now)
		live.MarkCaughtUp()
		live.CloseIdle(now.Add(90 * time.Millisecond))
		fromLive = append(fromLive, live.TakeClosed()...)
	}
	if fmt.Sprint(emitted(fromBacklog)) != fmt.Sprint(emitted(fromLive)) {
		t.Fatalf("backlog\n%v\nlive\n%v", emitted(fromBacklog), emitted(fromLive))
	}
	if len(fromLive) != 4 {
		t.Fatalf("closed %d windows, want 4 (the fifth is still open)", len(fromLive))
	}
}

func ids4(i int) ISIN {
	return []ISIN{samsung, hynix, isinOf("US0378331005"), isinOf("GB0002634946")}[i%4]
}

func TestAddDoesNotAllocateInSteadyState(t *testing.T) {
	for _, aggregates := range []bool{false, true} {
		cfg := Config{Size: 2 * time.Second, Aggregates: aggregates}
		p := NewPartition(cfg, t0)
		value := []byte(`{"isin":"KR7005930003"}`)
		ts := t0.UnixMilli()
		off := int64(0)
		add := func() {
			p.Add(Record{ISIN: samsung, EventTime: ts, Offset: off, Value: value,
				Price: decimal.Decimal{Unscaled: 71200 + off%7}, Volume: decimal.Decimal{Unscaled: 15}}, t0)
			off++
			ts++
		}
		for i := 0; i < 10000; i++ { // warm up the spare maps
			add()
			p.TakeClosed()
		}
		if n := testing.AllocsPerRun(1000, add); n > 0.05 {
			t.Fatalf("aggregates %v: Add allocates %.2f times per record", aggregates, n)
		}
	}
}

// A record rejected before the checkpoint as too far in the future may be
// acceptable by the time it is replayed; it must not join a window then.
func TestReplayKeepsFormerFutureRejectionsOut(t *testing.T) {
	cfg := Config{Size: 2 * time.Second}
	base := t0.UnixMilli()
	p := NewPartition(cfg, t0)
	p.Add(Record{ISIN: samsung, EventTime: base + 100, Offset: 0, Value: []byte("a")}, t0)
	// offset 1 was rejected as future-time and never reached the engine
	p.Add(Record{ISIN: samsung, EventTime: base + 300, Offset: 2, Value: []byte("b")}, t0)
	cp := p.Checkpoint(3)
	r := Restore(cfg, cp, t0)
	if got := r.Add(Record{ISIN: samsung, EventTime: base + 100, Offset: 0, Value: []byte("a")}, t0); got != Accepted {
		t.Fatalf("replayed offset 0: %v", got)
	}
	if got := r.Add(Record{ISIN: hynix, EventTime: base + 90_000, Offset: 1, Value: []byte("future")}, t0); got != Replayed {
		t.Fatalf("replayed former future record: %v, want Replayed", got)
	}
	r.Add(Record{ISIN: samsung, EventTime: base + 300, Offset: 2, Value: []byte("b")}, t0)
	r.Add(Record{ISIN: samsung, EventTime: base + 2000, Offset: 3, Value: []byte("c")}, t0)
	if got := emitted(r.TakeClosed()); fmt.Sprint(got) != fmt.Sprint([]string{rel(0, 2000, "KR7005930003 b 2")}) {
		t.Fatalf("emitted %v", got)
	}
}

// A partition found behind (records in the log that a stalled fetch has not
// delivered) must not close by wall clock until it reaches the end again.
func TestMarkBehindBlocksWallClockClose(t *testing.T) {
	cfg := Config{Size: 2 * time.Second, IdleTimeout: time.Second}
	p := NewPartition(cfg, t0)
	p.Add(Record{ISIN: samsung, EventTime: t0.UnixMilli() + 100, Offset: 0, Value: []byte("a")}, t0)
	p.MarkCaughtUp()
	later := t0.Add(5 * time.Second)
	if !p.IdleCloseDue(later) {
		t.Fatal("a quiet caught-up partition is not due for a wall-clock close")
	}
	p.MarkBehind()
	if p.IdleCloseDue(later) || p.CloseIdle(later) {
		t.Fatal("a partition marked behind closed by wall clock")
	}
	p.MarkCaughtUp()
	if !p.CloseIdle(later) || len(p.TakeClosed()) != 1 {
		t.Fatal("caught up again, the window did not close")
	}
}

// After the brokers were unreachable, a partition is not quiet until it has
// been seen caught up for the idle timeout again.
func TestRestartIdleAfterOutage(t *testing.T) {
	cfg := Config{Size: 2 * time.Second, IdleTimeout: time.Second}
	p := NewPartition(cfg, t0)
	p.Add(Record{ISIN: samsung, EventTime: t0.UnixMilli() + 100, Offset: 0, Value: []byte("a")}, t0)
	p.MarkCaughtUp()
	back := t0.Add(5 * time.Second) // the brokers answer again
	p.RestartIdle(back)
	if p.IdleCloseDue(back.Add(999*time.Millisecond)) || p.CloseIdle(back.Add(999*time.Millisecond)) {
		t.Fatal("closed by wall clock less than the idle timeout after the partition was seen again")
	}
	if !p.CloseIdle(back.Add(time.Second)) || len(p.TakeClosed()) != 1 {
		t.Fatal("seen quiet for the idle timeout after the outage, the window did not close")
	}
	// An outage reported before the last record does not move the idle clock back.
	q := NewPartition(cfg, t0)
	q.Add(Record{ISIN: samsung, EventTime: t0.UnixMilli() + 100, Offset: 0, Value: []byte("a")}, t0.Add(3*time.Second))
	q.MarkCaughtUp()
	q.RestartIdle(t0)
	if q.IdleCloseDue(t0.Add(3999 * time.Millisecond)) {
		t.Fatal("RestartIdle with an earlier time shortened the idle timeout")
	}
}

// Every closed window says where in its partition it closed: after the record
// whose event time moved the watermark past it, or after the last record
// added when it closed by wall clock.
func TestClosedAtIsFirstOffsetNotCounted(t *testing.T) {
	cfg := Config{Size: 2 * time.Second, IdleTimeout: time.Second}
	base := t0.UnixMilli()
	p := NewPartition(cfg, t0)
	p.Add(Record{ISIN: samsung, EventTime: base + 100, Offset: 10, Value: []byte("a")}, t0)
	p.Add(Record{ISIN: hynix, EventTime: base + 1900, Offset: 11, Value: []byte("b")}, t0)
	p.Add(Record{ISIN: samsung, EventTime: base + 2100, Offset: 14, Value: []byte("c")}, t0) // closes [0,2000)
	closed := p.TakeClosed()
	if len(closed) != 1 || closed[0].ClosedAt != 15 || closed[0].ByWallClock {
		t.Fatalf("watermark close: got %+v, want one window closed at offset 15 by watermark", closed)
	}
	p.MarkCaughtUp()
	if !p.CloseIdle(t0.Add(5 * time.Second)) {
		t.Fatal("the quiet partition did not close by wall clock")
	}
	closed = p.TakeClosed()
	if len(closed) != 1 || closed[0].ClosedAt != 15 || !closed[0].ByWallClock {
		t.Fatalf("wall-clock close: got %+v, want one window closed at offset 15 by wall clock", closed)
	}
	r := Restore(cfg, Checkpoint{Offset: 40, ProcessedThrough: 40, ClosedThrough: NoTime, Watermark: NoTime}, t0)
	r.Add(Record{ISIN: samsung, EventTime: base + 100, Offset: 40, Value: []byte("d")}, t0)
	r.Add(Record{ISIN: samsung, EventTime: base + 4100, Offset: 41, Value: []byte("e")}, t0)
	if closed := r.TakeClosed(); len(closed) != 1 || closed[0].ClosedAt != 42 {
		t.Fatalf("after a restore: got %+v, want one window closed at offset 42", closed)
	}
}
