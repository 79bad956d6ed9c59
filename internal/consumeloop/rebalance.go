package consumeloop

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// rebalance handles a rebalance event: on the Loop's goroutine when the
// poller hands it over, or inside the consumer's Close, on Close's goroutine
// while the Loop waits for it. The group protocol is cooperative: each
// event names only the partitions that move.
func (l *Loop) rebalance(ev kafka.Event) {
	var err error
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		err = l.assign(e.Partitions)
	case kafka.RevokedPartitions:
		err = l.revoke(e.Partitions)
	}
	if err != nil && l.failure == nil {
		l.failure = err
	}
}

func (l *Loop) assign(parts []kafka.TopicPartition) error {
	if len(parts) == 0 || l.closing {
		// Leaving: Close revokes them right after; nothing to restore.
		return l.consumer.IncrementalAssign(parts)
	}
	start, err := l.handler.Assigned(l.ctx, parts)
	if err != nil {
		return err
	}
	if err := l.consumer.IncrementalAssign(start); err != nil {
		return fmt.Errorf("%w: assigning partitions: %w", ErrFatal, err)
	}
	for _, tp := range start {
		l.assigned[key(tp)] = kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
	}
	if l.paused {
		if err := l.consumer.Pause(start); err != nil {
			l.opts.Logger.Warn("pausing newly assigned partitions failed", "err", err)
		}
	}
	l.opts.Logger.Info("partitions assigned", "partitions", Partitions(parts), "assigned", len(l.assigned))
	l.reportAssigned()
	return nil
}

func (l *Loop) revoke(parts []kafka.TopicPartition) error {
	lost := l.consumer.AssignmentLost()
	var err error
	if l.failure == nil {
		// After a failure the Handler is not called again before Stop.
		err = l.handler.Revoked(l.ctx, parts, lost)
	}
	for _, tp := range parts {
		delete(l.assigned, key(tp))
	}
	if uerr := l.consumer.IncrementalUnassign(parts); uerr != nil && err == nil {
		err = fmt.Errorf("%w: unassigning partitions: %w", ErrFatal, uerr)
	}
	l.opts.Logger.Info("partitions revoked", "partitions", Partitions(parts), "lost", lost, "assigned", len(l.assigned))
	l.reportAssigned()
	return err
}

func (l *Loop) reportAssigned() {
	if l.opts.OnAssigned != nil {
		l.opts.OnAssigned(len(l.assigned))
	}
}

// Assignment returns the partitions assigned, sorted by topic and partition.
func (l *Loop) Assignment() []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, 0, len(l.assigned))
	for _, tp := range l.assigned {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b kafka.TopicPartition) int {
		return cmp.Or(cmp.Compare(*a.Topic, *b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// Rewind makes the next records handed over start at offsets: it stops
// the polling goroutine, drops what it had read ahead (records past the
// positions the Handler now rewinds to), seeks, and polls again. Client
// errors read ahead are reported (OnError) and handed to Handle as usual,
// since the client reports each only once. Inside a rebalance the polling
// goroutine waits in Poll and has read nothing ahead: Rewind only seeks.
func (l *Loop) Rewind(offsets []kafka.TopicPartition) error {
	if len(offsets) == 0 {
		return nil
	}
	if l.poll.haltable() {
		ahead := l.poll.halt()
		defer l.poll.start()
		for _, ev := range ahead {
			if e, ok := ev.(kafka.Error); ok {
				if err := l.dispatch(l.ctx, e); err != nil {
					return err
				}
			}
		}
	}
	if _, err := l.consumer.SeekPartitions(offsets); err != nil {
		return fmt.Errorf("%w: seeking: %w", ErrFatal, err)
	}
	return nil
}

// Pause stops fetching every assigned partition, and those assigned until
// Resume, while the consumer stays in its group (Poll still runs, serving
// rebalances). Records already read ahead are still handed over.
func (l *Loop) Pause() error { return l.setPaused(true) }

// Resume undoes Pause.
func (l *Loop) Resume() error { return l.setPaused(false) }

// Paused reports whether the Loop is paused.
func (l *Loop) Paused() bool { return l.paused }

func (l *Loop) setPaused(paused bool) error {
	if l.paused == paused {
		return nil
	}
	l.paused = paused
	parts := l.Assignment()
	if len(parts) == 0 {
		return nil
	}
	if paused {
		return l.consumer.Pause(parts)
	}
	return l.consumer.Resume(parts)
}

func key(tp kafka.TopicPartition) topicPartition {
	topic := ""
	if tp.Topic != nil {
		topic = *tp.Topic
	}
	return topicPartition{topic: topic, partition: tp.Partition}
}

// Partitions returns the partition numbers of parts, for log lines.
func Partitions(parts []kafka.TopicPartition) []int32 {
	out := make([]int32, len(parts))
	for i, tp := range parts {
		out[i] = tp.Partition
	}
	return out
}
