package verify

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// A window of the repartition topic closes only once every raw partition has
// passed it: raw partition 0 copied whole first does not close window 0
// while raw partition 1 is unheard of. The watermark close happens right
// after the copy that brought the second source past the window.
func TestRepartitionClosesOnEverySource(t *testing.T) {
	a, b := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100")
	trades := []tradeRec{
		{partition: 0, timestamp: t0 + 100, isin: a, seq: 1},
		{partition: 0, timestamp: t0 + 2100, isin: a, seq: 2},
		{partition: 1, timestamp: t0 + 500, isin: b, seq: 3},
		{partition: 1, timestamp: t0 + 2500, isin: b, seq: 4},
	}
	c := newCopier(t, trades, 2, 1)
	c.txn(chunk{0, 2})
	ownWatermarkPassed := c.copies[0][1].Offset + 1 // after a's trade at +2100
	c.txn(chunk{1, 2})
	closedAt := c.copyOf(1, 1).Offset + 1
	good := []OutputRecord{
		closedBy(outFor(trades[0], 1), closedByWatermark, closedAt, 0),
		closedBy(outFor(trades[2], 1), closedByWatermark, closedAt, 0),
	}
	r := c.verify(testSettings(), good, true)
	if !r.OK || r.Windows.Matched != 2 || r.Windows.Open != 2 || r.Input.Late.Watermark != 0 {
		t.Fatalf("ok=%v windows=%+v late=%+v violations=%+v examples=%+v", r.OK, r.Windows, r.Input.Late, r.Violations, r.Examples)
	}
	if rs := r.Repartition; rs.Copied != 4 || rs.Markers != 2 || rs.RawValid != 4 || rs.NotCopiedYet != 0 || rs.RawPartitions != 2 {
		t.Fatalf("repartition report %+v", *rs)
	}

	// The output of a window stage that closed window 0 on its partition's
	// own watermark, after the first chunk: b's trade was late there. The
	// close is premature (closed-at) and b's window is missing (gap).
	premature := []OutputRecord{closedBy(outFor(trades[0], 1), closedByWatermark, ownWatermarkPassed, 0)}
	r = c.verify(testSettings(), premature, true)
	if r.Violations.Gaps != 1 || r.Violations.MismatchFields.ClosedAt != 1 || r.Violations.Total != 2 {
		t.Fatalf("premature close: violations %+v, examples %+v; want b's gap and a closed-at mismatch", r.Violations, r.Examples)
	}
}

// A copied trade is late when its window had ended in its own raw partition
// (its stamp), never because another raw partition was copied ahead of it.
func TestRepartitionLatenessByStamp(t *testing.T) {
	a, b := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100")
	trades := []tradeRec{
		{partition: 0, timestamp: t0 + 100, isin: a, seq: 1},
		{partition: 0, timestamp: t0 + 2100, isin: a, seq: 2},
		{partition: 0, timestamp: t0 + 1500, isin: a, seq: 3}, // late in raw partition 0: stamped 2100
		{partition: 1, timestamp: t0 + 500, isin: b, seq: 4},
		{partition: 1, timestamp: t0 + 2200, isin: b, seq: 5},
		{partition: 1, timestamp: t0 + 1900, isin: b, seq: 6}, // late in raw partition 1
		{partition: 2, timestamp: t0 + 300, isin: a, seq: 7},
		{partition: 2, timestamp: t0 + 1700, isin: a, seq: 8}, // copied after the others, not late
		{partition: 2, timestamp: t0 + 2300, isin: a, seq: 9},
	}
	c := newCopier(t, trades, 3, 1)
	c.txn(chunk{1, 3}, chunk{0, 3})
	c.txn(chunk{2, 3})
	c.idle(0, 1, 2)
	// Window 0 closes once raw partition 2, the last heard of, passes it.
	closedAt := c.copyOf(2, 2).Offset + 1
	outputs := []OutputRecord{
		closedBy(outFor(trades[7], 3), closedByWatermark, closedAt, 0),
		closedBy(outFor(trades[3], 1), closedByWatermark, closedAt, 0),
	}
	r := c.verify(testSettings(), outputs, true)
	if !r.OK || r.Windows.Matched != 2 {
		t.Fatalf("ok=%v windows=%+v violations=%+v examples=%+v", r.OK, r.Windows, r.Violations, r.Examples)
	}
	if want := (RawLateReport{OwnPartition: 2, Watermark: 2, Live: 2}); r.Repartition.Late != want {
		t.Fatalf("late %+v, want %+v", r.Repartition.Late, want)
	}
}

