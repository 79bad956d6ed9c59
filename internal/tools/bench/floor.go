package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator"
)

// floorCommitInterval is how long the aggregator's transactions last while
// it drains a backlog: 10 x output.commit_interval (50 ms by default),
// within a quarter of kafka.transaction_timeout (aggregator/stage.go,
// backlogCommitInterval).
const floorCommitInterval = 500 * time.Millisecond

// produceDrain is row 2's second reference, what this client costs for the
// aggregator's output alone: the bare Poll loop, plus a transactional
// producer with the aggregator's settings writing outputs records (as many
// as the aggregator emits, spread evenly over the backlog) with the consumed
// key and value and the six output headers, at their sizes, into a fresh
// topic like the aggregator's output. Offsets go into each transaction, and
// a transaction commits every floorCommitInterval, as the aggregator's do.
// No window is computed. Its time runs from the first record polled to the
// commit of the last transaction.
func (e *env) produceDrain(ctx context.Context, topic string, ends []int64, outputs int64, timeout time.Duration) (drainResult, error) {
	group, out := uniqueName("floor"), uniqueName("floor-out")
	if err := e.cluster.CreateTopicWithConfig(ctx, out, len(ends), map[string]string{"cleanup.policy": "compact"}); err != nil {
		return drainResult{}, err
	}
	producer, err := e.cluster.aggregatorLikeProducer(ctx, group)
	if err != nil {
		return drainResult{}, err
	}
	defer producer.Close()
	go func() { // errors only (no delivery reports), as the aggregator drains them
		for range producer.Events() {
		}
	}()
	consumer, err := e.cluster.aggregatorLikeConsumer(group)
	if err != nil {
		return drainResult{}, err
	}
	defer consumer.Close()
	f := floorLoop{producer: producer, consumer: consumer, topic: topic, output: out,
		next: map[int32]int64{}, outputs: outputs, want: sum(ends)}
	res, err := e.pollDrain(ctx, consumer, group, topic, ends, timeout, func(read int64, m *kafka.Message, now time.Time) error {
		return f.record(ctx, read, m, now)
	})
	if err != nil {
		return res, err
	}
	if err := f.commit(ctx); err != nil {
		return res, err
	}
	res.Last = time.Now()
	if f.produced != outputs {
		return res, fmt.Errorf("produced %d records, want %d", f.produced, outputs)
	}
	return res, nil
}

// floorLoop is produceDrain's transaction in progress.
type floorLoop struct {
	producer      *kafka.Producer
	consumer      *kafka.Consumer
	topic, output string
	next          map[int32]int64 // partition -> offset after the last record polled
	outputs, want int64           // records to produce, records to read
	open          bool
	began         time.Time
	produced      int64
}

// record produces for src, the read-th record, when it is due (outputs
// spread evenly over want) and commits the transaction once it has lasted
// floorCommitInterval.
func (f *floorLoop) record(ctx context.Context, read int64, src *kafka.Message, now time.Time) error {
	f.next[src.TopicPartition.Partition] = int64(src.TopicPartition.Offset) + 1
	if read*f.outputs/f.want > f.produced {
		if err := f.produce(src, now); err != nil {
			return err
		}
	}
	if f.open && now.Sub(f.began) >= floorCommitInterval {
		return f.commit(ctx)
	}
	return nil
}

// produce writes src's key and value with headers the size of the output's,
// waiting for room in librdkafka's queue as the aggregator does.
func (f *floorLoop) produce(src *kafka.Message, now time.Time) error {
	if !f.open {
		if err := f.producer.BeginTransaction(); err != nil {
			return err
		}
		f.open, f.began = true, now
	}
	ts := src.Timestamp.UnixMilli()
	start := ts - ts%windowSizeMillis
	msg := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &f.output, Partition: kafka.PartitionAny},
		Key:            src.Key,
		Value:          src.Value,
		Timestamp:      src.Timestamp,
		Headers: []kafka.Header{
			{Key: aggregator.HeaderWindowStart, Value: strconv.AppendInt(nil, start, 10)},
			{Key: aggregator.HeaderWindowEnd, Value: strconv.AppendInt(nil, start+windowSizeMillis, 10)},
			{Key: aggregator.HeaderTradeCount, Value: []byte("1")},
			{Key: aggregator.HeaderClosedBy, Value: []byte(aggregator.ClosedByWatermark)},
			{Key: aggregator.HeaderClosedAtOffset, Value: strconv.AppendInt(nil, int64(src.TopicPartition.Offset)+1, 10)},
			{Key: aggregator.HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.TopicPartition.Partition), 10)},
		},
	}
	for {
		err := f.producer.Produce(msg, nil)
		var kerr kafka.Error
		if err == nil {
			f.produced++
			return nil
		}
		if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrQueueFull {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// commit sends the offsets polled so far to the open transaction and commits it.
func (f *floorLoop) commit(ctx context.Context) error {
	if !f.open {
		return nil
	}
	offsets := make([]kafka.TopicPartition, 0, len(f.next))
	for p, next := range f.next {
		offsets = append(offsets, kafka.TopicPartition{Topic: &f.topic, Partition: p, Offset: kafka.Offset(next)})
	}
	group, err := f.consumer.GetConsumerGroupMetadata()
	if err != nil {
		return err
	}
	if err := f.producer.SendOffsetsToTransaction(ctx, offsets, group); err != nil {
		return fmt.Errorf("sending offsets: %w", err)
	}
	if err := f.producer.CommitTransaction(ctx); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	f.open = false
	return nil
}
