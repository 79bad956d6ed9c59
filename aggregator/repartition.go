package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/kafkaclient"
)

// repartitionStage re-keys a raw topic that is not keyed by ISIN into
// <input>-by-isin, keyed by ISIN with the Java (murmur2) partitioner, so each
// ISIN is owned by exactly one partition of the topic the window stage reads.
// Records, rejected records (to the DLQ, with their raw-topic position) and
// offsets go out in one transaction.
//
// Event time survives the shuffle: each copied record carries its raw
// partition and that partition's watermark (HeaderRawPartition,
// HeaderRawWatermark), and each transaction that moved a raw partition's
// progress ends with a progress marker to every partition of the
// repartition topic (HeaderProgress): the raw partition's watermark, and
// whether it is idle (caught up and quiet for window.idle_timeout). The
// window stage closes a window only once every raw partition has passed it
// or is idle. A raw partition's watermark is kept with its committed offset
// (offset metadata "tr1:<watermark>"), so that it survives restarts and
// moves between instances with the partition.
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
	window     window.Config
	// rawCount and keyedCount are the partition counts of the raw and the
	// repartition topic: markers announce the first and go to each of the
	// second.
	rawCount, keyedCount int

	sources   map[int32]*rawSource
	lastCheck time.Time
	// crossed is set when a raw partition's watermark passed a window's
	// end (plus grace) in the open transaction: its marker lets windows
	// close, so live it is committed at once.
	crossed bool
	backlog backlogWatch
	lag     *kafkaclient.ConsumerLag
	failure error
	closing bool // see windowStage.closing
}

// rawSource is the stage's state of one assigned raw partition.
type rawSource struct {
	// next is the offset after the last record handled, -1 before the first
	// when nothing is committed.
	next int64
	// watermark is the greatest event time of the valid records below next.
	watermark int64
	// lastRecordAt is when the last record arrived (or the partition was
	// assigned).
	lastRecordAt time.Time
	end          partitionEnd
	// idle is set once the partition was announced idle, until a record.
	idle bool
	// announce is set when the progress changed since the last marker.
	announce bool
}

// progress is what a marker says of the source.
func (r *rawSource) progress(partition int32) window.Progress {
	p := window.Progress{Source: partition, Watermark: r.watermark, Offset: r.next, Idle: r.idle}
	if r.idle {
		p.Offset = r.end.seen
	}
	return p
}

// sourceCheckpointVersion prefixes a raw partition's offset metadata.
const sourceCheckpointVersion = "tr1"

func encodeSourceCheckpoint(watermark int64) string {
	return sourceCheckpointVersion + ":" + formatTime(watermark)
}

// decodeSourceCheckpoint returns the watermark kept with a raw partition's
// committed offset, NoTime when there is none (a group committed by an
// earlier version).
func decodeSourceCheckpoint(metadata string) (int64, error) {
	version, watermark, _ := strings.Cut(metadata, ":")
	if metadata == "" || version != sourceCheckpointVersion {
		return window.NoTime, nil
	}
	return parseTime(watermark)
}

