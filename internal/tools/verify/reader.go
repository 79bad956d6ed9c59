package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator"
	"tickcompact/internal/kafkaclient"
)

// ErrKafka is wrapped by errors reaching or reading the brokers.
var ErrKafka = errors.New("kafka")

// consumerTuning may be overridden with --property: a deep prefetch and short
// fetch waits, since everything up to the end is read as fast as it comes.
// The prefetch is capped in bytes as well: librdkafka's per-message overhead
// is several times a trade's size, so its default cap (64 MB of payload per
// consumer) holds several times that in memory, and a smaller prefetch reads
// about as fast.
var consumerTuning = kafka.ConfigMap{
	// Never joined nor committed (partitions are assigned); named so that
	// ACLs can grant it.
	"group.id":                   "tickcompact-verify",
	"client.id":                  "tickcompact-verify",
	"queued.min.messages":        1000000,
	"fetch.wait.max.ms":          5,
	"max.partition.fetch.bytes":  10485760,
	"queued.max.messages.kbytes": 16384, // keep above max.partition.fetch.bytes
}

// consumerRequired is the reading mode the verification depends on.
var consumerRequired = kafka.ConfigMap{
	"isolation.level":          "read_committed",
	"enable.auto.commit":       false,
	"enable.auto.offset.store": false,
	"enable.partition.eof":     true,
}

func consumerConfig(c Config) (*kafka.ConfigMap, error) {
	return kafkaclient.ConfigMap(c.Brokers, consumerTuning, c.Properties, consumerRequired)
}

// topicReader reads one topic, every partition assigned, up to the end
// offsets of its last snapshot.
type topicReader struct {
	topic    string
	consumer *kafka.Consumer
	timeout  time.Duration
	// exists, end and next are indexed by partition ID.
	exists []bool
	// end is the high watermark at the last snapshot; a partition is also
	// done at its partition EOF, which with read_committed comes at the last
	// stable offset, before any open transaction.
	end []int64
	// next is the offset after the last record handled, or
	// kafka.OffsetBeginning before the first.
	next        []int64
	snapshotted bool
	closed      bool
}

