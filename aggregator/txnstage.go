package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/consumeloop"
)

// stageConsumer is what a stage asks of its consumer besides what the
// consume loop reads with: *kafka.Consumer, or consumetest's fake in tests.
type stageConsumer interface {
	consumeloop.Consumer
	groupMember
	Committed(partitions []kafka.TopicPartition, timeoutMs int) ([]kafka.TopicPartition, error)
	QueryWatermarkOffsets(topic string, partition int32, timeoutMs int) (low, high int64, err error)
	GetWatermarkOffsets(topic string, partition int32) (low, high int64, err error)
	GetMetadata(topic *string, allTopics bool, timeoutMs int) (*kafka.Metadata, error)
}

// committedTimeout bounds the fetch of committed offsets. With read_committed,
// librdkafka asks the coordinator for stable offsets, so a fetch waits while a
// previous owner's transaction is still being completed.
const committedTimeout = 30 * time.Second

// revokeTimeout bounds the commit or abort a revocation makes.
const revokeTimeout = 30 * time.Second

// stageState is what a transactional stage keeps of its partitions, and
// commits with their offsets: the part in which the window stage and the
// repartition stage differ. txnStage calls it on the loop's goroutine.
type stageState interface {
	// restore (re)builds the state of partitions from their committed
	// offsets and metadata (offset < 0: nothing committed) and returns
	// where to fetch each from.
	restore(committed []kafka.TopicPartition, now time.Time) ([]kafka.TopicPartition, error)
	// forget drops the state of partitions that were taken away.
	forget(partitions []kafka.TopicPartition)
	// held returns the partitions the state has.
	held() []kafka.TopicPartition
	// prepareCommit adds to the open transaction what must go with the
	// offsets (the repartition stage's progress markers), and returns the
	// offsets to commit, with their metadata.
	prepareCommit() ([]kafka.TopicPartition, error)
	// committed is told that the transaction committed records besides
	// DLQ records and markers, at now.
	committed(records int, now time.Time)
	// aborted is told that the open transaction was aborted: what it held
	// is gone, and every partition is about to be restored.
	aborted()
}

// txnStage is what both stages of the aggregator are: a consumeloop.Handler
// that commits its output, its rejected records and its partitions' offsets
// in one transaction; restores a partition from its committed offset and
// metadata when it is assigned; commits before a partition is revoked; and
// after an aborted transaction rewinds every partition to what is committed.
// Its stageState is the rest. The stages add Handle and Tick.
type txnStage struct {
	name     string // the stage's name in logs and errors
	cfg      Config
	topic    string // the topic consumed
	logger   *slog.Logger
	consumer stageConsumer
	txn      *transactor
	loop     *consumeloop.Loop
	state    stageState
	ready    *conditions
	// afterPoll runs on the polling goroutine (the consumer lag gauge).
	afterPoll func()
	// stale is set while the state since the last commit went with an
	// aborted transaction and is not rebuilt yet (a rewind under way, a
	// final commit that failed, a fatal error): a revocation must then not
	// commit it, as that would skip output never written, and the committed
	// offsets are where the next owner must start.
	stale bool
}

// run initializes the transactions and consumes through a Loop until ctx
// is done or a fatal error.
func (s *txnStage) run(ctx context.Context, handler consumeloop.Handler, opts consumeloop.Options) error {
	if err := s.txn.producer.InitTransactions(ctx); err != nil {
		_ = s.consumer.Close() // never subscribed: nothing to commit or leave
		return fmt.Errorf("%s: initializing transactions: %w", s.name, err)
	}
	s.ready.transactions.Met()
	opts.Topics = []string{s.topic}
	opts.Logger = s.logger
	opts.OnError = s.clientError
	opts.AfterPoll = s.afterPoll
	s.loop = consumeloop.New(s.consumer, handler, opts)
	err := s.loop.Run(ctx)
	if errors.Is(err, consumeloop.ErrFatal) {
		err = errors.Join(errFatal, err)
	}
	return err
}

// clientError reports a client error of the consumer that is not fatal to
// the Kafka monitor, which logs it and keeps the kafka readiness dependency.
func (s *txnStage) clientError(e kafka.Error) {
	s.ready.kafka.Error(s.name+"-consumer", e)
}

// Assigned restores the new partitions from their committed offsets.
func (s *txnStage) Assigned(_ context.Context, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	committed, err := s.committedOffsets(parts)
	if err != nil {
		return nil, err
	}
	start, err := s.state.restore(committed, time.Now())
	if err == nil {
		s.logger.Debug("restored", "from", offsetList(start))
	}
	return start, err
}

