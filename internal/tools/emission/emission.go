// Package emission measures what a reader of the output topic sees: how long
// after its window's end each record became readable with read_committed,
// i.e. the aggregator's emission delay as observed from outside, from commit
// times rather than from histogram buckets. make bench (row 3's cross-check)
// and the demo's board use it.
package emission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator"
	"tickcompact/internal/kafkaclient"
)

// Sample is one output record as the reader received it.
type Sample struct {
	// Received is when Poll returned the record.
	Received time.Time
	// Delay is Received minus the record's window-end header.
	Delay time.Duration
}

// Reader reads an output topic to measure emission delays.
type Reader struct {
	// Brokers is the bootstrap list.
	Brokers string
	// Tuning are consumer settings (fetch waits, prefetch) beside the ones
	// the reading mode needs, which it cannot override.
	Tuning kafka.ConfigMap
	// Logger receives librdkafka's log lines; nil leaves them to librdkafka
	// (errors only, on stderr).
	Logger *slog.Logger
}

// Watch reads topic with isolation.level=read_committed, in no consumer group
// (every partition assigned, from start: kafka.OffsetBeginning or
// kafka.OffsetEnd), until ctx is done, and calls report for each record. A
// record without a decimal window-end header is an error.
func (r Reader) Watch(ctx context.Context, topic string, start kafka.Offset, report func(Sample)) error {
	required := kafka.ConfigMap{"group.id": "tickcompact-emission-reader", "isolation.level": "read_committed", "enable.auto.commit": false}
	if r.Logger == nil {
		required["log_level"] = 3
	}
	cm, err := kafkaclient.ConfigMap(r.Brokers, r.Tuning, nil, required)
	if err != nil {
		return err
	}
	if r.Logger != nil {
		stop := kafkaclient.NewMonitor(r.Logger, r.Brokers, nil).Forward(ctx, kafkaclient.EnableLogs(cm), "emission-reader")
		defer stop()
	}
	consumer, err := kafka.NewConsumer(cm)
	if err != nil {
		return fmt.Errorf("emission: %w", err)
	}
	defer consumer.Close()
	if _, err := kafkaclient.AssignAll(consumer, topic, start); err != nil {
		return fmt.Errorf("emission: reading %s: %w", topic, err)
	}
	for ctx.Err() == nil {
		switch ev := consumer.Poll(50).(type) {
		case *kafka.Message:
			now := time.Now()
			end, err := windowEnd(ev)
			if err != nil {
				return fmt.Errorf("emission: %s/%d offset %d: %w", topic, ev.TopicPartition.Partition, ev.TopicPartition.Offset, err)
			}
			report(Sample{Received: now, Delay: now.Sub(time.UnixMilli(end))})
		case kafka.Error:
			if ev.IsFatal() {
				return fmt.Errorf("emission: %w", ev)
			}
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}

func windowEnd(m *kafka.Message) (int64, error) {
	for _, h := range m.Headers {
		if h.Key == aggregator.HeaderWindowEnd {
			end, err := strconv.ParseInt(string(h.Value), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s header %q is not epoch milliseconds", aggregator.HeaderWindowEnd, h.Value)
			}
			return end, nil
		}
	}
	return 0, fmt.Errorf("no %s header", aggregator.HeaderWindowEnd)
}

// Quantile returns the q-quantile (0 <= q <= 1) of samples by the
// nearest-rank method, sorting samples in place; ok is false when there are
// none. Exact, unlike a histogram's estimate.
func Quantile[T cmp.Ordered](samples []T, q float64) (value T, ok bool) {
	if len(samples) == 0 {
		return value, false
	}
	slices.Sort(samples)
	i := int(math.Ceil(q*float64(len(samples)))) - 1
	return samples[min(max(i, 0), len(samples)-1)], true
}
