// Package consumeloop is the one Kafka consume loop the services run on. A
// Loop polls a consumer on a goroutine of its own and hands what it reads to
// a Handler on the goroutine that called Run: records, partition ends and
// client errors, and the group's rebalances, all in the order the consumer
// produced them. It classifies client errors once, keeps the member in its
// group while partitions are paused, reports whether partitions are assigned,
// and shuts down within a bound. What becomes of a record, and when offsets
// are committed, is the Handler's business: the Loop commits nothing.
package consumeloop

import (
	"context"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Handler is what a service does with what a Loop reads.
//
// The Loop calls every method one call at a time, on the goroutine that
// called Run (the one exception: a Revoked from the consumer's Close, while
// that goroutine waits for it), so a Handler needs no locking for its own
// state. A method may
// block (on a broker round trip, on Redis), and the Loop waits: while it
// does, nothing else of the Handler runs, and the consumer keeps its group
// membership only as long as the wait stays below max.poll.interval.ms.
//
// A method returns an error only when the Loop must stop: the Loop then
// calls Stop with that error and returns it from Run. Failures a Handler can
// recover from (an aborted transaction, Redis down) it handles itself, with
// the Loop's Rewind, Pause and Resume.
type Handler interface {
	// Assigned is called when the group assigns partitions, before any of
	// their records. It returns where to start each one: the partitions
	// with offsets (kafka.OffsetStored to resume at the committed offset).
	Assigned(ctx context.Context, partitions []kafka.TopicPartition) ([]kafka.TopicPartition, error)

	// Revoked is called before partitions are taken away. Unless lost, the
	// Handler may still commit for them (a cooperative rebalance waits);
	// when lost, another member may own them already, and what the Handler
	// holds of them must be dropped. No record of them is handed over after.
	Revoked(ctx context.Context, partitions []kafka.TopicPartition, lost bool) error

	// Handle is called for each event read, at now: a *kafka.Message, a
	// kafka.PartitionEOF (the partition is caught up), or a kafka.Error
	// the client reported and the Loop did not find fatal. Records and
	// ends of one partition come in offset order.
	Handle(ctx context.Context, event kafka.Event, now time.Time) error

	// Tick is called at now whenever the Loop has no event ready to hand
	// over (the input paused, or a batch of records was handled), when the
	// wait it last asked for has passed (however many records keep
	// coming), and when Options.Wake fires. It does the Handler's periodic
	// work (batching, commits, closing by wall clock) and returns how long
	// the Loop may go before calling it again.
	Tick(ctx context.Context, now time.Time) (wait time.Duration, err error)

	// Stop is called once, when the Loop ends (its context done, or an
	// error, cause), before the consumer is closed: the Handler finishes
	// what it holds (a final commit, or nothing after a fatal error) within
	// ctx's deadline. Revoked may still follow, from the consumer's Close.
	Stop(ctx context.Context, cause error) error
}
