package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
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
	// maxWindowEnd is the largest window end the script compares exactly:
	// Lua numbers are doubles.
	maxWindowEnd = 1 << 53
)

// WindowEndHeader is the trades-2s header holding the window end, epoch
// milliseconds in decimal ASCII.
const WindowEndHeader = "window-end"

// consumerLoop is the Kafka side of the sink: it polls trades-2s, batches
// records, hands each batch to the RedisWriter and commits the batch's
// offsets once Redis acknowledged all of it. It runs on one goroutine;
// the rebalance callback runs inside Poll on that same goroutine.
type consumerLoop struct {
	cfg      Config
	topic    string
	logger   *slog.Logger
	metrics  *metrics
	ready    *readiness
	consumer *kafka.Consumer
	writer   *RedisWriter

	assigned map[int32]bool
	batch    batch

	// failing is true while Redis is failing: assigned partitions are paused
	// and the pending batch is retried at nextAttempt.
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

// batch is the records read but not yet committed: the updates to apply and,
// per partition, the offset after the last record handled (including invalid
// records, which have nothing to apply).
type batch struct {
	updates    []Update
	partitions []int32
	outcomes   []outcome
	next       map[int32]kafka.Offset
	// records counts the records handled per partition, invalid ones included.
	records map[int32]int
	total   int
}

func (b *batch) add(partition int32, u Update) {
	b.updates = append(b.updates, u)
	b.partitions = append(b.partitions, partition)
	b.outcomes = append(b.outcomes, pending)
}

func (b *batch) reset() {
	b.updates, b.partitions, b.outcomes = b.updates[:0], b.partitions[:0], b.outcomes[:0]
	clear(b.next)
	clear(b.records)
	b.total = 0
}

func (b *batch) empty() bool { return b.total == 0 }

// handled notes that the record at offset of partition was dealt with.
func (b *batch) handled(partition int32, offset kafka.Offset) {
	if b.next == nil {
		b.next, b.records = map[int32]kafka.Offset{}, map[int32]int{}
	}
	b.next[partition] = offset + 1
	b.records[partition]++
	b.total++
}

// partitionList returns the partitions with records in the batch, sorted.
func (b *batch) partitionList() []int32 {
	out := make([]int32, 0, len(b.next))
	for p := range b.next {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// drop forgets the records of partitions; they are not committed, so their
// next owner reads them again.
func (b *batch) drop(partitions map[int32]bool) (dropped int) {
	keep := 0
	for i, p := range b.partitions {
		if partitions[p] {
			dropped++
			continue
		}
		b.updates[keep], b.partitions[keep], b.outcomes[keep] = b.updates[i], p, b.outcomes[i]
		keep++
	}
	b.updates, b.partitions, b.outcomes = b.updates[:keep], b.partitions[:keep], b.outcomes[:keep]
	for p := range partitions {
		b.total -= b.records[p]
		delete(b.next, p)
		delete(b.records, p)
	}
	return dropped
}

// run subscribes and consumes until ctx is done or a fatal Kafka error, then
// writes or abandons the pending batch and leaves the group.
func (c *consumerLoop) run(ctx context.Context) error {
	if err := c.consumer.SubscribeTopics([]string{c.topic}, c.onRebalance); err != nil {
		return fmt.Errorf("sink: subscribing to %s: %w", c.topic, err)
	}
	err := c.loop(ctx)
	return errors.Join(err, c.shutdown())
}

func (c *consumerLoop) loop(ctx context.Context) error {
	batchSize := c.cfg.Redis.BatchSize
	for ctx.Err() == nil {
		if c.failing {
			if wait := time.Until(c.nextAttempt); wait > 0 {
				// Keep polling while paused: it serves rebalances and keeps
				// this member in the group.
				c.handle(c.consumer.Poll(int(max(time.Millisecond, min(wait, pollInterval)).Milliseconds())))
			} else {
				c.flush(ctx)
			}
		} else {
			c.handle(c.consumer.Poll(int(pollInterval.Milliseconds())))
			for !c.failing && c.batch.total < batchSize && c.failure == nil {
				ev := c.consumer.Poll(0)
				if ev == nil {
					break
				}
				c.handle(ev)
			}
			if !c.batch.empty() {
				c.flush(ctx)
			} else if time.Since(c.lastRedisOK) >= c.healthInterval {
				c.checkRedis(ctx)
			}
		}
		if c.failure != nil {
			return c.failure
		}
		c.checkKafka()
	}
	return nil
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
	c.ready.kafkaAnswered()
	c.metrics.consumed.Inc()
	c.batch.handled(tp.Partition, tp.Offset)
	u, reason, detail := parseRecord(msg)
	if reason != "" {
		c.metrics.invalid.WithLabelValues(reason).Inc()
		c.logger.Warn("skipping invalid record", "reason", reason, "detail", detail,
			"topic", c.topic, "partition", tp.Partition, "offset", int64(tp.Offset))
		return
	}
	c.batch.add(tp.Partition, u)
}

// parseRecord turns a trades-2s record into an Update, or says why it cannot:
// reason is one of the invalid_records_total labels, empty when valid.
func parseRecord(msg *kafka.Message) (u Update, reason, detail string) {
	if len(msg.Key) == 0 {
		return u, reasonEmptyKey, "record key (the ISIN) is empty"
	}
	var raw []byte
	found := false
	for _, h := range msg.Headers {
		if h.Key == WindowEndHeader {
			raw, found = h.Value, true
			break
		}
	}
	if !found {
		return u, reasonMissingWindowEnd, "no " + WindowEndHeader + " header"
	}
	end, err := parseEpochMillis(raw)
	if err != nil {
		return u, reasonBadWindowEnd, err.Error()
	}
	return Update{ISIN: string(msg.Key), WindowEnd: end, Value: msg.Value}, "", ""
}

// parseEpochMillis parses decimal ASCII digits (no sign, no spaces) within the
// range the script compares exactly.
func parseEpochMillis(raw []byte) (int64, error) {
	if len(raw) == 0 || len(raw) > 16 {
		return 0, fmt.Errorf("%s header %q is not epoch milliseconds", WindowEndHeader, truncate(raw))
	}
	for _, b := range raw {
		if b < '0' || b > '9' {
			return 0, fmt.Errorf("%s header %q is not epoch milliseconds", WindowEndHeader, truncate(raw))
		}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v > maxWindowEnd {
		return 0, fmt.Errorf("%s header %q is out of range", WindowEndHeader, truncate(raw))
	}
	return v, nil
}

func truncate(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

func (c *consumerLoop) handleError(e kafka.Error) {
	if e.IsFatal() {
		c.failure = fmt.Errorf("sink: kafka consumer: %w", e)
		return
	}
	if e.Code() == kafka.ErrAllBrokersDown {
		c.ready.kafkaDown.Store(true)
	}
	c.logger.Warn("kafka consumer error", "err", e, "code", e.Code().String())
}

// checkKafka clears the brokers-down flag once metadata can be fetched again,
// for a sink with nothing to read (a message clears it too).
func (c *consumerLoop) checkKafka() {
	if !c.ready.kafkaDown.Load() || time.Since(c.lastKafkaCheck) < kafkaCheckInterval {
		return
	}
	c.lastKafkaCheck = time.Now()
	if _, err := c.consumer.GetMetadata(&c.topic, false, 1000); err == nil {
		c.ready.kafkaAnswered()
	}
}

// flush writes what is pending to Redis and, when all of it is acknowledged,
// commits the batch's offsets. On failure it pauses consumption and schedules
// the next attempt.
func (c *consumerLoop) flush(ctx context.Context) {
	// An attempt is bounded on its own rather than cut short by shutdown: a
	// batch half-sent when the signal arrives is finished if Redis answers.
	attemptCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
	defer cancel()
	if c.failing {
		if err := c.writer.Ping(attemptCtx); err != nil {
			c.redisFailed(err)
			return
		}
	}
	start := time.Now()
	nWritten, nStale, err := c.writer.apply(attemptCtx, c.batch.updates, c.batch.outcomes)
	c.metrics.written.Add(float64(nWritten))
	c.metrics.stale.Add(float64(nStale))
	if err != nil {
		c.redisFailed(err)
		return
	}
	c.metrics.batchLatency.Observe(time.Since(start).Seconds())
	c.metrics.batchSize.Observe(float64(len(c.batch.updates)))
	c.commit()
	c.batch.reset()
	c.redisOK()
}

// commit stores the offsets after the batch's last records of the
// partitions still assigned: Redis has acknowledged every record below them.
// librdkafka commits stored offsets every auto.commit.interval.ms, before a
// partition is revoked and when the consumer closes; a redelivery of records
// whose offsets were stored but not yet committed is skipped as stale.
func (c *consumerLoop) commit() {
	if len(c.batch.next) == 0 {
		return
	}
	offsets := make([]kafka.TopicPartition, 0, len(c.batch.next))
	for p, next := range c.batch.next {
		if c.assigned[p] {
			offsets = append(offsets, kafka.TopicPartition{Topic: &c.topic, Partition: p, Offset: next})
		}
	}
	if len(offsets) == 0 {
		return
	}
	if _, err := c.consumer.StoreOffsets(offsets); err != nil {
		c.metrics.commits.WithLabelValues("error").Inc()
		c.logger.Warn("storing offsets failed; the records will be redelivered and skipped as stale", "err", err)
		return
	}
	c.metrics.commits.WithLabelValues("ok").Inc()
}

// checkRedis PINGs an idle Redis so that an outage shows on /readyz and
// pauses consumption before the next record arrives.
func (c *consumerLoop) checkRedis(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(ctx, c.cfg.Redis.Timeout)
	defer cancel()
	if err := c.writer.Ping(pingCtx); err != nil {
		if ctx.Err() != nil {
			return
		}
		c.redisFailed(err)
		return
	}
	c.redisOK()
}

// redisFailed pauses every assigned partition, marks the sink not ready and
// schedules the next attempt with capped exponential backoff.
func (c *consumerLoop) redisFailed(err error) {
	c.metrics.redisErrors.Inc()
	if c.backoff == 0 {
		c.backoff = backoffMin
	} else {
		c.backoff = min(2*c.backoff, backoffMax)
	}
	// Up to 20% jitter keeps many instances from retrying in lockstep.
	wait := c.backoff + time.Duration(rand.Int64N(int64(c.backoff)/5+1))
	c.nextAttempt = time.Now().Add(wait)
	c.ready.setRedisError(err)
	level := slog.LevelWarn
	if errors.Is(err, ErrRedisAuth) {
		level = slog.LevelError
	}
	c.logger.Log(context.Background(), level, "redis failing; consumption paused, retrying",
		"err", err, "pending_records", c.batch.total, "pending_partitions", c.batch.partitionList(),
		"retry_in", wait.Round(time.Millisecond).String())
	if !c.failing {
		c.failing = true
		c.setPaused(true)
	}
}

// redisOK records a successful exchange with Redis and resumes consumption
// when it was paused.
func (c *consumerLoop) redisOK() {
	c.lastRedisOK = time.Now()
	c.ready.setRedisError(nil)
	c.backoff = 0
	if c.failing {
		c.failing = false
		c.setPaused(false)
		c.logger.Info("redis is back; consumption resumed")
	}
}

// setPaused pauses or resumes every assigned partition. Fetching stops, but
// Poll still serves rebalances and keeps the member in the group.
func (c *consumerLoop) setPaused(paused bool) {
	c.ready.paused.Store(paused)
	if paused {
		c.metrics.paused.Set(1)
	} else {
		c.metrics.paused.Set(0)
	}
	parts := c.assignedPartitions()
	if len(parts) == 0 {
		return
	}
	var err error
	if paused {
		err = c.consumer.Pause(parts)
	} else {
		err = c.consumer.Resume(parts)
	}
	if err != nil {
		c.logger.Warn("pausing or resuming partitions failed", "paused", paused, "err", err)
	}
}

func (c *consumerLoop) assignedPartitions() []kafka.TopicPartition {
	parts := make([]kafka.TopicPartition, 0, len(c.assigned))
	for p := range c.assigned {
		parts = append(parts, kafka.TopicPartition{Topic: &c.topic, Partition: p})
	}
	return parts
}

// onRebalance is the consumer's rebalance callback (cooperative-sticky: it
// sees only the partitions that move). It runs inside Poll.
func (c *consumerLoop) onRebalance(_ *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		c.assign(e.Partitions)
	case kafka.RevokedPartitions:
		c.revoke(e.Partitions)
	}
	return nil
}

func (c *consumerLoop) assign(parts []kafka.TopicPartition) {
	if err := c.consumer.IncrementalAssign(parts); err != nil {
		c.failure = fmt.Errorf("sink: assigning partitions: %w", err)
		return
	}
	for _, tp := range parts {
		c.assigned[tp.Partition] = true
	}
	c.repause()
	c.ready.kafkaAnswered()
	c.updateAssigned()
	c.logger.Info("partitions assigned", "topic", c.topic, "partitions", partitionList(parts), "assigned", len(c.assigned), "paused", c.failing)
}

// revoke hands partitions over. While Redis works, their pending records are
// written and committed first, sparing the next owner the redelivery;
// otherwise (Redis failing, assignment lost, shutting down) they are dropped
// uncommitted, and the next owner reads them again.
func (c *consumerLoop) revoke(parts []kafka.TopicPartition) {
	revoked := map[int32]bool{}
	for _, tp := range parts {
		revoked[tp.Partition] = true
	}
	pendingRevoked := false
	for p := range c.batch.next {
		if revoked[p] {
			pendingRevoked = true
		}
	}
	lost := c.consumer.AssignmentLost()
	if pendingRevoked && !c.failing && !lost && !c.closing {
		c.flush(context.Background())
	}
	if dropped := c.batch.drop(revoked); dropped > 0 {
		c.logger.Info("dropped uncommitted records of revoked partitions; their next owner re-reads them", "records", dropped)
	}
	for p := range revoked {
		delete(c.assigned, p)
	}
	if err := c.consumer.IncrementalUnassign(parts); err != nil {
		c.logger.Warn("unassigning partitions failed", "err", err)
	}
	c.repause()
	c.updateAssigned()
	c.logger.Info("partitions revoked", "topic", c.topic, "partitions", partitionList(parts), "lost", lost, "assigned", len(c.assigned))
}

// repause pauses every assigned partition again while Redis is failing: a
// rebalance must not restart fetching, whether it brought new partitions or
// only took some away.
func (c *consumerLoop) repause() {
	if !c.failing || len(c.assigned) == 0 {
		return
	}
	if err := c.consumer.Pause(c.assignedPartitions()); err != nil {
		c.logger.Warn("pausing partitions after a rebalance failed", "err", err)
	}
}

func (c *consumerLoop) updateAssigned() {
	c.ready.assigned.Store(int32(len(c.assigned)))
	c.metrics.assigned.Set(float64(len(c.assigned)))
}

// shutdown writes the pending batch when Redis is working (bounded), abandons
// it otherwise, uncommitted, and closes the consumer, leaving the group.
func (c *consumerLoop) shutdown() error {
	c.closing = true
	if !c.batch.empty() && !c.failing && c.failure == nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		nWritten, nStale, err := c.writer.apply(ctx, c.batch.updates, c.batch.outcomes)
		cancel()
		c.metrics.written.Add(float64(nWritten))
		c.metrics.stale.Add(float64(nStale))
		if err == nil {
			c.commit()
			c.batch.reset()
		} else {
			c.logger.Warn("final batch not written; abandoning it uncommitted", "err", err)
		}
	}
	if !c.batch.empty() {
		c.logger.Info("abandoning uncommitted records; they will be read again", "records", c.batch.total)
		c.batch.reset()
	}
	if err := c.consumer.Close(); err != nil {
		return fmt.Errorf("sink: closing consumer: %w", err)
	}
	return nil
}

func partitionList(parts []kafka.TopicPartition) []int32 {
	out := make([]int32, len(parts))
	for i, tp := range parts {
		out[i] = tp.Partition
	}
	return out
}
