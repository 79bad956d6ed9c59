package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/trade"
)

// txnProducer is the part of *kafka.Producer a transactor uses; tests
// substitute a fake.
type txnProducer interface {
	InitTransactions(ctx context.Context) error
	BeginTransaction() error
	Produce(msg *kafka.Message, deliveryChan chan kafka.Event) error
	SendOffsetsToTransaction(ctx context.Context, offsets []kafka.TopicPartition, group *kafka.ConsumerGroupMetadata) error
	CommitTransaction(ctx context.Context) error
	AbortTransaction(ctx context.Context) error
}

// groupMember is the consumer whose offsets a transactor commits: its group
// metadata goes with every SendOffsetsToTransaction (KIP-447), so a member of
// an older generation is fenced.
type groupMember interface {
	GetConsumerGroupMetadata() (*kafka.ConsumerGroupMetadata, error)
}

// transactor owns one transactional producer and the transaction in progress.
// It is used by one goroutine only.
type transactor struct {
	producer txnProducer
	consumer groupMember
	logger   *slog.Logger
	metrics  *metrics

	// queueFullLimit bounds produce's wait for room in librdkafka's queue.
	queueFullLimit time.Duration

	open    bool
	began   time.Time
	pending int // messages produced in the open transaction
	// control counts the progress markers among them.
	control int
	// dlq counts the DLQ records among them, and rejected the input records
	// rejected since the last commit, by dlq-reason (with a DLQ record or,
	// without a DLQ topic, none): dlq_records_total takes them when a commit
	// succeeds, so that records replayed after an abort count once.
	dlq      int
	rejected map[trade.Reason]int
}

// begin opens a transaction unless one is open.
func (t *transactor) begin() error {
	if t.open {
		return nil
	}
	if err := t.producer.BeginTransaction(); err != nil {
		return classify("beginning transaction", err)
	}
	t.open, t.began = true, time.Now() // the counts were reset when the last one ended
	return nil
}

// produce adds msg to the open transaction (opening one if needed), waiting
// for room while librdkafka's queue is full (queue.buffering.max.messages:
// a window of 100,000 ISINs is more than it holds). After queueFullLimit
// without room it gives up with an abortable error, so the transaction is
// aborted and replayed: with the brokers away nothing leaves the queue until
// its messages time out, and the loop must neither stop polling the consumer
// nor delay shutdown that long. (It does not give up on shutdown itself: a
// window half produced must be aborted, never committed.)
func (t *transactor) produce(msg *kafka.Message) error {
	if err := t.begin(); err != nil {
		return err
	}
	var waitingSince time.Time
	for {
		err := t.producer.Produce(msg, nil)
		if err == nil {
			t.pending++
			return nil
		}
		var kerr kafka.Error
		switch {
		case errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull:
		case errors.As(err, &kerr) && kerr.Code() == kafka.ErrState:
			// The transaction is in an abortable error state (a message
			// failed): abort and rewind. If the producer is in fact
			// unusable, aborting reports that as fatal.
			return fmt.Errorf("producing: %w", err)
		default:
			return classify("producing", err)
		}
		if waitingSince.IsZero() {
			waitingSince = time.Now()
		} else if time.Since(waitingSince) > t.queueFullLimit {
			return fmt.Errorf("producing: librdkafka's queue stayed full for %v (brokers unreachable?): %w", t.queueFullLimit, err)
		}
		// Not Flush: it returns only once the queue is empty, and without
		// delivery reports it waits up to 100 ms per call.
		time.Sleep(time.Millisecond)
	}
}

// produceControl adds a record that is neither output nor DLQ (a progress
// marker) to the transaction; commit does not count it.
func (t *transactor) produceControl(msg *kafka.Message) error {
	if err := t.produce(msg); err != nil {
		return err
	}
	t.control++
	return nil
}

