package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/sync/errgroup"

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

// kafkaConsumer is the part of *kafka.Consumer the loop uses; tests
// substitute a scripted one.
type kafkaConsumer interface {
	SubscribeTopics(topics []string, rebalanceCb kafka.RebalanceCb) error
	Poll(timeoutMs int) kafka.Event
	StoreOffsets(offsets []kafka.TopicPartition) ([]kafka.TopicPartition, error)
	Pause(partitions []kafka.TopicPartition) error
	Resume(partitions []kafka.TopicPartition) error
	IncrementalAssign(partitions []kafka.TopicPartition) error
	IncrementalUnassign(partitions []kafka.TopicPartition) error
	AssignmentLost() bool
	GetMetadata(topic *string, allTopics bool, timeoutMs int) (*kafka.Metadata, error)
	Close() error
}

// consumerLoop is the Kafka side of the sink: it polls trades-2s, batches
// records, hands each batch to a writer and stores the batch's offsets once
// Redis acknowledged all of it. It runs on one goroutine (the rebalance
// callback runs inside Poll on that same goroutine) and reads the next
// records while the writers apply the previous ones.
type consumerLoop struct {
	cfg      Config
	topic    string
	logger   *slog.Logger
	metrics  *metrics
	ready    *conditions
	consumer kafkaConsumer
	redis    redisApplier
	// envelopes builds each record's envelope with redis.format envelope;
	// nil stores and publishes the raw value.
	envelopes *envelopeEncoder
	// lag is refreshed by the loop, which alone polls; nil in tests with a
	// scripted consumer.
	lag *kafkaclient.ConsumerLag

	// lanes are the writers, each with the batches of its partitions;
	// laneOf gives an assigned partition's lane.
	lanes  []*lane
	laneOf map[int32]*lane
	// results receives the writers' results; inflight counts the batches
	// they hold.
	results  chan writeResult
	inflight int
	assigned map[int32]bool

	// failing is true while Redis is failing: assigned partitions are paused,
	// nothing is in flight and the pending batches are retried at
	// nextAttempt.
	failing     bool
	backoff     time.Duration
	nextAttempt time.Time

	// healthInterval is how long Redis may go without a successful batch
	// before an idle sink PINGs it.
	healthInterval time.Duration
	lastRedisOK    time.Time
	lastKafkaCheck time.Time
	closing        bool
	failure        error
}

// newConsumerLoop returns a loop reading with consumer, checking Redis with
// redis and writing through writerLanes writers, each applying batches
// with an applier of its own from newApplier.
func newConsumerLoop(cfg Config, logger *slog.Logger, m *metrics, ready *conditions, consumer kafkaConsumer,
	redis redisApplier, newApplier func() redisApplier) *consumerLoop {
	c := &consumerLoop{
		cfg: cfg, topic: cfg.Input.Topic, logger: logger, metrics: m, ready: ready, consumer: consumer, redis: redis,
		laneOf: map[int32]*lane{}, results: make(chan writeResult, writerLanes), assigned: map[int32]bool{},
		healthInterval: defaultHealthInterval,
	}
	if cfg.Redis.Format == FormatEnvelope {
		c.envelopes = &envelopeEncoder{}
	}
	for range writerLanes {
		c.lanes = append(c.lanes, newLane(newAsyncWriter(newApplier(), c.results)))
	}
	return c
}

// run subscribes and consumes until ctx is done or a fatal Kafka error, then
// writes or abandons what is pending and leaves the group.
func (c *consumerLoop) run(ctx context.Context) error {
	if err := c.consumer.SubscribeTopics([]string{c.topic}, c.onRebalance); err != nil {
		_ = c.consumer.Close() // never subscribed: nothing to commit or leave
		return fmt.Errorf("sink: subscribing to %s: %w", c.topic, err)
	}
	var writers errgroup.Group
	for _, l := range c.lanes {
		writers.Go(l.writer.run)
	}
	err := c.loop(ctx)
	err = errors.Join(err, c.shutdown())
	for _, l := range c.lanes {
		l.writer.close()
	}
	return errors.Join(err, writers.Wait())
}

