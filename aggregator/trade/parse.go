// Package trade turns a raw trade record into what the window engine needs (its
// ISIN and event time, and its price and volume when the interval aggregates
// are on) or into a reason for the dead-letter queue. Only those fields are
// read; every other field is opaque and forwarded as the original bytes.
package trade

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"tickcompact/aggregator/decimal"
	"tickcompact/aggregator/window"
	"tickcompact/internal/isin"
)

// Reason is why a record was rejected; its text is the dlq-reason header.
type Reason string

// The rejection reasons of the contract.
const (
	InvalidJSON Reason = "invalid-json"
	MissingISIN Reason = "missing-isin"
	InvalidISIN Reason = "invalid-isin"
	InvalidTime Reason = "invalid-time"
	FutureTime  Reason = "future-time"
	// InvalidPrice: the price or volume field is missing, not a number, out
	// of range, or (the volume) not positive. Only while the interval
	// aggregates are on (Fields.Price and Fields.Volume set).
	InvalidPrice Reason = "invalid-price"
)

// Reasons lists every Reason, for metrics that should show zeros.
var Reasons = []Reason{InvalidJSON, MissingISIN, InvalidISIN, InvalidTime, FutureTime, InvalidPrice}

// Rejection is a record the aggregator will not use, with why.
type Rejection struct {
	Reason Reason
	Err    error
}

func (r *Rejection) Error() string { return fmt.Sprintf("%s: %v", r.Reason, r.Err) }

// Fields says where the parser finds what it needs.
type Fields struct {
	// ISIN is the name of the top-level field holding the ISIN.
	ISIN string
	// Time, when set, names the top-level field holding the event time as
	// epoch milliseconds (a number) or an RFC 3339 string. Empty means the
	// Kafka record timestamp is the event time.
	Time string
	// MaxFuture is how far ahead of the wall clock an event time may be.
	MaxFuture time.Duration
	// Price and Volume, when both are set, name the top-level fields holding
	// the trade's price and volume (JSON numbers or numeric strings): the
	// interval aggregates are on, and a trade without a usable price or
	// volume is rejected as InvalidPrice. Either empty: neither is read.
	Price, Volume string
}

// Aggregates reports whether the interval aggregates are on: both the price
// and the volume field are named.
func (f Fields) Aggregates() bool { return f.Price != "" && f.Volume != "" }

// Trade is what the window engine needs of a valid trade.
type Trade struct {
	ISIN window.ISIN
	// EventTime is in epoch milliseconds.
	EventTime int64
	// Price and Volume are read only when Fields.Aggregates; the volume is
	// then positive.
	Price, Volume decimal.Decimal
}

// Parser extracts trades. After warm-up, parsing a valid record with the
// event time from the record timestamp or an epoch-milliseconds field, and
// the price and volume as numbers, does not allocate. A Parser holds no state
// between calls.
type Parser struct {
	fields Fields
	want   wanted
}

// NewParser returns a parser for fields.
func NewParser(fields Fields) *Parser {
	return &Parser{fields: fields, want: newWanted(fields.ISIN, fields.Time, fields.Price, fields.Volume)}
}

// Parse validates value and returns the trade in it. recordTime is the Kafka
// record timestamp (epoch ms) and now the wall clock, which bounds event
// times from above. A rejection is returned as *Rejection. The checks run in
// this order, and a record with several faults gets the first one's reason:
// JSON, ISIN, event time, price and volume, then the event time against the
// wall clock, the one check whose verdict depends on when it runs.
func (p *Parser) Parse(value []byte, recordTime int64, now time.Time) (Trade, *Rejection) {
	// The Trade is returned from this one exit: returned from each of
	// parse's, it was copied at every one of them.
	var t Trade
	rej := p.parse(value, recordTime, now, &t)
	return t, rej
}

// parse is Parse, filling in t.
func (p *Parser) parse(value []byte, recordTime int64, now time.Time, t *Trade) *Rejection {
	var got picked
	if err := scanTrade(value, &p.want, &got); err != nil {
		return &Rejection{Reason: InvalidJSON, Err: err}
	}
	switch got.isin.kind {
	case kindNone, kindNull:
		return &Rejection{Reason: MissingISIN, Err: fmt.Errorf("no %q field", p.fields.ISIN)}
	case kindString:
	default:
		return &Rejection{Reason: InvalidISIN, Err: fmt.Errorf("field %q is a JSON %s, not a string", p.fields.ISIN, got.isin.kind)}
	}
	raw := got.isin.raw
	if got.isin.escaped {
		s, err := unescape(raw)
		if err != nil {
			return &Rejection{Reason: InvalidISIN, Err: err}
		}
		raw = []byte(s)
	}
	if !isin.Valid(raw) {
		return &Rejection{Reason: InvalidISIN, Err: fmt.Errorf("%q is not an ISO 6166 ISIN with a valid check digit", clip(raw))}
	}
	copy(t.ISIN[:], raw)

	t.EventTime = recordTime
	if p.fields.Time != "" {
		var err error
		t.EventTime, err = p.eventTime(got.time)
		if err != nil {
			return &Rejection{Reason: InvalidTime, Err: err}
		}
	} else if recordTime <= 0 {
		return &Rejection{Reason: InvalidTime, Err: fmt.Errorf("record timestamp %d is not a valid event time", recordTime)}
	}
	if p.want.price != "" {
		if rej := p.quote(&got, t); rej != nil {
			return rej
		}
	}
	if limit := p.futureLimit(now); t.EventTime > limit {
		return &Rejection{Reason: FutureTime, Err: fmt.Errorf("event time %s is more than %v ahead of the wall clock %s",
			time.UnixMilli(t.EventTime).UTC().Format(time.RFC3339Nano), p.fields.MaxFuture, now.UTC().Format(time.RFC3339Nano))}
	}
	return nil
}

