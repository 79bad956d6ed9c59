package window

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"tickcompact/aggregator/decimal"
	"tickcompact/internal/tools/bigdec"
)

// aggregateText is a's headers as "open/high/low/volume/vwap".
func aggregateText(a *Aggregate) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s", a.AppendOpen(nil), a.AppendHigh(nil), a.AppendLow(nil), a.AppendVolume(nil), a.AppendVWAP(nil))
}

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// randomQuote returns a price and a positive volume at scales 0 to 3, now
// and then negative or zero prices, as feeds of several kinds would send.
func randomQuote(rng *rand.Rand) (price, volume decimal.Decimal) {
	price = decimal.Decimal{Unscaled: int64(rng.Intn(2_000_000)) - 100_000, Scale: uint8(rng.Intn(4))}
	volume = decimal.Decimal{Unscaled: 1 + int64(rng.Intn(100_000)), Scale: uint8(rng.Intn(4))}
	return price, volume
}

// hugeQuote returns a price and a volume near the bounds, at any scale, so
// that sums and products leave int64.
func hugeQuote(rng *rand.Rand) (price, volume decimal.Decimal) {
	price = decimal.Decimal{Unscaled: rng.Int63n(1e18) - 5e17, Scale: uint8(rng.Intn(decimal.MaxScale + 1))}
	volume = decimal.Decimal{Unscaled: 1 + rng.Int63n(1e18-1), Scale: uint8(rng.Intn(decimal.MaxScale + 1))}
	return price, volume
}

func TestAggregateRules(t *testing.T) {
	cfg := Config{Size: 2 * time.Second, Aggregates: true}
	p := NewPartition(cfg, t0)
	base := t0.UnixMilli()
	add := func(id ISIN, at int64, offset int64, price, volume string, want Outcome) {
		t.Helper()
		if got := p.Add(Record{ISIN: id, EventTime: base + at, Offset: offset, Value: []byte(fmt.Sprint(offset)),
			Price: dec(t, price), Volume: dec(t, volume)}, t0); got != want {
			t.Fatalf("offset %d: %v, want %v", offset, got, want)
		}
	}
	add(samsung, 500, 0, "10", "3", Accepted)
	add(samsung, 100, 1, "10.5", "1.5", Accepted) // the earliest event time: the open
	add(samsung, 100, 2, "9.75", "2", Accepted)   // as early, but a later offset
	add(hynix, 200, 3, "100", "1", Accepted)
	add(samsung, 2100, 4, "11", "1", Accepted) // closes the first window
	add(samsung, 1900, 5, "99", "1", Late)     // counted nowhere
	got := emitted(p.TakeClosed())
	want := []string{
		// Prices at the window's greatest price scale (2), the volume at the
		// greatest volume scale (1), the VWAP at 2+4 places:
		// 65.25 / 6.5 = 10.0384615... -> 10.038462.
		rel(0, 2000, "KR7000660001 3 1 100/100/100/1/100.0000"),
		rel(0, 2000, "KR7005930003 0 3 10.50/10.50/9.75/6.5/10.038462"),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("emitted\n%v\nwant\n%v", got, want)
	}
}

func TestAggregatesOffLeaveNone(t *testing.T) {
	p := NewPartition(Config{Size: 2 * time.Second}, t0)
	p.Add(Record{ISIN: samsung, EventTime: t0.UnixMilli(), Price: decimal.Decimal{Unscaled: 1}, Volume: decimal.Decimal{Unscaled: 1}}, t0)
	p.Add(Record{ISIN: samsung, EventTime: t0.UnixMilli() + 2000, Offset: 1}, t0)
	for _, c := range p.TakeClosed() {
		for _, e := range c.Entries {
			if e.Aggregate != nil {
				t.Fatalf("aggregate %s with the feature off", aggregateText(e.Aggregate))
			}
		}
	}
}

// TestAggregatesMatchModel checks the engine's aggregates against a model in
// math/big over the records the engine accepted: random trades, out of
// order, at mixed scales, across windows, with late ones; in every third
// trial near the bounds, so that the sums go through math/big.
func TestAggregatesMatchModel(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	ids := []ISIN{samsung, hynix, isinOf("US0378331005")}
	for trial := 0; trial < 100; trial++ {
		cfg := Config{Size: 2 * time.Second, Grace: time.Duration(rng.Intn(3)) * 300 * time.Millisecond, Aggregates: true}
		p := NewPartition(cfg, t0)
		model := map[string]*bigdec.Aggregate{}
		var closed []Closed
		at := t0.UnixMilli()
		for i := 0; i < 300; i++ {
			at += int64(rng.Intn(100))
			r := Record{ISIN: ids[rng.Intn(len(ids))], EventTime: at - int64(rng.Intn(2500)), Offset: int64(i), Value: []byte(fmt.Sprint(i))}
			r.Price, r.Volume = randomQuote(rng)
			if trial%3 == 0 {
				r.Price, r.Volume = hugeQuote(rng)
			}
			if p.Add(r, t0) == Accepted {
				key := fmt.Sprintf("%d %s", cfg.Start(r.EventTime), r.ISIN)
				if model[key] == nil {
					model[key] = &bigdec.Aggregate{}
				}
				model[key].Add(bigdec.Scaled(r.Price.Unscaled, int(r.Price.Scale)), bigdec.Scaled(r.Volume.Unscaled, int(r.Volume.Scale)), r.EventTime, r.Offset)
			}
			closed = append(closed, p.TakeClosed()...)
		}
		p.MarkCaughtUp()
		p.CloseIdle(time.UnixMilli(at).Add(time.Hour))
		closed = append(closed, p.TakeClosed()...)
		seen := 0
		for _, c := range closed {
			for _, e := range c.Entries {
				key := fmt.Sprintf("%d %s", c.Start, e.ISIN)
				m := model[key]
				if m == nil {
					t.Fatalf("trial %d: %s emitted, the model has no trade there", trial, key)
				}
				seen++
				h := m.Headers()
				want := fmt.Sprintf("%s/%s/%s/%s/%s", h.Open, h.High, h.Low, h.Volume, h.VWAP)
				if got := aggregateText(e.Aggregate); got != want {
					t.Fatalf("trial %d: %s: %s, want %s", trial, key, got, want)
				}
			}
		}
		if seen != len(model) {
			t.Fatalf("trial %d: %d entries emitted, the model has %d", trial, seen, len(model))
		}
	}
}
