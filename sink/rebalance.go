package sink

import (
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

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
	c.route(partitionList(parts))
	c.repause()
	c.ready.kafka.Answered()
	c.updateAssigned()
	c.logger.Info("partitions assigned", "topic", c.topic, "partitions", partitionList(parts), "assigned", len(c.assigned), "paused", c.failing)
}

// revoke hands partitions over. The batches in flight are waited for
// first, so that no answer from Redis is ever applied to a later assignment
// of the same partition: their offsets are stored for the partitions still
// assigned, which a lost assignment's are not. Then, while Redis works, the
// pending records of the revoked partitions are written and their offsets
// stored, sparing the next owner the redelivery; otherwise (Redis failing,
// assignment lost, shutting down) they are dropped uncommitted, and the next
// owner reads them again.
func (c *consumerLoop) revoke(parts []kafka.TopicPartition) {
	revoked := map[int32]bool{}
	for _, tp := range parts {
		revoked[tp.Partition] = true
	}
	lost := c.consumer.AssignmentLost()
	if lost {
		for p := range revoked {
			delete(c.assigned, p) // another member owns them already
		}
	}
	c.awaitAll()
	pendingRevoked := false
	for _, l := range c.lanes {
		pendingRevoked = pendingRevoked || l.pending.holds(revoked)
	}
	if pendingRevoked && !c.failing && !lost && !c.closing {
		c.writeNow(attemptTimeout)
	}
	dropped := 0
	for _, l := range c.lanes {
		dropped += l.pending.drop(revoked)
	}
	if dropped > 0 {
		c.logger.Info("dropped uncommitted records of revoked partitions; their next owner re-reads them", "records", dropped)
	}
	for p := range revoked {
		delete(c.assigned, p)
	}
	c.unroute(revoked)
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
	c.ready.partitions.Set(len(c.assigned) > 0, "no input partitions assigned")
	c.metrics.assigned.Set(float64(len(c.assigned)))
}

func (c *consumerLoop) assignedPartitions() []kafka.TopicPartition {
	parts := make([]kafka.TopicPartition, 0, len(c.assigned))
	for p := range c.assigned {
		parts = append(parts, kafka.TopicPartition{Topic: &c.topic, Partition: p})
	}
	return parts
}

func partitionList(parts []kafka.TopicPartition) []int32 {
	out := make([]int32, len(parts))
	for i, tp := range parts {
		out[i] = tp.Partition
	}
	return out
}
