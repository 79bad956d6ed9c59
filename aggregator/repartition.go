package aggregator

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/consumeloop"
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
	txnStage
	metrics *metrics
	parser  *trade.Parser

	rawTopic   string
	keyedTopic string
	dlqTopic   string
	window     window.Config
	// rawCount and keyedCount are the partition counts of the raw and the
	// repartition topic: markers announce the first and go to each of the
	// second.
	rawCount, keyedCount int

	sources   partitionMap[*rawSource]
	lastCheck time.Time
	// crossed is set when a raw partition's watermark passed a window's
	// end (plus grace) in the open transaction: its marker lets windows
	// close, so live it is committed at once.
	crossed bool
	backlog backlogWatch
	// pending are the raw partitions prepareCommit announced.
	pending []window.Progress
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
	keyed, err := s.partitionCount(s.keyedTopic)
	if err != nil {
		_ = s.consumer.Close()
		return err
	}
	s.keyedCount = keyed
	return s.txnStage.run(ctx, s, consumeloop.Options{PollTimeout: pollInterval})
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

// Handle copies one raw record, or notes a partition's end.
func (s *repartitionStage) Handle(ctx context.Context, ev kafka.Event, now time.Time) error {
	switch e := ev.(type) {
	case *kafka.Message:
		if err := s.handle(e, now); err != nil {
			return s.recover(ctx, err)
		}
	case kafka.PartitionEOF:
		if src := s.sources[e.Partition]; src != nil && e.Topic != nil && *e.Topic == s.rawTopic {
			src.end.reached(int64(e.Offset))
		}
	case kafka.Error:
		if e.Code() == kafka.ErrAllBrokersDown {
			for _, src := range s.sources {
				src.end.brokersDown()
			}
		}
	}
	return nil
}

// Tick announces idle raw partitions and commits when it is time.
func (s *repartitionStage) Tick(ctx context.Context, now time.Time) (time.Duration, error) {
	if now.Sub(s.lastCheck) >= idleCheckInterval {
		s.lastCheck = now
		s.findIdle(now)
	}
	if s.shouldCommit(now) {
		if err := s.commit(ctx); err != nil {
			if err := s.recover(ctx, err); err != nil {
				return 0, err
			}
		}
	}
	return idleCheckInterval, nil
}

func (s *repartitionStage) handle(msg *kafka.Message, now time.Time) error {
	partition := msg.TopicPartition.Partition
	src := s.sources[partition]
	if src == nil {
		return nil // fetched before its partition was revoked
	}
	s.ready.kafka.Answered()
	offset := int64(msg.TopicPartition.Offset)
	src.next = offset + 1
	src.lastRecordAt = now
	src.end.fetched()
	src.idle, src.announce = false, true
	t, rej := s.parser.Parse(msg.Value, msg.Timestamp.UnixMilli(), now)
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
	if through := s.closedThroughAt(t.EventTime); through > s.closedThroughAt(src.watermark) {
		s.crossed = true
	}
	src.watermark = max(src.watermark, t.EventTime)
	return s.txn.produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &s.keyedTopic, Partition: kafka.PartitionAny},
		Key:            append([]byte(nil), t.ISIN[:]...),
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

// prepareCommit adds a progress marker for the raw partitions whose
// progress changed to every partition of the repartition topic, and returns
// the raw partitions' offsets, each with its watermark.
func (s *repartitionStage) prepareCommit() ([]kafka.TopicPartition, error) {
	var tps []kafka.TopicPartition
	s.pending = s.pending[:0]
	for p, src := range s.sources {
		if src.announce {
			s.pending = append(s.pending, src.progress(p))
		}
		if src.next >= 0 {
			meta := encodeSourceCheckpoint(src.watermark)
			tps = append(tps, kafka.TopicPartition{Topic: &s.rawTopic, Partition: p, Offset: kafka.Offset(src.next), Metadata: &meta})
		}
	}
	if len(s.pending) > 0 {
		markers, err := progress.Markers(&s.keyedTopic, s.keyedCount, s.rawCount, s.pending)
		if err != nil {
			return nil, fmt.Errorf("%w: repartition: encoding progress marker: %w", errFatal, err)
		}
		for _, m := range markers {
			if err := s.txn.produceControl(m); err != nil {
				return nil, err
			}
		}
	}
	return tps, nil
}

// committed counts what the transaction copied, and forgets the progress it
// announced.
func (s *repartitionStage) committed(records int, _ time.Time) {
	s.metrics.repartitioned.Add(float64(records))
	if len(s.pending) > 0 {
		s.metrics.markersWritten.Add(float64(s.keyedCount))
	}
	for _, p := range s.pending {
		if src := s.sources[p.Source]; src != nil {
			src.announce = false
		}
	}
	s.pending = s.pending[:0]
	s.crossed = false
}

func (s *repartitionStage) aborted() {
	s.pending = s.pending[:0]
	s.crossed = false
}

// restore (re)builds the state of raw partitions from their committed
// offsets and watermarks and returns where to fetch each from: the committed
// offset, or input.start where none is committed. It also learns the raw
// topic's partition count, which grows when partitions are added.
func (s *repartitionStage) restore(committed []kafka.TopicPartition, now time.Time) ([]kafka.TopicPartition, error) {
	count, err := s.partitionCount(s.rawTopic)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errFatal, err)
	}
	s.rawCount = max(s.rawCount, count)
	start := make([]kafka.TopicPartition, len(committed))
	for i, tp := range committed {
		src := &rawSource{next: -1, watermark: window.NoTime, lastRecordAt: now, end: newPartitionEnd()}
		start[i] = kafka.TopicPartition{Topic: tp.Topic, Partition: tp.Partition, Offset: tp.Offset}
		switch {
		case tp.Offset >= 0:
			src.next = int64(tp.Offset)
			if tp.Metadata != nil {
				if src.watermark, err = decodeSourceCheckpoint(*tp.Metadata); err != nil {
					s.logger.Warn("ignoring unreadable raw partition checkpoint", "partition", tp.Partition, "err", err)
					src.watermark = window.NoTime
				}
			}
		case s.cfg.Input.Start == "latest":
			start[i].Offset = kafka.OffsetEnd
		default:
			start[i].Offset = kafka.OffsetBeginning
		}
		s.sources[tp.Partition] = src
	}
	return start, nil
}

func (s *repartitionStage) forget(parts []kafka.TopicPartition) { s.sources.forget(parts) }

func (s *repartitionStage) held() []kafka.TopicPartition { return s.sources.list(&s.rawTopic) }
