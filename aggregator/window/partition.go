package window

import (
	"math"
	"time"

	"tickcompact/aggregator/decimal"
	"tickcompact/internal/isin"
)

// ISIN is an instrument identifier, stored by value so it can key maps without
// allocating.
type ISIN [isin.Length]byte

// String returns the ISIN as text.
func (i ISIN) String() string { return string(i[:]) }

// Record is one valid trade as the engine sees it.
type Record struct {
	ISIN ISIN
	// EventTime is the trade's event time in epoch milliseconds.
	EventTime int64
	// Offset is the record's position in its input partition; it breaks ties
	// between equal event times and drives replay.
	Offset int64
	// Value is the trade's original bytes, emitted unchanged. The engine keeps
	// a reference; the caller must not reuse the slice.
	Value []byte
	// Source and Stamp are set for a record copied by the repartition stage
	// (Config.Upstream): the raw partition it came from, and that source's
	// watermark when it was copied, or NoTime. A record whose window ended
	// (plus grace) at or before its stamp is late, as it would have been in
	// its source. Both are ignored without Config.Upstream; with it, a
	// record that carries neither has Source -1 and Stamp NoTime.
	Source int32
	Stamp  int64
	// Price and Volume feed the window's Aggregate; only read when
	// Config.Aggregates is on.
	Price, Volume decimal.Decimal
}

// Latest is the chosen trade of one ISIN in a closed window.
type Latest struct {
	ISIN      ISIN
	EventTime int64
	Offset    int64
	Value     []byte
	// Count is the number of valid, non-late trades of this ISIN in the window.
	Count int
	// Aggregate summarises those trades when Config.Aggregates is on; nil
	// otherwise.
	Aggregate *Aggregate
}

// Closed is one window of one partition, closed and ready to emit.
type Closed struct {
	Start, End int64
	// ByWallClock is true when the window closed because its partition went
	// quiet, false when the watermark passed it.
	ByWallClock bool
	// ClosedAt is the offset of the first record of the partition the window
	// did not take into account: its trades below ClosedAt are counted, any
	// at or above it are late.
	ClosedAt int64
	Entries  []Latest
}

// Outcome says what Add did with a record.
type Outcome int

const (
	// Accepted: the record joined an open window.
	Accepted Outcome = iota
	// Late: the record's window had already closed; it is dropped.
	Late
	// Replayed: the record was processed before the last checkpoint and its
	// window was already emitted; it is skipped silently.
	Replayed
)

// Checkpoint is what must survive a restart for one partition. It is stored
// with the partition's committed offset, in the same transaction as the output.
type Checkpoint struct {
	// Offset is where consumption resumes: the earliest offset held in an
	// open window, or ProcessedThrough when no window is open.
	Offset int64
	// ProcessedThrough is the offset after the last record processed. Records
	// below it are replays: they rebuild open windows but are not sent to the
	// DLQ or counted again.
	ProcessedThrough int64
	// ClosedThrough: every window ending at or before it has been emitted.
	ClosedThrough int64
	// Watermark is the greatest event time of valid records seen.
	Watermark int64
	// Sources is what the partition knows of its sources (Config.Upstream),
	// indexed by raw partition; nil otherwise.
	Sources []SourceCheckpoint
}

// Equal reports whether c and o are the same checkpoint.
func (c Checkpoint) Equal(o Checkpoint) bool {
	return c.Offset == o.Offset && c.ProcessedThrough == o.ProcessedThrough && c.ClosedThrough == o.ClosedThrough &&
		c.Watermark == o.Watermark && equalSources(c.Sources, o.Sources)
}

// NoTime marks an unset watermark or closed-through boundary.
const NoTime int64 = math.MinInt64

type entry struct {
	isin      ISIN
	eventTime int64
	offset    int64
	value     []byte
	count     int
}

type openWindow struct {
	start, end  int64
	firstOffset int64 // the earliest offset that contributed
	// index locates each ISIN's entry in entries. Updating an entry in place
	// takes one map lookup; a map of entries would need a second to store
	// the updated value back.
	index   map[ISIN]int32
	entries []entry
	// aggregates parallels entries when Config.Aggregates is on.
	aggregates []Aggregate
}

// add counts r in the window, keeps it if it is the ISIN's latest, and
// reports whether the ISIN is new to the window.
func (w *openWindow) add(r *Record, aggregates bool) (newISIN bool) {
	if w.firstOffset > r.Offset {
		w.firstOffset = r.Offset
	}
	i, ok := w.index[r.ISIN]
	if !ok {
		w.index[r.ISIN] = int32(len(w.entries))
		w.entries = append(w.entries, entry{isin: r.ISIN, eventTime: r.EventTime, offset: r.Offset, value: r.Value, count: 1})
		if aggregates {
			w.aggregates = append(w.aggregates, Aggregate{})
			w.aggregates[len(w.aggregates)-1].start(r)
		}
		return true
	}
	if aggregates {
		w.aggregates[i].add(r)
	}
	e := &w.entries[i]
	e.count++
	if r.EventTime > e.eventTime || (r.EventTime == e.eventTime && r.Offset > e.offset) {
		e.eventTime, e.offset, e.value = r.EventTime, r.Offset, r.Value
	}
	return false
}

