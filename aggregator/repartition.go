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

// repartitionStage re-keys a raw topic that is not keyed by ISIN into
// <input>-by-isin, keyed by ISIN with the Java (murmur2) partitioner, so each
// ISIN is owned by exactly one partition of the topic the window stage reads.
// It is stateless: records and offsets go out in one transaction, rejected
// records to the DLQ with their raw-topic position.
type repartitionStage struct {
	cfg      Config
	logger   *slog.Logger
	metrics  *metrics
	consumer *kafka.Consumer
	txn      *transactor
	parser   *trade.Parser

	rawTopic   string
	keyedTopic string
	dlqTopic   string

	next    map[int32]int64 // offset after the last record handled, per partition
	failure error
	closing bool // see windowStage.closing
}

func (s *repartitionStage) run(ctx context.Context) error {
	if err := s.txn.producer.InitTransactions(ctx); err != nil {
		_ = s.consumer.Close() // never subscribed: nothing to commit or leave
		return fmt.Errorf("repartition: initializing transactions: %w", err)
	}
	if err := s.consumer.SubscribeTopics([]string{s.rawTopic}, s.onRebalance); err != nil {
		_ = s.consumer.Close()
		return fmt.Errorf("repartition: subscribing to %s: %w", s.rawTopic, err)
	}
	err := s.loop(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, err)
	}
	if !errors.Is(err, errFatal) {
		if cerr := s.commit(shutdownCtx); cerr != nil && !errors.Is(cerr, errAborted) {
			errs = append(errs, cerr)
		}
	}
	s.closing = true
	if cerr := s.consumer.Close(); cerr != nil {
		errs = append(errs, fmt.Errorf("repartition: closing consumer: %w", cerr))
	}
	return errors.Join(errs...)
}

func (s *repartitionStage) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		ev := s.consumer.Poll(int(pollInterval.Milliseconds()))
		if s.failure != nil {
			return s.failure
		}
		quiet := false
		var err error
		switch e := ev.(type) {
		case *kafka.Message:
			err = s.handle(e)
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("%w: repartition consumer: %v", errFatal, e)
			}
			s.logger.Warn("kafka consumer error", "stage", "repartition", "err", e)
		case kafka.PartitionEOF, nil:
			quiet = true
		}
		if err == nil && s.txn.open && (quiet || time.Since(s.txn.began) >= s.cfg.Output.CommitInterval) {
			err = s.commit(ctx)
		}
		if err != nil {
			if err = s.recover(ctx, err); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

func (s *repartitionStage) handle(msg *kafka.Message) error {
	if _, ok := s.next[msg.TopicPartition.Partition]; !ok {
		return nil // fetched before its partition was revoked
	}
	s.next[msg.TopicPartition.Partition] = int64(msg.TopicPartition.Offset) + 1
	id, _, rej := s.parser.Parse(msg.Value, msg.Timestamp.UnixMilli(), time.Now())
	if rej != nil {
		if s.dlqTopic == "" {
			if err := s.txn.begin(); err != nil { // the offset still has to be committed
				return err
			}
			return s.txn.reject(rej.Reason, nil)
		}
		return s.txn.reject(rej.Reason, dlqMessage(&s.dlqTopic, msg, rej))
	}
	return s.txn.produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &s.keyedTopic, Partition: kafka.PartitionAny},
		Key:            append([]byte(nil), id[:]...),
		Value:          msg.Value,
		Timestamp:      msg.Timestamp,
		Headers:        msg.Headers,
	})
}

func (s *repartitionStage) commit(ctx context.Context) error {
	var tps []kafka.TopicPartition
	for p, next := range s.next {
		if next >= 0 {
			tps = append(tps, kafka.TopicPartition{Topic: &s.rawTopic, Partition: p, Offset: kafka.Offset(next)})
		}
	}
	if !s.txn.open {
		return nil
	}
	rekeyed, err := s.txn.commit(ctx, tps)
	if err != nil {
		return err
	}
	s.metrics.repartitioned.Add(float64(rekeyed))
	return nil
}

func (s *repartitionStage) recover(ctx context.Context, err error) error {
	if errors.Is(err, errFatal) || errors.Is(err, context.Canceled) {
		return err
	}
	if !errors.Is(err, errAborted) {
		if aerr := s.txn.abortOn(ctx, err); !errors.Is(aerr, errAborted) {
			return aerr
		}
	}
	s.logger.Warn("repartition transaction aborted; rewinding", "err", err)
	return s.rewind()
}

// rewind seeks every assigned partition back to its committed offset.
func (s *repartitionStage) rewind() error {
	if len(s.next) == 0 {
		return nil
	}
	parts := make([]kafka.TopicPartition, 0, len(s.next))
	for p := range s.next {
		parts = append(parts, kafka.TopicPartition{Topic: &s.rawTopic, Partition: p})
	}
	start, err := s.startOffsets(parts)
	if err != nil {
		return err
	}
	if _, err := s.consumer.SeekPartitions(start); err != nil {
		return fmt.Errorf("%w: repartition: seeking: %v", errFatal, err)
	}
	return nil
}

// startOffsets returns the committed offsets of parts (input.start where none
// is committed) and resets the handled-through marks to them.
func (s *repartitionStage) startOffsets(parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	committed, err := s.consumer.Committed(parts, int(committedTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("%w: repartition: fetching committed offsets: %v", errFatal, err)
	}
	for i, tp := range committed {
		committed[i].Metadata = nil
		if tp.Offset >= 0 {
			s.next[tp.Partition] = int64(tp.Offset)
			continue
		}
		s.next[tp.Partition] = -1
		if s.cfg.Input.Start == "latest" {
			committed[i].Offset = kafka.OffsetEnd
		} else {
			committed[i].Offset = kafka.OffsetBeginning
		}
	}
	return committed, nil
}

func (s *repartitionStage) onRebalance(c *kafka.Consumer, ev kafka.Event) error {
	var err error
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if s.closing {
			return nil
		}
		var start []kafka.TopicPartition
		if start, err = s.startOffsets(e.Partitions); err == nil {
			if aerr := c.IncrementalAssign(start); aerr != nil {
				err = fmt.Errorf("%w: repartition: assigning: %v", errFatal, aerr)
			}
		}
	case kafka.RevokedPartitions:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if s.failure == nil {
			if c.AssignmentLost() {
				err = s.txn.abort(ctx)
				for _, tp := range e.Partitions {
					delete(s.next, tp.Partition)
				}
				if err == nil {
					err = s.rewind()
				}
			} else if cerr := s.commit(ctx); cerr != nil {
				for _, tp := range e.Partitions {
					delete(s.next, tp.Partition)
				}
				err = s.recover(ctx, cerr)
			}
		}
		cancel()
		for _, tp := range e.Partitions {
			delete(s.next, tp.Partition)
		}
		if uerr := c.IncrementalUnassign(e.Partitions); uerr != nil && err == nil {
			err = fmt.Errorf("%w: repartition: unassigning: %v", errFatal, uerr)
		}
	}
	if err != nil && s.failure == nil {
		s.failure = err
	}
	return err
}