// offsetList renders partitions' offsets for a log line: "3@1200 4@990".
func offsetList(parts []kafka.TopicPartition) string {
	var b []byte
	for i, tp := range parts {
		if i > 0 {
			b = append(b, ' ')
		}
		b = fmt.Appendf(b, "%d@%d", tp.Partition, tp.Offset)
	}
	return string(b)
}

func (s *txnStage) committedOffsets(parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	committed, err := s.consumer.Committed(parts, int(committedTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: fetching committed offsets: %w", errFatal, s.name, err)
	}
	for _, tp := range committed {
		if tp.Error != nil {
			return nil, fmt.Errorf("%w: %s: committed offset of partition %d: %w", errFatal, s.name, tp.Partition, tp.Error)
		}
	}
	return committed, nil
}

// Revoked hands partitions over: unless they are lost already, it first
// commits the open transaction, which carries their final offsets, so the
// next owner resumes exactly there. When they are lost, another member may
// own them already, so the open transaction is aborted and the partitions
// kept are rewound. While the state is stale it commits nothing.
func (s *txnStage) Revoked(ctx context.Context, parts []kafka.TopicPartition, lost bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	var err error
	switch {
	case s.stale:
	case lost:
		s.logger.Warn("partitions lost", "partitions", consumeloop.Partitions(parts))
		s.state.forget(parts)
		if err = s.txn.abort(ctx); err == nil {
			err = s.rewind(ctx)
		}
	default:
		if err = s.commit(ctx); errors.Is(err, errAborted) {
			s.state.forget(parts)
			err = s.rewind(ctx)
		}
	}
	s.state.forget(parts)
	return err
}

// Stop commits what is pending, unless the state is stale or the stage
// ends on a fatal error (the open transaction may hold part of a window).
func (s *txnStage) Stop(ctx context.Context, cause error) error {
	if s.stale || errors.Is(cause, errFatal) || errors.Is(cause, consumeloop.ErrFatal) {
		s.stale = true
		return nil
	}
	if err := s.commit(ctx); err != nil {
		s.stale = true
		if !errors.Is(err, errAborted) {
			return fmt.Errorf("%s: final commit: %w", s.name, err)
		}
	}
	return nil
}

// commit commits the open transaction with the offsets the state gives.
func (s *txnStage) commit(ctx context.Context) error {
	offsets, err := s.state.prepareCommit()
	if err != nil {
		return err
	}
	if len(offsets) == 0 && !s.txn.open {
		s.state.committed(0, time.Now())
		return nil
	}
	began := time.Now()
	records, err := s.txn.commit(ctx, offsets)
	if err != nil {
		return err
	}
	now := time.Now()
	s.logger.Debug("committed", "records", records, "offsets", offsetList(offsets), "took", now.Sub(began))
	s.state.committed(records, now)
	s.ready.transactions.Met()
	s.ready.kafka.Answered()
	return nil
}

// recover handles a step that failed: after an abort it rewinds every
// partition to what is committed; fatal errors are returned.
func (s *txnStage) recover(ctx context.Context, err error) error {
	if errors.Is(err, errFatal) || errors.Is(err, context.Canceled) {
		return err
	}
	if !errors.Is(err, errAborted) {
		// An abortable error outside commit (producing): abort first.
		if aerr := s.txn.abortOn(ctx, err); !errors.Is(aerr, errAborted) {
			return aerr
		}
	}
	s.ready.transactions.Fail("recovering from an aborted transaction: " + err.Error())
	s.logger.Warn("transaction aborted; rewinding to committed offsets", "err", err)
	return s.rewind(ctx)
}

// rewind restores every partition held from what is committed and seeks
// back there, discarding the state built since: what it produced went with
// the aborted transaction.
func (s *txnStage) rewind(ctx context.Context) error {
	s.stale = true
	s.state.aborted()
	parts := s.state.held()
	if len(parts) > 0 {
		committed, err := s.committedOffsets(parts)
		if err != nil {
			return err
		}
		start, err := s.state.restore(committed, time.Now())
		if err != nil {
			return err
		}
		if err := s.loop.Rewind(start); err != nil {
			return err
		}
	}
	s.stale = false
	s.ready.transactions.Met()
	return ctx.Err()
}

// partitionMap is a stage's state of its partitions, by partition.
type partitionMap[T any] map[int32]T

// forget drops the state of partitions.
func (m partitionMap[T]) forget(partitions []kafka.TopicPartition) {
	for _, tp := range partitions {
		delete(m, tp.Partition)
	}
}

// list returns the partitions of topic the map holds.
func (m partitionMap[T]) list(topic *string) []kafka.TopicPartition {
	parts := make([]kafka.TopicPartition, 0, len(m))
	for p := range m {
		parts = append(parts, kafka.TopicPartition{Topic: topic, Partition: p})
	}
	return parts
}
