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

	"tickcompact/internal/consumeloop/consumetest"
	"tickcompact/internal/tools/testkit"
)

// fakeKafka is consumetest's fake consumer of trades-2s, every partition
// assigned at the start and filled with sizes[p] records whose values name
// their partition and offset (fakeRecord), so that fakeRedis knows which
// records it acknowledged. Offsets are checked as they are stored: never
// beyond a record Redis has not acknowledged, never for a partition not
// assigned or lost, never backwards.
type fakeKafka struct {
	*consumetest.Consumer
	t     *testing.T
	topic string
	redis *fakeRedis

	mu     sync.Mutex
	stored map[int32]kafka.Offset
	// events logs stores and unassignments, in order, for the tests.
	events []string
	closed bool
}

func newFakeKafka(t *testing.T, redis *fakeRedis, sizes ...int64) *fakeKafka {
	f := &fakeKafka{Consumer: consumetest.New("tickcompact-sink"), t: t, topic: "trades-2s", redis: redis, stored: map[int32]kafka.Offset{}}
	partitions := make([]int32, len(sizes))
	for p, size := range sizes {
		partitions[p] = int32(p)
		records := make([]*kafka.Message, size)
		for off := range records {
			records[off] = fakeRecord(int32(p), int64(off))
		}
		f.Append(f.topic, int32(p), records...)
	}
	f.Assign(f.topic, partitions...)
	return f
}

// fakeRecord is a valid trades-2s record whose value names its partition
// and offset, so that fakeRedis knows which records it acknowledged.
func fakeRecord(partition int32, offset int64) *kafka.Message {
	return &kafka.Message{
		Key:     []byte(fmt.Sprintf("ISIN%08d", partition)),
		Value:   []byte(fmt.Sprintf("%d:%d", partition, offset)),
		Headers: []kafka.Header{{Key: WindowEndHeader, Value: []byte(strconv.FormatInt(2000+offset*2000, 10))}},
	}
}

// revokeAt makes the group revoke partitions (as lost or not) when the
// record at (partition, offset) is next, closing started first.
func (f *fakeKafka) revokeAt(partition int32, offset int64, started chan struct{}, lost bool, partitions ...int32) {
	f.BeforeRecord(func(_ string, p int32, off int64) bool {
		if p != partition || off != offset {
			return false
		}
		close(started)
		f.Revoke(f.topic, lost, partitions...)
		return true
	})
}

func (f *fakeKafka) StoreOffsets(offsets []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tp := range offsets {
		p, next := tp.Partition, int64(tp.Offset)
		if _, assigned := f.Position(f.topic, p); !assigned || f.AssignmentLost() {
			f.t.Errorf("offset %d stored for partition %d, which is not assigned (lost: %v)", next, p, f.AssignmentLost())
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
	return f.Consumer.StoreOffsets(offsets)
}

func (f *fakeKafka) IncrementalUnassign(parts []kafka.TopicPartition) error {
	f.mu.Lock()
	for _, tp := range parts {
		f.events = append(f.events, fmt.Sprintf("unassign %d", tp.Partition))
	}
	f.mu.Unlock()
	return f.Consumer.IncrementalUnassign(parts)
}

func (f *fakeKafka) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return f.Consumer.Close()
}

// isClosed reports whether Close was called.
func (f *fakeKafka) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
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
func newTestLoop(t *testing.T, consumer sinkConsumer, redis redisApplier, batchSize int) (*consumerLoop, *testkit.SyncBuffer) {
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