// reset empties the window for reuse, dropping its references to values.
func (w *openWindow) reset() {
	clear(w.index)
	clear(w.entries)
	w.entries = w.entries[:0]
	clear(w.aggregates)
	w.aggregates = w.aggregates[:0]
}

// Partition holds the windows of one input partition. It is not safe for
// concurrent use; the aggregator gives each partition to one goroutine.
type Partition struct {
	cfg Config

	watermark     int64
	closedThrough int64
	replayUntil   int64
	// replayWatermark is the checkpoint's watermark: every record accepted
	// before the checkpoint had an event time at or below it.
	replayWatermark int64

	// open holds the open windows ordered by start; there are rarely more
	// than two (the current one and one waiting for grace).
	open   []*openWindow
	closed []Closed
	spare  []*openWindow // emitted windows, emptied for reuse

	// next is the offset after the last record added.
	next         int64
	lastRecordAt time.Time
	caughtUp     bool
	openISINs    int

	// recordWindow and closingWindow spare Add its divisions: the window of
	// the last record, and the one the watermark minus grace falls in.
	recordWindow, closingWindow windowCache

	// upstream tracks the sources' progress (Config.Upstream); nil otherwise.
	upstream *sources
}

// NewPartition returns the state of a partition with no history.
func NewPartition(cfg Config, now time.Time) *Partition {
	return Restore(cfg, Checkpoint{ClosedThrough: NoTime, Watermark: NoTime}, now)
}

// Restore returns the state of a partition resuming from cp. The caller
// replays records from cp.Offset; those below cp.ProcessedThrough rebuild the
// open windows without being treated as new.
func Restore(cfg Config, cp Checkpoint, now time.Time) *Partition {
	p := &Partition{
		cfg:             cfg,
		watermark:       cp.Watermark,
		closedThrough:   cp.ClosedThrough,
		replayUntil:     cp.ProcessedThrough,
		replayWatermark: cp.Watermark,
		next:            cp.Offset,
		lastRecordAt:    now,
	}
	if cfg.Upstream {
		p.upstream = &sources{}
		p.upstream.restore(cp.Sources)
	}
	return p
}

// IsReplay reports whether the record at offset was already processed before
// the checkpoint this partition was restored from.
func (p *Partition) IsReplay(offset int64) bool { return offset < p.replayUntil }

// Add feeds one valid record, received at wall-clock now, and closes every
// window the advanced watermark has passed. Closed windows accumulate until
// TakeClosed.
func (p *Partition) Add(r Record, now time.Time) Outcome {
	p.lastRecordAt = now
	p.caughtUp = false
	p.next = r.Offset + 1
	replay := p.IsReplay(r.Offset)
	if replay && r.EventTime > p.replayWatermark {
		// Above the checkpoint's watermark, so it was not accepted before the
		// checkpoint: it was rejected then (its event time was too far ahead
		// of the wall clock at the time) and must stay rejected.
		return Replayed
	}
	end := p.recordWindow.startOf(p.cfg, r.EventTime) + p.cfg.Size.Milliseconds() // p.cfg.End(r.EventTime)
	if r.EventTime > p.watermark {
		p.watermark = r.EventTime
	}
	lateAtSource := false
	if p.upstream != nil {
		if !replay {
			// A replayed record's progress is in the checkpoint already,
			// with whatever the markers after it said.
			p.upstream.observe(r.Source, r.EventTime, r.Stamp)
		}
		lateAtSource = r.Stamp != NoTime && end+p.cfg.Grace.Milliseconds() <= r.Stamp
	}
	if end <= p.closedThrough || lateAtSource {
		if replay {
			return Replayed
		}
		p.closeByWatermark()
		return Late
	}
	if p.window(end).add(&r, p.cfg.Aggregates) {
		p.openISINs++
	}
	p.closeByWatermark()
	return Accepted
}

// window returns the open window ending at end, creating it in order.
func (p *Partition) window(end int64) *openWindow {
	i := len(p.open)
	for i > 0 && p.open[i-1].end >= end {
		if p.open[i-1].end == end {
			return p.open[i-1]
		}
		i--
	}
	var w *openWindow
	if n := len(p.spare); n > 0 {
		w, p.spare = p.spare[n-1], p.spare[:n-1]
	} else {
		w = &openWindow{index: make(map[ISIN]int32)}
	}
	w.start, w.end, w.firstOffset = end-p.cfg.Size.Milliseconds(), end, math.MaxInt64
	p.open = append(p.open, nil)
	copy(p.open[i+1:], p.open[i:])
	p.open[i] = w
	return w
}

