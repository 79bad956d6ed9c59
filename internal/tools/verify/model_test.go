package verify

import (
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"testing"
	"time"

	"tickcompact/internal/isin"
)

// t0 is a window start (epoch ms, a multiple of 2s).
const t0 int64 = 1_700_000_000_000

func mkISIN(t testing.TB, body string) string {
	t.Helper()
	d, ok := isin.CheckDigit(body)
	if !ok {
		t.Fatalf("bad ISIN body %q", body)
	}
	return body + string(d)
}

// testISINs returns n valid ISINs.
func testISINs(t testing.TB, n int) []string {
	t.Helper()
	isins := make([]string, n)
	for i := range isins {
		isins[i] = mkISIN(t, fmt.Sprintf("US%09d", i))
	}
	return isins
}

// tradeRec is an input record of the tests: offsets are given per partition in
// the order of the slice.
type tradeRec struct {
	partition int32
	timestamp int64 // record timestamp (ms)
	isin      string
	seq       int    // makes the value unique
	raw       string // the whole value instead, when set
}

func (tr tradeRec) value() []byte {
	if tr.raw != "" {
		return []byte(tr.raw)
	}
	return []byte(fmt.Sprintf(`{"isin":%q,"price":100,"seq":%d}`, tr.isin, tr.seq))
}

// out builds an output record as the aggregator writes it.
func out(isinText string, start int64, value []byte, ts int64, count int) OutputRecord {
	return OutputRecord{Key: []byte(isinText), Value: value, Timestamp: ts,
		WindowStart: []byte(strconv.FormatInt(start, 10)),
		WindowEnd:   []byte(strconv.FormatInt(start+2000, 10)),
		TradeCount:  []byte(strconv.Itoa(count))}
}

// outFor is the output record whose chosen trade is tr.
func outFor(tr tradeRec, count int) OutputRecord {
	start := tr.timestamp - tr.timestamp%2000
	return out(tr.isin, start, tr.value(), tr.timestamp, count)
}

func testSettings() Settings {
	s := DefaultSettings()
	s.LiveLag = 0
	s.Now = time.UnixMilli(t0).Add(time.Hour)
	return s
}

func verifyAll(t *testing.T, s Settings, trades []tradeRec, outputs []OutputRecord) *Report {
	t.Helper()
	return verifyWith(t, s, trades, outputs, false)
}

// verifyWith runs the verifier as cmd/verify does; with declare, the output's
// closing headers are read first (Declare).
func verifyWith(t *testing.T, s Settings, trades []tradeRec, outputs []OutputRecord, declare bool) *Report {
	t.Helper()
	v, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	if declare {
		for _, o := range outputs {
			v.Declare(o)
		}
	}
	offsets := map[int32]int64{}
	for _, tr := range trades {
		v.Input(InputRecord{Partition: tr.partition, Offset: offsets[tr.partition], Timestamp: tr.timestamp, Value: tr.value()})
		offsets[tr.partition]++
	}
	v.EndInput()
	for i, o := range outputs {
		o.Offset = int64(i)
		v.Output(o)
	}
	return v.Report()
}

