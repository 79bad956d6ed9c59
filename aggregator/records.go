package aggregator

import (
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
)

// The output record headers of the contract.
const (
	HeaderWindowStart = "window-start"
	HeaderWindowEnd   = "window-end"
	HeaderTradeCount  = "trade-count"
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

// outputMessage is the trades-2s record for one ISIN of a closed window: key
// ISIN, the chosen trade's original bytes and event time, window headers.
// Partition is left to the producer's murmur2 partitioner.
func outputMessage(topic *string, c window.Closed, e window.Latest) *kafka.Message {
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: topic, Partition: kafka.PartitionAny},
		Key:            append([]byte(nil), e.ISIN[:]...),
		Value:          e.Value,
		Timestamp:      time.UnixMilli(e.EventTime),
		Headers: []kafka.Header{
			{Key: HeaderWindowStart, Value: strconv.AppendInt(nil, c.Start, 10)},
			{Key: HeaderWindowEnd, Value: strconv.AppendInt(nil, c.End, 10)},
			{Key: HeaderTradeCount, Value: strconv.AppendInt(nil, int64(e.Count), 10)},
		},
	}
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
