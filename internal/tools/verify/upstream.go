package verify

import (
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/window"
)

// The models of a partition of the repartition topic (Settings.Repartition).
// Every partition of the raw topic (a source) feeds it, each in raw order,
// interleaved in chunks of any size. The contract's output is that of the raw
// topic as a whole, each trade's lateness judged in its own raw partition's
// order, so per partition of the repartition topic, in offset order:
//   - a source's watermark is the greatest of the watermarks its progress
//     markers announced and of the event times and stamps (raw-watermark) of
//     its copied trades read so far; a copy clears its source's idle flag, a
//     marker sets it to what the marker says;
//   - the watermark model closes a window once the least watermark over all
//     sources, idle ones included, has reached its end plus grace; nothing
//     closes before a marker said how many sources there are and every one of
//     them has a watermark;
//   - a copied trade is late when its stamp has reached its window's end plus
//     grace (it was late in its raw partition), or its window closed here;
//   - the live model adds the wall-clock closes the output declares. Such a
//     close is explained when, at its offset, every source had passed the
//     window or was idle per the markers read so far; whether the raw
//     partition still ended where it went idle is a timing fact the topics do
//     not record.

// sourceState is what a partition of the repartition topic knows of one raw
// partition.
type sourceState struct {
	known     bool
	idle      bool
	watermark int64
}

// sources are a partition's sources, indexed by raw partition.
type sources []sourceState

// expect makes room for n sources, as a marker announced.
func (s *sources) expect(n int) {
	for len(*s) < n {
		*s = append(*s, sourceState{watermark: noTime})
	}
}

// observe applies a copied trade of source with event time t and stamp. A
// source beyond the count announced so far waits for the marker that follows
// the trade in its transaction.
func (s sources) observe(source int32, t, stamp int64) {
	if source < 0 || int(source) >= len(s) {
		return
	}
	st := &s[source]
	st.known, st.idle = true, false
	st.watermark = max(st.watermark, t, stamp)
}

// mark applies a marker's progress of one source. A watermark never goes
// back: a previous owner's marker may be read after the next owner's.
func (s *sources) mark(p window.Progress) {
	s.expect(int(p.Source) + 1)
	st := &(*s)[p.Source]
	st.known, st.idle = true, p.Idle
	st.watermark = max(st.watermark, p.Watermark)
}

// least is the least watermark over every source, or noTime while one is
// unknown or has none.
func (s sources) least() int64 {
	if len(s) == 0 {
		return noTime
	}
	least := s[0].watermark
	for _, st := range s {
		if !st.known || st.watermark == noTime {
			return noTime
		}
		least = min(least, st.watermark)
	}
	return least
}

// letClose reports whether every source had either passed end plus grace or
// was idle: what a wall-clock close of the window ending at end needs.
func (s sources) letClose(end, grace int64) bool {
	if len(s) == 0 {
		return false
	}
	for _, st := range s {
		switch {
		case !st.known:
			return false
		case st.idle:
		case st.watermark == noTime || st.watermark-grace < end:
			return false
		}
	}
	return true
}

// inputCopy feeds one record of the repartition topic: a progress marker or a
// copied trade. Both are audited against the raw topic, then modelled as the
// window stage must treat them, whatever the audit found.
func (v *Verifier) inputCopy(r InputRecord) {
	p := v.partition(r.Partition)
	p.readThrough = r.Offset + 1
	msg := kafka.Message{Key: r.Key, Value: r.Value, Headers: r.Headers}
	if progress.IsMarker(&msg) {
		count, changed, err := progress.DecodeMarker(&msg)
		v.markerRead(r.Partition, r.Offset, count, changed, err)
		if v.usesDeclarations() {
			v.declared.seal()
			v.closeDeclared(p, r.Offset, false)
		}
		p.sources.expect(count) // 0 for an unreadable marker, skipped as by the aggregator
		for _, c := range changed {
			p.sources.mark(c)
		}
		through := v.upstreamThrough(p)
		v.advance(p, &p.watermarkWindows, through, r.Offset+1)
		v.advance(p, &p.liveWindows, through, r.Offset+1)
		return
	}
	hash := v.hash(r.Value)
	t, id, ok := v.accept(r)
	v.copyRead(r, hash, t.ISIN, ok)
	if !ok {
		return
	}
	eventTime := t.EventTime
	source, stamp := progress.CopiedFrom(r.Headers)
	if v.usesDeclarations() {
		v.declared.seal()
		v.closeDeclared(p, r.Offset, false)
	}
	p.sources.observe(source, eventTime, stamp)
	rec := validRecord{isin: id, eventTime: eventTime, timestamp: r.Timestamp, offset: r.Offset, hash: hash, stamp: stamp,
		price: t.Price, volume: t.Volume}
	through := v.upstreamThrough(p)
	v.add(p, &p.watermarkWindows, rec, through)
	v.add(p, &p.liveWindows, rec, through)
}

// upstreamThrough is the end of the last window the least of p's sources'
// watermarks has closed, or noTime.
func (v *Verifier) upstreamThrough(p *partition) int64 {
	least := p.sources.least()
	if least == noTime {
		return noTime
	}
	return v.windowStart(least - v.grace)
}
