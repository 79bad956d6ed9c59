// Package verify audits the aggregator: it recomputes from the input topic the
// trades-2s records the contract prescribes and checks the output topic, and
// optionally the sink's Redis snapshot, against them.
//
// The expected output comes from two models of the contract's window rules,
// written independently of the aggregator's engine (aggregator/window).
// Validation of the trades is the aggregator's own parser (aggregator/trade):
// what is a valid ISIN or event time is the parser's contract, tested there.
//
// With the interval aggregates on (Settings.PriceField and VolumeField), each
// model also keeps, per open (ISIN, window), a math/big model of its open,
// high, low, volume and VWAP (internal/tools/bigdec) over the trades it counts,
// and expects the output's aggregate headers to spell exactly that; prices
// and volumes are read by the aggregator's parser, like ISINs and times.
//
//   - The watermark model closes a window of an input partition when the
//     greatest event time of the partition's valid records reaches its end
//     plus grace. It is exact for a replayed backlog.
//   - The live model also closes windows by wall clock. The aggregator's output
//     headers say where each wall-clock close happened (closed-by,
//     closed-at-offset, source-partition; see Declare), and the live model
//     closes exactly there. For an output without those headers it estimates
//     them: record timestamps stand in for arrival times: the aggregator's
//     clock when a record arrived is taken as the greatest timestamp of the
//     partition's valid records so far, this one included, plus
//     Settings.LiveLag. When that clock is at least the idle timeout after the
//     greatest timestamp of the earlier records, every open window whose end
//     plus grace the clock has reached closes before the record is processed.
//     At the end of the input it closes everything.
//
// An output record is accepted when it matches either model for its (ISIN,
// window); an (ISIN, window) is a gap only when both models expect it, and an
// extra only when neither does.
//
// With Settings.Repartition the models read the repartition topic instead,
// where windows close on the progress of every raw partition (upstream.go),
// and the copy into it is audited against the raw topic (copyaudit.go).
//
// Memory stays proportional to the output, not the input: per partition the
// models keep only the open windows' current latest trade (a hash of its value,
// never the bytes), and each expected record is kept as a digest until the
// output has been checked against it. The copy audit of Settings.Repartition
// adds about 25 bytes per raw record, until the repartition topic is read.
package verify

import (
	"hash/maphash"
	"math"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/decimal"
	"tickcompact/aggregator/trade"
	"tickcompact/internal/isin"
	"tickcompact/internal/tools/bigdec"
)

// noTime marks an unset watermark, clock or boundary.
const noTime int64 = math.MinInt64

// modelSet is a set of models.
type modelSet uint8

const (
	watermarkModel modelSet = 1 << iota
	liveModel
	bothModels = watermarkModel | liveModel
)

// isinID numbers the ISINs seen, so that keys are small and cheap to hash.
type isinID uint32

// windowKey identifies one output record: an ISIN in a window.
type windowKey struct {
	isin  isinID
	start int64
}

// digest is an output record reduced to what is compared, plus where the
// chosen trade came from (for the report's examples).
type digest struct {
	hash      uint64 // of the value bytes
	eventTime int64  // the record timestamp
	offset    int64  // of the chosen trade in its input partition
	count     uint32 // the trade-count header
	partition int32  // input partition of the chosen trade
	// aggregates is a hash of the aggregate headers' text; 0 while the
	// aggregates are off.
	aggregates uint64
}

func (d digest) same(o digest) bool {
	return d.hash == o.hash && d.eventTime == o.eventTime && d.count == o.count && d.aggregates == o.aggregates
}

// The flags of an expectation.
const (
	// flagOpen: the watermark model had not closed the window at the end of
	// the input; a missing record is not a gap.
	flagOpen uint8 = 1 << iota
	// flagSeen: an output record for the key was read.
	flagSeen
	// flagExtra: no model expects the key; it is kept to find duplicates.
	flagExtra
	// flagMatchedAlt: the output matched the alternate digest.
	flagMatchedAlt
	// flagMismatch: the output matched neither digest.
	flagMismatch
)

