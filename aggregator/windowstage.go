package aggregator

import (
	"context"
	"errors"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/consumeloop"
)

// windowStage consumes the (ISIN-keyed) input topic, or with
// input.repartition the repartition topic, feeds each partition's window
// engine and emits closed windows, DLQ records and checkpoints in one
// transaction. It is a consumeloop.Handler: everything here runs on the
// loop's goroutine.
type windowStage struct {
	txnStage
	metrics *metrics
	parser  *trade.Parser
	window  window.Config

	outputTopic string
	dlqTopic    string

	partitions partitionMap[*partitionState]
	// windowEnds are the ends of the windows emitted in the open transaction,
	// observed as emission delays when it commits.
	windowEnds []int64
	// pending are the checkpoints prepareCommit offered, by partition.
	pending    map[int32]window.Checkpoint
	lastCommit time.Time
	// handled is set by Handle and cleared by Tick: a Tick with nothing
	// handled since the last one means the input paused.
	handled   bool
	lastClose time.Time
	backlog   backlogWatch
	// rawEnds caches rawAtEnd's answers for one closeIdle pass.
	rawEnds map[int32]int64
}

// partitionState is one assigned input partition.
type partitionState struct {
	id     int32
	engine *window.Partition
	// next is the offset after the last record processed, or -1 before the
	// first record when the partition has no committed offset.
	next int64
	// firstSeen is the first offset read when there was no committed offset;
	// a rewind with nothing committed goes back there.
	firstSeen int64
	// end follows whether the partition is at its end, for wall-clock
	// closing.
	end       partitionEnd
	committed window.Checkpoint
	dirty     bool
}

// Intervals of the window stage's periodic work.
const (
	// pollInterval is the longest the stage waits for an event.
	pollInterval = 100 * time.Millisecond
	// idleCheckInterval is how often quiet partitions are looked for.
	idleCheckInterval = 50 * time.Millisecond
	// offsetsOnlyInterval is how often progress is committed when no output
	// or DLQ record forces a transaction (late records only, say), to bound
	// replay.
	offsetsOnlyInterval = 5 * time.Second
	// endQueryTimeout bounds the broker round trip that confirms a quiet
	// partition has nothing more to read.
	endQueryTimeout = time.Second
)

func (s *windowStage) run(ctx context.Context) error {
	s.lastCommit = time.Now()
	return s.txnStage.run(ctx, s, consumeloop.Options{PollTimeout: pollInterval, OnAssigned: s.assignedCount})
}

func (s *windowStage) assignedCount(n int) {
	s.ready.partitions.Set(n > 0, "no input partitions assigned")
	s.metrics.assigned.Set(float64(n))
}

// Handle takes one record, partition end or client error.
func (s *windowStage) Handle(ctx context.Context, ev kafka.Event, now time.Time) error {
	s.handled = true
	var err error
	switch e := ev.(type) {
	case *kafka.Message:
		err = s.handleMessage(e, now)
	case kafka.PartitionEOF:
		if ps := s.partitions[e.Partition]; ps != nil && e.Topic != nil && *e.Topic == s.topic {
			ps.engine.MarkCaughtUp()
			ps.end.reached(int64(e.Offset))
		}
		s.handled = false // caught up: the input paused
	case kafka.Error:
		if e.Code() == kafka.ErrAllBrokersDown {
			for _, ps := range s.partitions {
				ps.end.brokersDown()
			}
		}
	}
	if err != nil {
		return s.recover(ctx, err)
	}
	return nil
}

// Tick closes windows of quiet partitions and commits when it is time.
func (s *windowStage) Tick(ctx context.Context, now time.Time) (time.Duration, error) {
	quiet := !s.handled
	s.handled = false
	if now.Sub(s.lastClose) >= idleCheckInterval {
		s.lastClose = now
		if err := s.closeIdle(now); err != nil {
			return 0, s.recover(ctx, err)
		}
	}
	if s.shouldCommit(now, quiet) {
		if err := s.commit(ctx); err != nil {
			if err := s.recover(ctx, err); err != nil {
				return 0, err
			}
		}
	}
	wait := pollInterval
	if s.txn.open {
		wait = min(wait, max(time.Millisecond, s.cfg.Output.CommitInterval-now.Sub(s.txn.began)))
	}
	return wait, nil
}

