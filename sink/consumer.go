package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/sync/errgroup"

	"tickcompact/internal/consumeloop"
	"tickcompact/internal/kafkaclient"
)

const (
	// pollInterval bounds each Poll, so that backoff deadlines, health
	// checks and shutdown are noticed promptly.
	pollInterval = 100 * time.Millisecond
	// backoffMin and backoffMax bound the wait between attempts to write a
	// pending batch while Redis is failing.
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	// defaultHealthInterval is how long Redis may go without a successful
	// batch before an idle sink PINGs it, so /readyz notices an outage with
	// no traffic.
	defaultHealthInterval = time.Second
	// kafkaCheckInterval is how often reachability is re-checked while
	// librdkafka reports all brokers down.
	kafkaCheckInterval = 2 * time.Second
	// attemptTimeout bounds one attempt to write a batch, so a hung Redis
	// never holds the loop (and shutdown) for long.
	attemptTimeout = 8 * time.Second
	// shutdownTimeout bounds the final write of a pending batch on shutdown.
	shutdownTimeout = 5 * time.Second
)

// sinkConsumer is what the sink asks of its consumer besides what the
// consume loop reads with: *kafka.Consumer, or consumetest's fake in tests.
type sinkConsumer interface {
	consumeloop.Consumer
	StoreOffsets(offsets []kafka.TopicPartition) ([]kafka.TopicPartition, error)
	GetMetadata(topic *string, allTopics bool, timeoutMs int) (*kafka.Metadata, error)
}

// consumerLoop is the Kafka side of the sink, a consumeloop.Handler: it
// batches the records of trades-2s, hands each batch to a writer and stores
// the batch's offsets once Redis acknowledged all of it. It runs on the
// loop's goroutine and reads the next records while the writers apply the
// previous ones.
type consumerLoop struct {
	cfg      Config
	topic    string
	logger   *slog.Logger
	metrics  *metrics
	ready    *conditions
	consumer sinkConsumer
	redis    redisApplier
	loop     *consumeloop.Loop
	// envelopes builds each record's envelope with redis.format envelope;
	// nil stores and publishes the raw value.
	envelopes *envelopeEncoder
	// lag is refreshed on the loop's polling goroutine; nil in tests with a
	// fake consumer.
	lag *kafkaclient.ConsumerLag

	// lanes are the writers, each with the batches of its partitions;
	// laneOf gives an assigned partition's lane.
	lanes  []*lane
	laneOf map[int32]*lane
	// results receives the writers' results, and wake is signalled with
	// each; inflight counts the batches they hold.
	results  chan writeResult
	wake     chan struct{}
	inflight int
	assigned map[int32]bool

	// failing is true while Redis is failing: the loop is paused, nothing
	// is in flight and the pending batches are retried at nextAttempt.
	failing     bool
	backoff     time.Duration
	nextAttempt time.Time

	// healthInterval is how long Redis may go without a successful batch
	// before an idle sink PINGs it.
	healthInterval time.Duration
	lastRedisOK    time.Time
	lastKafkaCheck time.Time
	closing        bool
}

// newConsumerLoop returns a loop reading with consumer, checking Redis with
// redis and writing through writerLanes writers, each applying batches
// with an applier of its own from newApplier.
func newConsumerLoop(cfg Config, logger *slog.Logger, m *metrics, ready *conditions, consumer sinkConsumer,
	redis redisApplier, newApplier func() redisApplier) *consumerLoop {
	c := &consumerLoop{
		cfg: cfg, topic: cfg.Input.Topic, logger: logger, metrics: m, ready: ready, consumer: consumer, redis: redis,
		laneOf: map[int32]*lane{}, results: make(chan writeResult, writerLanes), wake: make(chan struct{}, 1),
		assigned: map[int32]bool{}, healthInterval: defaultHealthInterval,
	}
	if cfg.Redis.Format == FormatEnvelope {
		c.envelopes = &envelopeEncoder{}
	}
	for range writerLanes {
		c.lanes = append(c.lanes, newLane(newAsyncWriter(newApplier(), c.results, c.wake)))
	}
	c.loop = consumeloop.New(consumer, c, consumeloop.Options{
		Topics: []string{c.topic}, Logger: logger, PollTimeout: pollInterval,
		// The final write is bounded by shutdownTimeout, a batch in flight
		// by attemptTimeout.
		ShutdownTimeout: attemptTimeout + shutdownTimeout,
		Wake:            c.wake,
		OnError:         c.clientError,
		OnAssigned:      c.updateAssigned,
		AfterPoll:       func() { c.lag.Refresh() },
	})
	return c
}

