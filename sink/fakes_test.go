package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/testkit"
)

// fakeKafka is a scripted consumer of one topic for the loop's tests. Each
// partition holds records at offsets 0..size-1; Poll hands them out
// round-robin over the assigned, unpaused partitions, from a position that
// starts at the stored offset when a partition is assigned (as if stored
// offsets were committed at once) and moves on with each record delivered.
// Stored offsets are checked against fakeRedis as they are stored.
type fakeKafka struct {
	t     *testing.T
	topic string
	redis *fakeRedis

	mu        sync.Mutex
	rebalance kafka.RebalanceCb
	sizes     []int64
	position  map[int32]int64
	assigned  map[int32]bool
	paused    map[int32]bool
	stored    map[int32]kafka.Offset
	lost      bool
	started   bool
	next      int32 // the partition Poll tries first
	// beforeRecord, when set, runs inside Poll (like a rebalance callback)
	// before the record at (partition, offset) is delivered, once.
	beforeRecord func(partition int32, offset int64) bool
	// events logs stores and unassignments, in order, for the tests.
	events []string
	closed bool
}

func newFakeKafka(t *testing.T, redis *fakeRedis, sizes ...int64) *fakeKafka {
	return &fakeKafka{t: t, topic: "trades-2s", redis: redis, sizes: sizes,
		position: map[int32]int64{}, assigned: map[int32]bool{}, paused: map[int32]bool{}, stored: map[int32]kafka.Offset{}}
}

func (f *fakeKafka) SubscribeTopics(topics []string, cb kafka.RebalanceCb) error {
	f.rebalance = cb
	return nil
}

// Poll assigns every partition on the first call, then delivers records.
func (f *fakeKafka) Poll(timeoutMs int) kafka.Event {
	f.mu.Lock()
	first := !f.started
	f.started = true
	f.mu.Unlock()
	if first {
		parts := make([]kafka.TopicPartition, len(f.sizes))
		for p := range parts {
			parts[p] = kafka.TopicPartition{Topic: &f.topic, Partition: int32(p)}
		}
		f.callback(kafka.AssignedPartitions{Partitions: parts})
	}
	msg := f.nextRecord()
	if msg == nil {
		time.Sleep(time.Duration(min(timeoutMs, 5)) * time.Millisecond)
		return nil
	}
	return msg
}

func (f *fakeKafka) nextRecord() *kafka.Message {
	f.mu.Lock()
	for range f.sizes {
		p := f.next
		f.next = (f.next + 1) % int32(len(f.sizes))
		offset := f.position[p]
		if !f.assigned[p] || f.paused[p] || offset >= f.sizes[p] {
			continue
		}
		if hook := f.beforeRecord; hook != nil {
			f.mu.Unlock()
			done := hook(p, offset)
			f.mu.Lock()
			if done {
				f.beforeRecord = nil
			}
			if !f.assigned[p] || f.paused[p] {
				continue
			}
			offset = f.position[p]
		}
		f.position[p] = offset + 1
		f.mu.Unlock()
		return fakeRecord(f.topic, p, offset)
	}
	f.mu.Unlock()
	return nil
}

// fakeRecord is a valid trades-2s record whose value names its partition
// and offset, so that fakeRedis knows which records it acknowledged.
func fakeRecord(topic string, partition int32, offset int64) *kafka.Message {
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition, Offset: kafka.Offset(offset)},
		Key:            []byte(fmt.Sprintf("ISIN%08d", partition)),
		Value:          []byte(fmt.Sprintf("%d:%d", partition, offset)),
		Headers:        []kafka.Header{{Key: WindowEndHeader, Value: []byte(strconv.FormatInt(2000+offset*2000, 10))}},
	}
}

// callback runs the loop's rebalance callback, as Poll does.
func (f *fakeKafka) callback(ev kafka.Event) {
	if err := f.rebalance(nil, ev); err != nil {
		f.t.Errorf("rebalance callback: %v", err)
	}
}

// revoke runs the rebalance callback for partitions, as lost or not.
func (f *fakeKafka) revoke(lost bool, partitions ...int32) {
	f.mu.Lock()
	f.lost = lost
	f.mu.Unlock()
	parts := make([]kafka.TopicPartition, len(partitions))
	for i, p := range partitions {
		parts[i] = kafka.TopicPartition{Topic: &f.topic, Partition: p}
	}
	f.callback(kafka.RevokedPartitions{Partitions: parts})
	f.mu.Lock()
	f.lost = false
	f.mu.Unlock()
}

// StoreOffsets fails the test when an offset would cover a record Redis has
// not acknowledged, or a partition not assigned.
func (f *fakeKafka) StoreOffsets(offsets []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tp := range offsets {
		p, next := tp.Partition, int64(tp.Offset)
		if !f.assigned[p] || f.lost {
			f.t.Errorf("offset %d stored for partition %d, which is not assigned (lost: %v)", next, p, f.lost)
		}
		if missing, ok := f.redis.firstUnacknowledged(p, next); !ok {
			f.t.Errorf("offset %d stored for partition %d, but Redis has not acknowledged offset %d", next, p, missing)
		}
		if next < int64(f.stored[p]) {
			f.t.Errorf("partition %d: stored offset went back from %d to %d", p, f.stored[p], next)
		}
		f.stored[p] = tp.Offset
		f.events = append(f.events, fmt.Sprintf("store %d:%d", p, next))
	}
	return offsets, nil
}

func (f *fakeKafka) setPaused(parts []kafka.TopicPartition, paused bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tp := range parts {
		f.paused[tp.Partition] = paused
	}
	return nil
}