func (s *repartitionStage) run(ctx context.Context) error {
	if err := s.txn.producer.InitTransactions(ctx); err != nil {
		_ = s.consumer.Close() // never subscribed: nothing to commit or leave
		return fmt.Errorf("repartition: initializing transactions: %w", err)
	}
	keyed, err := s.partitionCount(s.keyedTopic)
	if err != nil {
		_ = s.consumer.Close()
		return err
	}
	s.keyedCount = keyed
	if err := s.consumer.SubscribeTopics([]string{s.rawTopic}, s.onRebalance); err != nil {
		_ = s.consumer.Close()
		return fmt.Errorf("repartition: subscribing to %s: %w", s.rawTopic, err)
	}
	err = s.loop(ctx)
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

// partitionCount asks the broker how many partitions topic has.
func (s *repartitionStage) partitionCount(topic string) (int, error) {
	md, err := s.consumer.GetMetadata(&topic, false, int(committedTimeout.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("repartition: metadata of %s: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	if !ok || t.Error.Code() != kafka.ErrNoError || len(t.Partitions) == 0 {
		return 0, fmt.Errorf("repartition: metadata of %s: no partitions (%v)", topic, t.Error)
	}
	return len(t.Partitions), nil
}

// idleCheckInterval is how often quiet raw partitions are looked for.
const idleCheckInterval = 50 * time.Millisecond

func (s *repartitionStage) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		ev := s.consumer.Poll(int(pollInterval.Milliseconds()))
		s.lag.Refresh()
		if s.failure != nil {
			return s.failure
		}
		var err error
		switch e := ev.(type) {
		case *kafka.Message:
			err = s.handle(e)
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("%w: repartition consumer: %v", errFatal, e)
			}
			if e.Code() == kafka.ErrAllBrokersDown {
				for _, src := range s.sources {
					src.end.brokersDown()
				}
			}
			s.logger.Warn("kafka consumer error", "stage", "repartition", "err", e)
		case kafka.PartitionEOF:
			if src := s.sources[e.Partition]; src != nil && e.Topic != nil && *e.Topic == s.rawTopic {
				src.end.reached(int64(e.Offset))
			}
		}
		now := time.Now()
		if err == nil && now.Sub(s.lastCheck) >= idleCheckInterval {
			s.lastCheck = now
			s.findIdle(now)
		}
		if err == nil && s.shouldCommit(now) {
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
	partition := msg.TopicPartition.Partition
	src := s.sources[partition]
	if src == nil {
		return nil // fetched before its partition was revoked
	}
	offset := int64(msg.TopicPartition.Offset)
	src.next = offset + 1
	src.lastRecordAt = time.Now()
	src.end.fetched()
	src.idle, src.announce = false, true
	id, eventTime, rej := s.parser.Parse(msg.Value, msg.Timestamp.UnixMilli(), src.lastRecordAt)
	if rej != nil {
		if s.dlqTopic == "" {
			if err := s.txn.begin(); err != nil { // the offset still has to be committed
				return err
			}
			return s.txn.reject(rej.Reason, nil)
		}
		return s.txn.reject(rej.Reason, dlqMessage(&s.dlqTopic, msg, rej))
	}
	headers := make([]kafka.Header, len(msg.Headers), len(msg.Headers)+3)
	copy(headers, msg.Headers)
	headers = append(headers,
		kafka.Header{Key: progress.HeaderRawPartition, Value: strconv.AppendInt(nil, int64(partition), 10)},
		kafka.Header{Key: progress.HeaderRawOffset, Value: strconv.AppendInt(nil, offset, 10)})
	if src.watermark != window.NoTime {
		headers = append(headers, kafka.Header{Key: progress.HeaderRawWatermark, Value: strconv.AppendInt(nil, src.watermark, 10)})
	}
	if through := s.closedThroughAt(eventTime); through > s.closedThroughAt(src.watermark) {
		s.crossed = true
	}
	src.watermark = max(src.watermark, eventTime)
	return s.txn.produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &s.keyedTopic, Partition: kafka.PartitionAny},
		Key:            append([]byte(nil), id[:]...),
		Value:          msg.Value,
		Timestamp:      msg.Timestamp,
		Headers:        headers,
	})
}

// findIdle announces the raw partitions that are caught up and had no record
// for window.idle_timeout, once the broker confirms they still end there.
func (s *repartitionStage) findIdle(now time.Time) {
	for partition, src := range s.sources {
		if src.idle || src.end.seen < 0 || src.end.seen < src.next || now.Sub(src.lastRecordAt) < s.cfg.Window.IdleTimeout {
			continue
		}
		state := src.end.confirm(func() (int64, error) {
			_, end, err := s.consumer.QueryWatermarkOffsets(s.rawTopic, partition, int(endQueryTimeout.Milliseconds()))
			return end, err
		})
		switch state {
		case endReachableAgain:
			src.lastRecordAt = now // producers may be delivering what they buffered
		case endAtEnd:
			src.idle, src.announce = true, true
		}
	}
}

// shouldCommit says when to end the open transaction. Its progress markers
// are what lets the window stage close windows, and a transaction costs the
// loop a few broker round trips, so live it commits as soon as a raw
// partition passed a window's end (the markers the window stage waits for),
// and otherwise, or while draining a backlog, every backlogCommitInterval.
// Idle raw partitions are announced at once.
func (s *repartitionStage) shouldCommit(now time.Time) bool {
	if s.announcingIdle() {
		return true
	}
	if !s.txn.open {
		return false
	}
	age := now.Sub(s.txn.began)
	if age >= backlogCommitInterval(s.cfg) {
		return true
	}
	return s.crossed && !s.backlog.check(now, func(yield func(int32, int64) bool) {
		for p, src := range s.sources {
			if !yield(p, src.next) {
				return
			}
		}
	})
}

// closedThroughAt is the greatest window end a watermark at t has passed.
func (s *repartitionStage) closedThroughAt(t int64) int64 {
	if t == window.NoTime {
		return window.NoTime
	}
	return s.window.Start(t - s.cfg.Window.Grace.Milliseconds())
}

// announcingIdle reports whether a raw partition went idle since the last
// marker.
func (s *repartitionStage) announcingIdle() bool {
	for _, src := range s.sources {
		if src.announce && src.idle {
			return true
		}
	}
	return false
}

