// Package tradegen generates a synthetic trade feed modelled on the Korea
// Exchange: a fixed universe of KRX-style instruments, prices walking on the
// KRX tick grid, bursty popularity-weighted arrivals with an opening-auction
// spike, and an optional share of malformed records that exercise every DLQ
// reason of the aggregator. Generation is deterministic given a seed; only
// Produce (producer.go) touches Kafka.
package tradegen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
)

// Options configure a Generator and Produce. The zero value is valid: 900
// instruments, flat out, no limit, no malformed records, no opening spike.
type Options struct {
	// Seed selects the sequence. The same Seed and Options give the same
	// sequence of (ISIN, price, volume, side, seq, malformed kind).
	Seed int64
	// Instruments is the universe size; 0 means DefaultInstruments, at most
	// MaxInstruments.
	Instruments int
	// Rate is the average rate of the continuous trading session in trades per second.
	// Zero or negative means flat out: Produce does not pace, and the schedule
	// (Record.Due) runs at DefaultRate.
	Rate float64
	// Count stops Produce after this many records; 0 means no limit.
	Count int64
	// Duration stops Produce once this much time has passed: schedule time
	// when pacing (so the records are the same however slow the broker is),
	// wall-clock time when flat out. 0 means no limit.
	Duration time.Duration
	// MalformedShare is the fraction (0..1) of records that are malformed; see
	// Variants for which ones and how.
	MalformedShare float64
	// OpeningSpike starts the feed with the opening auction (one print per
	// instrument, up to 2,000, at time zero) and a continuous trading session whose
	// intensity starts six times higher and decays within seconds.
	OpeningSpike bool
	// ISINField is the JSON field holding the ISIN; "" means "isin".
	ISINField string
	// Unkeyed makes Produce send the records without a key, so they spread
	// over the partitions at random, as on a raw topic not keyed by ISIN
	// (what the aggregator's input.repartition is for).
	Unkeyed bool
	// Clock stamps records with the time they are generated; nil means
	// time.Now. Ignored when Start is set.
	Clock func() time.Time
	// Start, when not zero, stamps each record with Start + Record.Due instead
	// of the clock: timestamps then follow the schedule exactly and are part of
	// the deterministic sequence (for tests, and for backfills produced flat out
	// whose event times still look like a market).
	Start time.Time
	// FlushTimeout bounds how long Produce waits for outstanding deliveries
	// when it stops; 0 means 10 seconds.
	FlushTimeout time.Duration
}

// ErrInvalidOptions is wrapped by every error of Options.Validate.
var ErrInvalidOptions = errors.New("tradegen: invalid options")

// Validate checks the options without any I/O. Its errors name the field.
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Instruments < 0 || o.Instruments > MaxInstruments:
		return bad("Instruments must be between 0 and %d, got %d", MaxInstruments, o.Instruments)
	case math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return bad("Rate must be a finite number, got %v", o.Rate)
	case o.Count < 0:
		return bad("Count must not be negative, got %d", o.Count)
	case o.Duration < 0:
		return bad("Duration must not be negative, got %s", o.Duration)
	case !(o.MalformedShare >= 0 && o.MalformedShare <= 1):
		return bad("MalformedShare must be between 0 and 1, got %v", o.MalformedShare)
	case o.FlushTimeout < 0:
		return bad("FlushTimeout must not be negative, got %s", o.FlushTimeout)
	}
	return nil
}

// Record is one generated Kafka record and what it stands for.
type Record struct {
	// Key is the ISIN as written in the value (the bad one for
	// KindInvalidISIN); for every other record it equals ISIN.
	Key []byte
	// Value is the trade as one compact JSON object, or the malformed bytes.
	Value []byte
	// Timestamp is the record timestamp, millisecond precision; `tradeTime` in
	// the value is Timestamp in epoch milliseconds.
	Timestamp time.Time
	// Due is when the record is scheduled, measured from the open.
	Due time.Duration
	// Seq numbers the records from 1; the value's `seq` field.
	Seq int64
	// ISIN is the instrument's valid ISIN, whatever the value says.
	ISIN string
	// Instrument is the index of the instrument in Generator.Instruments.
	Instrument int
	// Price, PrevClose, Volume and Side are the trade's fields ("buy" or "sell":
	// the aggressor's side).
	Price, PrevClose, Volume int64
	Side                     string
	// Malformed is "" for a valid record, otherwise the DLQ reason the
	// aggregator should give it; MalformedDetail names the variant.
	Malformed       Kind
	MalformedDetail string
}

