package window

import (
	"unsafe"

	"tickcompact/aggregator/decimal"
)

// Aggregate is what happened to one ISIN inside one window: the open, high
// and low price, the volume, and the turnover (the sum of price × volume)
// from which the VWAP follows, over the same trades as the trade count: the
// window's valid, non-late trades. Everything is exact, and none of it
// depends on the order the trades arrive in beyond their offsets, so a replay
// from the checkpoint rebuilds it identically.
//
// A window's prices are written at its price scale, the greatest scale among
// them ("10" and "10.5" give "10.0" and "10.5"); the volume at the greatest
// scale among the volumes; the VWAP at the price scale plus VWAPExtraDigits,
// rounded half-even.
//
// An open window keeps one Aggregate per ISIN beside its entries, and every
// record updates one at random among them: it fits one cache line (64 bytes,
// checked below), the sums kept as int64s until one would overflow.
type Aggregate struct {
	// open, high and low are unscaled prices at openScale, highScale and
	// lowScale.
	open, high, low int64
	// openTime is the event time of the open. Records come in offset order,
	// so of trades with equal event times the first one added has the lowest
	// offset: the open is the earliest by (event time, offset).
	openTime int64
	// volume and turnover are the unscaled sums while big is nil.
	volume, turnover int64
	// big holds the sums once either left int64.
	big *bigSums

	openScale, highScale, lowScale uint8
	// priceScale is the greatest scale among the prices.
	priceScale                 uint8
	volumeScale, turnoverScale uint8
}

// bigSums are an Aggregate's sums once they outgrew int64.
type bigSums struct {
	volume, turnover decimal.Sum
}

// This fails to compile when Aggregate outgrows a cache line.
var _ [64 - unsafe.Sizeof(Aggregate{})]byte

// VWAPExtraDigits is how many digits the VWAP has beyond the price scale.
const VWAPExtraDigits = 4

// start makes a the aggregate of r alone.
func (a *Aggregate) start(r *Record) {
	*a = Aggregate{
		open: r.Price.Unscaled, high: r.Price.Unscaled, low: r.Price.Unscaled,
		openScale: r.Price.Scale, highScale: r.Price.Scale, lowScale: r.Price.Scale, priceScale: r.Price.Scale,
		openTime: r.EventTime,
	}
	a.addSums(r)
}

// add takes r into a.
func (a *Aggregate) add(r *Record) {
	if r.EventTime < a.openTime {
		a.open, a.openScale, a.openTime = r.Price.Unscaled, r.Price.Scale, r.EventTime
	}
	if (decimal.Decimal{Unscaled: a.high, Scale: a.highScale}).Less(r.Price) {
		a.high, a.highScale = r.Price.Unscaled, r.Price.Scale
	}
	if r.Price.Less(decimal.Decimal{Unscaled: a.low, Scale: a.lowScale}) {
		a.low, a.lowScale = r.Price.Unscaled, r.Price.Scale
	}
	a.priceScale = max(a.priceScale, r.Price.Scale)
	a.addSums(r)
}

// addSums adds r's volume and price × volume.
func (a *Aggregate) addSums(r *Record) {
	if a.big == nil {
		volume, vs, ok1 := decimal.AddSmall(a.volume, a.volumeScale, r.Volume)
		turnover, ts, ok2 := decimal.AddProductSmall(a.turnover, a.turnoverScale, r.Price, r.Volume)
		if ok1 && ok2 {
			a.volume, a.volumeScale, a.turnover, a.turnoverScale = volume, vs, turnover, ts
			return
		}
		a.big = &bigSums{volume: decimal.NewSum(a.volume, a.volumeScale), turnover: decimal.NewSum(a.turnover, a.turnoverScale)}
	}
	a.big.volume.Add(r.Volume)
	a.big.turnover.AddProduct(r.Price, r.Volume)
}

// sums returns the volume and the turnover.
func (a *Aggregate) sums() (volume, turnover *decimal.Sum) {
	if a.big != nil {
		return &a.big.volume, &a.big.turnover
	}
	v, t := decimal.NewSum(a.volume, a.volumeScale), decimal.NewSum(a.turnover, a.turnoverScale)
	return &v, &t
}

// AppendOpen appends the open price as decimal text.
func (a *Aggregate) AppendOpen(dst []byte) []byte {
	return decimal.Decimal{Unscaled: a.open, Scale: a.openScale}.Append(dst, a.priceScale)
}

// AppendHigh appends the highest price as decimal text.
func (a *Aggregate) AppendHigh(dst []byte) []byte {
	return decimal.Decimal{Unscaled: a.high, Scale: a.highScale}.Append(dst, a.priceScale)
}

// AppendLow appends the lowest price as decimal text.
func (a *Aggregate) AppendLow(dst []byte) []byte {
	return decimal.Decimal{Unscaled: a.low, Scale: a.lowScale}.Append(dst, a.priceScale)
}

// AppendVolume appends the summed volume as decimal text.
func (a *Aggregate) AppendVolume(dst []byte) []byte {
	volume, _ := a.sums()
	return volume.Append(dst)
}

// AppendVWAP appends the volume-weighted average price, turnover / volume,
// rounded half-even to the price scale plus VWAPExtraDigits. Volumes are
// positive (the parser rejects others), so the volume is never zero.
func (a *Aggregate) AppendVWAP(dst []byte) []byte {
	volume, turnover := a.sums()
	return decimal.AppendQuotient(dst, turnover, volume, a.priceScale+VWAPExtraDigits)
}

// attachAggregates gives each closed entry its aggregate: a copy of the open
// window's, which is emptied for reuse. aggregates is empty when the feature
// is off.
func attachAggregates(entries []Latest, aggregates []Aggregate) {
	if len(aggregates) == 0 {
		return
	}
	closed := append([]Aggregate(nil), aggregates...)
	for i := range entries {
		entries[i].Aggregate = &closed[i]
	}
}