// commit ends the open transaction with a progress marker for the raw
// partitions whose progress changed, and their offsets and watermarks.
func (s *repartitionStage) commit(ctx context.Context) error {
	var tps []kafka.TopicPartition
	var changed []window.Progress
	for p, src := range s.sources {
		if src.announce {
			changed = append(changed, src.progress(p))
		}
		if src.next >= 0 {
			meta := encodeSourceCheckpoint(src.watermark)
			tps = append(tps, kafka.TopicPartition{Topic: &s.rawTopic, Partition: p, Offset: kafka.Offset(src.next), Metadata: &meta})
		}
	}
	if len(changed) > 0 {
		markers, err := progress.Markers(&s.keyedTopic, s.keyedCount, s.rawCount, changed)
		if err != nil {
			return fmt.Errorf("%w: repartition: encoding progress marker: %v", errFatal, err)
		}
		for _, m := range markers {
			if err := s.txn.produceControl(m); err != nil {
				return err
			}
		}
	}
	if !s.txn.open {
		return nil
	}
	began := time.Now()
	rekeyed, err := s.txn.commit(ctx, tps)
	if err != nil {
		return err
	}
	s.crossed = false
	s.logger.Debug("committed", "records", rekeyed, "markers", len(changed), "took", time.Since(began))
	s.metrics.repartitioned.Add(float64(rekeyed))
	if len(changed) > 0 {
		s.metrics.markersWritten.Add(float64(s.keyedCount))
	}
	for _, p := range changed {
		if src := s.sources[p.Source]; src != nil {
			src.announce = false
		}
	}
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
	if len(s.sources) == 0 {
		return nil
	}
	parts := make([]kafka.TopicPartition, 0, len(s.sources))
	for p := range s.sources {
		parts = append(parts, kafka.TopicPartition{Topic: &s.rawTopic, Partition: p})
	}
	start, err := s.restore(parts)
	if err != nil {
		return err
	}
	if _, err := s.consumer.SeekPartitions(start); err != nil {
		return fmt.Errorf("%w: repartition: seeking: %v", errFatal, err)
	}
	return nil
}

// restore (re)builds the state of parts from their committed offsets and
// watermarks and returns where to fetch each from: the committed offset, or
// input.start where none is committed.
func (s *repartitionStage) restore(parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	committed, err := s.consumer.Committed(parts, int(committedTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("%w: repartition: fetching committed offsets: %v", errFatal, err)
	}
	now := time.Now()
	for i, tp := range committed {
		src := &rawSource{next: -1, watermark: window.NoTime, lastRecordAt: now, end: newPartitionEnd()}
		if tp.Offset >= 0 {
			src.next = int64(tp.Offset)
			if tp.Metadata != nil {
				if src.watermark, err = decodeSourceCheckpoint(*tp.Metadata); err != nil {
					s.logger.Warn("ignoring unreadable raw partition checkpoint", "partition", tp.Partition, "err", err)
					src.watermark = window.NoTime
				}
			}
		} else if s.cfg.Input.Start == "latest" {
			committed[i].Offset = kafka.OffsetEnd
		} else {
			committed[i].Offset = kafka.OffsetBeginning
		}
		committed[i].Metadata = nil
		s.sources[tp.Partition] = src
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
		err = s.assign(c, e.Partitions)
	case kafka.RevokedPartitions:
		err = s.revoke(c, e.Partitions)
	}
	if err != nil && s.failure == nil {
		s.failure = err
	}
	return err
}

// assign restores the new partitions and learns the raw topic's partition
// count, which grows when partitions are added.
func (s *repartitionStage) assign(c *kafka.Consumer, parts []kafka.TopicPartition) error {
	if len(parts) == 0 {
		return c.IncrementalAssign(parts)
	}
	count, err := s.partitionCount(s.rawTopic)
	if err != nil {
		return fmt.Errorf("%w: %v", errFatal, err)
	}
	s.rawCount = max(s.rawCount, count)
	start, err := s.restore(parts)
	if err != nil {
		return err
	}
	if err := c.IncrementalAssign(start); err != nil {
		return fmt.Errorf("%w: repartition: assigning: %v", errFatal, err)
	}
	return nil
}

// revoke commits what the revoked partitions hold, progress included, unless
// they are lost already: then it aborts and rewinds the partitions kept.
func (s *repartitionStage) revoke(c *kafka.Consumer, parts []kafka.TopicPartition) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	forget := func() {
		for _, tp := range parts {
			delete(s.sources, tp.Partition)
		}
	}
	var err error
	if s.failure == nil {
		if c.AssignmentLost() {
			err = s.txn.abort(ctx)
			forget()
			if err == nil {
				err = s.rewind()
			}
		} else if cerr := s.commit(ctx); cerr != nil {
			forget()
			err = s.recover(ctx, cerr)
		}
	}
	forget()
	if uerr := c.IncrementalUnassign(parts); uerr != nil && err == nil {
		err = fmt.Errorf("%w: repartition: unassigning: %v", errFatal, uerr)
	}
	return err
}
