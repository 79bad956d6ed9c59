package sink

import (
	"context"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/consumeloop"
)

// Assigned gives each new partition a lane; it resumes at its committed
// offset.
func (c *consumerLoop) Assigned(_ context.Context, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	start := make([]kafka.TopicPartition, len(parts))
	for i, tp := range parts {
		c.assigned[tp.Partition] = true
		start[i] = kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition, Offset: kafka.OffsetStored}
	}
	c.route(consumeloop.Partitions(parts))
	c.ready.kafka.Answered()
	return start, nil
}

// Revoked hands partitions over. The batches in flight are waited for
// first, so that no answer from Redis is ever applied to a later assignment
// of the same partition: their offsets are stored for the partitions still
// assigned, which a lost assignment's are not. Then, while Redis works, the
// pending records of the revoked partitions are written and their offsets
// stored, sparing the next owner the redelivery; otherwise (Redis failing,
// assignment lost, shutting down) they are dropped uncommitted, and the next
// owner reads them again.
func (c *consumerLoop) Revoked(_ context.Context, parts []kafka.TopicPartition, lost bool) error {
	revoked := map[int32]bool{}
	for _, tp := range parts {
		revoked[tp.Partition] = true
	}
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
	return nil
}

func (c *consumerLoop) updateAssigned(n int) {
	c.ready.partitions.Set(n > 0, "no input partitions assigned")
	c.metrics.assigned.Set(float64(n))
}