func (f *fakeKafka) Pause(parts []kafka.TopicPartition) error  { return f.setPaused(parts, true) }
func (f *fakeKafka) Resume(parts []kafka.TopicPartition) error { return f.setPaused(parts, false) }

func (f *fakeKafka) IncrementalAssign(parts []kafka.TopicPartition) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tp := range parts {
		f.assigned[tp.Partition] = true
		f.paused[tp.Partition] = false
		f.position[tp.Partition] = int64(max(0, f.stored[tp.Partition]))
	}
	return nil
}

func (f *fakeKafka) IncrementalUnassign(parts []kafka.TopicPartition) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tp := range parts {
		delete(f.assigned, tp.Partition)
		f.events = append(f.events, fmt.Sprintf("unassign %d", tp.Partition))
	}
	return nil
}

func (f *fakeKafka) AssignmentLost() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lost
}

func (f *fakeKafka) GetMetadata(*string, bool, int) (*kafka.Metadata, error) {
	return &kafka.Metadata{}, nil
}

func (f *fakeKafka) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// storedAt returns the stored offset of partition p, -1 when none.
func (f *fakeKafka) storedAt(p int32) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off, ok := f.stored[p]; ok {
		return int64(off)
	}
	return -1
}

func (f *fakeKafka) eventLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

// fakeRedis acknowledges the updates of fakeRecord, remembering which
// (partition, offset) it acknowledged and in what order. It fails the test
// when two applies at once hold records of one partition. An apply can be
// held at a gate, slowed down, or made to fail after acknowledging part of
// its updates.
type fakeRedis struct {
	t *testing.T

	mu    sync.Mutex
	acked map[int32]map[int64]bool
	// order is each partition's offsets in the order acknowledged.
	order map[int32][]int64
	// busy is the partitions of the applies under way; concurrent counts
	// them, maxConcurrent is its peak.
	busy                      map[int32]bool
	concurrent, maxConcurrent int
	// fail decides, for each apply, from its first pending record
	// ("partition:offset"), how many of its pending updates are acknowledged
	// before it fails; a negative answer means it succeeds. It runs under mu.
	fail func(first string) int
	// delay is how long each apply takes, outside mu.
	delay time.Duration
	// gate, when set, holds each apply until a value is received.
	gate chan struct{}
	// entered, when set, receives each batch's first pending record,
	// "partition:offset", as its apply starts.
	entered chan string
}

func newFakeRedis(t *testing.T) *fakeRedis {
	return &fakeRedis{t: t, acked: map[int32]map[int64]bool{}, order: map[int32][]int64{}, busy: map[int32]bool{}}
}

var errFakeRedis = errors.New("fake redis: connection reset")

// fakePosition reads the partition and offset fakeRecord put in a value.
func fakePosition(u Update) (partition int32, offset int64) {
	if _, err := fmt.Sscanf(string(u.Value), "%d:%d", &partition, &offset); err != nil {
		panic(err)
	}
	return partition, offset
}

func (r *fakeRedis) apply(ctx context.Context, updates []Update, outcomes []outcome) (written, stale int, err error) {
	first := ""
	for i, u := range updates {
		if outcomes[i] == pending {
			first = string(u.Value)
			break
		}
	}
	partitions := r.begin(updates)
	defer r.end(partitions)
	if r.entered != nil {
		r.entered <- first
	}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	time.Sleep(r.delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	budget := -1
	if r.fail != nil {
		budget = r.fail(first)
	}
	for i, u := range updates {
		if outcomes[i] != pending {
			continue
		}
		if budget == 0 {
			return written, 0, errFakeRedis
		}
		budget--
		p, off := fakePosition(u)
		if r.acked[p] == nil {
			r.acked[p] = map[int64]bool{}
		}
		r.acked[p][off] = true
		r.order[p] = append(r.order[p], off)
		outcomes[i] = outcomeWritten
		written++
	}
	if budget == 0 {
		return written, 0, errFakeRedis
	}
	return written, 0, nil
}

// begin notes the partitions of an apply starting, failing the test when
// another apply under way holds any of them.
func (r *fakeRedis) begin(updates []Update) map[int32]bool {
	partitions := map[int32]bool{}
	for _, u := range updates {
		p, _ := fakePosition(u)
		partitions[p] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range partitions {
		if r.busy[p] {
			r.t.Errorf("two batches of partition %d in Redis at once", p)
		}
		r.busy[p] = true
	}
	r.concurrent++
	r.maxConcurrent = max(r.maxConcurrent, r.concurrent)
	return partitions
}

func (r *fakeRedis) end(partitions map[int32]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p := range partitions {
		delete(r.busy, p)
	}
	r.concurrent--
}

func (r *fakeRedis) Ping(context.Context) error { return nil }

// firstUnacknowledged returns the first offset below next of partition p
// that Redis has not acknowledged; ok when there is none.
func (r *fakeRedis) firstUnacknowledged(p int32, next int64) (missing int64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for off := range next {
		if !r.acked[p][off] {
			return off, false
		}
	}
	return 0, true
}

// newTestLoop returns a loop over consumer and redis with batches of
// batchSize, and its logs, printed when the test fails.
func newTestLoop(t *testing.T, consumer kafkaConsumer, redis redisApplier, batchSize int) (*consumerLoop, *testkit.SyncBuffer) {
	t.Helper()
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Redis.BatchSize = batchSize
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	loop := newConsumerLoop(cfg, logger, newMetrics(), newConditions(cfg, logger), consumer, redis, func() redisApplier { return redis })
	loop.lastRedisOK = time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("loop logs:\n%s", logs.String())
		}
	})
	return loop, logs
}

// runLoop runs loop until stop is called, which returns run's error.
func runLoop(t *testing.T, loop *consumerLoop) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the loop did not stop within 20s of cancellation")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}
