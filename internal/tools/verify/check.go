package verify

import (
	"container/heap"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"time"

	"tickcompact/internal/isin"
)

// Settling marks the output records fed from now on as read after waiting
// (--settle). inputGrew says the input topic has grown since it was read: an
// output record that then fails to match may come from input the models never
// saw, so it is counted as unverifiable rather than as a violation.
func (v *Verifier) Settling(inputGrew bool) {
	v.settling, v.inputGrew = true, inputGrew
}

// Output checks one output record against the expectations. EndInput must
// have been called.
func (v *Verifier) Output(r OutputRecord) {
	out := &v.report.Output
	out.Records++
	if !v.aggregates() && r.Aggregates.present() {
		v.uncheckedAggregates++
	}
	if v.settling {
		out.AfterSettle++
	}
	if !isin.Valid(r.Key) {
		v.violation(KindMalformed, r, "", 0, fmt.Sprintf("key %q is not an ISIN", clip(r.Key)))
		return
	}
	start, ok := parseMillis(r.WindowStart)
	if !ok || start != v.windowStart(start) {
		v.violation(KindMalformed, r, string(r.Key), 0,
			fmt.Sprintf("window-start header %q is not an aligned epoch-millisecond window start", clip(r.WindowStart)))
		return
	}
	id := v.intern([isin.Length]byte(r.Key))
	v.latestOutput[id] = max(v.latestOutput[id], start)
	k := windowKey{id, start}
	e, ok := v.expected[k]
	unverifiable := v.settling && v.inputGrew
	switch {
	case !ok && unverifiable:
		out.Unverifiable++
		return
	case !ok:
		v.expected[k] = expectation{flags: flagSeen | flagExtra}
		v.violation(KindExtra, r, string(r.Key), start, "no valid, non-late trade of this ISIN in this window under either model")
		return
	case e.flags&flagSeen != 0:
		v.violation(KindDuplicate, r, string(r.Key), start, "a record for this ISIN and window was already read")
		return
	}
	e.flags |= flagSeen
	got := v.observe(r, start)
	switch {
	case got.matches(e.primary):
		v.matched(e, e.models)
	case e.alt != 0 && got.matches(v.alternates[k]):
		e.flags |= flagMatchedAlt
		v.matched(e, e.alt)
	case unverifiable && e.flags&flagOpen != 0:
		out.Unverifiable++
	default:
		e.flags |= flagMismatch
		v.mismatch(r, k, e, got)
	}
	if e.flags&flagMismatch == 0 {
		if detail := v.closedAtProblem(r, start); detail != "" {
			e.flags |= flagMismatch
			v.report.Violations.MismatchFields.ClosedAt++
			v.violation(KindMismatch, r, string(r.Key), start, detail)
		}
	}
	v.expected[k] = e
}

// mismatch reports an output record that matches neither model.
func (v *Verifier) mismatch(r OutputRecord, k windowKey, e expectation, got observed) {
	start := k.start
	want := e.primary // described against the watermark model's record when they differ
	if e.models&watermarkModel == 0 && e.alt&watermarkModel != 0 {
		want = v.alternates[k]
	}
	fields := &v.report.Violations.MismatchFields
	var detail []string
	if got.hash != want.hash {
		fields.Value++
		detail = append(detail, fmt.Sprintf("value differs from the trade at input partition %d offset %d", want.partition, want.offset))
	}
	if got.eventTime != want.eventTime {
		fields.Timestamp++
		detail = append(detail, fmt.Sprintf("timestamp %d, want %d", got.eventTime, want.eventTime))
	}
	if !got.endOK {
		fields.WindowEnd++
		detail = append(detail, fmt.Sprintf("window-end header %q, want %d", clip(r.WindowEnd), start+v.size))
	}
	if !got.countOK || got.count != want.count {
		fields.TradeCount++
		detail = append(detail, fmt.Sprintf("trade-count header %q, want %d", clip(r.TradeCount), want.count))
	}
	if got.aggregates != want.aggregates {
		fields.Aggregates++
		a := r.Aggregates
		detail = append(detail, fmt.Sprintf("aggregate headers open %q, high %q, low %q, volume %q, vwap %q differ from the model's",
			clip(a.Open), clip(a.High), clip(a.Low), clip(a.Volume), clip(a.VWAP)))
	}
	if e.alt != 0 {
		detail = append(detail, "matches neither model")
	}
	v.violation(KindMismatch, r, string(r.Key), start, strings.Join(detail, "; "))
}

// observed is an output record as compared with a digest.
type observed struct {
	digest
	endOK, countOK bool
}