// handleMessage validates one input record and feeds it to its partition.
func (s *windowStage) handleMessage(msg *kafka.Message, now time.Time) error {
	ps := s.partitions[msg.TopicPartition.Partition]
	if ps == nil {
		return nil // a record fetched before its partition was revoked
	}
	s.ready.kafka.Answered()
	ps.end.fetched() // reachable, and the record restarts the idle timeout
	offset := int64(msg.TopicPartition.Offset)
	if ps.firstSeen < 0 {
		ps.firstSeen = offset
	}
	if s.window.Upstream && progress.IsMarker(msg) {
		return s.handleMarker(ps, msg, offset)
	}
	s.metrics.consumed.Inc()
	replay := ps.engine.IsReplay(offset)
	if replay {
		s.metrics.replayed.Inc()
	}
	t, rej := s.parser.Parse(msg.Value, msg.Timestamp.UnixMilli(), now)
	switch {
	case rej != nil && !replay:
		var dlq *kafka.Message
		if s.dlqTopic != "" {
			dlq = dlqMessage(&s.dlqTopic, msg, rej)
		}
		if err := s.txn.reject(rej.Reason, dlq); err != nil {
			return err
		}
	case rej == nil:
		record := window.Record{ISIN: t.ISIN, EventTime: t.EventTime, Offset: offset, Value: msg.Value, Price: t.Price, Volume: t.Volume}
		if s.window.Upstream {
			record.Source, record.Stamp = progress.CopiedFrom(msg.Headers)
		}
		if ps.engine.Add(record, now) == window.Late {
			s.metrics.late.Inc()
		}
	}
	ps.next = offset + 1
	ps.dirty = true
	if ps.engine.HasClosed() {
		return s.emit(ps)
	}
	return nil
}

// handleMarker applies a progress marker of the repartition topic to its
// partition. An unreadable one (written by something else) is skipped with
// a warning: it cannot hold anything back that later markers will not
// release.
func (s *windowStage) handleMarker(ps *partitionState, msg *kafka.Message, offset int64) error {
	s.metrics.markersRead.Inc()
	sources, changed, err := progress.DecodeMarker(msg)
	if err != nil {
		s.logger.Warn("skipping unreadable progress marker", "partition", ps.id, "offset", offset, "err", err)
		changed = nil
	}
	ps.engine.Mark(changed, sources, offset)
	ps.next = offset + 1
	ps.dirty = true
	if ps.engine.HasClosed() {
		return s.emit(ps)
	}
	return nil
}

// emit produces the windows a partition closed into the open transaction.
func (s *windowStage) emit(ps *partitionState) error {
	for _, c := range ps.engine.TakeClosed() {
		by := "watermark"
		if c.ByWallClock {
			by = "wall_clock"
		}
		s.metrics.windowsClosed.WithLabelValues(by).Inc()
		headers := newClosedHeaders(ps.id, c)
		for _, e := range c.Entries {
			if err := s.txn.produce(outputMessage(&s.outputTopic, headers, e)); err != nil {
				return err
			}
		}
		s.windowEnds = append(s.windowEnds, c.End)
	}
	return nil
}

// closeIdle closes, by wall clock, the windows of quiet partitions, or with
// input.repartition the windows only quiet sources hold open.
func (s *windowStage) closeIdle(now time.Time) error {
	open := 0
	clear(s.rawEnds)
	for p, ps := range s.partitions {
		var closed bool
		if s.window.Upstream {
			closed = ps.engine.CloseQuiet(now, s.rawAtEnd)
		} else {
			closed = ps.engine.IdleCloseDue(now) && s.stillAtEnd(p, ps, now) && ps.engine.CloseIdle(now)
		}
		if closed {
			ps.dirty = true
			if err := s.emit(ps); err != nil {
				return err
			}
		}
		open += ps.engine.OpenISINs()
	}
	s.metrics.openISINs.Set(float64(open))
	return nil
}

// stillAtEnd asks the broker whether the partition still ends where the
// consumer last reached its end (see partitionEnd).
func (s *windowStage) stillAtEnd(partition int32, ps *partitionState, now time.Time) bool {
	switch ps.end.confirm(func() (int64, error) { return s.endOffset(s.topic, partition) }) {
	case endReachableAgain:
		ps.engine.RestartIdle(now)
		s.logger.Info("partition reachable again; wall-clock closing resumes after the idle timeout", "partition", partition, "idle_timeout", s.cfg.Window.IdleTimeout)
	case endBehind:
		ps.engine.MarkBehind()
	case endAtEnd:
		return true
	}
	return false
}

// rawAtEnd reports whether a raw partition the repartition stage announced
// idle at offset still ends there, so that nothing of it waits to be
// copied. The answer is kept for the rest of one closeIdle pass, which asks
// for each partition of the repartition topic.
func (s *windowStage) rawAtEnd(source int32, offset int64) bool {
	end, asked := s.rawEnds[source]
	if !asked {
		var err error
		if end, err = s.endOffset(s.cfg.Input.Topic, source); err != nil {
			end = -1
		}
		s.rawEnds[source] = end
	}
	return end == offset
}

// endOffset asks the broker for a partition's end offset (the last stable
// offset, as the consumer reads read_committed).
func (s *windowStage) endOffset(topic string, partition int32) (int64, error) {
	_, end, err := s.consumer.QueryWatermarkOffsets(topic, partition, int(endQueryTimeout.Milliseconds()))
	if err != nil {
		s.logger.Debug("end offset query failed", "topic", topic, "partition", partition, "err", err)
	}
	return end, err
}

