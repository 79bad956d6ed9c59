// Package window is the aggregator's pure window engine: records and a clock
// in, closed windows out. It imports nothing from Kafka, so every rule of the
// contract's "Windows" section is tested here as arithmetic.
//
// Times are epoch milliseconds. Windows are tumbling and aligned to the Unix
// epoch: a record at t belongs to [t - t mod size, that + size).
package window

import "time"

// Config holds the window rules shared by every partition.
type Config struct {
	// Size is the window length. It must be a positive whole number of
	// milliseconds that divides a day, so windows align with days too.
	Size time.Duration
	// Grace delays closing: a window closes once the watermark reaches its
	// end plus Grace.
	Grace time.Duration
	// IdleTimeout is how long a caught-up partition must see no record before
	// its windows close by wall clock.
	IdleTimeout time.Duration
	// Upstream says the partitions are fed by the sources of a repartition
	// stage (see Progress): windows close on the sources' watermarks and
	// quiet sources, not on the partition's own records.
	Upstream bool
	// Aggregates turns on each closed entry's Aggregate, computed from the
	// records' Price and Volume.
	Aggregates bool
}

// Start returns the start of the window holding event time t (ms).
func (c Config) Start(t int64) int64 {
	size := c.Size.Milliseconds()
	rem := t % size
	if rem < 0 { // times before 1970 still align downwards
		rem += size
	}
	return t - rem
}

// End returns the exclusive end of the window holding event time t (ms).
func (c Config) End(t int64) int64 { return c.Start(t) + c.Size.Milliseconds() }

// closedThroughAt returns the greatest window end that a watermark or clock at
// t has closed: every window ending at or before it has end+grace <= t.
func (c Config) closedThroughAt(t int64) int64 {
	return c.Start(t - c.Grace.Milliseconds())
}

// windowCache remembers the window Config.Start found last. Consecutive
// look-ups mostly fall in the same window, and checking that is much cheaper
// than the 64-bit division Start does.
type windowCache struct {
	start, end int64 // the window [start, end); empty in the zero value
}

// startOf returns cfg.Start(t).
func (c *windowCache) startOf(cfg Config, t int64) int64 {
	if c.start <= t && t < c.end {
		return c.start
	}
	start := cfg.Start(t)
	// Remember the window unless computing it overflowed (times near the
	// ends of int64), so that a hit always means start <= t < start+size.
	if end := start + cfg.Size.Milliseconds(); start <= t && t < end {
		c.start, c.end = start, end
	}
	return start
}
