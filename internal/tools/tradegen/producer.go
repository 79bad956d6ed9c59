package tradegen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/kafkaclient"
)

// Sentinel errors of the Kafka side, checked with errors.Is.
var (
	// ErrBrokerUnreachable: no metadata answer from the brokers in time.
	ErrBrokerUnreachable = errors.New("tradegen: Kafka brokers unreachable")
	// ErrTopicMissing: the topic does not exist and creating it was not asked for.
	ErrTopicMissing = errors.New("tradegen: topic does not exist")
	// ErrDeliveryFailed: the broker rejected at least one record for good.
	ErrDeliveryFailed = errors.New("tradegen: delivery failed")
	// ErrFlushTimeout: records were still unacknowledged when the flush timeout ran out.
	ErrFlushTimeout = errors.New("tradegen: flush timed out")
)

// Why Produce stopped (Stats.Stop).
const (
	StopCount    = "count"
	StopDuration = "duration"
	StopCanceled = "canceled"
	StopError    = "error"
)

// defaultFlushTimeout applies when Options.FlushTimeout is zero.
const defaultFlushTimeout = 10 * time.Second

// pacingSlack is how early a record may go out: records due within it are
// sent back to back, so a high rate costs one timer wait per batch, not one
// sleep per record.
const pacingSlack = 2 * time.Millisecond

// ProducerConfig returns the librdkafka configuration of a trade producer:
// the Java client's murmur2 partitioner (so ISIN keys land where Java
// producers and Kafka Streams put them), idempotence, a 5 ms linger and lz4.
// properties are applied last, as-is (security.protocol, sasl.*, ssl.* ...),
// and so override the defaults.
func ProducerConfig(brokers string, properties map[string]string) *kafka.ConfigMap {
	cfg := &kafka.ConfigMap{
		"bootstrap.servers":  brokers,
		"partitioner":        "murmur2_random",
		"linger.ms":          5,
		"enable.idempotence": true,
		"compression.type":   "lz4",
		"client.id":          "tradegen",
	}
	for k, v := range properties {
		(*cfg)[k] = v
	}
	return cfg
}

// NewProducer creates a producer with ProducerConfig. With a logger,
// librdkafka's own log lines and the producer's client-level errors (the
// Events channel, which Produce leaves alone) go to it, until the producer is
// closed; without one librdkafka logs to stderr and Events is the caller's.
// The caller closes the producer. An unknown or bad property is an error here,
// before anything connects.
func NewProducer(brokers string, properties map[string]string, logger *slog.Logger) (*kafka.Producer, error) {
	cfg := ProducerConfig(brokers, properties)
	if logger != nil {
		(*cfg)["go.logs.channel.enable"] = true
	}
	p, err := kafka.NewProducer(cfg)
	if err != nil {
		return nil, fmt.Errorf("tradegen: creating producer: %w", err)
	}
	if logger != nil {
		go forwardLogs(p.Logs(), logger)
		go forwardErrors(p.Events(), logger)
	}
	return p, nil
}

// forwardLogs ends when the producer closes the channel.
func forwardLogs(logs chan kafka.LogEvent, logger *slog.Logger) {
	for e := range logs {
		logger.Log(context.Background(), kafkaclient.LogLevel(e), e.Message, "source", "librdkafka", "client", e.Name, "tag", e.Tag)
	}
}

// forwardErrors ends when the producer closes the channel. Transport errors
// are skipped, as librdkafka's own log already reports them (with repeats
// suppressed); "all brokers down", which librdkafka raises on every reconnect
// attempt, is reported once per errorRepeatInterval.
func forwardErrors(events chan kafka.Event, logger *slog.Logger) {
	var lastAllDown time.Time
	for e := range events {
		err, ok := e.(kafka.Error)
		if !ok {
			continue
		}
		switch err.Code() {
		case kafka.ErrTransport:
			continue
		case kafka.ErrAllBrokersDown:
			if time.Since(lastAllDown) < errorRepeatInterval {
				continue
			}
			lastAllDown = time.Now()
		}
		level := slog.LevelWarn
		if err.IsFatal() {
			level = slog.LevelError
		}
		logger.Log(context.Background(), level, "kafka client error", "error", err.Error(), "code", err.Code().String())
	}
}