// expectation is what the models expect for one key. Usually both expect the
// same record (primary); when they differ, the second one is in
// Verifier.alternates.
type expectation struct {
	primary digest
	models  modelSet // the models expecting primary
	alt     modelSet // the models expecting the alternate
	flags   uint8
}

// candidate is the latest trade of an ISIN in an open window so far.
type candidate struct {
	eventTime int64
	offset    int64
	hash      uint64
	count     uint32
	// aggregate models the interval aggregates; nil while they are off.
	aggregate *bigdec.Aggregate
}

type openWindow struct {
	start  int64
	latest map[isinID]candidate
}

// windows is one model's state for one input partition.
type windows struct {
	model modelSet
	// closedThrough: every window ending at or before it is closed; a record
	// for one of them is late.
	closedThrough int64
	open          []*openWindow // ordered by start
	spare         []map[isinID]candidate
	late          int64
}

// partition is the models' state for one input partition.
type partition struct {
	id int32
	// watermark is the greatest event time of the valid records read.
	watermark int64
	// clock is the greatest record timestamp of the valid records read: the
	// live model's stand-in for the time they arrived.
	clock int64
	// watermarkWindows and liveWindows are the two models' windows.
	watermarkWindows windows
	liveWindows      windows
	// nextDeclared indexes the next declared wall-clock close to apply.
	nextDeclared int
	// sources are the raw partitions feeding a partition of the
	// repartition topic (Settings.Repartition).
	sources sources
	// readThrough is the offset after the last record read.
	readThrough int64
}

// sourceWindow is a window of one input partition.
type sourceWindow struct {
	partition int32
	start     int64
}

// validRecord is an input record that passed validation.
type validRecord struct {
	isin      isinID
	eventTime int64
	timestamp int64 // the Kafka record timestamp
	offset    int64
	hash      uint64
	// stamp is a copied trade's raw-watermark (Settings.Repartition), or
	// noTime: the trade is late when its window's end plus grace is at or
	// before it.
	stamp int64
	// price and volume are read while the aggregates are on.
	price, volume decimal.Decimal
}

// InputRecord is one record of the input topic, or with Settings.Repartition
// of the raw or the repartition topic.
type InputRecord struct {
	Partition int32
	Offset    int64
	// Timestamp is the Kafka record timestamp, epoch milliseconds.
	Timestamp int64
	Value     []byte
	// Key and Headers are read from the repartition topic only: a copied
	// trade is keyed by its ISIN and carries its raw position and stamp, a
	// progress marker has no key (package aggregator/progress).
	Key     []byte
	Headers []kafka.Header
}

// OutputRecord is one record of the output topic.
type OutputRecord struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Timestamp is the Kafka record timestamp, epoch milliseconds.
	Timestamp int64
	// WindowStart, WindowEnd and TradeCount are the values of the headers of
	// those names; nil when the header is absent.
	WindowStart, WindowEnd, TradeCount []byte
	// ClosedBy, ClosedAtOffset and SourcePartition are the headers saying how
	// and where the window closed; nil when absent (older aggregators).
	ClosedBy, ClosedAtOffset, SourcePartition []byte
	// Aggregates are the interval aggregate headers; nil when absent.
	Aggregates AggregateHeaders
}

// AggregateHeaders are the values of the interval aggregate headers.
type AggregateHeaders struct {
	Open, High, Low, Volume, VWAP []byte
}

// present reports whether any of the headers is there.
func (a AggregateHeaders) present() bool {
	return a.Open != nil || a.High != nil || a.Low != nil || a.Volume != nil || a.VWAP != nil
}

