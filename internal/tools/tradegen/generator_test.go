package tradegen

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"tickcompact/internal/isin"
)

var testStart = time.Date(2025, 11, 25, 0, 0, 0, 0, time.UTC) // 09:00 KST

func mustGenerator(t *testing.T, opts Options) *Generator {
	t.Helper()
	g, err := NewGenerator(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// tuple is what determinism promises, wall-clock timestamps aside.
type tuple struct {
	isin          string
	price, volume int64
	side          string
	seq           int64
	malformed     Kind
	key           string
}

func tupleOf(r Record) tuple {
	return tuple{r.ISIN, r.Price, r.Volume, r.Side, r.Seq, r.Malformed, string(r.Key)}
}

func TestDeterministic(t *testing.T) {
	opts := Options{Seed: 42, Rate: 800, OpeningSpike: true, MalformedShare: 0.05}
	a, b := mustGenerator(t, opts), mustGenerator(t, opts)
	for i := range 50_000 {
		ra, rb := a.Next(), b.Next()
		if tupleOf(ra) != tupleOf(rb) || ra.Due != rb.Due {
			t.Fatalf("record %d differs: %+v vs %+v", i, tupleOf(ra), tupleOf(rb))
		}
	}

	// With Start, the timestamps follow the schedule and the bytes repeat too.
	opts.Start = testStart
	a, b = mustGenerator(t, opts), mustGenerator(t, opts)
	for i := range 50_000 {
		ra, rb := a.Next(), b.Next()
		if !bytes.Equal(ra.Value, rb.Value) || !ra.Timestamp.Equal(rb.Timestamp) {
			t.Fatalf("record %d differs:\n%s\n%s", i, ra.Value, rb.Value)
		}
	}

	// Another seed, another sequence.
	c := mustGenerator(t, Options{Seed: 43, Rate: 800, OpeningSpike: true, MalformedShare: 0.05})
	a = mustGenerator(t, Options{Seed: 42, Rate: 800, OpeningSpike: true, MalformedShare: 0.05})
	same := 0
	for range 1_000 {
		if tupleOf(a.Next()) == tupleOf(c.Next()) {
			same++
		}
	}
	if same > 100 {
		t.Errorf("seeds 42 and 43 agree on %d of 1000 records", same)
	}
}

func TestTradeJSON(t *testing.T) {
	g := mustGenerator(t, Options{Seed: 1, Start: testStart})
	for range 10_000 {
		rec := g.Next()
		var trade struct {
			ISIN      string `json:"isin"`
			Name      string `json:"name"`
			Market    string `json:"market"`
			Price     int64  `json:"price"`
			PrevClose int64  `json:"prevClose"`
			Volume    int64  `json:"volume"`
			Side      string `json:"side"`
			TradeTime int64  `json:"tradeTime"`
			Seq       int64  `json:"seq"`
		}
		dec := json.NewDecoder(bytes.NewReader(rec.Value))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&trade); err != nil {
			t.Fatalf("seq %d: %v: %s", rec.Seq, err, rec.Value)
		}
		in := g.Instruments()[rec.Instrument]
		switch {
		case trade.ISIN != rec.ISIN || string(rec.Key) != trade.ISIN || !isin.ValidString(trade.ISIN):
			t.Fatalf("seq %d: isin %q, key %q, record ISIN %q", rec.Seq, trade.ISIN, rec.Key, rec.ISIN)
		case trade.Name != in.Name || trade.Market != in.Market || trade.PrevClose != in.PrevClose:
			t.Fatalf("seq %d: instrument fields %+v, want %+v", rec.Seq, trade, in)
		case trade.Price != rec.Price || trade.Volume != rec.Volume || trade.Volume < 1 || trade.Side != rec.Side:
			t.Fatalf("seq %d: trade fields %+v vs record %+v", rec.Seq, trade, rec)
		case trade.Side != "buy" && trade.Side != "sell":
			t.Fatalf("seq %d: side %q", rec.Seq, trade.Side)
		case trade.TradeTime != rec.Timestamp.UnixMilli() || !rec.Timestamp.Equal(testStart.Add(rec.Due).Truncate(time.Millisecond)):
			t.Fatalf("seq %d: tradeTime %d, timestamp %s, due %s", rec.Seq, trade.TradeTime, rec.Timestamp, rec.Due)
		case trade.Seq != rec.Seq:
			t.Fatalf("seq %d: JSON seq %d", rec.Seq, trade.Seq)
		}
	}

	// Field order and compactness, on the contract's example instrument.
	first := mustGenerator(t, Options{Seed: 1, Start: testStart, OpeningSpike: true}).Next()
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(first.Value))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if s, ok := tok.(string); ok && dec.More() && len(keys) < 9 {
			keys = append(keys, s)
			_, _ = dec.Token() // the value
		}
	}
	want := []string{"isin", "name", "market", "price", "prevClose", "volume", "side", "tradeTime", "seq"}
	if first.ISIN != "KR7005930003" {
		t.Errorf("the opening auction's first print is %s, want Samsung Electronics", first.ISIN)
	}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v in %s", keys, want, first.Value)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %v, want %v", keys, want)
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, first.Value); err != nil || !bytes.Equal(compact.Bytes(), first.Value) {
		t.Errorf("value not compact: %s", first.Value)
	}
	t.Logf("first record: %s", first.Value)
}

func TestWallClockAndCustomISINField(t *testing.T) {
	now := time.Date(2025, 11, 25, 0, 0, 1, 234_567_890, time.UTC)
	g := mustGenerator(t, Options{Seed: 1, ISINField: "isinStockCode", Clock: func() time.Time { return now }})
	rec := g.Next()
	if want := now.Truncate(time.Millisecond); !rec.Timestamp.Equal(want) {
		t.Errorf("timestamp %s, want the clock's %s", rec.Timestamp, want)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Value, &m); err != nil {
		t.Fatal(err)
	}
	if m["isinStockCode"] != rec.ISIN || m["isin"] != nil {
		t.Errorf("custom ISIN field not used: %s", rec.Value)
	}
}

func TestPopularityIsSkewed(t *testing.T) {
	g := mustGenerator(t, Options{Seed: 7, Start: testStart})
	counts := make(map[int]int)
	const n = 100_000
	for range n {
		counts[g.Next().Instrument]++
	}
	top := float64(counts[0]) / n
	tail := 0
	for i := 450; i < 900; i++ {
		tail += counts[i]
	}
	// Zipf(1) over 900 names: the top name about 13.5% of events, the bottom
	// half about 9.4% between them; sweeps add noise.
	if top < 0.08 || top > 0.20 {
		t.Errorf("top instrument has %.1f%% of trades", 100*top)
	}
	if share := float64(tail) / n; share < 0.05 || share > 0.15 {
		t.Errorf("bottom half has %.1f%% of trades", 100*share)
	}
	t.Logf("top instrument %.1f%%, bottom 450 %.1f%%, distinct %d", 100*top, 100*float64(tail)/n, len(counts))
}

func TestOptionsValidate(t *testing.T) {
	bad := []Options{
		{Instruments: -1}, {Instruments: MaxInstruments + 1}, {Count: -1}, {Duration: -time.Second},
		{MalformedShare: -0.1}, {MalformedShare: 1.5}, {FlushTimeout: -1},
	}
	for _, o := range bad {
		if _, err := NewGenerator(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("NewGenerator(%+v) error %v, want ErrInvalidOptions", o, err)
		}
	}
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}