// errorRepeatInterval spaces out repeated client errors in the log.
const errorRepeatInterval = 10 * time.Second

// EnsureTopic checks with a metadata request, bounded by ctx's deadline (10 s
// without one), that the brokers answer and topic exists. A missing topic is
// created with partitions and replication (-1: the broker's default) when
// create is set, and is ErrTopicMissing otherwise. It reports whether it
// created the topic.
func EnsureTopic(ctx context.Context, producer *kafka.Producer, topic string, create bool, partitions, replication int) (created bool, err error) {
	timeout := 10 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	if timeout <= 0 {
		return false, fmt.Errorf("%w: %w", ErrBrokerUnreachable, context.DeadlineExceeded)
	}
	// All topics rather than just this one: asking for one topic by name can
	// make a broker with auto-creation create it with its defaults.
	md, err := producer.GetMetadata(nil, true, int(timeout.Milliseconds()))
	if err != nil {
		return false, fmt.Errorf("%w within %s: %w", ErrBrokerUnreachable, timeout.Round(time.Millisecond), err)
	}
	if t, ok := md.Topics[topic]; ok && t.Error.Code() == kafka.ErrNoError && len(t.Partitions) > 0 {
		return false, nil
	}
	if !create {
		return false, fmt.Errorf("%w: %q", ErrTopicMissing, topic)
	}
	admin, err := kafka.NewAdminClientFromProducer(producer)
	if err != nil {
		return false, fmt.Errorf("tradegen: creating admin client: %w", err)
	}
	defer admin.Close()
	results, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic:             topic,
		NumPartitions:     partitions,
		ReplicationFactor: replication,
	}}, kafka.SetAdminOperationTimeout(timeout))
	if err != nil {
		return false, fmt.Errorf("tradegen: creating topic %q: %w", topic, err)
	}
	for _, r := range results {
		switch r.Error.Code() {
		case kafka.ErrNoError:
			return true, nil
		case kafka.ErrTopicAlreadyExists: // another instance won the race
			return false, nil
		default:
			return false, fmt.Errorf("tradegen: creating topic %q: %w", topic, r.Error)
		}
	}
	return false, fmt.Errorf("tradegen: creating topic %q: no result", topic)
}

// Stats count what Produce did.
type Stats struct {
	// Produced records were handed to the producer.
	Produced int64 `json:"produced"`
	// Delivered records were acknowledged by the broker.
	Delivered int64 `json:"delivered"`
	// Failed records were rejected for good.
	Failed int64 `json:"failed"`
	// Pending records were still unacknowledged when the flush timed out.
	Pending int64 `json:"pending"`
	// Malformed counts the produced malformed records by kind.
	Malformed map[Kind]int64 `json:"malformed"`
	// Elapsed is the time from the first record to the end of the flush.
	Elapsed time.Duration `json:"-"`
	// Stop says why production stopped: StopCount, StopDuration,
	// StopCanceled or StopError.
	Stop string `json:"stop"`
}

