package sink

import (
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// writeNow hands every lane's pending records to its idle writer and waits
// for all of them.
func (c *consumerLoop) writeNow(timeout time.Duration) {
	for _, l := range c.lanes {
		if !l.pending.empty() {
			c.submit(l, timeout)
		}
	}
	c.awaitAll()
}

// awaitAll waits for every batch in flight and takes it back.
func (c *consumerLoop) awaitAll() {
	for c.inflight > 0 {
		c.finish(<-c.results)
	}
}

// finish takes back the batch a writer is done with. When Redis
// acknowledged all of it, its offsets are stored. Otherwise Redis is
// failing: the other batches in flight are waited for too, the records of
// each failed batch stay pending in its lane, ahead of those read since,
// and consumption pauses with nothing in flight.
func (c *consumerLoop) finish(res writeResult) {
	if err := c.takeBack(res); err != nil {
		for c.inflight > 0 {
			_ = c.takeBack(<-c.results) // the same outage, as far as backoff goes
		}
		c.redisFailed(err)
		return
	}
	c.redisOK()
}

// takeBack returns a finished batch to its lane, storing its offsets when
// Redis acknowledged all of it, and returns the batch's error.
func (c *consumerLoop) takeBack(res writeResult) error {
	l, done := c.holding(res.batch), res.batch
	l.inflight = nil
	c.inflight--
	if res.err != nil {
		c.countWrites(res)
		done.appendBatch(l.pending)
		l.pending.reset()
		l.pending, l.spare = done, l.pending
		return res.err
	}
	c.storeOffsets(done)
	c.countWrites(res)
	c.metrics.batchLatency.Observe(res.took.Seconds())
	c.metrics.batchSize.Observe(float64(len(done.updates)))
	done.reset()
	l.spare = done
	return nil
}

// countWrites counts what Redis acknowledged; on success, after the
// offsets are stored, so that a scrape showing every record written also
// means every offset stored.
func (c *consumerLoop) countWrites(res writeResult) {
	c.metrics.written.Add(float64(res.written))
	c.metrics.stale.Add(float64(res.stale))
}

// storeOffsets stores the offsets after b's last records of the partitions
// still assigned: Redis has acknowledged every record below them, as a
// partition's batches are applied and finished in the order read. librdkafka commits
// stored offsets every auto.commit.interval.ms, before a partition is
// revoked and when the consumer closes; a redelivery of records whose
// offsets were stored but not yet committed is skipped as stale.
func (c *consumerLoop) storeOffsets(b *batch) {
	offsets := make([]kafka.TopicPartition, 0, len(b.next))
	for p, next := range b.next {
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
