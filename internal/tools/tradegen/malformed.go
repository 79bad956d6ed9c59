package tradegen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Kind names why a malformed record is malformed. The values are the
// aggregator's DLQ reasons (the `dlq-reason` header of `trades.dlq`).
type Kind string

// The kinds of malformed record, in the order the generator cycles through
// their variants (see Variants).
const (
	// KindInvalidJSON: the value is a truncated trade object or random bytes.
	KindInvalidJSON Kind = "invalid-json"
	// KindMissingISIN: a well-formed trade object without the ISIN field.
	KindMissingISIN Kind = "missing-isin"
	// KindInvalidISIN: the ISIN field is lower case, has a wrong check digit,
	// or has the wrong length. The record key carries the same bad ISIN.
	KindInvalidISIN Kind = "invalid-isin"
	// KindInvalidTime: `tradeTime` is a string that is not RFC 3339. The record
	// timestamp is fine, so only an aggregator configured with
	// input.time_field=tradeTime rejects it; otherwise it is a valid trade.
	KindInvalidTime Kind = "invalid-time"
	// KindFutureTime: the record timestamp and `tradeTime` are one hour ahead.
	KindFutureTime Kind = "future-time"
	// KindInvalidPrice: `price` is a string that is not a number (the price
	// followed by its currency). Only an aggregator with the interval
	// aggregates on (input.price_field=price, input.volume_field=volume)
	// rejects it; otherwise it is a valid trade.
	KindInvalidPrice Kind = "invalid-price"
)

// FutureSkew is how far ahead a KindFutureTime record's times are.
const FutureSkew = time.Hour

// Variant is one way of breaking a record.
type Variant struct {
	Kind   Kind
	Detail string
}

// Variants lists the ways of breaking a record, in the order malformed records
// cycle through them: the k-th malformed record (counting from 0) is broken
// the Variants[k%len(Variants)] way.
var Variants = []Variant{
	{KindInvalidJSON, "truncated"},
	{KindMissingISIN, "no-isin-field"},
	{KindInvalidISIN, "lower-case"},
	{KindInvalidTime, "not-rfc3339"},
	{KindFutureTime, "one-hour-ahead"},
	{KindInvalidJSON, "random-bytes"},
	{KindInvalidISIN, "wrong-check-digit"},
	{KindInvalidISIN, "wrong-length"},
	{KindInvalidPrice, "price-with-currency"},
}

// malformedOrdinal returns k >= 0 when the seq-th record (seq from 1) is the
// k-th malformed one, or -1 when it is valid. The malformed records are spread
// evenly: after n records exactly floor(n*share) of them were malformed.
func malformedOrdinal(seq int64, share float64) int64 {
	if share <= 0 {
		return -1
	}
	now := int64(math.Floor(float64(seq) * share))
	before := int64(math.Floor(float64(seq-1) * share))
	if now == before {
		return -1
	}
	return now - 1
}

// ExpectedMalformed returns how many records of each kind a generator with the
// given MalformedShare breaks among its first n records.
func ExpectedMalformed(n int64, share float64) map[Kind]int64 {
	out := make(map[Kind]int64)
	if share <= 0 || n <= 0 {
		return out
	}
	total := int64(math.Floor(float64(n) * share))
	cycles, rest := total/int64(len(Variants)), total%int64(len(Variants))
	for i, v := range Variants {
		out[v.Kind] += cycles
		if int64(i) < rest {
			out[v.Kind]++
		}
	}
	return out
}

// breakRecord rewrites rec the v way. fields describes the valid trade rec
// carries; rng is the generator's corruption stream, separate from the trade
// stream so the trades do not depend on the malformed share.
func breakRecord(rec *Record, fields tradeFields, v Variant, rng *rand.Rand) {
	rec.Malformed = v.Kind
	rec.MalformedDetail = v.Detail
	switch v.Detail {
	case "truncated":
		// Any strict prefix of an object is not valid JSON.
		rec.Value = rec.Value[:1+rng.IntN(len(rec.Value)-1)]
	case "random-bytes":
		junk := make([]byte, 8+rng.IntN(32))
		for i := range junk {
			junk[i] = byte(rng.UintN(256))
		}
		junk[0] |= 0x80 // no JSON text starts with a byte >= 0x80
		rec.Value = junk
	case "no-isin-field":
		fields.omitISIN = true
		rec.Value = fields.appendJSON(nil)
	case "lower-case":
		fields.isin = strings.ToLower(fields.isin)
		rec.Key, rec.Value = []byte(fields.isin), fields.appendJSON(nil)
	case "wrong-check-digit":
		last := fields.isin[len(fields.isin)-1]
		fields.isin = fields.isin[:len(fields.isin)-1] + string('0'+(last-'0'+1)%10)
		rec.Key, rec.Value = []byte(fields.isin), fields.appendJSON(nil)
	case "wrong-length":
		fields.isin = fields.isin[:len(fields.isin)-1]
		rec.Key, rec.Value = []byte(fields.isin), fields.appendJSON(nil)
	case "not-rfc3339":
		// Day-first with a space and no zone: what a careless feed handler writes.
		fields.tradeTimeText = rec.Timestamp.UTC().Format("02/01/2006 15:04:05.000")
		rec.Value = fields.appendJSON(nil)
	case "price-with-currency":
		fields.priceText = strconv.FormatInt(fields.price, 10) + " KRW"
		rec.Value = fields.appendJSON(nil)
	case "one-hour-ahead":
		rec.Timestamp = rec.Timestamp.Add(FutureSkew)
		fields.tradeTime = rec.Timestamp.UnixMilli()
		rec.Value = fields.appendJSON(nil)
	default:
		panic("tradegen: unknown malformed variant " + v.Detail)
	}
}
