package aggregator

import (
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/headers"
)

// The output record headers of the contract, by the names internal/headers
// gives them.
const (
	HeaderWindowStart = headers.WindowStart
	HeaderWindowEnd   = headers.WindowEnd
	HeaderTradeCount  = headers.TradeCount
)

// The interval aggregates' headers (the contract's additions), present when
// input.price_field and input.volume_field are set: decimal text over the
// window's valid, non-late trades of the ISIN (window.Aggregate has the
// rules).
const (
	HeaderWindowOpen   = headers.WindowOpen
	HeaderWindowHigh   = headers.WindowHigh
	HeaderWindowLow    = headers.WindowLow
	HeaderWindowVolume = headers.WindowVolume
	HeaderWindowVWAP   = headers.WindowVWAP
)

// Output record headers added to the contract's: how the window closed and
// where in the input, so that an audit (cmd/verify) can recompute every
// record exactly, including windows closed by wall clock, whose timing the
// topics do not otherwise record.
const (
	// HeaderClosedBy is ClosedByWatermark or ClosedByWallClock.
	HeaderClosedBy = "closed-by"
	// HeaderClosedAtOffset is the offset of the first record of the source
	// partition that the window did not take into account: the window's
	// trades below it are counted, any at or above it are late.
	HeaderClosedAtOffset = "closed-at-offset"
	// HeaderSourcePartition (shared with the DLQ) is the consumed partition:
	// of the input topic, or of the repartition topic.
)

// The values of HeaderClosedBy.
const (
	ClosedByWatermark = "watermark"
	ClosedByWallClock = "wall-clock"
)

// The DLQ record headers of the contract.
const (
	HeaderDLQReason       = "dlq-reason"
	HeaderDLQError        = "dlq-error"
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
	// HeaderSourceTimestamp holds the source record's timestamp (epoch ms),
	// which the DLQ record keeps as its own unless the broker would not
	// accept it (zero or negative: librdkafka sends "now" instead).
	HeaderSourceTimestamp = "source-timestamp"
)

// closedHeaders are the header values every record of one closed window
// shares (librdkafka copies them when producing).
type closedHeaders struct {
	start, end, closedBy, closedAt, partition []byte
}

func newClosedHeaders(source int32, c window.Closed) closedHeaders {
	by := ClosedByWatermark
	if c.ByWallClock {
		by = ClosedByWallClock
	}
	return closedHeaders{
		start:     strconv.AppendInt(nil, c.Start, 10),
		end:       strconv.AppendInt(nil, c.End, 10),
		closedBy:  []byte(by),
		closedAt:  strconv.AppendInt(nil, c.ClosedAt, 10),
		partition: strconv.AppendInt(nil, int64(source), 10),
	}
}

// outputMessage is the trades-2s record for one ISIN of a closed window: key
// ISIN, the chosen trade's original bytes and event time, window headers.
// Partition is left to the producer's murmur2 partitioner.
func outputMessage(topic *string, h closedHeaders, e window.Latest) *kafka.Message {
	headers := make([]kafka.Header, 0, 11)
	headers = append(headers,
		kafka.Header{Key: HeaderWindowStart, Value: h.start},
		kafka.Header{Key: HeaderWindowEnd, Value: h.end},
		kafka.Header{Key: HeaderTradeCount, Value: strconv.AppendInt(nil, int64(e.Count), 10)},
		kafka.Header{Key: HeaderClosedBy, Value: h.closedBy},
		kafka.Header{Key: HeaderClosedAtOffset, Value: h.closedAt},
		kafka.Header{Key: HeaderSourcePartition, Value: h.partition},
	)
	if e.Aggregate != nil {
		headers = appendAggregateHeaders(headers, e.Aggregate)
	}
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: topic, Partition: kafka.PartitionAny},
		Key:            append([]byte(nil), e.ISIN[:]...),
		Value:          e.Value,
		Timestamp:      time.UnixMilli(e.EventTime),
		Headers:        headers,
	}
}

// appendAggregateHeaders appends the aggregate's headers, their values
// sharing one buffer.
func appendAggregateHeaders(headers []kafka.Header, a *window.Aggregate) []kafka.Header {
	fields := [...]struct {
		key   string
		write func([]byte) []byte
	}{
		{HeaderWindowOpen, a.AppendOpen},
		{HeaderWindowHigh, a.AppendHigh},
		{HeaderWindowLow, a.AppendLow},
		{HeaderWindowVolume, a.AppendVolume},
		{HeaderWindowVWAP, a.AppendVWAP},
	}
	buf := make([]byte, 0, 128)
	for _, f := range fields {
		from := len(buf)
		buf = f.write(buf)
		headers = append(headers, kafka.Header{Key: f.key, Value: buf[from:len(buf):len(buf)]})
	}
	return headers
}

// dlqMessage is the dead-letter record for a rejected input record: original
// key, value, timestamp and headers, plus the reason and the source position.
func dlqMessage(topic *string, src *kafka.Message, rej *trade.Rejection) *kafka.Message {
	headers := make([]kafka.Header, 0, len(src.Headers)+6)
	headers = append(headers, src.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(rej.Reason)},
		kafka.Header{Key: HeaderDLQError, Value: []byte(rej.Err.Error())},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(*src.TopicPartition.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.TopicPartition.Partition), 10)},
		kafka.Header{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, int64(src.TopicPartition.Offset), 10)},
		kafka.Header{Key: HeaderSourceTimestamp, Value: strconv.AppendInt(nil, src.Timestamp.UnixMilli(), 10)},
	)
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: topic, Partition: kafka.PartitionAny},
		Key:            src.Key,
		Value:          src.Value,
		Timestamp:      src.Timestamp,
		Headers:        headers,
	}
}
