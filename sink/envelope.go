package sink

import (
	"strconv"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/envelope"
	"tickcompact/internal/headers"
)

// The trades-2s headers an envelope carries besides window-end.
const (
	WindowStartHeader = headers.WindowStart
	TradeCountHeader  = headers.TradeCount
)

// aggregateHeaders maps the optional interval-aggregate headers of trades-2s
// to their envelope fields; a header that is absent is left out.
var aggregateHeaders = []struct{ header, field string }{
	{headers.WindowOpen, "open"},
	{headers.WindowHigh, "high"},
	{headers.WindowLow, "low"},
	{headers.WindowVolume, "volume"},
	{headers.WindowVWAP, "vwap"},
}

// envelopeEncoder turns records into envelopes, reusing its scratch space
// between records; it is used by the consumer goroutine alone.
type envelopeEncoder struct {
	env envelope.Envelope
}

// encode returns the envelope of msg, whose update parseRecord made, in a
// new slice (the batch holds it until Redis acknowledged), or the reason
// and detail why the record cannot have one.
func (e *envelopeEncoder) encode(msg *kafka.Message, u Update) (value []byte, reason, detail string) {
	env := &e.env
	*env = envelope.Envelope{ISIN: u.ISIN, WindowEnd: u.WindowEnd, Aggregates: env.Aggregates[:0], Trade: msg.Value}
	var haveStart, haveCount bool
	for _, h := range msg.Headers {
		switch h.Key {
		case WindowStartHeader:
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil || v < 0 || v > u.WindowEnd {
				return nil, reasonBadEnvelopeHeader, WindowStartHeader + " header " + strconv.Quote(truncate(h.Value)) + " is not epoch milliseconds before the window end"
			}
			env.WindowStart, haveStart = v, true
		case TradeCountHeader:
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil || v < 1 {
				return nil, reasonBadEnvelopeHeader, TradeCountHeader + " header " + strconv.Quote(truncate(h.Value)) + " is not a positive count"
			}
			env.TradeCount, haveCount = v, true
		default:
			for _, a := range aggregateHeaders {
				if h.Key == a.header {
					if envelope.CheckNumber(h.Value) != nil {
						return nil, reasonBadEnvelopeHeader, a.header + " header " + strconv.Quote(truncate(h.Value)) + " is not a decimal number"
					}
					env.Aggregates = append(env.Aggregates, envelope.Aggregate{Name: a.field, Number: h.Value})
				}
			}
		}
	}
	switch {
	case !haveStart:
		return nil, reasonBadEnvelopeHeader, "no " + WindowStartHeader + " header"
	case !haveCount:
		return nil, reasonBadEnvelopeHeader, "no " + TradeCountHeader + " header"
	}
	value = envelope.Append(make([]byte, 0, len(msg.Value)+96+24*len(env.Aggregates)), env)
	clear(env.Aggregates) // do not hold the record's headers
	return value, "", ""
}
