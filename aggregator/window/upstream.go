package window

import (
	"slices"
	"time"
)

// Upstream progress. With input.repartition, a partition of the repartition
// topic is fed by every partition of the raw topic (its sources), each copied
// in its own order by whichever repartition instance owns it. The
// partition's own greatest event time says nothing about how far each source
// has got: a source copied in large chunks would push it past windows the
// other sources have not delivered yet. A partition with sources therefore
// closes windows on the least of its sources' watermarks (as Flink does
// across a keyed shuffle), which the repartition stage announces in progress
// markers, and judges a record late against its own source's watermark when
// the record was copied (its stamp), so that lateness depends only on the
// source's order, never on how the sources were interleaved.

// Progress is what a progress marker says of one source, or what a
// checkpoint keeps of it.
type Progress struct {
	// Source is the raw partition.
	Source int32
	// Watermark is the greatest event time of the source's valid records
	// below Offset, or NoTime when there are none.
	Watermark int64
	// Offset is the source position the marker speaks for: every record of
	// the source below it has been copied.
	Offset int64
	// Idle means the source was caught up at Offset and had no record for
	// the idle timeout: it holds no window back while it stays at Offset.
	Idle bool
}

// sourceState is what a partition knows of one source. Its Offset is kept
// only while it is idle (-1 otherwise).
type sourceState struct {
	Progress
	known bool
}

// sources is what a partition knows of every source feeding it, indexed by
// raw partition. A source never heard of holds every window open.
type sources struct {
	states []sourceState
}

// expect makes room for n sources: a marker said the raw topic has n
// partitions.
func (s *sources) expect(n int) {
	for len(s.states) < n {
		s.states = append(s.states, sourceState{Progress: Progress{Source: int32(len(s.states)), Watermark: NoTime, Offset: -1}})
	}
}

// observe notes a record copied from source with event time t, stamped with
// the source's watermark when it was copied: the source has got at least
// that far, and is no longer idle. A source beyond the count the markers
// announced is left to the marker that follows the record in its
// transaction: until a marker says how many sources there are, none of them
// can be known to be complete.
func (s *sources) observe(source int32, t, stamp int64) {
	if source < 0 || int(source) >= len(s.states) {
		return
	}
	st := &s.states[source]
	st.known, st.Idle, st.Offset = true, false, -1
	st.Watermark = max(st.Watermark, t, stamp)
}

// mark applies a progress marker. A source's watermark never goes back: a
// marker from a previous owner of the source may still be read after one
// from the next owner.
func (s *sources) mark(p Progress) {
	if p.Source < 0 {
		return
	}
	s.expect(int(p.Source) + 1)
	st := &s.states[p.Source]
	st.known, st.Idle, st.Offset = true, p.Idle, -1
	if p.Idle {
		st.Offset = p.Offset // only an idle source's offset is ever asked about
	}
	st.Watermark = max(st.Watermark, p.Watermark)
}

// watermark is the least watermark over every source, idle ones included,
// or NoTime while any source is unknown or has no valid record yet.
func (s *sources) watermark() int64 {
	if len(s.states) == 0 {
		return NoTime
	}
	least := int64(0)
	for i, st := range s.states {
		if !st.known || st.Watermark == NoTime {
			return NoTime
		}
		if i == 0 || st.Watermark < least {
			least = st.Watermark
		}
	}
	return least
}

// checkpoint returns the sources' state for a checkpoint.
func (s *sources) checkpoint() []SourceCheckpoint {
	out := make([]SourceCheckpoint, len(s.states))
	for i, st := range s.states {
		out[i] = SourceCheckpoint{Progress: st.Progress, Known: st.known}
	}
	return out
}

// restore rebuilds the sources from a checkpoint.
func (s *sources) restore(cps []SourceCheckpoint) {
	s.states = s.states[:0]
	for i, cp := range cps {
		cp.Source = int32(i)
		s.states = append(s.states, sourceState{Progress: cp.Progress, known: cp.Known})
	}
}

// SourceCheckpoint is what a checkpoint keeps of one source: its last known
// progress, or nothing yet (Known false).
type SourceCheckpoint struct {
	Progress
	Known bool
}

// equalSources reports whether two checkpoints' sources are the same.
func equalSources(a, b []SourceCheckpoint) bool { return slices.Equal(a, b) }

// Mark applies a progress marker read at offset: the progress of some
// sources, and how many sources there are (the raw topic's partition count).
// Windows the least of the sources' watermarks has passed close. A marker
// replayed below the checkpoint changes nothing, its effect being in the
// checkpoint already. Without Config.Upstream it only moves the offset.
func (p *Partition) Mark(progress []Progress, sourceCount int, offset int64) {
	p.next = offset + 1
	p.caughtUp = false
	if p.upstream == nil || p.IsReplay(offset) {
		return
	}
	p.upstream.expect(sourceCount)
	for _, pr := range progress {
		p.upstream.mark(pr)
	}
	p.closeByWatermark()
}

// CloseQuiet closes, by wall clock, the windows that only quiet sources hold
// open: now is past the window's end plus grace, and every source either
// has a watermark past it or is idle and, asked through atEnd, still at the
// offset it went idle at (nothing copied since, nothing waiting to be
// copied: a raw backlog not yet copied holds the window open). It reports
// whether anything closed. atEnd is asked only about idle sources that hold
// an open window back, so a partition whose sources are all busy costs no
// question. Nothing closes while the partition replays the records below
// its checkpoint. Without Config.Upstream it does nothing: see CloseIdle.
func (p *Partition) CloseQuiet(now time.Time, atEnd func(source int32, offset int64) bool) bool {
	if p.upstream == nil || len(p.open) == 0 || len(p.upstream.states) == 0 || p.next < p.replayUntil {
		// While replaying, the open windows are still being rebuilt: the
		// sources' state is that of the checkpoint, and a window it lets
		// close would miss the records replayed after the close.
		return false
	}
	oldest := p.open[0].end
	through := p.cfg.closedThroughAt(now.UnixMilli())
	// The busy sources bound it first, then the idle ones that hold back
	// what the busy ones would let close.
	for _, st := range p.upstream.states {
		if !st.known {
			return false
		}
		if !st.Idle {
			through = min(through, p.sourceBound(st))
		}
	}
	if through < oldest {
		return false
	}
	for _, st := range p.upstream.states {
		if st.Idle && p.sourceBound(st) < through && !atEnd(st.Source, st.Offset) {
			through = min(through, p.sourceBound(st))
			if through < oldest {
				return false
			}
		}
	}
	p.closeExisting(through)
	return true
}

// sourceBound is the greatest window end a source's watermark has passed.
func (p *Partition) sourceBound(st sourceState) int64 {
	if st.Watermark == NoTime {
		return NoTime
	}
	return p.cfg.closedThroughAt(st.Watermark)
}
