package bigdec

import "math/big"

// VWAPExtraDigits is how many digits the VWAP has beyond the price scale.
const VWAPExtraDigits = 4

// Aggregate is the reference model of one ISIN's interval aggregates in one
// window, in math/big: feed it the window's valid, non-late trades in any
// order, then read Headers. The zero value is empty.
type Aggregate struct {
	trades                  int
	openTime, openOffset    int64
	open, high, low         *big.Rat
	volume, turnover        *big.Rat
	priceScale, volumeScale int64
}

// Headers are the aggregates as the trades-2s headers carry them.
type Headers struct {
	Open, High, Low, Volume, VWAP string
}

// Add takes in a trade of price and volume (Value set) with the given event
// time and input offset.
func (a *Aggregate) Add(price, volume Number, eventTime, offset int64) {
	if a.trades == 0 {
		a.openTime, a.openOffset = eventTime, offset
		a.open, a.high, a.low = price.Value, price.Value, price.Value
		a.volume, a.turnover = new(big.Rat), new(big.Rat)
	}
	a.trades++
	if eventTime < a.openTime || eventTime == a.openTime && offset < a.openOffset {
		a.openTime, a.openOffset, a.open = eventTime, offset, price.Value
	}
	if price.Value.Cmp(a.high) > 0 {
		a.high = price.Value
	}
	if price.Value.Cmp(a.low) < 0 {
		a.low = price.Value
	}
	a.volume.Add(a.volume, volume.Value)
	a.turnover.Add(a.turnover, new(big.Rat).Mul(price.Value, volume.Value))
	a.priceScale = max(a.priceScale, price.Scale)
	a.volumeScale = max(a.volumeScale, volume.Scale)
}

// Headers returns the aggregates as text: the prices at the greatest price
// scale of the window, the volume at the greatest volume scale, the VWAP
// (turnover / volume) rounded half-even to the price scale plus
// VWAPExtraDigits. The aggregate must hold a trade.
func (a *Aggregate) Headers() Headers {
	ps := int(a.priceScale)
	return Headers{
		Open:   RoundHalfEven(a.open, ps),
		High:   RoundHalfEven(a.high, ps),
		Low:    RoundHalfEven(a.low, ps),
		Volume: RoundHalfEven(a.volume, int(a.volumeScale)),
		VWAP:   RoundHalfEven(new(big.Rat).Quo(a.turnover, a.volume), ps+VWAPExtraDigits),
	}
}