func (v *Verifier) observe(r OutputRecord, start int64) observed {
	o := observed{digest: digest{hash: maphash.Bytes(v.seed, r.Value), eventTime: r.Timestamp}}
	end, ok := parseMillis(r.WindowEnd)
	o.endOK = ok && end == start+v.size
	count, ok := parseMillis(r.TradeCount)
	o.countOK = ok && count <= math.MaxUint32
	o.count = uint32(count)
	if a := r.Aggregates; v.aggregates() {
		o.aggregates = v.aggregatesHash(string(a.Open), string(a.High), string(a.Low), string(a.Volume), string(a.VWAP))
	}
	return o
}

// parseMillis parses a header holding a non-negative decimal number, as the
// aggregator writes epoch milliseconds and counts; nil (absent) is not one.
func parseMillis(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func (o observed) matches(d digest) bool { return o.endOK && o.countOK && o.digest.same(d) }

func (v *Verifier) matched(e expectation, models modelSet) {
	w := &v.report.Windows
	w.Matched++
	if models&watermarkModel == 0 {
		w.MatchedLiveOnly++
	}
	if e.flags&flagOpen != 0 {
		w.OpenMatched++
	}
}

// Report evaluates what was fed and returns the findings; call it after the
// last Output and Snapshot. Later calls return the same report.
func (v *Verifier) Report() *Report {
	rep := &v.report
	if v.reported {
		return rep
	}
	v.reported = true
	v.EndInput()
	w := &rep.Windows
	for k, e := range v.expected {
		if e.flags&flagExtra != 0 {
			continue
		}
		all := e.models | e.alt
		switch {
		case e.flags&flagOpen != 0:
			w.Open++
		case all&watermarkModel != 0:
			w.Expected++
		}
		if e.models != bothModels {
			w.LiveDiffers++
		}
		if e.flags&flagSeen != 0 {
			continue
		}
		switch {
		case e.flags&flagOpen != 0:
			w.OpenPending++
		case v.settings.Compacted && v.latestOutput[k.isin] > k.start:
			w.Compacted++
		case all == bothModels:
			rep.Violations.Gaps++
			v.gapsSeen.offer(k, e.primary)
		default:
			// One model has every trade of the window late: its absence is
			// what that model prescribes.
			if all&watermarkModel != 0 {
				w.AbsentLiveOnly++
			}
		}
	}
	for _, g := range v.gapsSeen.sorted() {
		name := string(v.isins[g.key.isin][:])
		rep.Examples = append(rep.Examples, Example{Kind: KindGap, ISIN: name, WindowStart: g.key.start,
			Detail: fmt.Sprintf("no output for the trade at input partition %d offset %d (timestamp %d, trade-count %d)",
				g.want.partition, g.want.offset, g.want.eventTime, g.want.count)})
	}
	if v.snapshot != nil {
		v.checkSnapshot()
	}
	rep.Notes = append(rep.Notes, v.declarationNotes()...)
	if v.uncheckedAggregates > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d output records carry interval aggregate headers, not checked: "+
			"pass the aggregator's input.price_field and input.volume_field as --price-field and --volume-field", v.uncheckedAggregates))
	}
	rep.total()
	return rep
}

// violation counts a violation by output record r and lists it while its
// kind has fewer than Settings.Examples examples.
func (v *Verifier) violation(kind string, r OutputRecord, isinText string, start int64, detail string) {
	if !v.count(kind) {
		return
	}
	p, o := r.Partition, r.Offset
	v.report.Examples = append(v.report.Examples, Example{Kind: kind, ISIN: isinText, WindowStart: start,
		OutputPartition: &p, OutputOffset: &o, Detail: detail})
}

// SnapshotEntry is one ISIN of the sink's Redis snapshot.
type SnapshotEntry struct {
	// Value is the field of the snapshot hash; nil when absent.
	Value []byte
	// WindowEnd is the field of the companion hash; nil when absent.
	WindowEnd []byte
}

type snapshot struct {
	key     string
	entries map[string]SnapshotEntry
}

// Snapshot gives the sink's Redis snapshot (hash key and its companion),
// checked in Report: per ISIN it must hold the expected record of the ISIN's
// greatest window.
func (v *Verifier) Snapshot(key string, entries map[string]SnapshotEntry) {
	v.snapshot = &snapshot{key: key, entries: entries}
}

