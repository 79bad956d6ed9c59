package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/readiness"
)

// windowStage consumes the (ISIN-keyed) input topic, feeds each partition's
// window engine and emits closed windows, DLQ records and offsets in one
// transaction. Everything here runs on the goroutine that calls run, including
// rebalance callbacks, which librdkafka invokes from inside Poll: a poller
// polls on a goroutine of its own and hands both over.
type windowStage struct {
	cfg      Config
	topic    string // the topic consumed: input.topic, or the repartition topic
	logger   *slog.Logger
	metrics  *metrics
	consumer *kafka.Consumer
	txn      *transactor
	poll     *poller
	parser   *trade.Parser
	window   window.Config

	outputTopic string
	dlqTopic    string

	partitions map[int32]*partitionState
	// windowEnds are the ends of the windows emitted in the open transaction,
	// observed as emission delays when it commits.
	windowEnds []int64
	lastCommit time.Time
	failure    error // a fatal error raised inside a rebalance callback
	// closing is set once the loop has ended: partitions assigned while the
	// stage shuts down are not restored (that would wait on the broker for
	// committed offsets), they are handed straight back.
	closing bool
	// stale is set while the partitions' state since the last commit went
	// with an aborted transaction and is not rebuilt yet (a rewind under
	// way, a final commit that failed, a fatal error): a revocation then
	// must not commit it, as that would skip output never written.
	stale bool
	// backlog tells whether the stage is draining a backlog.
	backlog backlogWatch
	// rawEnds caches rawAtEnd's answers for one closeIdle pass.
	rawEnds map[int32]int64

	ready *conditions
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

// conditions are the aggregator's /readyz conditions (internal/readiness),
// updated by the service's goroutines.
type conditions struct {
	state *readiness.State
	// kafka keeps the dependency on the brokers and gets every client's
	// logs and errors.
	kafka        *kafkaclient.Monitor
	inputTopic   *readiness.Condition
	transactions *readiness.Condition
	partitions   *readiness.Condition
}

func newConditions(cfg Config, logger *slog.Logger) *conditions {
	state := readiness.New(kafkaclient.Secrets(cfg.Kafka.Properties))
	return &conditions{
		state:        state,
		kafka:        kafkaclient.NewMonitor(logger, cfg.Kafka.Brokers, state),
		inputTopic:   state.Condition("input topic", "not looked up yet"),
		transactions: state.Condition("transactions", "transactional producer not initialized"),
		partitions:   state.Condition("partitions", "no input partitions assigned"),
	}
}

const pollInterval = 100 * time.Millisecond

// run consumes until ctx is done or a fatal error, then commits what is
// pending and leaves the group.
func (s *windowStage) run(ctx context.Context) error {
	if err := s.txn.producer.InitTransactions(ctx); err != nil {
		_ = s.consumer.Close() // never subscribed: nothing to commit or leave
		return fmt.Errorf("aggregator: initializing transactions: %w", err)
	}
	s.ready.transactions.Met()
	s.poll = newPoller(s.consumer, s.onRebalance, kafkaclient.NewConsumerLag(s.consumer, s.metrics.lag))
	if err := s.consumer.SubscribeTopics([]string{s.topic}, s.poll.onRebalance); err != nil {
		_ = s.consumer.Close()
		return fmt.Errorf("aggregator: subscribing to %s: %w", s.topic, err)
	}
	s.lastCommit = time.Now()
	s.poll.start()
	err := s.loop(ctx)
	s.closing = true
	if errors.Is(err, errFatal) {
		// The open transaction may hold part of a window: a revocation
		// handled while the poller halts must not commit it.
		s.stale = true
	}
	if herr := s.haltPoller(); herr != nil && !errors.Is(err, herr) {
		err = errors.Join(err, herr)
	}
	return errors.Join(err, s.shutdown(err))
}

// haltPoller stops the poller and drops the records it and the loop had
// read ahead: they lie past the partitions' positions, which a rewind seeks
// back from and a shutdown commits, so they are read again. Client errors
// among them are handled, as librdkafka reports them once. It returns a
// fatal error, or the failure of a rebalance handled meanwhile.
func (s *windowStage) haltPoller() error {
	for _, ev := range s.poll.halt() {
		if e, ok := ev.(kafka.Error); ok {
			if err := s.handleError(e); err != nil {
				return err
			}
		}
	}
	return s.failure
}

func (s *windowStage) loop(ctx context.Context) error {
	lastIdleCheck := time.Now()
	for ctx.Err() == nil {
		timeout := pollInterval
		if s.txn.open {
			timeout = max(time.Millisecond, s.cfg.Output.CommitInterval-time.Since(s.txn.began))
		}
		ev := s.poll.next(min(timeout, pollInterval))
		if s.failure != nil {
			return s.failure
		}
		quiet := false
		switch e := ev.(type) {
		case *kafka.Message:
			if err := s.handleMessage(e); err != nil {
				if err = s.recover(ctx, err); err != nil {
					return err
				}
			}
		case kafka.PartitionEOF:
			if ps := s.partitions[e.Partition]; ps != nil && e.Topic != nil && *e.Topic == s.topic {
				ps.engine.MarkCaughtUp()
				ps.end.reached(int64(e.Offset))
			}
			quiet = true
		case kafka.Error:
			if err := s.handleError(e); err != nil {
				return err
			}
		case nil:
			quiet = true
		}
		now := time.Now()
		if now.Sub(lastIdleCheck) >= 50*time.Millisecond {
			lastIdleCheck = now
			if err := s.closeIdle(now); err != nil {
				if err = s.recover(ctx, err); err != nil {
					return err
				}
			}
		}
		if s.shouldCommit(now, quiet) {
			if err := s.commit(ctx); err != nil {
				if err = s.recover(ctx, err); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// handleMessage validates one input record and feeds it to its partition.
func (s *windowStage) handleMessage(msg *kafka.Message) error {
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
	now := time.Now()
	id, eventTime, rej := s.parser.Parse(msg.Value, msg.Timestamp.UnixMilli(), now)
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
		record := window.Record{ISIN: id, EventTime: eventTime, Offset: offset, Value: msg.Value}
		if s.window.Upstream {
			record.Source, record.Stamp = progress.CopiedFrom(msg.Headers)
		}
		outcome := ps.engine.Add(record, now)
		if outcome == window.Late {
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
			closed = ps.engine.IdleCloseDue(now) && s.stillAtEnd(p, ps) && ps.engine.CloseIdle(now)
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

// endQueryTimeout bounds the broker round trip that confirms a quiet
// partition has nothing more to read.
const endQueryTimeout = time.Second

// stillAtEnd asks the broker whether the partition still ends where the
// consumer last reached its end (see partitionEnd).
func (s *windowStage) stillAtEnd(partition int32, ps *partitionState) bool {
	switch ps.end.confirm(func() (int64, error) { return s.endOffset(s.topic, partition) }) {
	case endReachableAgain:
		ps.engine.RestartIdle(time.Now())
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

// offsetsOnlyInterval is how often progress is committed when no output or
// DLQ record forces a transaction (late records only, say), to bound replay.
const offsetsOnlyInterval = 5 * time.Second

func (s *windowStage) shouldCommit(now time.Time, quiet bool) bool {
	if s.txn.open {
		if age := now.Sub(s.txn.began); age >= s.cfg.Output.CommitInterval {
			return age >= backlogCommitInterval(s.cfg) || !s.draining(now)
		}
		// Partitions close a window a few milliseconds apart; committing
		// once each of them has closed the newest window in the transaction
		// makes one transaction of what would be several back to back (and
		// a broker answers a transaction begun right after the previous
		// commit with CONCURRENT_TRANSACTIONS, a 100 ms retry). Live, that
		// is at once: records keep arriving at 50,000 a second, so waiting
		// for a quiet poll meant waiting for commit_interval (make bench,
		// row 3b: p99 47 ms). Draining a backlog, every few thousand records
		// close a window: there only a quiet poll commits early.
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

// offsets returns the checkpoints of the partitions that changed since the last commit.
func (s *windowStage) offsets() ([]kafka.TopicPartition, map[int32]window.Checkpoint) {
	var tps []kafka.TopicPartition
	cps := map[int32]window.Checkpoint{}
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
		cps[p] = cp
	}
	return tps, cps
}

// commit commits the open transaction with the changed partitions' checkpoints.
func (s *windowStage) commit(ctx context.Context) error {
	tps, cps := s.offsets()
	if len(tps) == 0 && !s.txn.open {
		s.lastCommit = time.Now()
		return nil
	}
	began := time.Now()
	emitted, err := s.txn.commit(ctx, tps)
	if err != nil {
		return err
	}
	now := time.Now()
	s.logger.Debug("committed", "records", emitted, "offsets", len(tps), "took", now.Sub(began), "windows", len(s.windowEnds))
	for _, end := range s.windowEnds {
		s.metrics.emissionDelay.Observe(now.Sub(time.UnixMilli(end)).Seconds())
	}
	if len(s.windowEnds) > 0 {
		s.metrics.lastEmission.SetToCurrentTime()
	}
	s.windowEnds = s.windowEnds[:0]
	s.metrics.emitted.Add(float64(emitted))
	for p, cp := range cps {
		if ps := s.partitions[p]; ps != nil {
			ps.committed, ps.dirty = cp, false
		}
	}
	s.lastCommit = now
	s.ready.transactions.Met()
	s.ready.kafka.Answered()
	return nil
}

// recover handles a failed step: after an abort it rewinds every partition to
// its committed checkpoint; fatal errors are returned.
func (s *windowStage) recover(ctx context.Context, err error) error {
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

func (s *windowStage) handleError(e kafka.Error) error {
	if e.IsFatal() {
		return fmt.Errorf("%w: consumer: %v", errFatal, e)
	}
	s.ready.kafka.Error("window-consumer", e)
	if e.Code() == kafka.ErrAllBrokersDown {
		for _, ps := range s.partitions {
			ps.end.brokersDown()
		}
	}
	return nil
}

// shutdown commits what is pending (aborting when that fails) within a bounded
// time, then closes the consumer, which leaves the group.
func (s *windowStage) shutdown(cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if s.stale || errors.Is(cause, errFatal) {
		s.stale = true // and Close's revocations commit nothing either
	} else if err := s.commit(ctx); err != nil {
		s.stale = true
		if !errors.Is(err, errAborted) {
			errs = append(errs, fmt.Errorf("aggregator: final commit: %w", err))
		}
	}
	if err := s.consumer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("aggregator: closing consumer: %w", err))
	}
	return errors.Join(errs...)
}