// Verifier recomputes the expected output from input records and checks output
// records against it. Feed every input record (Input, in offset order per
// partition), then EndInput, then every output record (Output), then
// optionally the Redis snapshot (Snapshot), and read the Report. With
// Settings.Repartition, declare the topics (Topics) and feed every raw
// record (Raw) before the first Input, whose records are then those of the
// repartition topic. Declare, when used, comes before any Input. It is not
// safe for concurrent use.
type Verifier struct {
	settings    Settings
	size, grace int64 // ms
	parser      *trade.Parser
	seed        maphash.Seed

	partitions map[int32]*partition
	ids        map[[isin.Length]byte]isinID
	isins      [][isin.Length]byte
	owner      []int32 // input partition of each ISIN, -1 before any
	split      int64   // ISINs found in more than one input partition

	expected   map[windowKey]expectation
	alternates map[windowKey]digest
	// declared are the wall-clock closes the output declares.
	declared declarations
	// watermarkClosedAt is, per window the watermark model closed, the
	// offset of the first record it did not take into account.
	watermarkClosedAt map[sourceWindow]int64
	// latestOutput is, per ISIN, the greatest window start read from the
	// output, for telling compaction from gaps.
	latestOutput []int64
	// uncheckedAggregates counts output records with aggregate headers read
	// while the aggregates are off (not checked; see the notes).
	uncheckedAggregates int64

	// copies is the copy audit (Settings.Repartition), nil otherwise.
	copies *copyAudit

	inputDone bool
	settling  bool
	inputGrew bool
	snapshot  *snapshot
	reported  bool
	report    Report
	gapsSeen  exampleHeap
}

// New returns a Verifier for settings.
func New(settings Settings) (*Verifier, error) {
	if err := settings.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		settings: settings,
		size:     settings.WindowSize.Milliseconds(),
		grace:    settings.Grace.Milliseconds(),
		parser: trade.NewParser(trade.Fields{ISIN: settings.ISINField, Time: settings.TimeField, MaxFuture: settings.MaxFuture,
			Price: settings.PriceField, Volume: settings.VolumeField}),
		seed:       maphash.MakeSeed(),
		partitions: map[int32]*partition{},
		ids:        map[[isin.Length]byte]isinID{},
		expected:   map[windowKey]expectation{},
		alternates: map[windowKey]digest{},

		watermarkClosedAt: map[sourceWindow]int64{},
	}
	v.report.init()
	if settings.Repartition {
		v.copies = &copyAudit{}
		v.report.Repartition = newRepartitionReport()
	}
	v.gapsSeen.limit = settings.Examples
	return v, nil
}

// windowStart returns the start of the epoch-aligned window holding t.
func (v *Verifier) windowStart(t int64) int64 {
	rem := t % v.size
	if rem < 0 {
		rem += v.size
	}
	return t - rem
}

func (v *Verifier) partition(id int32) *partition {
	p := v.partitions[id]
	if p == nil {
		p = &partition{id: id, watermark: noTime, clock: noTime,
			watermarkWindows: windows{model: watermarkModel, closedThrough: noTime},
			liveWindows:      windows{model: liveModel, closedThrough: noTime}}
		v.partitions[id] = p
	}
	return p
}

func (v *Verifier) intern(raw [isin.Length]byte) isinID {
	id, ok := v.ids[raw]
	if !ok {
		id = isinID(len(v.isins))
		v.ids[raw] = id
		v.isins = append(v.isins, raw)
		v.owner = append(v.owner, -1)
		v.latestOutput = append(v.latestOutput, noTime)
	}
	return id
}

// parse validates a trade with the aggregator's parser.
func (v *Verifier) parse(r InputRecord) (trade.Trade, *trade.Rejection) {
	now := v.settings.Now
	if v.settings.TimeField != "" {
		// The wall clock the aggregator compared the event time with is
		// unknown; the record's own timestamp is the closest stand-in.
		now = time.UnixMilli(r.Timestamp)
	}
	return v.parser.Parse(r.Value, r.Timestamp, now)
}

// hash is what values are compared by.
func (v *Verifier) hash(value []byte) uint64 { return maphash.Bytes(v.seed, value) }

// accept counts a trade of the input topic and validates it: it returns a
// valid trade as the aggregator's parser reads it, and its ISIN's number,
// and ok false for one the aggregator rejects, counted by reason. It counts the ISINs found
// in more than one input partition.
func (v *Verifier) accept(r InputRecord) (t trade.Trade, id isinID, ok bool) {
	in := &v.report.Input
	in.Records++
	t, rej := v.parse(r)
	if rej != nil {
		in.Rejected[string(rej.Reason)]++
		return t, 0, false
	}
	in.Valid++
	id = v.intern(t.ISIN)
	switch owner := v.owner[id]; {
	case owner < 0:
		v.owner[id] = r.Partition
	case owner != r.Partition:
		v.owner[id] = math.MaxInt32 // counted once
		v.split++
	}
	return t, id, true
}

