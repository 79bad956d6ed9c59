package verify

import (
	"strconv"
	"testing"
)

// closedBy adds the aggregator's closing headers to an output record.
func closedBy(o OutputRecord, by string, at int64, source int32) OutputRecord {
	o.ClosedBy = []byte(by)
	o.ClosedAtOffset = []byte(strconv.FormatInt(at, 10))
	o.SourcePartition = []byte(strconv.Itoa(int(source)))
	return o
}

// verifyDeclared runs the verifier as cmd/verify does: the output's closing
// headers first, then the input, then the output.
func verifyDeclared(t *testing.T, trades []tradeRec, outputs []OutputRecord) *Report {
	t.Helper()
	return verifyWith(t, testSettings(), trades, outputs, true)
}

// A window the output says closed by wall clock after offset 1 makes the
// trades of that window at offset 2 and later late, even though their
// timestamps show no quiet period (they were stamped while a broker was
// down and delivered after it came back).
func TestDeclaredWallClockClose(t *testing.T) {
	a, b := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100")
	trades := []tradeRec{
		{timestamp: t0 + 100, isin: a, seq: 1},  // offset 0
		{timestamp: t0 + 1900, isin: b, seq: 2}, // offset 1
		{timestamp: t0 + 1958, isin: a, seq: 3}, // offset 2: arrived after the close
		{timestamp: t0 + 1990, isin: b, seq: 4}, // offset 3: arrived after the close
		{timestamp: t0 + 2100, isin: a, seq: 5}, // offset 4
		{timestamp: t0 + 4100, isin: a, seq: 6}, // offset 5: closes [2000, 4000) by watermark
	}
	outputs := []OutputRecord{
		closedBy(outFor(trades[0], 1), closedByWallClock, 2, 0),
		closedBy(outFor(trades[1], 1), closedByWallClock, 2, 0),
		closedBy(outFor(trades[4], 1), closedByWatermark, 6, 0),
	}
	r := verifyDeclared(t, trades, outputs)
	if r.Violations != (ViolationReport{}) {
		t.Fatalf("violations %+v, examples %+v", r.Violations, r.Examples)
	}
	if r.Windows.DeclaredWallClock != 2 || r.Windows.MatchedLiveOnly != 2 || r.Input.Late.Live != 2 || r.Input.Late.Watermark != 0 {
		t.Fatalf("windows %+v, late %+v: want 2 declared wall-clock records matched by the live model only, 2 late", r.Windows, r.Input.Late)
	}
	// The record after the close was stamped 58 ms after the one before it:
	// the timestamps do not explain the close, and the report says so.
	if r.Windows.WallClockUnexplained != 1 || len(r.Notes) != 1 {
		t.Fatalf("unexplained closes %d, notes %q: want 1 and a note", r.Windows.WallClockUnexplained, r.Notes)
	}

	// An output mixing records with and without the headers (an aggregator
	// upgraded in place) is estimated from timestamps throughout.
	mixed := []OutputRecord{outputs[0], outputs[1], outFor(trades[4], 1)}
	if r := verifyDeclared(t, trades, mixed); r.Violations.Mismatches != 2 || r.Windows.WallClockUnexplained != 0 {
		t.Fatalf("mixed: violations %+v, windows %+v: want the 2 mismatches of the estimate", r.Violations, r.Windows)
	}

	// Without the declaration the same output is two mismatches: the models
	// estimate no wall-clock close from these timestamps.
	plain := []OutputRecord{outFor(trades[0], 1), outFor(trades[1], 1), outFor(trades[4], 1)}
	if r := verifyDeclared(t, trades, plain); r.Violations.Mismatches != 2 {
		t.Fatalf("undeclared: violations %+v, want 2 mismatches", r.Violations)
	}

	// A window closed by wall clock without one of the trades it counted is
	// still a gap.
	lost := []OutputRecord{outputs[0], outputs[2]}
	if r := verifyDeclared(t, trades, lost); r.Violations.Gaps != 1 {
		t.Fatalf("lost record: violations %+v, want b's trade at offset 1 reported as a gap", r.Violations)
	}
}

// Closing headers that contradict the input are mismatches.
func TestDeclaredCloseContradictsWatermark(t *testing.T) {
	a := mkISIN(t, "KR700593000")
	trades := []tradeRec{
		{timestamp: t0 + 100, isin: a, seq: 1},  // offset 0
		{timestamp: t0 + 2100, isin: a, seq: 2}, // offset 1: closes [0, 2000) by watermark
		{timestamp: t0 + 2200, isin: a, seq: 3}, // offset 2
	}
	for _, tc := range []struct {
		name string
		rec  OutputRecord
	}{
		{"watermark at the wrong offset", closedBy(outFor(trades[0], 1), closedByWatermark, 3, 0)},
		{"wall clock after the watermark closed it", closedBy(outFor(trades[0], 1), closedByWallClock, 2, 0)},
		{"watermark for a window it never passed", closedBy(outFor(trades[2], 2), closedByWatermark, 3, 0)},
		{"unknown closed-by", closedBy(outFor(trades[0], 1), "timer", 2, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outputs := []OutputRecord{tc.rec}
			if tc.rec.WindowStart != nil && string(tc.rec.WindowStart) == strconv.FormatInt(t0, 10) {
				outputs = append(outputs, closedBy(outFor(trades[2], 2), closedByWallClock, 3, 0))
			}
			r := verifyDeclared(t, trades, outputs)
			if r.Violations.MismatchFields.ClosedAt != 1 || r.Violations.Mismatches != 1 {
				t.Fatalf("violations %+v, examples %+v: want one closed-at mismatch", r.Violations, r.Examples)
			}
		})
	}
}

// A quiet gap in the timestamps explains a declared close.
func TestDeclaredCloseExplainedByQuietGap(t *testing.T) {
	a := mkISIN(t, "KR700593000")
	trades := []tradeRec{
		{timestamp: t0 + 100, isin: a, seq: 1},  // offset 0
		{timestamp: t0 + 5100, isin: a, seq: 2}, // offset 1: 5 s later
	}
	outputs := []OutputRecord{closedBy(outFor(trades[0], 1), closedByWallClock, 1, 0)}
	r := verifyDeclared(t, trades, outputs)
	if r.Violations.Total != 0 || r.Windows.WallClockUnexplained != 0 {
		t.Fatalf("violations %+v, windows %+v", r.Violations, r.Windows)
	}
}

// A window closed after the input the verifier read (the input grew while it
// settled) cannot be judged by its closing headers.
func TestDeclaredCloseBeyondInputRead(t *testing.T) {
	a := mkISIN(t, "KR700593000")
	trades := []tradeRec{{timestamp: t0 + 100, isin: a, seq: 1}} // offset 0; offset 1 not read
	outputs := []OutputRecord{closedBy(outFor(trades[0], 1), closedByWatermark, 2, 0)}
	r := verifyDeclared(t, trades, outputs)
	if r.Violations.Total != 0 {
		t.Fatalf("violations %+v, examples %+v: a close beyond the input read is not a mismatch", r.Violations, r.Examples)
	}
}