// A wall-clock close the output declares is explained when every raw
// partition had passed the window or was announced idle where it happened;
// otherwise it is counted, and noted.
func TestRepartitionWallClockCloseNeedsIdleSources(t *testing.T) {
	a, b := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100")
	trades := []tradeRec{
		{partition: 0, timestamp: t0 + 100, isin: a, seq: 1},
		{partition: 0, timestamp: t0 + 700, isin: a, seq: 2},
		{partition: 1, timestamp: t0 + 300, isin: b, seq: 3},
	}
	aFirst, aBoth, bOnly := outFor(trades[0], 1), outFor(trades[1], 2), outFor(trades[2], 1)
	for _, tc := range []struct {
		name        string
		copy        func(c *copier)
		outputs     []OutputRecord
		unexplained int64
	}{
		{"both idle", func(c *copier) { c.txn(chunk{0, 2}, chunk{1, 1}); c.idle(0, 1) }, []OutputRecord{aBoth, bOnly}, 0},
		{"one idle, the other busy", func(c *copier) { c.txn(chunk{0, 2}, chunk{1, 1}); c.idle(0) }, []OutputRecord{aBoth, bOnly}, 1},
		{"one idle, the other unheard of", func(c *copier) { c.txn(chunk{0, 2}); c.idle(0) }, []OutputRecord{aBoth}, 1},
		{"idle, then busy again", func(c *copier) { c.txn(chunk{0, 1}, chunk{1, 1}); c.idle(0, 1); c.txn(chunk{0, 1}) }, []OutputRecord{aBoth, bOnly}, 1},
		{"busy, then idle again", func(c *copier) { c.txn(chunk{0, 1}, chunk{1, 1}); c.txn(chunk{0, 1}); c.idle(0, 1) }, []OutputRecord{aBoth, bOnly}, 0},
		{"closed before the second trade", func(c *copier) { c.txn(chunk{0, 1}, chunk{1, 1}); c.idle(0, 1) }, []OutputRecord{aFirst, bOnly}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCopier(t, trades, 2, 1)
			tc.copy(c)
			at := c.lastMarker(0) + 1
			var outputs []OutputRecord
			for _, o := range tc.outputs {
				outputs = append(outputs, closedBy(o, closedByWallClock, at, 0))
			}
			r := c.verify(testSettings(), outputs, true)
			if r.Violations.Total != 0 || r.Windows.DeclaredWallClock != int64(len(outputs)) || r.Windows.WallClockUnexplained != tc.unexplained {
				t.Fatalf("violations %+v, windows %+v, examples %+v; want %d unexplained", r.Violations, r.Windows, r.Examples, tc.unexplained)
			}
			if noted := len(r.Notes) > 0; noted != (tc.unexplained > 0) {
				t.Fatalf("notes %q", r.Notes)
			}
		})
	}
}

// The watermark model of the repartition topic gives the output of the raw
// topic as a whole (naive, per raw partition's lateness) however the raw
// partitions are chunked and interleaved; the same trades windowed on the
// repartition topic's own order (what an engine closing on its partition's
// own watermark does) are caught.
func TestRepartitionModelMatchesRawTopic(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		grace := time.Duration(seed%2) * 600 * time.Millisecond
		t.Run(fmt.Sprintf("seed%d-grace%v", seed, grace), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			isins := testISINs(t, 25)
			const rawPartitions = 4
			var trades []tradeRec
			used := map[string]bool{} // unique event time per ISIN: ties across raw partitions have no common order
			for i := range 4000 {
				tr := tradeRec{partition: int32(rng.Intn(rawPartitions)), isin: isins[rng.Intn(len(isins))], seq: i,
					timestamp: t0 + int64(i)*5 - rng.Int63n(1500)}
				for used[fmt.Sprint(tr.isin, tr.timestamp)] {
					tr.timestamp++
				}
				used[fmt.Sprint(tr.isin, tr.timestamp)] = true
				trades = append(trades, tr)
			}
			c := newCopier(t, trades, rawPartitions, 3)
			for done := false; !done; {
				var chunks []chunk
				for range 1 + rng.Intn(2) {
					chunks = append(chunks, chunk{rng.Intn(rawPartitions), 1 + rng.Intn(400)})
				}
				c.txn(chunks...)
				done = true
				for p := range c.raw {
					done = done && c.next[p] == len(c.raw[p])
				}
			}
			c.idle(0, 1, 2, 3)

			want, late := naive(trades, 2000, grace.Milliseconds())
			s := testSettings()
			s.Grace = grace
			r := c.verify(s, want, false)
			if !r.OK || r.Windows.Matched != int64(len(want)) || r.Input.Late.Watermark != int64(late) || r.Repartition.Late.OwnPartition != int64(late) {
				t.Fatalf("ok=%v matched %d of %d, late %d (own partition %d), want %d; violations %+v examples %+v",
					r.OK, r.Windows.Matched, len(want), r.Input.Late.Watermark, r.Repartition.Late.OwnPartition, late, r.Violations, r.Examples)
			}

			// Windowed in the repartition topic's own order instead.
			byValue := map[string]tradeRec{}
			for _, tr := range trades {
				byValue[string(tr.value())] = tr
			}
			var shuffled []tradeRec
			for q, records := range c.copies {
				for _, rec := range records {
					if rec.Key != nil {
						tr := byValue[string(rec.Value)]
						tr.partition = int32(q)
						shuffled = append(shuffled, tr)
					}
				}
			}
			wrong, wrongLate := naive(shuffled, 2000, grace.Milliseconds())
			r = c.verify(s, wrong, false)
			if wrongLate <= late || r.OK || r.Violations.Mismatches+r.Violations.Gaps == 0 {
				t.Fatalf("%d late in the shuffled order (%d in the raw order): violations %+v", wrongLate, late, r.Violations)
			}
			t.Logf("%d trades, %d late in their raw partitions, %d windows; in the repartition topic's own order %d late: %d mismatches, %d gaps",
				len(trades), late, len(want), wrongLate, r.Violations.Mismatches, r.Violations.Gaps)
		})
	}
}