// Input feeds one input record: of the input topic, or with
// Settings.Repartition of the repartition topic, after every record of the
// raw topic (Raw). Records of a partition must come in offset order;
// partitions may interleave.
func (v *Verifier) Input(r InputRecord) {
	if v.settings.Repartition {
		v.inputCopy(r)
		return
	}
	p := v.partition(r.Partition)
	p.readThrough = r.Offset + 1
	t, id, ok := v.accept(r)
	if !ok {
		return
	}
	eventTime := t.EventTime
	if p.clock != noTime && eventTime > p.clock+v.settings.MaxFuture.Milliseconds() {
		v.report.Input.FutureAmbiguous++
	}
	rec := validRecord{isin: id, eventTime: eventTime, timestamp: r.Timestamp, offset: r.Offset,
		hash: v.hash(r.Value), stamp: noTime, price: t.Price, volume: t.Volume}

	// The live model: the wall-clock closes the output declares before this
	// record, or, without declarations, had the partition been quiet for the
	// idle timeout when this record arrived, the aggregator closed by wall
	// clock every window the clock had passed.
	quiet, clock := v.seemsQuiet(p, rec.timestamp)
	switch {
	case v.usesDeclarations():
		v.declared.seal()
		v.closeDeclared(p, rec.offset, quiet)
	case quiet:
		v.closeIdle(p, &p.liveWindows, clock)
	}
	p.clock = max(p.clock, rec.timestamp)
	p.watermark = max(p.watermark, eventTime)
	through := v.windowStart(p.watermark - v.grace)
	v.add(p, &p.watermarkWindows, rec, through)
	v.add(p, &p.liveWindows, rec, through)
}

// seemsQuiet estimates from record timestamps whether the partition had been
// quiet for the idle timeout when a record stamped timestamp arrived, and the
// aggregator's clock then: the greatest timestamp so far plus the live lag.
func (v *Verifier) seemsQuiet(p *partition, timestamp int64) (bool, int64) {
	if p.clock == noTime {
		return false, noTime
	}
	clock := max(p.clock, timestamp) + v.settings.LiveLag.Milliseconds()
	return clock-p.clock >= v.settings.IdleTimeout.Milliseconds(), clock
}

// add closes what the watermark closed, then files r in its window or counts
// it late.
func (v *Verifier) add(p *partition, w *windows, r validRecord, through int64) {
	v.advance(p, w, through, r.offset+1)
	start := v.windowStart(r.eventTime)
	if end := start + v.size; end <= w.closedThrough || (r.stamp != noTime && end+v.grace <= r.stamp) {
		w.late++
		return
	}
	ow := w.window(start)
	c, ok := ow.latest[r.isin]
	c.count++
	if !ok || r.eventTime > c.eventTime || (r.eventTime == c.eventTime && r.offset > c.offset) {
		c.eventTime, c.offset, c.hash = r.eventTime, r.offset, r.hash
	}
	if v.aggregates() {
		if c.aggregate == nil {
			c.aggregate = &bigdec.Aggregate{}
		}
		c.aggregate.Add(bigdec.Scaled(r.price.Unscaled, int(r.price.Scale)), bigdec.Scaled(r.volume.Unscaled, int(r.volume.Scale)), r.eventTime, r.offset)
	}
	ow.latest[r.isin] = c
}

// advance closes in w the windows ending at or before through, which the
// watermark passed with the record before offset at.
func (v *Verifier) advance(p *partition, w *windows, through, at int64) {
	if through > w.closedThrough {
		w.closedThrough = through
		v.closeThrough(p, w, through, at, false)
	}
}