// closeByWatermark closes the open windows the watermark has passed: the
// partition's own, or with sources the least of theirs.
func (p *Partition) closeByWatermark() {
	watermark := p.watermark
	if p.upstream != nil {
		watermark = p.upstream.watermark()
	}
	if watermark == NoTime || len(p.open) == 0 {
		return
	}
	// p.cfg.closedThroughAt(watermark), through the cache.
	through := p.closingWindow.startOf(p.cfg, watermark-p.cfg.Grace.Milliseconds())
	if through > p.closedThrough {
		p.closedThrough = through
	}
	p.closeThrough(p.closedThrough, false)
}

// closeThrough moves every open window ending at or before through to closed.
func (p *Partition) closeThrough(through int64, byWallClock bool) {
	n := 0
	for n < len(p.open) && p.open[n].end <= through {
		w := p.open[n]
		c := Closed{Start: w.start, End: w.end, ByWallClock: byWallClock, ClosedAt: p.next, Entries: make([]Latest, 0, len(w.entries))}
		for _, e := range w.entries {
			c.Entries = append(c.Entries, Latest{ISIN: e.isin, EventTime: e.eventTime, Offset: e.offset, Value: e.value, Count: e.count})
		}
		attachAggregates(c.Entries, w.aggregates)
		p.openISINs -= len(w.entries)
		w.reset()
		p.spare = append(p.spare, w)
		p.closed = append(p.closed, c)
		n++
	}
	if n > 0 {
		p.open = append(p.open[:0], p.open[n:]...)
	}
}

// MarkCaughtUp records that the consumer reached the end of the partition:
// nothing is waiting to be read, so wall-clock closing may apply.
func (p *Partition) MarkCaughtUp() { p.caughtUp = true }

// IdleCloseDue reports whether CloseIdle would close a window at now: the
// partition is caught up, has had no record for IdleTimeout, and its oldest
// open window ended (plus grace) before now.
func (p *Partition) IdleCloseDue(now time.Time) bool {
	return p.caughtUp && len(p.open) > 0 && now.Sub(p.lastRecordAt) >= p.cfg.IdleTimeout &&
		p.open[0].end <= p.cfg.closedThroughAt(now.UnixMilli())
}

// MarkBehind withdraws MarkCaughtUp: the caller found records in the
// partition beyond the end it last reached, which a paused fetch has not
// delivered yet.
func (p *Partition) MarkBehind() { p.caughtUp = false }

// RestartIdle starts the idle timeout again at now, as a record would. The
// caller could not see the partition until now (the brokers were
// unreachable), so it has not been seen quiet for any time yet, and producers
// that buffered records meanwhile get the idle timeout to deliver them.
func (p *Partition) RestartIdle(now time.Time) {
	if now.After(p.lastRecordAt) {
		p.lastRecordAt = now
	}
}

// CloseIdle closes, by wall clock, the windows of a quiet partition: caught up,
// no record for IdleTimeout, and now past the window's end plus grace. A
// partition with a backlog never closes by wall clock, so replaying old data
// gives the same output as processing it live. It reports whether anything closed.
func (p *Partition) CloseIdle(now time.Time) bool {
	if !p.IdleCloseDue(now) {
		return false
	}
	p.closeExisting(p.cfg.closedThroughAt(now.UnixMilli()))
	return true
}

// closeExisting closes, by wall clock, the open windows ending at or before
// through. Only the windows that exist close: a record that arrives later
// for an empty window in between is not late, just as on a replay.
func (p *Partition) closeExisting(through int64) {
	last := through
	for i := len(p.open) - 1; i >= 0; i-- {
		if p.open[i].end <= through {
			last = p.open[i].end
			break
		}
	}
	if last > p.closedThrough {
		p.closedThrough = last
	}
	p.closeThrough(last, true)
}

// TakeClosed returns the windows closed since the last call, oldest first, and
// forgets them.
func (p *Partition) TakeClosed() []Closed {
	c := p.closed
	p.closed = nil
	return c
}

// HasClosed reports whether closed windows are waiting for TakeClosed.
func (p *Partition) HasClosed() bool { return len(p.closed) > 0 }

// Checkpoint returns the state to commit with the partition's offset, given
// next, the offset after the last record processed.
func (p *Partition) Checkpoint(next int64) Checkpoint {
	if next < p.replayUntil {
		next = p.replayUntil
	}
	offset := next
	for _, w := range p.open {
		if w.firstOffset < offset {
			offset = w.firstOffset
		}
	}
	cp := Checkpoint{Offset: offset, ProcessedThrough: next, ClosedThrough: p.closedThrough, Watermark: p.watermark}
	if p.upstream != nil {
		cp.Sources = p.upstream.checkpoint()
	}
	return cp
}

// OpenISINs is the number of (ISIN, window) entries held in open windows.
func (p *Partition) OpenISINs() int { return p.openISINs }

// Watermark is the greatest event time of valid records seen, or NoTime.
func (p *Partition) Watermark() int64 { return p.watermark }

// ClosedThrough is the end of the last closed window, or NoTime.
func (p *Partition) ClosedThrough() int64 { return p.closedThrough }
