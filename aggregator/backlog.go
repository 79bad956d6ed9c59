package aggregator

import (
	"iter"
	"time"
)

// A partition more than backlogLag records behind its end is draining a
// backlog: nobody waits on one particular window then, and a transaction
// every commit_interval would spend much of the loop's time committing.
// Transactions then last backlogCommitFactor times as long, within a quarter
// of the transaction timeout.
const (
	backlogLag            = 5000
	backlogCommitFactor   = 10
	drainingCheckInterval = 20 * time.Millisecond
)

// backlogCommitInterval is how long a transaction lasts while draining a
// backlog.
func backlogCommitInterval(cfg Config) time.Duration {
	return min(backlogCommitFactor*cfg.Output.CommitInterval, cfg.Kafka.TransactionTimeout/4)
}

// backlogWatch tells whether a stage is draining a backlog: whether any of its
// partitions is more than backlogLag records behind the end offset the
// consumer last learnt from a fetch (a local lookup, no broker round trip,
// refreshed at most every drainingCheckInterval).
type backlogWatch struct {
	consumer interface {
		GetWatermarkOffsets(topic string, partition int32) (low, high int64, err error)
	}
	topic     string
	checkedAt time.Time
	draining  bool
}

// check answers at now, given each assigned partition's next offset to read
// (negative when unknown).
func (b *backlogWatch) check(now time.Time, positions iter.Seq2[int32, int64]) bool {
	if now.Sub(b.checkedAt) < drainingCheckInterval {
		return b.draining
	}
	b.checkedAt, b.draining = now, false
	for p, next := range positions {
		if next < 0 {
			continue
		}
		if _, high, err := b.consumer.GetWatermarkOffsets(b.topic, p); err == nil && high-next > backlogLag {
			b.draining = true
			break
		}
	}
	return b.draining
}