// window returns the open window starting at start, creating it in order.
func (w *windows) window(start int64) *openWindow {
	i := len(w.open)
	for i > 0 && w.open[i-1].start >= start {
		if w.open[i-1].start == start {
			return w.open[i-1]
		}
		i--
	}
	ow := &openWindow{start: start}
	if n := len(w.spare); n > 0 {
		ow.latest, w.spare = w.spare[n-1], w.spare[:n-1]
	} else {
		ow.latest = map[isinID]candidate{}
	}
	w.open = append(w.open, nil)
	copy(w.open[i+1:], w.open[i:])
	w.open[i] = ow
	return ow
}

// closeThrough emits every open window ending at or before through. at is the
// offset of the first record the windows did not take into account, or noTime.
func (v *Verifier) closeThrough(p *partition, w *windows, through, at int64, open bool) {
	n := 0
	for n < len(w.open) && w.open[n].start+v.size <= through {
		ow := w.open[n]
		if w.model == watermarkModel && at != noTime {
			v.watermarkClosedAt[sourceWindow{p.id, ow.start}] = at
		}
		for id, c := range ow.latest {
			d := digest{hash: c.hash, eventTime: c.eventTime, offset: c.offset, count: c.count, partition: p.id}
			if c.aggregate != nil {
				h := c.aggregate.Headers()
				d.aggregates = v.aggregatesHash(h.Open, h.High, h.Low, h.Volume, h.VWAP)
			}
			v.expect(windowKey{id, ow.start}, d, w.model, open)
		}
		clear(ow.latest)
		w.spare = append(w.spare, ow.latest)
		n++
	}
	w.open = append(w.open[:0], w.open[n:]...)
}

// closeIdle closes by wall clock the open windows whose end plus grace the
// clock has passed. As in the contract's quiet partition, only windows that
// exist close, and closedThrough moves to the last of them.
func (v *Verifier) closeIdle(p *partition, w *windows, clock int64) {
	last := noTime
	for _, ow := range w.open {
		if end := ow.start + v.size; end+v.grace <= clock {
			last = end
		}
	}
	if last == noTime {
		return
	}
	w.closedThrough = max(w.closedThrough, last)
	v.closeThrough(p, w, last, noTime, false)
}

// EndInput ends the input: the watermark model's open windows become open
// expectations (emitted or not, both are fine), and the live model closes
// everything, as a quiet partition eventually does.
func (v *Verifier) EndInput() {
	if v.inputDone {
		return
	}
	v.inputDone = true
	if v.settings.Repartition {
		v.endCopies()
		v.judgeLastDeclared()
	}
	for _, p := range v.partitions {
		v.closeThrough(p, &p.watermarkWindows, math.MaxInt64, noTime, true)
		v.closeThrough(p, &p.liveWindows, math.MaxInt64, noTime, false)
		v.report.Input.Late.Watermark += p.watermarkWindows.late
		v.report.Input.Late.Live += p.liveWindows.late
	}
	v.report.Input.Partitions = len(v.partitions)
	v.report.Input.SplitISINs = v.split
	if rs := v.report.Repartition; rs != nil {
		rs.Late.Watermark, rs.Late.Live = v.report.Input.Late.Watermark, v.report.Input.Late.Live
	}
}

// expect records that model m expects d for k.
func (v *Verifier) expect(k windowKey, d digest, m modelSet, open bool) {
	e, ok := v.expected[k]
	switch {
	case !ok:
		e = expectation{primary: d, models: m}
	case (e.models|e.alt)&m != 0:
		// The ISIN came from another partition too (counted in Input); the
		// aggregator emits once per partition, so a second copy in the
		// output shows up as a duplicate.
		return
	case e.primary.same(d):
		e.models |= m
	default:
		v.alternates[k] = d
		e.alt |= m
	}
	if open {
		e.flags |= flagOpen
	}
	v.expected[k] = e
}

// aggregates reports whether the interval aggregates are on.
func (v *Verifier) aggregates() bool { return v.settings.PriceField != "" }

// aggregatesHash hashes the aggregate headers' text, in order.
func (v *Verifier) aggregatesHash(open, high, low, volume, vwap string) uint64 {
	var h maphash.Hash
	h.SetSeed(v.seed)
	for _, s := range []string{open, high, low, volume, vwap} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return h.Sum64()
}