// openTopic creates a consumer for topic and reads its partitions.
func openTopic(cm *kafka.ConfigMap, topic string, timeout time.Duration) (*topicReader, error) {
	consumer, err := kafka.NewConsumer(cm)
	if err != nil {
		return nil, fmt.Errorf("verify: creating consumer: %w", err)
	}
	r := &topicReader{topic: topic, consumer: consumer, timeout: timeout}
	md, err := consumer.GetMetadata(&topic, false, int(timeout.Milliseconds()))
	if err != nil {
		consumer.Close()
		return nil, fmt.Errorf("verify: %w: reading metadata of %s: %v", ErrKafka, topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok || len(t.Partitions) == 0 || t.Error.Code() != kafka.ErrNoError {
		consumer.Close()
		return nil, fmt.Errorf("verify: %w: topic %s: %w", ErrKafka, topic, kafkaclient.ErrTopicMissing)
	}
	n := int32(0)
	for _, p := range t.Partitions {
		n = max(n, p.ID+1)
	}
	r.exists, r.end, r.next = make([]bool, n), make([]int64, n), make([]int64, n)
	for _, p := range t.Partitions {
		r.exists[p.ID] = true
		r.next[p.ID] = int64(kafka.OffsetBeginning)
	}
	return r, nil
}

// ends returns the end offset of every partition at the last snapshot.
func (r *topicReader) ends() map[int32]int64 {
	ends := map[int32]int64{}
	for p, ok := range r.exists {
		if ok {
			ends[int32(p)] = r.end[p]
		}
	}
	return ends
}

func (r *topicReader) partitions() int {
	n := 0
	for _, ok := range r.exists {
		if ok {
			n++
		}
	}
	return n
}

// snapshot records every partition's high watermark as the end to read to,
// and reports whether any grew since the previous snapshot.
func (r *topicReader) snapshot() (grew bool, err error) {
	for p, ok := range r.exists {
		if !ok {
			continue
		}
		_, high, err := r.consumer.QueryWatermarkOffsets(r.topic, int32(p), int(r.timeout.Milliseconds()))
		if err != nil {
			return false, fmt.Errorf("verify: %w: reading the end offsets of %s: %v", ErrKafka, r.topic, err)
		}
		if high > r.end[p] {
			grew = grew || r.snapshotted
			r.end[p] = high
		}
	}
	r.snapshotted = true
	return grew, nil
}

// assign (re)starts fetching every partition after the last record handled.
func (r *topicReader) assign() error {
	var tps []kafka.TopicPartition
	for p, ok := range r.exists {
		if ok {
			tps = append(tps, kafka.TopicPartition{Topic: &r.topic, Partition: int32(p), Offset: kafka.Offset(r.next[p])})
		}
	}
	if err := r.consumer.Assign(tps); err != nil {
		return fmt.Errorf("verify: %w: assigning %s: %v", ErrKafka, r.topic, err)
	}
	return nil
}

// rewind makes the next assign start every partition from the beginning again.
func (r *topicReader) rewind() {
	for p := range r.next {
		r.next[p] = int64(kafka.OffsetBeginning)
	}
}

// read hands every record below the snapshot's end to handle, in offset
// order within each partition, and returns when every partition is done.
func (r *topicReader) read(ctx context.Context, handle func(*kafka.Message)) error {
	pending := make([]bool, len(r.end))
	left := 0
	for p, ok := range r.exists {
		if ok && r.next[p] < r.end[p] {
			pending[p] = true
			left++
		}
	}
	done := func(p int32) {
		pending[p] = false
		left--
	}
	lastProgress := time.Now()
	var lastErr error
	for left > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch e := r.consumer.Poll(100).(type) {
		case *kafka.Message:
			lastProgress = time.Now()
			p := e.TopicPartition.Partition
			if e.TopicPartition.Error != nil {
				lastErr = e.TopicPartition.Error
				continue
			}
			if int(p) >= len(pending) || !pending[p] {
				continue // beyond the snapshot
			}
			offset := int64(e.TopicPartition.Offset)
			switch {
			case offset < r.next[p]:
				continue // handled before a re-assignment
			case offset >= r.end[p]:
				done(p)
				continue
			}
			handle(e)
			r.next[p] = offset + 1
			if r.next[p] >= r.end[p] {
				done(p)
			}
		case kafka.PartitionEOF:
			lastProgress = time.Now()
			if p := e.Partition; int(p) < len(pending) && pending[p] {
				done(p)
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("verify: %w: reading %s: %v", ErrKafka, r.topic, e)
			}
			lastErr = e
		}
		if time.Since(lastProgress) > r.timeout {
			return fmt.Errorf("verify: %w: reading %s: no progress for %v with %d partitions unfinished (last error: %v)",
				ErrKafka, r.topic, r.timeout, left, lastErr)
		}
	}
	return nil
}

// close closes the consumer; later calls do nothing.
func (r *topicReader) close() {
	if r.closed {
		return
	}
	r.closed = true
	_ = r.consumer.Close()
}

// outputCompacted reports whether the topic's cleanup.policy includes compact.
func outputCompacted(ctx context.Context, r *topicReader) (bool, error) {
	admin, err := kafka.NewAdminClientFromConsumer(r.consumer)
	if err != nil {
		return false, err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := admin.DescribeConfigs(ctx, []kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: r.topic}})
	if err != nil {
		return false, err
	}
	for _, rr := range res {
		if rr.Error.Code() != kafka.ErrNoError {
			return false, rr.Error
		}
		if e, ok := rr.Config["cleanup.policy"]; ok {
			return strings.Contains(e.Value, "compact"), nil
		}
	}
	return false, errors.New("cleanup.policy not reported")
}

// inputRecord, copyRecord and outputRecord convert consumed messages: of the
// input or raw topic, of the repartition topic, of the output topic.
func inputRecord(m *kafka.Message) InputRecord {
	return InputRecord{Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset),
		Timestamp: m.Timestamp.UnixMilli(), Value: m.Value}
}

func copyRecord(m *kafka.Message) InputRecord {
	r := inputRecord(m)
	r.Key, r.Headers = m.Key, m.Headers
	return r
}

func outputRecord(m *kafka.Message) OutputRecord {
	r := OutputRecord{Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset),
		Key: m.Key, Value: m.Value, Timestamp: m.Timestamp.UnixMilli()}
	for _, h := range m.Headers {
		value := h.Value
		if value == nil {
			value = []byte{} // present, if empty
		}
		switch h.Key {
		case aggregator.HeaderWindowStart:
			r.WindowStart = value
		case aggregator.HeaderWindowEnd:
			r.WindowEnd = value
		case aggregator.HeaderTradeCount:
			r.TradeCount = value
		case headerClosedBy:
			r.ClosedBy = value
		case headerClosedAtOffset:
			r.ClosedAtOffset = value
		case headerSourcePartition:
			r.SourcePartition = value
		case aggregator.HeaderWindowOpen:
			r.Aggregates.Open = value
		case aggregator.HeaderWindowHigh:
			r.Aggregates.High = value
		case aggregator.HeaderWindowLow:
			r.Aggregates.Low = value
		case aggregator.HeaderWindowVolume:
			r.Aggregates.Volume = value
		case aggregator.HeaderWindowVWAP:
			r.Aggregates.VWAP = value
		}
	}
	return r
}