// Generator produces the deterministic trade sequence. It is not safe for
// concurrent use.
type Generator struct {
	opts        Options
	instruments []Instrument
	cumWeight   []float64 // Zipf popularity, cumulative, last = 1
	last        []int64   // last traded price per instrument
	trades      *rand.Rand
	corruption  *rand.Rand
	schedule    *schedule
	seq         int64
	auctionNext int // next instrument to print in the opening auction
	auctionEnd  int
	sweep       sweep // the event being filled
}

// sweep is an arrival event that fills several trades at one instant.
type sweep struct {
	instrument int
	side       string
	remaining  int
	due        float64
}

// NewGenerator returns a generator for opts, or an error wrapping
// ErrInvalidOptions.
func NewGenerator(opts Options) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.ISINField == "" {
		opts.ISINField = "isin"
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	rate := opts.Rate
	if rate <= 0 {
		rate = DefaultRate
	}
	seed := uint64(opts.Seed)
	g := &Generator{
		opts:        opts,
		instruments: Universe(opts.Instruments),
		trades:      rand.New(rand.NewPCG(seed, 0x7472616465)),     // "trade"
		corruption:  rand.New(rand.NewPCG(seed, 0x6d616c666f726d)), // "malform"
	}
	scheduleRNG := rand.New(rand.NewPCG(seed, 0x736368656475)) // "schedu"
	g.schedule = newSchedule(scheduleRNG, rate, opts.OpeningSpike)
	g.cumWeight = zipfCumulative(len(g.instruments))
	g.last = make([]int64, len(g.instruments))
	for i, in := range g.instruments {
		g.last[i] = in.PrevClose
	}
	if opts.OpeningSpike {
		g.auctionEnd = min(len(g.instruments), maxAuctionPrints)
	}
	return g, nil
}

// Instruments returns the generator's universe. Do not modify it.
func (g *Generator) Instruments() []Instrument { return g.instruments }

// LastPrice returns the last price the generator emitted for instrument i
// (its previous close before the first trade).
func (g *Generator) LastPrice(i int) int64 { return g.last[i] }

// NextDue returns the Due of the record the next call to Next returns, so a
// producer can wait for it before stamping the record.
func (g *Generator) NextDue() time.Duration {
	switch {
	case g.auctionNext < g.auctionEnd:
		return 0
	case g.sweep.remaining > 0:
		return seconds(g.sweep.due)
	default:
		return seconds(g.schedule.peek())
	}
}

// Next returns the next record. The sequence is endless; limits are the
// caller's (Produce applies Options.Count and Options.Duration).
func (g *Generator) Next() Record {
	var (
		instrument int
		price      int64
		volumeMult = 1.0
		side       string
		due        float64
	)
	switch {
	case g.auctionNext < g.auctionEnd:
		instrument = g.auctionNext
		g.auctionNext++
		price = g.openingPrice(instrument)
		side = g.side()
		volumeMult = 20 // the auction matches a morning's worth of orders
	case g.sweep.remaining > 0:
		instrument, side, due = g.sweep.instrument, g.sweep.side, g.sweep.due
		g.sweep.remaining--
		price = g.walk(instrument, side, 1) // a sweep takes the next level
	default:
		due = g.schedule.next()
		instrument = g.pickInstrument()
		side = g.side()
		price = g.walk(instrument, side, 0.3)
		if g.trades.Float64() < sweepChance {
			g.sweep = sweep{
				instrument: instrument,
				side:       side,
				remaining:  sweepMinTrades - 1 + g.trades.IntN(sweepMaxTrades-sweepMinTrades+1),
				due:        due,
			}
		}
	}
	g.last[instrument] = price
	g.seq++
	in := &g.instruments[instrument]

	var ts time.Time
	if g.opts.Start.IsZero() {
		ts = g.opts.Clock()
	} else {
		ts = g.opts.Start.Add(seconds(due))
	}
	ts = ts.Truncate(time.Millisecond)

	fields := tradeFields{
		isinField: g.opts.ISINField,
		isin:      in.ISIN,
		name:      in.Name,
		market:    in.Market,
		price:     price,
		prevClose: in.PrevClose,
		volume:    g.volume(price, volumeMult),
		side:      side,
		tradeTime: ts.UnixMilli(),
		seq:       g.seq,
	}
	rec := Record{
		Key:        []byte(in.ISIN),
		Value:      fields.appendJSON(make([]byte, 0, 192)),
		Timestamp:  ts,
		Due:        seconds(due),
		Seq:        g.seq,
		ISIN:       in.ISIN,
		Instrument: instrument,
		Price:      price,
		PrevClose:  in.PrevClose,
		Volume:     fields.volume,
		Side:       side,
	}
	if k := malformedOrdinal(g.seq, g.opts.MalformedShare); k >= 0 {
		breakRecord(&rec, fields, Variants[k%int64(len(Variants))], g.corruption)
	}
	return rec
}