func (v *Verifier) checkSnapshot() {
	type latest struct {
		start   int64
		want    digest
		openEnd int64
	}
	latestByISIN := make([]latest, len(v.isins))
	for i := range latestByISIN {
		latestByISIN[i] = latest{start: noTime, openEnd: noTime}
	}
	greatestEnd := noTime
	for k, e := range v.expected {
		if e.flags&flagExtra != 0 {
			continue
		}
		all := e.models | e.alt
		var want digest
		switch {
		case e.flags&flagMatchedAlt != 0:
			want = v.alternates[k]
		case e.flags&flagSeen != 0:
			want = e.primary
		case e.flags&flagOpen != 0:
			l := &latestByISIN[k.isin]
			l.openEnd = max(l.openEnd, k.start+v.size)
			greatestEnd = max(greatestEnd, k.start+v.size)
			continue
		case all == bothModels && !(v.settings.Compacted && v.latestOutput[k.isin] > k.start):
			want = e.primary // a gap: the sink cannot have it, reported here too
		default:
			continue
		}
		greatestEnd = max(greatestEnd, k.start+v.size)
		if l := &latestByISIN[k.isin]; k.start > l.start {
			l.start, l.want = k.start, want
		}
	}

	rs := &RedisReport{Key: v.snapshot.key, Fields: len(v.snapshot.entries)}
	v.report.Redis = rs
	known := map[string]bool{}
	for id, l := range latestByISIN {
		name := string(v.isins[id][:])
		known[name] = true
		entry, ok := v.snapshot.entries[name]
		if l.start == noTime {
			if ok {
				v.unexpectedSnapshot(rs, name, entry, max(l.openEnd, greatestEnd))
			}
			continue
		}
		rs.Expected++
		wantEnd := l.start + v.size
		end, err := strconv.ParseInt(string(entry.WindowEnd), 10, 64)
		switch {
		case !ok || entry.Value == nil:
			rs.Missing++
			v.redisExample(name, l.start, "no snapshot field for this ISIN")
		case entry.WindowEnd == nil || err != nil:
			rs.WindowEndMismatches++
			v.redisExample(name, l.start, fmt.Sprintf("companion window-end field %q, want %d", clip(entry.WindowEnd), wantEnd))
		case end > wantEnd:
			rs.Ahead++ // the sink applied output newer than what was read
		case end < wantEnd:
			rs.Stale++
			v.redisExample(name, l.start, fmt.Sprintf("snapshot holds window end %d, want %d", end, wantEnd))
		case maphash.Bytes(v.seed, entry.Value) != l.want.hash:
			rs.ValueMismatches++
			v.redisExample(name, l.start, fmt.Sprintf("snapshot value differs from the trade at input partition %d offset %d",
				l.want.partition, l.want.offset))
		default:
			rs.Matched++
		}
	}
	for name, entry := range v.snapshot.entries {
		if !known[name] {
			v.unexpectedSnapshot(rs, name, entry, greatestEnd)
		}
	}
}

// unexpectedSnapshot judges a snapshot field for an ISIN with no expected
// record: newer than anything read is the sink being ahead of this reading,
// anything else should not be there.
func (v *Verifier) unexpectedSnapshot(rs *RedisReport, name string, entry SnapshotEntry, newest int64) {
	end, err := strconv.ParseInt(string(entry.WindowEnd), 10, 64)
	if err == nil && newest != noTime && end >= newest {
		rs.Ahead++
		return
	}
	rs.Unexpected++
	v.redisExample(name, 0, fmt.Sprintf("snapshot field (window end %q) for an ISIN with no expected record", clip(entry.WindowEnd)))
}

func (v *Verifier) redisExample(name string, start int64, detail string) {
	v.report.Redis.examples++
	if v.report.Redis.examples > int64(v.settings.Examples) {
		return
	}
	v.report.Examples = append(v.report.Examples, Example{Kind: KindRedis, ISIN: name, WindowStart: start, Detail: detail})
}

// exampleHeap keeps the limit gaps with the smallest (window start, ISIN id),
// so that the examples do not depend on map order.
type exampleHeap struct {
	limit int
	items []gapExample
}

type gapExample struct {
	key  windowKey
	want digest
}

func (h *exampleHeap) Len() int { return len(h.items) }
func (h *exampleHeap) Less(i, j int) bool {
	a, b := h.items[i].key, h.items[j].key
	if a.start != b.start {
		return a.start > b.start // a max-heap: the root is the first to drop
	}
	return a.isin > b.isin
}
func (h *exampleHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *exampleHeap) Push(x any)    { h.items = append(h.items, x.(gapExample)) }
func (h *exampleHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

func (h *exampleHeap) offer(k windowKey, want digest) {
	if h.limit == 0 {
		return
	}
	heap.Push(h, gapExample{k, want})
	if h.Len() > h.limit {
		heap.Pop(h)
	}
}

func (h *exampleHeap) sorted() []gapExample {
	out := make([]gapExample, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(gapExample)
	}
	return out
}

func clip(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

// windowTime formats a window start for people.
func windowTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