// Produce generates records with opts and produces them, keyed by ISIN, to
// topic, pacing them to opts.Rate on the schedule (flat out when the rate is
// not positive) until opts.Count or opts.Duration is reached or ctx is
// cancelled. Cancellation is a clean stop, not an error. On every exit it
// waits up to opts.FlushTimeout for delivery reports, which it receives on a
// channel of its own: the producer's Events channel is left to the caller.
// The error wraps ErrInvalidOptions, ErrDeliveryFailed, ErrFlushTimeout or a
// producer error.
func Produce(ctx context.Context, producer *kafka.Producer, topic string, opts Options) (Stats, error) {
	g, err := NewGenerator(opts)
	if err != nil {
		return Stats{}, err
	}
	stats := Stats{Malformed: make(map[Kind]int64)}

	var (
		delivered, failed atomic.Int64
		firstFailure      error
		failureOnce       sync.Once
		deliveries        = make(chan kafka.Event, 8192)
		stopDraining      = make(chan struct{})
		drained           = make(chan struct{})
	)
	go func() {
		defer close(drained)
		for {
			select {
			case e := <-deliveries:
				m, ok := e.(*kafka.Message)
				if !ok {
					continue
				}
				if m.TopicPartition.Error != nil {
					failureOnce.Do(func() { firstFailure = m.TopicPartition.Error })
					failed.Add(1)
				} else {
					delivered.Add(1)
				}
			case <-stopDraining:
				return
			}
		}
	}()

	start := time.Now()
	stats.Stop, err = produceLoop(ctx, producer, topic, g, opts, start, deliveries, &stats)

	flushTimeout := opts.FlushTimeout
	if flushTimeout == 0 {
		flushTimeout = defaultFlushTimeout
	}
	flushDeadline := time.Now().Add(flushTimeout)
	producer.Flush(int(flushTimeout.Milliseconds()))
	// Flush returns once librdkafka has queued the last report; wait for the
	// drain goroutine to count it.
	for delivered.Load()+failed.Load() < stats.Produced && time.Now().Before(flushDeadline) {
		time.Sleep(time.Millisecond)
	}
	close(stopDraining)
	<-drained
	stats.Elapsed = time.Since(start)
	stats.Delivered, stats.Failed = delivered.Load(), failed.Load()
	stats.Pending = stats.Produced - stats.Delivered - stats.Failed

	switch {
	case err != nil:
		return stats, err
	case stats.Failed > 0:
		return stats, fmt.Errorf("%w: %d of %d records, first: %w", ErrDeliveryFailed, stats.Failed, stats.Produced, firstFailure)
	case stats.Pending > 0:
		return stats, fmt.Errorf("%w: %d of %d records unacknowledged after %s", ErrFlushTimeout, stats.Pending, stats.Produced, flushTimeout)
	}
	return stats, nil
}

// produceLoop hands records to the producer until a limit, cancellation or
// an error, and says which.
func produceLoop(ctx context.Context, producer *kafka.Producer, topic string, g *Generator, opts Options,
	start time.Time, deliveries chan kafka.Event, stats *Stats) (stop string, err error) {
	paced := opts.Rate > 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	wait := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}

	for {
		if opts.Count > 0 && stats.Produced >= opts.Count {
			return StopCount, nil
		}
		if ctx.Err() != nil {
			return StopCanceled, nil
		}
		if paced {
			due := g.NextDue()
			if opts.Duration > 0 && due >= opts.Duration {
				return StopDuration, nil
			}
			if ahead := time.Until(start.Add(due)); ahead > pacingSlack && !wait(ahead) {
				return StopCanceled, nil
			}
		} else if opts.Duration > 0 && time.Since(start) >= opts.Duration {
			return StopDuration, nil
		}

		rec := g.Next()
		msg := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key:            rec.Key,
			Value:          rec.Value,
			Timestamp:      rec.Timestamp,
		}
		if opts.Unkeyed {
			msg.Key = nil
		}
		for {
			err := producer.Produce(msg, deliveries)
			if err == nil {
				break
			}
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
				// librdkafka's queue is full: give the broker a moment.
				if !wait(time.Millisecond) {
					return StopCanceled, nil
				}
				continue
			}
			return StopError, fmt.Errorf("tradegen: producing to %q: %w", topic, err)
		}
		stats.Produced++
		if rec.Malformed != "" {
			stats.Malformed[rec.Malformed]++
		}
	}
}