// reject counts a rejected input record for dlq_records_total, which takes
// it when the transaction commits, and adds its DLQ record (unless nil) to
// the transaction.
func (t *transactor) reject(reason trade.Reason, dlq *kafka.Message) error {
	if dlq != nil {
		if err := t.produce(dlq); err != nil {
			return err
		}
		t.dlq++
	}
	if t.rejected == nil {
		t.rejected = make(map[trade.Reason]int, len(trade.Reasons))
	}
	t.rejected[reason]++
	return nil
}

// commit sends offsets to the open transaction (opening one if needed) and
// commits it, returning how many records it committed besides DLQ records
// and progress markers.
// It returns errAborted after aborting on an abortable error, an
// errFatal-wrapped error when the producer is unusable, or nil.
func (t *transactor) commit(ctx context.Context, offsets []kafka.TopicPartition) (int, error) {
	if len(offsets) > 0 {
		if err := t.begin(); err != nil {
			return 0, t.abortOn(ctx, err)
		}
	}
	if !t.open {
		return 0, nil
	}
	if len(offsets) > 0 {
		err := retry(ctx, func() error {
			group, err := t.consumer.GetConsumerGroupMetadata()
			if err != nil {
				return err
			}
			return t.producer.SendOffsetsToTransaction(ctx, offsets, group)
		})
		if err != nil {
			return 0, t.abortOn(ctx, classify("sending offsets to transaction", err))
		}
	}
	if err := retry(ctx, func() error { return t.producer.CommitTransaction(ctx) }); err != nil {
		return 0, t.abortOn(ctx, classify("committing transaction", err))
	}
	t.open = false
	t.metrics.transactions.WithLabelValues("committed").Inc()
	for reason, n := range t.rejected {
		t.metrics.dlq.WithLabelValues(string(reason)).Add(float64(n))
	}
	committed := t.pending - t.dlq - t.control
	t.forget()
	return committed, nil
}

// forget drops the counts of the transaction that ended.
func (t *transactor) forget() {
	t.pending, t.dlq, t.control = 0, 0, 0
	clear(t.rejected)
}

// abort aborts the open transaction, if any, and forgets the records
// rejected since the last commit even when none was open: the caller
// rewinds, and they are rejected, and counted, again.
func (t *transactor) abort(ctx context.Context) error {
	t.forget()
	if !t.open {
		return nil
	}
	err := retry(ctx, func() error { return t.producer.AbortTransaction(ctx) })
	if err != nil {
		// The transaction's state is unknown: nothing may be committed on
		// top of it. The service exits; its next incarnation's
		// InitTransactions, with the same transactional.id, aborts what is
		// left.
		return fmt.Errorf("%w: aborting transaction: %w", errFatal, err)
	}
	t.open = false
	t.metrics.transactions.WithLabelValues("aborted").Inc()
	return nil
}

// abortOn turns an abortable error into an abort and errAborted; fatal errors pass through.
func (t *transactor) abortOn(ctx context.Context, err error) error {
	if errors.Is(err, errFatal) || errors.Is(err, context.Canceled) {
		return err
	}
	t.logger.Warn("aborting transaction", "err", err)
	if aerr := t.abort(ctx); aerr != nil {
		return aerr
	}
	return fmt.Errorf("%w: %w", errAborted, err)
}

// retry calls fn again while it fails with a retriable error, for at most 30 s.
func retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		var kerr kafka.Error
		if err == nil || !errors.As(err, &kerr) || !kerr.IsRetriable() || kerr.TxnRequiresAbort() || kerr.IsFatal() || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// classify maps librdkafka transactional errors to the service's handling:
// abortable errors stay plain (the caller aborts and rewinds), everything else
// is fatal, as librdkafka's transaction documentation prescribes.
func classify(what string, err error) error {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		if kerr.TxnRequiresAbort() && !kerr.IsFatal() {
			return fmt.Errorf("%s: %w", what, err)
		}
		if kerr.IsRetriable() && !kerr.IsFatal() {
			return fmt.Errorf("%s: %w", what, err)
		}
		return fmt.Errorf("%w: %s: %w", errFatal, what, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", errFatal, what, err)
}