func (c *consumerLoop) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		c.lag.Refresh()
		switch {
		case !c.failing:
			c.consume(ctx)
		case time.Now().Before(c.nextAttempt):
			// Keep polling while paused: it serves rebalances and keeps this
			// member in the group.
			wait := time.Until(c.nextAttempt)
			c.handle(c.consumer.Poll(int(max(time.Millisecond, min(wait, pollInterval)).Milliseconds())))
		default:
			c.retry(ctx)
		}
		if c.failure != nil {
			return c.failure
		}
		c.checkKafka()
	}
	return nil
}

// consume reads records and hands each lane's batch to its writer as soon
// as the writer is free, so that Kafka is read while Redis works. It waits
// for Redis alone only when a busy lane's batch is full.
func (c *consumerLoop) consume(ctx context.Context) {
	c.read(ctx)
	if c.failing || c.failure != nil {
		return
	}
	c.submitIdle()
	if _, blocked := c.full(); blocked {
		c.finish(<-c.results)
		if !c.failing {
			c.submitIdle()
		}
		return
	}
	if c.inflight == 0 && time.Since(c.lastRedisOK) >= c.healthInterval {
		c.checkRedis(ctx)
	}
}

// read polls records into the lanes' pending batches, handing batches to
// idle writers whenever Kafka has nothing ready or a writer finishes,
// until a lane's batch is full, nothing is left to read nor in flight, or
// ctx is done. While batches are in flight it waits for records a
// millisecond at a time, so that a writer's answer is taken within about
// that long, and the batches keep filling meanwhile.
func (c *consumerLoop) read(ctx context.Context) {
	for !c.failing && c.failure == nil {
		if full, _ := c.full(); full {
			return
		}
		select {
		case <-ctx.Done():
			return
		case res := <-c.results:
			c.finish(res)
			if !c.failing {
				c.submitIdle()
			}
			continue
		default:
		}
		timeout := time.Duration(0)
		switch {
		case c.inflight > 0:
			timeout = time.Millisecond
		case !c.anyPending():
			timeout = pollInterval
		}
		ev := c.consumer.Poll(int(timeout.Milliseconds()))
		if ev != nil {
			c.handle(ev)
			continue
		}
		c.submitIdle()
		if c.inflight == 0 {
			return
		}
	}
}

// handle processes one event returned by Poll.
func (c *consumerLoop) handle(ev kafka.Event) {
	switch e := ev.(type) {
	case *kafka.Message:
		c.handleMessage(e)
	case kafka.Error:
		c.handleError(e)
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

func (c *consumerLoop) handleError(e kafka.Error) {
	if e.IsFatal() {
		c.failure = fmt.Errorf("sink: kafka consumer: %w", e)
		return
	}
	c.ready.kafka.Error("sink-consumer", e)
}

// checkKafka tells the Kafka monitor when metadata can be fetched (again),
// for a sink with nothing to read (a message tells it too).
func (c *consumerLoop) checkKafka() {
	if c.ready.kafka.Reachable() || time.Since(c.lastKafkaCheck) < kafkaCheckInterval {
		return
	}
	c.lastKafkaCheck = time.Now()
	if _, err := c.consumer.GetMetadata(&c.topic, false, 1000); err == nil {
		c.ready.kafka.Answered()
	}
}

// shutdown waits for the batches in flight, writes the pending ones when
// Redis is working (bounded), abandons them otherwise, uncommitted, and
// closes the consumer, leaving the group.
func (c *consumerLoop) shutdown() error {
	c.closing = true
	c.awaitAll()
	if records, _ := c.pendingSummary(); records > 0 && !c.failing && c.failure == nil {
		c.writeNow(shutdownTimeout)
	}
	if records, _ := c.pendingSummary(); records > 0 {
		c.logger.Info("abandoning uncommitted records; they will be read again", "records", records)
		for _, l := range c.lanes {
			l.pending.reset()
		}
	}
	if err := c.consumer.Close(); err != nil {
		return fmt.Errorf("sink: closing consumer: %w", err)
	}
	return nil
}