// shouldCommit says when to end the open transaction (quiet: the input
// paused since the last Tick).
func (s *windowStage) shouldCommit(now time.Time, quiet bool) bool {
	if s.txn.open {
		if age := now.Sub(s.txn.began); age >= s.cfg.Output.CommitInterval {
			return age >= backlogCommitInterval(s.cfg) || !s.draining(now)
		}
		// Partitions close a window a few milliseconds apart; committing
		// once each of them has closed the newest window in the transaction
		// makes one transaction of what would be several back to back (a
		// broker answers a transaction begun right after the previous
		// commit with CONCURRENT_TRANSACTIONS, a retry later). Live, that
		// is at once, as records keep arriving; draining a backlog, every
		// few thousand records close a window, and only a quiet poll
		// commits early.
		newest := s.newestWindowEnd()
		if !s.allClosedThrough(newest) {
			return false
		}
		// The newest window must also have ended moments ago: a partition
		// catching up on fewer than backlogLag old records closes an old
		// window every few records, one commit each otherwise.
		live := now.Sub(time.UnixMilli(newest)) < s.cfg.Window.Size+s.cfg.Window.Grace
		return quiet || (live && !s.draining(now))
	}
	if now.Sub(s.lastCommit) < offsetsOnlyInterval {
		return false
	}
	for _, ps := range s.partitions {
		if ps.dirty {
			return true
		}
	}
	return false
}

// draining reports whether the stage is draining a backlog (backlogWatch).
func (s *windowStage) draining(now time.Time) bool {
	return s.backlog.check(now, func(yield func(int32, int64) bool) {
		for p, ps := range s.partitions {
			if !yield(p, ps.next) {
				return
			}
		}
	})
}

// newestWindowEnd is the latest end among the windows in the open
// transaction, or window.NoTime when it holds none (DLQ records only).
func (s *windowStage) newestWindowEnd() int64 {
	newest := window.NoTime
	for _, end := range s.windowEnds {
		newest = max(newest, end)
	}
	return newest
}

// allClosedThrough reports whether every assigned partition has closed its
// windows through end, leaving out partitions without an open window (an
// idle one, say): a window they open later goes into a later transaction.
func (s *windowStage) allClosedThrough(end int64) bool {
	if end == window.NoTime {
		return false
	}
	for _, ps := range s.partitions {
		if ps.engine.ClosedThrough() < end && ps.engine.OpenISINs() > 0 {
			return false
		}
	}
	return true
}

// restore (re)builds each partition's engine from its committed checkpoint
// and starts fetching at the checkpoint's offset, so open windows are
// rebuilt by replay.
func (s *windowStage) restore(committed []kafka.TopicPartition, now time.Time) ([]kafka.TopicPartition, error) {
	start := make([]kafka.TopicPartition, 0, len(committed))
	for _, tp := range committed {
		ps := &partitionState{id: tp.Partition, next: -1, firstSeen: -1, end: newPartitionEnd()}
		if old := s.partitions[tp.Partition]; old != nil {
			ps.firstSeen = old.firstSeen // a rewind with nothing committed goes back there
		}
		from := kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
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

func (s *windowStage) forget(parts []kafka.TopicPartition) { s.partitions.forget(parts) }

func (s *windowStage) held() []kafka.TopicPartition { return s.partitions.list(&s.topic) }

// prepareCommit returns the checkpoints of the partitions that changed
// since the last commit.
func (s *windowStage) prepareCommit() ([]kafka.TopicPartition, error) {
	var tps []kafka.TopicPartition
	clear(s.pending)
	for p, ps := range s.partitions {
		if !ps.dirty || ps.next < 0 {
			continue
		}
		cp := ps.engine.Checkpoint(ps.next)
		if cp.Equal(ps.committed) {
			continue
		}
		meta := encodeCheckpoint(cp)
		tps = append(tps, kafka.TopicPartition{Topic: &s.topic, Partition: p, Offset: kafka.Offset(cp.Offset), Metadata: &meta})
		s.pending[p] = cp
	}
	return tps, nil
}

// committed observes the emission delays of the windows committed, and
// keeps the checkpoints committed.
func (s *windowStage) committed(records int, now time.Time) {
	for _, end := range s.windowEnds {
		s.metrics.emissionDelay.Observe(now.Sub(time.UnixMilli(end)).Seconds())
	}
	if len(s.windowEnds) > 0 {
		s.metrics.lastEmission.SetToCurrentTime()
	}
	s.windowEnds = s.windowEnds[:0]
	s.metrics.emitted.Add(float64(records))
	for p, cp := range s.pending {
		if ps := s.partitions[p]; ps != nil {
			ps.committed, ps.dirty = cp, false
		}
	}
	clear(s.pending)
	s.lastCommit = now
}

func (s *windowStage) aborted() {
	s.windowEnds = s.windowEnds[:0]
	clear(s.pending)
}