// futureLimit returns now.Add(MaxFuture).UnixMilli(), the greatest event
// time accepted at now: in int64 nanoseconds while they cannot overflow (a
// clock between 1970 and 2191, a MaxFuture below 63 years), which spares
// Add's monotonic-clock bookkeeping.
func (p *Parser) futureLimit(now time.Time) int64 {
	if sec := now.Unix(); sec >= 0 && sec < 7e9 && p.fields.MaxFuture <= 2e18 {
		return (now.UnixNano() + int64(p.fields.MaxFuture)) / 1e6
	}
	return now.Add(p.fields.MaxFuture).UnixMilli()
}

// quote reads the price and volume into t.
func (p *Parser) quote(got *picked, t *Trade) *Rejection {
	if got.price.kind == kindNumber && got.volume.kind == kindNumber {
		// Two JSON numbers, as most feeds send them: no names needed unless
		// one of them fails.
		price, perr := decimal.Parse(got.price.raw)
		volume, verr := decimal.Parse(got.volume.raw)
		if perr == nil && verr == nil && volume.Unscaled > 0 {
			t.Price, t.Volume = price, volume
			return nil
		}
	}
	var err error
	if t.Price, err = number(p.fields.Price, got.price); err != nil {
		return &Rejection{Reason: InvalidPrice, Err: err}
	}
	if t.Volume, err = number(p.fields.Volume, got.volume); err != nil {
		return &Rejection{Reason: InvalidPrice, Err: err}
	}
	if t.Volume.Sign() <= 0 {
		return &Rejection{Reason: InvalidPrice, Err: fmt.Errorf("field %q = %s: a volume must be positive", p.fields.Volume, t.Volume)}
	}
	return nil
}

// number reads the field named name as a decimal: a JSON number, or a string
// holding one.
func number(name string, f field) (decimal.Decimal, error) {
	raw := f.raw
	switch f.kind {
	case kindNone, kindNull:
		return decimal.Decimal{}, fmt.Errorf("no %q field", name)
	case kindNumber:
	case kindString:
		if f.escaped {
			s, err := unescape(raw)
			if err != nil {
				return decimal.Decimal{}, fmt.Errorf("field %q: %w", name, err)
			}
			raw = []byte(s)
		}
	default:
		return decimal.Decimal{}, fmt.Errorf("field %q is a JSON %s, want a number or a numeric string", name, f.kind)
	}
	d, err := decimal.Parse(raw)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("field %q = %q: %w", name, clip(raw), err)
	}
	return d, nil
}

// maxTime bounds event times to what time.Time and the headers represent
// sanely: year 9999.
const maxTime = 253402300799999

// eventTime reads the time field: epoch milliseconds or an RFC 3339 string.
func (p *Parser) eventTime(f field) (int64, error) {
	name := p.fields.Time
	switch f.kind {
	case kindNone:
		return 0, fmt.Errorf("no %q field", name)
	case kindNumber:
		ms, ok := wholeNumber(f.raw)
		if !ok || ms <= 0 || ms > maxTime {
			return 0, fmt.Errorf("field %q = %s is not a positive whole number of epoch milliseconds", name, clip(f.raw))
		}
		return ms, nil
	case kindString:
		s := string(f.raw)
		if f.escaped {
			var err error
			if s, err = unescape(f.raw); err != nil {
				return 0, fmt.Errorf("field %q: %w", name, err)
			}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("field %q: %w", name, err)
		}
		ms := t.UnixMilli()
		if ms <= 0 || ms > maxTime {
			return 0, fmt.Errorf("field %q = %q is out of range", name, clip(f.raw))
		}
		return ms, nil
	default:
		return 0, fmt.Errorf("field %q is a JSON %s, want a number or an RFC 3339 string", name, f.kind)
	}
}

// wholeNumber returns the integer a JSON number denotes, when it denotes one
// that fits: plain digits directly, other forms (1.7e12, 5.0) through float
// parsing.
func wholeNumber(raw []byte) (int64, bool) {
	var n int64
	plain := len(raw) > 0 && len(raw) <= 18
	for _, c := range raw {
		if c < '0' || c > '9' {
			plain = false
			break
		}
		n = n*10 + int64(c-'0')
	}
	if plain {
		return n, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxTime {
		return 0, false
	}
	return int64(f), true
}

// clip shortens hostile values before they go into error headers and logs.
func clip(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

// ErrRejected is matched by every *Rejection through errors.Is.
var ErrRejected = errors.New("trade rejected")

// Is lets errors.Is(rejection, ErrRejected) hold.
func (r *Rejection) Is(target error) bool { return target == ErrRejected }