// run consumes until ctx is done or a fatal Kafka error, then writes or
// abandons what is pending and leaves the group.
func (c *consumerLoop) run(ctx context.Context) error {
	var writers errgroup.Group
	for _, l := range c.lanes {
		writers.Go(l.writer.run)
	}
	err := c.loop.Run(ctx)
	for _, l := range c.lanes {
		l.writer.close()
	}
	if errors.Is(err, consumeloop.ErrSubscribe) || errors.Is(err, consumeloop.ErrFatal) {
		err = fmt.Errorf("sink: %w", err)
	}
	return errors.Join(err, writers.Wait())
}

// Handle takes one record into its lane's pending batch. When that batch
// is full, every idle writer gets its lane's batch at once; a busy writer
// is waited for first, as only Redis's answer lets reading go on.
func (c *consumerLoop) Handle(_ context.Context, ev kafka.Event, _ time.Time) error {
	msg, ok := ev.(*kafka.Message)
	if !ok {
		return nil
	}
	c.handleMessage(msg)
	if l := c.laneOf[msg.TopicPartition.Partition]; l != nil && l.pending.total >= c.cfg.Redis.BatchSize && !c.failing {
		c.awaitLane(l)
		if !c.failing {
			c.submitIdle()
		}
	}
	return nil
}

// Tick takes the writers' results, hands the pending records to idle
// writers, retries while Redis is failing, and checks an idle Redis and
// unreachable brokers.
func (c *consumerLoop) Tick(ctx context.Context, now time.Time) (time.Duration, error) {
	c.takeResults()
	switch {
	case !c.failing:
		c.submitIdle()
		if c.inflight == 0 && now.Sub(c.lastRedisOK) >= c.healthInterval {
			c.checkRedis(ctx)
		}
	case !now.Before(c.nextAttempt):
		c.retry(ctx)
	}
	c.checkKafka(now)
	wait := pollInterval
	if c.failing {
		wait = max(time.Millisecond, min(wait, c.nextAttempt.Sub(now)))
	}
	return wait, nil
}

// takeResults takes every result the writers have sent.
func (c *consumerLoop) takeResults() {
	for {
		select {
		case res := <-c.results:
			c.finish(res)
		default:
			return
		}
	}
}

// awaitLane waits until l's writer returns its batch, taking the other
// writers' results meanwhile.
func (c *consumerLoop) awaitLane(l *lane) {
	for l.inflight != nil {
		c.finish(<-c.results)
	}
}

func (c *consumerLoop) handleMessage(msg *kafka.Message) {
	tp := msg.TopicPartition
	if tp.Topic == nil || *tp.Topic != c.topic || !c.assigned[tp.Partition] {
		return // fetched before its partition was revoked
	}
	if tp.Error != nil {
		c.logger.Warn("kafka message error", "partition", tp.Partition, "err", tp.Error)
		return
	}
	c.ready.kafka.Answered()
	c.metrics.consumed.Inc()
	pending := c.laneOf[tp.Partition].pending
	pending.handled(tp.Partition, tp.Offset)
	u, reason, detail := parseRecord(msg)
	if reason == "" && c.envelopes != nil {
		u.Value, reason, detail = c.envelopes.encode(msg, u)
	}
	if reason != "" {
		c.metrics.invalid.WithLabelValues(reason).Inc()
		c.logger.Warn("skipping invalid record", "reason", reason, "detail", detail,
			"topic", c.topic, "partition", tp.Partition, "offset", int64(tp.Offset))
		return
	}
	pending.add(tp.Partition, u)
}

// clientError reports a client error of the consumer that is not fatal to
// the Kafka monitor, which logs it and keeps the kafka readiness dependency.
func (c *consumerLoop) clientError(e kafka.Error) {
	c.ready.kafka.Error("sink-consumer", e)
}

// checkKafka tells the Kafka monitor when metadata can be fetched (again),
// for a sink with nothing to read (a message tells it too).
func (c *consumerLoop) checkKafka(now time.Time) {
	if c.ready.kafka.Reachable() || now.Sub(c.lastKafkaCheck) < kafkaCheckInterval {
		return
	}
	c.lastKafkaCheck = now
	if _, err := c.consumer.GetMetadata(&c.topic, false, 1000); err == nil {
		c.ready.kafka.Answered()
	}
}

// Stop waits for the batches in flight, writes the pending ones when Redis
// is working (bounded), and abandons them otherwise, uncommitted.
func (c *consumerLoop) Stop(context.Context, error) error {
	c.closing = true
	c.awaitAll()
	if records, _ := c.pendingSummary(); records > 0 && !c.failing {
		c.writeNow(shutdownTimeout)
	}
	if records, _ := c.pendingSummary(); records > 0 {
		c.logger.Info("abandoning uncommitted records; they will be read again", "records", records)
		for _, l := range c.lanes {
			l.pending.reset()
		}
	}
	return nil
}
