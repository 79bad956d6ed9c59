package aggregator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/window"
)

// committedTimeout bounds the fetch of committed offsets. With read_committed,
// librdkafka asks the coordinator for stable offsets, so a fetch waits while a
// previous owner's transaction is still being completed.
const committedTimeout = 30 * time.Second

// onRebalance is the consumer's rebalance callback (cooperative-sticky: it sees
// only the partitions that move). It runs on the stage goroutine: handed over
// by the poller, or inside Close.
func (s *windowStage) onRebalance(c *kafka.Consumer, ev kafka.Event) error {
	var err error
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		if s.closing {
			// Leaving: let librdkafka assign them as they are; Close
			// revokes them right after.
			return nil
		}
		err = s.assign(e.Partitions)
	case kafka.RevokedPartitions:
		err = s.revoke(e.Partitions)
	}
	if err != nil && s.failure == nil {
		s.failure = err
	}
	return err
}

// assign restores each new partition from its committed checkpoint and starts
// fetching at the checkpoint's offset, so open windows are rebuilt by replay.
func (s *windowStage) assign(parts []kafka.TopicPartition) error {
	if len(parts) == 0 {
		return s.consumer.IncrementalAssign(parts)
	}
	start, err := s.restore(parts)
	if err != nil {
		return err
	}
	if err := s.consumer.IncrementalAssign(start); err != nil {
		return fmt.Errorf("%w: assigning partitions: %v", errFatal, err)
	}
	s.ready.partitions.Set(len(s.partitions) > 0, "no input partitions assigned")
	s.metrics.assigned.Set(float64(len(s.partitions)))
	s.logger.Info("partitions assigned", "topic", s.topic, "partitions", partitionList(parts), "assigned", len(s.partitions))
	return nil
}

// restore (re)builds the state of parts from their committed checkpoints and
// returns where to fetch each from.
func (s *windowStage) restore(parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	committed, err := s.consumer.Committed(parts, int(committedTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("%w: fetching committed offsets: %v", errFatal, err)
	}
	now := time.Now()
	start := make([]kafka.TopicPartition, 0, len(committed))
	for _, tp := range committed {
		if tp.Error != nil {
			return nil, fmt.Errorf("%w: committed offset of partition %d: %v", errFatal, tp.Partition, tp.Error)
		}
		ps := &partitionState{id: tp.Partition, next: -1, firstSeen: -1, end: newPartitionEnd()}
		from := tp
		from.Metadata = nil
		if tp.Offset >= 0 {
			meta := ""
			if tp.Metadata != nil {
				meta = *tp.Metadata
			}
			cp, err := decodeCheckpoint(int64(tp.Offset), meta)
			if err != nil {
				// Offsets committed by something else: start there with no
				// history, as a fresh group would.
				if !errors.Is(err, errNoCheckpoint) {
					s.logger.Warn("ignoring unreadable checkpoint", "partition", tp.Partition, "err", err)
				}
				cp = window.Checkpoint{Offset: int64(tp.Offset), ProcessedThrough: int64(tp.Offset), ClosedThrough: window.NoTime, Watermark: window.NoTime}
			}
			ps.engine = window.Restore(s.window, cp, now)
			ps.committed = cp
			ps.next = cp.ProcessedThrough
			from.Offset = kafka.Offset(cp.Offset)
		} else {
			ps.engine = window.NewPartition(s.window, now)
			from.Offset = s.noCommitStart(ps)
		}
		s.partitions[tp.Partition] = ps
		start = append(start, from)
	}
	return start, nil
}

// noCommitStart is where a partition with no committed offset starts: where
// it first started in this process (after a rewind), else input.start.
func (s *windowStage) noCommitStart(ps *partitionState) kafka.Offset {
	if ps.firstSeen >= 0 {
		return kafka.Offset(ps.firstSeen)
	}
	if s.cfg.Input.Start == "latest" {
		return kafka.OffsetEnd
	}
	return kafka.OffsetBeginning
}

// revoke hands partitions over: unless they are already lost, it first
// commits the open transaction, which carries their final checkpoints, so the
// next owner resumes exactly there. When the assignment is lost, another
// member may already own them, so the open transaction is aborted and the
// partitions still owned are rewound. While the state is stale (see
// windowStage.stale) it commits nothing: the committed checkpoints are where
// the next owner must start.
func (s *windowStage) revoke(parts []kafka.TopicPartition) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch {
	case s.failure != nil:
		// Fatal already: leave without touching the transaction.
	case s.stale:
		// The state since the last commit went with an aborted
		// transaction: the committed checkpoints are what the next owner
		// must start from.
		s.forget(parts)
	case s.consumer.AssignmentLost():
		s.logger.Warn("partitions lost", "partitions", partitionList(parts))
		s.forget(parts)
		if aerr := s.txn.abort(ctx); aerr != nil {
			err = aerr
		} else {
			err = s.rewind(ctx)
		}
	default:
		if cerr := s.commit(ctx); cerr != nil {
			if errors.Is(cerr, errAborted) {
				s.forget(parts)
				err = s.rewind(ctx)
			} else {
				err = cerr
			}
		}
	}
	s.forget(parts)
	if uerr := s.consumer.IncrementalUnassign(parts); uerr != nil && err == nil {
		err = fmt.Errorf("%w: unassigning partitions: %v", errFatal, uerr)
	}
	s.ready.partitions.Set(len(s.partitions) > 0, "no input partitions assigned")
	s.metrics.assigned.Set(float64(len(s.partitions)))
	s.logger.Info("partitions revoked", "topic", s.topic, "partitions", partitionList(parts), "assigned", len(s.partitions))
	return err
}

func (s *windowStage) forget(parts []kafka.TopicPartition) {
	for _, tp := range parts {
		delete(s.partitions, tp.Partition)
	}
}

// rewind restores every assigned partition from its committed checkpoint and
// seeks back to it, discarding state built since: the output that state
// produced was aborted with the transaction.
func (s *windowStage) rewind(ctx context.Context) error {
	s.stale = true
	s.windowEnds = s.windowEnds[:0]
	if s.poll.haltable() {
		// Records polled ahead lie past the checkpoints sought back to,
		// and a Poll under way could return more: stop polling first.
		err := s.haltPoller()
		defer s.poll.start()
		if err != nil {
			return err
		}
	}
	if len(s.partitions) == 0 {
		s.stale = false
		return nil
	}
	parts := make([]kafka.TopicPartition, 0, len(s.partitions))
	firstSeen := map[int32]int64{}
	for p, ps := range s.partitions {
		parts = append(parts, kafka.TopicPartition{Topic: &s.topic, Partition: p})
		firstSeen[p] = ps.firstSeen
	}
	start, err := s.restore(parts)
	if err != nil {
		return err
	}
	for i, tp := range start {
		if tp.Offset == kafka.OffsetBeginning || tp.Offset == kafka.OffsetEnd {
			if seen := firstSeen[tp.Partition]; seen >= 0 {
				start[i].Offset = kafka.Offset(seen)
				s.partitions[tp.Partition].firstSeen = seen
			}
		}
	}
	if _, err := s.consumer.SeekPartitions(start); err != nil {
		return fmt.Errorf("%w: seeking to committed offsets: %v", errFatal, err)
	}
	s.stale = false
	s.ready.transactions.Met()
	return ctx.Err()
}

func partitionList(parts []kafka.TopicPartition) []int32 {
	out := make([]int32, len(parts))
	for i, tp := range parts {
		out[i] = tp.Partition
	}
	return out
}
