package tradegen

// TickSize returns the KRX tick size in won for a price in won (KOSPI, KOSDAQ
// and KONEX alike, since 25 January 2023).
func TickSize(price int64) int64 {
	switch {
	case price < 2_000:
		return 1
	case price < 5_000:
		return 5
	case price < 20_000:
		return 10
	case price < 50_000:
		return 50
	case price < 200_000:
		return 100
	case price < 500_000:
		return 500
	default:
		return 1_000
	}
}

// OnTickGrid reports whether price is a positive multiple of its tick size.
func OnTickGrid(price int64) bool {
	return price > 0 && price%TickSize(price) == 0
}

// floorToTick returns the greatest grid price not above p (at least 1).
func floorToTick(p int64) int64 {
	if p < 1 {
		return 1
	}
	return p - p%TickSize(p)
}

// ceilToTick returns the least grid price not below p. Every band boundary is
// a multiple of the tick below it, so rounding up never leaves the grid.
func ceilToTick(p int64) int64 {
	if p < 1 {
		return 1
	}
	if r := p % TickSize(p); r != 0 {
		return p - r + TickSize(p)
	}
	return p
}

// tickUp is the next grid price above p, which is on the grid.
func tickUp(p int64) int64 { return p + TickSize(p) }

// tickDown is the next grid price below p, which is on the grid: the step is
// the tick of the band just below p, so 5,000 steps down to 4,995.
func tickDown(p int64) int64 {
	if p <= 1 {
		return 1
	}
	return p - TickSize(p-1)
}

// priceLimits returns the day's lowest and highest allowed prices: ±30% of the
// previous close, rounded inwards onto the grid.
func priceLimits(prevClose int64) (lower, upper int64) {
	return ceilToTick(prevClose * 7 / 10), floorToTick(prevClose * 13 / 10)
}