func (g *Generator) side() string {
	if g.trades.IntN(2) == 0 {
		return "buy"
	}
	return "sell"
}

// pickInstrument draws an instrument by Zipf popularity.
func (g *Generator) pickInstrument() int {
	u := g.trades.Float64()
	i := sort.SearchFloat64s(g.cumWeight, u)
	return min(i, len(g.cumWeight)-1)
}

// walk moves instrument's last price one tick in the aggressor's direction
// with probability moveChance, within the day's price limits.
func (g *Generator) walk(instrument int, side string, moveChance float64) int64 {
	p := g.last[instrument]
	if g.trades.Float64() >= moveChance {
		return p
	}
	lower, upper := priceLimits(g.instruments[instrument].PrevClose)
	if side == "buy" {
		return min(tickUp(p), upper)
	}
	return max(tickDown(p), lower)
}

// openingPrice is the auction's uncrossing price: the previous close moved by
// a gap of about 1%.
func (g *Generator) openingPrice(instrument int) int64 {
	prev := g.instruments[instrument].PrevClose
	lower, upper := priceLimits(prev)
	gap := float64(prev) * 0.01 * g.trades.NormFloat64()
	p := floorToTick(prev + int64(gap))
	return min(max(p, lower), upper)
}

// volume draws a trade size: a log-normal trade value around two million won,
// divided by the price, at least one share.
func (g *Generator) volume(price int64, mult float64) int64 {
	value := 2e6 * math.Exp(1.2*g.trades.NormFloat64()) * mult
	return max(1, int64(value/float64(price)))
}

// zipfCumulative returns the cumulative Zipf(1) weights of n ranks.
func zipfCumulative(n int) []float64 {
	cum := make([]float64, n)
	sum := 0.0
	for i := range cum {
		sum += 1 / float64(i+1)
		cum[i] = sum
	}
	for i := range cum {
		cum[i] /= sum
	}
	return cum
}

// tradeFields is the content of one trade object.
type tradeFields struct {
	isinField     string
	isin          string
	omitISIN      bool
	name, market  string
	price         int64
	priceText     string // when set, price is written as this string
	prevClose     int64
	volume        int64
	side          string
	tradeTime     int64
	tradeTimeText string // when set, tradeTime is written as this string
	seq           int64
}

// appendJSON appends the trade as a compact JSON object, fields in a fixed
// order.
func (f *tradeFields) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if !f.omitISIN {
		b = appendJSONString(b, f.isinField)
		b = append(b, ':')
		b = appendJSONString(b, f.isin)
		b = append(b, ',')
	}
	b = append(b, `"name":`...)
	b = appendJSONString(b, f.name)
	b = append(b, `,"market":`...)
	b = appendJSONString(b, f.market)
	b = append(b, `,"price":`...)
	if f.priceText != "" {
		b = appendJSONString(b, f.priceText)
	} else {
		b = strconv.AppendInt(b, f.price, 10)
	}
	b = append(b, `,"prevClose":`...)
	b = strconv.AppendInt(b, f.prevClose, 10)
	b = append(b, `,"volume":`...)
	b = strconv.AppendInt(b, f.volume, 10)
	b = append(b, `,"side":`...)
	b = appendJSONString(b, f.side)
	b = append(b, `,"tradeTime":`...)
	if f.tradeTimeText != "" {
		b = appendJSONString(b, f.tradeTimeText)
	} else {
		b = strconv.AppendInt(b, f.tradeTime, 10)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, f.seq, 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. s is valid UTF-8; only quotes,
// backslashes and control characters need escaping.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