func TestModel(t *testing.T) {
	a, b, c := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100"), mkISIN(t, "DE000BASF11")
	// Window 0 holds two trades of a (the later wins) and one of b; a record
	// in window 1 closes window 0, and leaves window 1 open.
	base := []tradeRec{
		{timestamp: t0 + 100, isin: a, seq: 1},
		{timestamp: t0 + 300, isin: b, seq: 2},
		{timestamp: t0 + 500, isin: a, seq: 3},
		{timestamp: t0 + 2100, isin: a, seq: 4},
	}
	good := []OutputRecord{outFor(base[2], 2), outFor(base[1], 1)}
	with := func(extra ...OutputRecord) []OutputRecord { return append(append([]OutputRecord{}, good...), extra...) }
	edit := func(o OutputRecord, f func(*OutputRecord)) OutputRecord { f(&o); return o }

	tests := []struct {
		name    string
		edit    func(*Settings)
		trades  []tradeRec
		outputs []OutputRecord
		want    ViolationReport
		check   func(t *testing.T, r *Report)
	}{
		{name: "exact, last window still open", trades: base, outputs: good,
			check: func(t *testing.T, r *Report) {
				want := WindowReport{Expected: 2, Open: 1, OpenPending: 1, Matched: 2}
				if r.Windows != want {
					t.Errorf("windows = %+v, want %+v", r.Windows, want)
				}
			}},
		{name: "open window emitted by wall clock", trades: base, outputs: with(outFor(base[3], 1)),
			check: func(t *testing.T, r *Report) {
				if r.Windows.OpenMatched != 1 || r.Windows.OpenPending != 0 || r.Windows.Matched != 3 {
					t.Errorf("windows = %+v", r.Windows)
				}
			}},
		{name: "duplicate", trades: base, outputs: with(good[0]), want: ViolationReport{Duplicates: 1}},
		{name: "gap", trades: base, outputs: good[:1], want: ViolationReport{Gaps: 1},
			check: func(t *testing.T, r *Report) {
				if len(r.Examples) != 1 || r.Examples[0].Kind != KindGap || r.Examples[0].ISIN != b {
					t.Errorf("examples = %+v", r.Examples)
				}
			}},
		{name: "wrong value", trades: base,
			outputs: []OutputRecord{edit(good[0], func(o *OutputRecord) { o.Value = base[0].value() }), good[1]},
			want:    ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{Value: 1}}},
		{name: "wrong timestamp", trades: base,
			outputs: []OutputRecord{edit(good[0], func(o *OutputRecord) { o.Timestamp++ }), good[1]},
			want:    ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{Timestamp: 1}}},
		{name: "wrong window-end header", trades: base,
			outputs: []OutputRecord{edit(good[0], func(o *OutputRecord) { o.WindowEnd = []byte("123") }), good[1]},
			want:    ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{WindowEnd: 1}}},
		{name: "missing trade-count header", trades: base,
			outputs: []OutputRecord{edit(good[0], func(o *OutputRecord) { o.TradeCount = nil }), good[1]},
			want:    ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{TradeCount: 1}}},
		{name: "wrong trade-count", trades: base,
			outputs: []OutputRecord{edit(good[0], func(o *OutputRecord) { o.TradeCount = []byte("3") }), good[1]},
			want:    ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{TradeCount: 1}}},
		{name: "extra", trades: base, outputs: with(out(c, t0, []byte(`{}`), t0, 1)), want: ViolationReport{Extras: 1}},
		{name: "extra twice is an extra and a duplicate", trades: base,
			outputs: with(out(c, t0, []byte(`{}`), t0, 1), out(c, t0, []byte(`{}`), t0, 1)),
			want:    ViolationReport{Extras: 1, Duplicates: 1}},
		{name: "malformed", trades: base,
			outputs: with(out("not-an-isin", t0, nil, t0, 1), edit(good[0], func(o *OutputRecord) { o.WindowStart = []byte("1700000000001") }),
				edit(good[0], func(o *OutputRecord) { o.WindowStart = nil })),
			want: ViolationReport{Malformed: 3}},
		{name: "late record is not counted",
			// The record at +2500 moves the watermark past window 0's end:
			// the one at +1500 that follows is late.
			trades: []tradeRec{
				{timestamp: t0 + 100, isin: a, seq: 1},
				{timestamp: t0 + 2500, isin: a, seq: 2},
				{timestamp: t0 + 1500, isin: a, seq: 3},
			},
			outputs: []OutputRecord{outFor(tradeRec{timestamp: t0 + 100, isin: a, seq: 1}, 1)},
			check: func(t *testing.T, r *Report) {
				if r.Input.Late != (LateReport{Watermark: 1, Live: 1}) {
					t.Errorf("late = %+v", r.Input.Late)
				}
			}},
		{name: "late record counted is a mismatch",
			trades: []tradeRec{
				{timestamp: t0 + 100, isin: a, seq: 1},
				{timestamp: t0 + 2500, isin: a, seq: 2},
				{timestamp: t0 + 1500, isin: a, seq: 3},
			},
			outputs: []OutputRecord{outFor(tradeRec{timestamp: t0 + 1500, isin: a, seq: 3}, 2)},
			want:    ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{Value: 1, Timestamp: 1, TradeCount: 1}}},
		{name: "grace keeps the window open",
			edit: func(s *Settings) { s.Grace = time.Second },
			trades: []tradeRec{
				{timestamp: t0 + 100, isin: a, seq: 1},
				{timestamp: t0 + 2500, isin: a, seq: 2},
				{timestamp: t0 + 1500, isin: a, seq: 3}, // within grace: counted
				{timestamp: t0 + 3100, isin: a, seq: 4}, // closes window 0
				{timestamp: t0 + 1900, isin: a, seq: 5}, // late
			},
			outputs: []OutputRecord{outFor(tradeRec{timestamp: t0 + 1500, isin: a, seq: 3}, 2)},
			check: func(t *testing.T, r *Report) {
				if r.Input.Late.Watermark != 1 || r.Windows.Matched != 1 {
					t.Errorf("late = %+v, windows = %+v", r.Input.Late, r.Windows)
				}
			}},
		{name: "separate partitions have separate watermarks",
			trades: []tradeRec{
				{partition: 0, timestamp: t0 + 100, isin: a, seq: 1},
				{partition: 0, timestamp: t0 + 2500, isin: a, seq: 2},
				{partition: 1, timestamp: t0 + 1500, isin: b, seq: 3}, // not late: partition 1's watermark
				{partition: 1, timestamp: t0 + 2500, isin: b, seq: 4},
			},
			outputs: []OutputRecord{outFor(tradeRec{timestamp: t0 + 100, isin: a, seq: 1}, 1), outFor(tradeRec{timestamp: t0 + 1500, isin: b, seq: 3}, 1)},
			check: func(t *testing.T, r *Report) {
				if r.Input.Late.Watermark != 0 || r.Windows.Matched != 2 || r.Windows.OpenPending != 2 {
					t.Errorf("late = %+v, windows = %+v", r.Input.Late, r.Windows)
				}
			}},
		{name: "rejected records by reason",
			trades: []tradeRec{
				{timestamp: t0, raw: `{"isin":`},
				{timestamp: t0, raw: `{"price":1}`},
				{timestamp: t0, raw: `{"isin":"KR7005930004"}`},
				{timestamp: 0, isin: a},
				{timestamp: t0 + 2*time.Hour.Milliseconds(), isin: a}, // after Now+1m
				{timestamp: t0 + 100, isin: a, seq: 1},
			},
			check: func(t *testing.T, r *Report) {
				want := map[string]int64{"invalid-json": 1, "missing-isin": 1, "invalid-isin": 1, "invalid-time": 1, "future-time": 1}
				for reason, n := range want {
					if r.Input.Rejected[reason] != n {
						t.Errorf("rejected[%s] = %d, want %d", reason, r.Input.Rejected[reason], n)
					}
				}
				if r.Input.Records != 6 || r.Input.Valid != 1 {
					t.Errorf("input = %+v", r.Input)
				}
			}},
		{name: "time field: future judged against the record's own timestamp",
			edit: func(s *Settings) { s.TimeField = "ts" },
			trades: []tradeRec{
				{timestamp: t0, raw: fmt.Sprintf(`{"isin":%q,"ts":%d}`, a, t0+100)},
				{timestamp: t0, raw: fmt.Sprintf(`{"isin":%q,"ts":%d}`, a, t0+61_000)},
			},
			outputs: []OutputRecord{out(a, t0, []byte(fmt.Sprintf(`{"isin":%q,"ts":%d}`, a, t0+100)), t0+100, 1)},
			check: func(t *testing.T, r *Report) {
				if r.Input.Rejected["future-time"] != 1 || r.Windows.Matched != 1 {
					t.Errorf("input = %+v windows = %+v", r.Input, r.Windows)
				}
			}},
		{name: "ISIN in two partitions",
			trades: []tradeRec{
				{partition: 0, timestamp: t0 + 100, isin: a, seq: 1},
				{partition: 1, timestamp: t0 + 200, isin: a, seq: 2},
			},
			check: func(t *testing.T, r *Report) {
				if r.Input.SplitISINs != 1 {
					t.Errorf("split = %d", r.Input.SplitISINs)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSettings()
			if tc.edit != nil {
				tc.edit(&s)
			}
			r := verifyAll(t, s, tc.trades, tc.outputs)
			got := r.Violations
			got.Total = 0
			if got != tc.want {
				t.Errorf("violations = %+v, want %+v\nexamples: %+v", got, tc.want, r.Examples)
			}
			wantTotal := tc.want.Duplicates + tc.want.Gaps + tc.want.Mismatches + tc.want.Extras + tc.want.Malformed
			if r.OK != (wantTotal == 0) || r.Violations.Total != wantTotal {
				t.Errorf("ok = %v, total = %d", r.OK, r.Violations.Total)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// A partition that went quiet had its window closed by wall clock before a
// record stamped just before the window's end arrived: the live model
// accepts that output, and the absence of a window whose only trade came
// too late.
func TestLiveModelAcceptsWallClockClose(t *testing.T) {
	a, b := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100")
	trades := []tradeRec{
		{timestamp: t0 + 500, isin: a, seq: 1},
		// 1.4s of silence: with a 500ms lag the aggregator's clock may have
		// passed the window's end before these two arrived.
		{timestamp: t0 + 1900, isin: a, seq: 2},
		{timestamp: t0 + 1950, isin: b, seq: 3},
		{timestamp: t0 + 2100, isin: a, seq: 4},
	}
	byWatermark := outFor(trades[1], 2)
	byWallClock := outFor(trades[0], 1)
	s := testSettings()
	s.LiveLag = 500 * time.Millisecond

	r := verifyAll(t, s, trades, []OutputRecord{byWallClock})
	if !r.OK || r.Windows.MatchedLiveOnly != 1 || r.Windows.AbsentLiveOnly != 1 || r.Input.Late.Live != 2 {
		t.Errorf("wall-clock close: ok=%v windows=%+v late=%+v examples=%+v", r.OK, r.Windows, r.Input.Late, r.Examples)
	}
	r = verifyAll(t, s, trades, []OutputRecord{byWatermark, outFor(trades[2], 1)})
	if !r.OK || r.Windows.MatchedLiveOnly != 0 {
		t.Errorf("watermark close: ok=%v windows=%+v examples=%+v", r.OK, r.Windows, r.Examples)
	}
	// Without the lag the records are stamped before the window's end: no
	// wall-clock close could have dropped them.
	s.LiveLag = 0
	r = verifyAll(t, s, trades, []OutputRecord{byWallClock})
	if r.OK || r.Violations.Mismatches != 1 || r.Violations.Gaps != 1 {
		t.Errorf("no lag: violations=%+v", r.Violations)
	}
	// Nor when the partition was not quiet for the idle timeout.
	s.LiveLag = 500 * time.Millisecond
	s.IdleTimeout = 3 * time.Second
	r = verifyAll(t, s, trades, []OutputRecord{byWallClock})
	if r.OK {
		t.Errorf("busy partition: violations=%+v", r.Violations)
	}
}

func TestCompactedOutput(t *testing.T) {
	a := mkISIN(t, "KR700593000")
	trades := []tradeRec{
		{timestamp: t0 + 100, isin: a, seq: 1},
		{timestamp: t0 + 2100, isin: a, seq: 2},
		{timestamp: t0 + 4100, isin: a, seq: 3},
	}
	outputs := []OutputRecord{outFor(trades[1], 1)} // window 0 compacted away
	s := testSettings()
	if r := verifyAll(t, s, trades, outputs); r.Violations.Gaps != 1 {
		t.Errorf("not compacted: violations %+v", r.Violations)
	}
	s.Compacted = true
	if r := verifyAll(t, s, trades, outputs); !r.OK || r.Windows.Compacted != 1 {
		t.Errorf("compacted: violations %+v windows %+v", r.Violations, r.Windows)
	}
}

func TestSettlingWhileInputGrew(t *testing.T) {
	a, b := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100")
	trades := []tradeRec{{timestamp: t0 + 100, isin: a, seq: 1}, {timestamp: t0 + 2100, isin: a, seq: 2}}
	v, err := New(testSettings())
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trades {
		v.Input(InputRecord{Offset: int64(i), Timestamp: tr.timestamp, Value: tr.value()})
	}
	v.EndInput()
	v.Output(outFor(trades[0], 1))
	v.Settling(true)
	v.Output(out(a, t0+2000, []byte(`{"newer":1}`), t0+2500, 2)) // the open window, with input read since
	v.Output(out(b, t0+4000, []byte(`{}`), t0+4000, 1))          // a window after the input read
	r := v.Report()
	if !r.OK || r.Output.Unverifiable != 2 || r.Output.AfterSettle != 2 {
		t.Errorf("ok=%v output=%+v violations=%+v", r.OK, r.Output, r.Violations)
	}
}

func TestSnapshot(t *testing.T) {
	a, b, c, d, e := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100"), mkISIN(t, "DE000BASF11"),
		mkISIN(t, "GB000263494"), mkISIN(t, "FR000013145")
	trades := []tradeRec{
		{timestamp: t0 + 100, isin: a, seq: 1},
		{timestamp: t0 + 200, isin: b, seq: 2},
		{timestamp: t0 + 300, isin: c, seq: 3},
		{timestamp: t0 + 400, isin: d, seq: 4},
		{timestamp: t0 + 2100, isin: a, seq: 5},
		{timestamp: t0 + 4100, isin: b, seq: 6},
	}
	outputs := []OutputRecord{outFor(trades[0], 1), outFor(trades[1], 1), outFor(trades[2], 1), outFor(trades[3], 1),
		outFor(trades[4], 1)}
	end := func(ms int64) []byte { return []byte(strconv.FormatInt(ms, 10)) }
	snap := map[string]SnapshotEntry{
		a:    {Value: trades[4].value(), WindowEnd: end(t0 + 4000)}, // latest: window 1
		b:    {Value: trades[1].value(), WindowEnd: end(t0 + 2000)}, // window 2 is open, not emitted: window 0 stands
		c:    {Value: []byte(`{"x":1}`), WindowEnd: end(t0 + 2000)}, // wrong value
		d:    {Value: trades[3].value()},                            // companion missing
		e:    {Value: []byte(`{}`), WindowEnd: end(t0 + 2000)},      // no trade of e at all
		"XX": {Value: []byte(`{}`), WindowEnd: end(t0 + 6_000_000)}, // newer than anything read
	}
	v, err := New(testSettings())
	if err != nil {
		t.Fatal(err)
	}
	offset := int64(0)
	for _, tr := range trades {
		v.Input(InputRecord{Offset: offset, Timestamp: tr.timestamp, Value: tr.value()})
		offset++
	}
	v.EndInput()
	for _, o := range outputs {
		v.Output(o)
	}
	v.Snapshot("trades:latest", snap)
	r := v.Report()
	want := RedisReport{Key: "trades:latest", Fields: 6, Expected: 4, Matched: 2, ValueMismatches: 1, WindowEndMismatches: 1,
		Unexpected: 1, Ahead: 1}
	got := *r.Redis
	got.examples = 0
	if got != want {
		t.Errorf("redis = %+v\nwant    %+v\nexamples %+v", got, want, r.Examples)
	}
	if r.OK || r.Violations.Redis != 3 || r.Violations.Total != 3 {
		t.Errorf("violations = %+v", r.Violations)
	}

	// A snapshot behind the output, or without an ISIN, is a violation too.
	delete(snap, c)
	snap[a] = SnapshotEntry{Value: trades[0].value(), WindowEnd: end(t0 + 2000)}
	v, _ = New(testSettings())
	for i, tr := range trades {
		v.Input(InputRecord{Offset: int64(i), Timestamp: tr.timestamp, Value: tr.value()})
	}
	v.EndInput()
	for _, o := range outputs {
		v.Output(o)
	}
	v.Snapshot("trades:latest", snap)
	r = v.Report()
	if r.Redis.Stale != 1 || r.Redis.Missing != 1 {
		t.Errorf("redis = %+v", *r.Redis)
	}
}

// The watermark model agrees with a second, deliberately naive model of the
// contract (sort, then scan) on random backlogs with disorder and grace.
func TestWatermarkModelMatchesNaiveModel(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		grace := time.Duration(seed%3) * 700 * time.Millisecond
		t.Run(fmt.Sprintf("seed%d-grace%v", seed, grace), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			isins := testISINs(t, 30)
			var trades []tradeRec
			for i := range 5000 {
				ts := t0 + int64(i)*7 - rng.Int63n(2500)
				if rng.Intn(50) == 0 {
					ts = t0 + int64(i)*7 // equal timestamps happen
				}
				trades = append(trades, tradeRec{partition: int32(rng.Intn(3)), timestamp: ts, isin: isins[rng.Intn(len(isins))], seq: i})
			}
			// Keep each ISIN in one partition, as keying by ISIN does.
			for i := range trades {
				trades[i].partition = int32(trades[i].isin[10]) % 3
			}
			want, late := naive(trades, 2000, grace.Milliseconds())
			s := testSettings()
			s.Grace = grace
			r := verifyAll(t, s, trades, want)
			if !r.OK || r.Windows.Matched != int64(len(want)) || r.Input.Late.Watermark != int64(late) {
				t.Fatalf("ok=%v matched=%d of %d late=%d want %d violations=%+v examples=%+v",
					r.OK, r.Windows.Matched, len(want), r.Input.Late.Watermark, late, r.Violations, r.Examples)
			}
		})
	}
}

// naive computes the contract's output as records: per partition in offset
// order, a record is late when its window ended at or before the watermark
// (including itself) minus grace, aligned down; the latest by (event time,
// offset) of each (ISIN, window) is emitted, with every window eventually.
func naive(trades []tradeRec, size, grace int64) ([]OutputRecord, int) {
	type key struct {
		isin  string
		start int64
	}
	type best struct {
		tr     tradeRec
		offset int64
		count  int
	}
	chosen := map[key]*best{}
	watermark := map[int32]int64{}
	offsets := map[int32]int64{}
	late := 0
	for _, tr := range trades {
		off := offsets[tr.partition]
		offsets[tr.partition]++
		w, ok := watermark[tr.partition]
		if !ok || tr.timestamp > w {
			w = tr.timestamp
		}
		watermark[tr.partition] = w
		start := tr.timestamp - tr.timestamp%size
		if start+size <= (w-grace)-(w-grace)%size {
			late++
			continue
		}
		k := key{tr.isin, start}
		b := chosen[k]
		if b == nil {
			b = &best{tr: tr, offset: off}
			chosen[k] = b
		}
		b.count++
		if tr.timestamp > b.tr.timestamp || (tr.timestamp == b.tr.timestamp && off > b.offset) {
			b.tr, b.offset = tr, off
		}
	}
	var keys []key
	for k := range chosen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].start < keys[j].start })
	var outs []OutputRecord
	for _, k := range keys {
		outs = append(outs, outFor(chosen[k].tr, chosen[k].count))
	}
	return outs, late
}
