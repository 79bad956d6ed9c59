package sink

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"tickcompact/internal/tools/testkit"
)

// TestLoopStoresOnlyAcknowledgedOffsets drains three partitions through a
// Redis that fails one apply in five after acknowledging part of it, while
// the loop reads ahead of the writers. Every stored offset is checked as it
// is stored (fakeKafka.StoreOffsets): never beyond a record Redis has not
// acknowledged, never backwards; and no two batches of one partition are
// ever in Redis at once (fakeRedis.begin). In the end every record was
// acknowledged exactly once, in the order read, every partition is stored
// to its end, and every partition's lane was in use at once.
func TestLoopStoresOnlyAcknowledgedOffsets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sizes := []int64{700, 500, 900}
		redis := newFakeRedis(t)
		redis.delay = 200 * time.Microsecond // let the loop read ahead and the lanes overlap
		rng := rand.New(rand.NewPCG(7, 11))
		redis.fail = func(string) int {
			if rng.IntN(5) == 0 {
				return rng.IntN(40)
			}
			return -1
		}
		consumer := newFakeKafka(t, redis, sizes...)
		loop, _ := newTestLoop(t, consumer, redis, 64)
		stop := runLoop(t, loop)
		testkit.WaitFor(t, 60*time.Second, "every partition stored to its end", func() (bool, string) {
			var got []int64
			for p := range sizes {
				got = append(got, consumer.storedAt(int32(p)))
			}
			return slices.Equal(got, sizes), fmt.Sprint(got)
		})
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		for p, size := range sizes {
			if missing, ok := redis.firstUnacknowledged(int32(p), size); !ok {
				t.Errorf("partition %d: offset %d never acknowledged", p, missing)
			}
			if order := redis.order[int32(p)]; !slices.IsSorted(order) || len(order) != int(size) {
				t.Errorf("partition %d: %d records acknowledged, not all in the order read", p, len(order))
			}
		}
		if want := min(writerLanes, len(sizes)); redis.maxConcurrent != want {
			t.Errorf("at most %d batches in Redis at once, want %d (a lane per partition)", redis.maxConcurrent, want)
		}
		if failures := counterValue(t, loop.metrics.redisErrors); failures == 0 {
			t.Error("no apply failed: the test did not exercise retries")
		}
	})
}

// TestRevokeWaitsForBatchesInFlight revokes partition 1 while the writers
// hold batches of both partitions (each in its own lane, held at a gate) and
// the loop has read more of them since. The revocation must wait for
// Redis's answers. When the partition is merely revoked, its offsets,
// covering the batch in flight and then the pending records written, are
// stored before it is unassigned, and partition 0 carries on to its end.
// When the assignment is lost (librdkafka then revokes every partition), no
// offset is stored at all and the pending records are dropped.
func TestRevokeWaitsForBatchesInFlight(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("lost=%v", lost), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				redis := newFakeRedis(t)
				redis.gate = make(chan struct{})
				redis.entered = make(chan string, 100)
				consumer := newFakeKafka(t, redis, 40, 40)
				revoked := []int32{1}
				if lost {
					revoked = []int32{0, 1}
				}
				revoking := make(chan struct{})
				// Round-robin with batches of 10: partition 0's lane fills at its
				// offset 9, and both lanes' batches (0:0-9 and 1:0-8) go to the
				// writers; the revocation comes when partition 0's offset 15 is
				// next, with 0:10-14 and 1:9-14 pending.
				consumer.revokeAt(0, 15, revoking, lost, revoked...)
				loop, logs := newTestLoop(t, consumer, redis, 10)
				stop := runLoop(t, loop)

				<-redis.entered
				<-revoking
				time.Sleep(100 * time.Millisecond)
				if events := consumer.eventLog(); len(events) != 0 {
					t.Fatalf("while the batches are in flight: %v; want nothing stored or unassigned yet", events)
				}
				close(redis.gate)
				testkit.WaitFor(t, 10*time.Second, "the revocation done and partition 0 drained", func() (bool, string) {
					events := consumer.eventLog()
					done := slices.Contains(events, "unassign 1") && (lost || consumer.storedAt(0) == 40)
					return done, fmt.Sprint(events)
				})
				if err := stop(); err != nil {
					t.Fatal(err)
				}

				events := consumer.eventLog()
				var stores []string
				for _, e := range events {
					if strings.HasPrefix(e, "store 1:") || lost && strings.HasPrefix(e, "store ") {
						stores = append(stores, e)
					}
				}
				if lost {
					if len(stores) != 0 {
						t.Errorf("offsets stored although the assignment was lost: %v", stores)
					}
					if !strings.Contains(logs.String(), "dropped uncommitted records") {
						t.Error("the pending records of the lost partitions were not dropped")
					}
					return
				}
				if want := []string{"store 1:9", "store 1:15"}; !slices.Equal(stores, want) {
					t.Errorf("partition 1 stores = %v, want %v", stores, want)
				}
				if slices.Index(events, "store 1:15") > slices.Index(events, "unassign 1") {
					t.Errorf("partition 1's offsets stored after it was unassigned: %v", events)
				}
			})
		})
	}
}

// TestRevokeAfterBatchInFlightFailed fails partition 1's batch in flight
// while a revocation of partition 1 waits for it: the loop pauses, drops
// the partition's records uncommitted (the next owner reads them again)
// and, once Redis answers, writes and stores the rest.
func TestRevokeAfterBatchInFlightFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		redis := newFakeRedis(t)
		redis.gate = make(chan struct{})
		redis.entered = make(chan string, 100)
		redis.fail = func(first string) int {
			if first == "1:0" {
				return 3 // acknowledge 1:0-2, then fail
			}
			return -1
		}
		consumer := newFakeKafka(t, redis, 30, 30)
		revoking := make(chan struct{})
		consumer.revokeAt(0, 15, revoking, false, 1)
		loop, logs := newTestLoop(t, consumer, redis, 10)
		stop := runLoop(t, loop)
		<-redis.entered
		<-revoking
		close(redis.gate)
		testkit.WaitFor(t, 10*time.Second, "partition 0 stored to its end", func() (bool, string) {
			return consumer.storedAt(0) == 30, fmt.Sprint(consumer.eventLog())
		})
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if got := consumer.storedAt(1); got != -1 {
			t.Errorf("partition 1 stored at %d; its batch failed before it was revoked", got)
		}
		for _, want := range []string{"redis failing; consumption paused", "dropped uncommitted records", "consumption resumed"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("no %q in the logs", want)
			}
		}
	})
}

// TestShutdownWaitsForBatchInFlight cancels the loop while Redis holds a
// batch: the loop stores the batch's offsets once Redis answers and only
// then closes the consumer.
func TestShutdownWaitsForBatchInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		redis := newFakeRedis(t)
		redis.gate = make(chan struct{})
		redis.entered = make(chan string, 100)
		consumer := newFakeKafka(t, redis, 10, 10)
		loop, _ := newTestLoop(t, consumer, redis, 20)
		stop := runLoop(t, loop)
		<-redis.entered
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		time.Sleep(100 * time.Millisecond)
		if consumer.isClosed() {
			t.Fatal("consumer closed while a batch was in flight")
		}
		close(redis.gate)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if a, b := consumer.storedAt(0), consumer.storedAt(1); a != 10 || b != 10 {
			t.Errorf("stored %d and %d, want 10 and 10", a, b)
		}
	})
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestStopWhileDraining cancels the loop in the middle of a backlog, with
// both writers busy: it stops promptly, having stored only acknowledged
// offsets (checked as they are stored), and closes the consumer.
func TestStopWhileDraining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		redis := newFakeRedis(t)
		redis.delay = time.Millisecond
		consumer := newFakeKafka(t, redis, 100_000, 100_000, 100_000)
		loop, _ := newTestLoop(t, consumer, redis, 50)
		stop := runLoop(t, loop)
		testkit.WaitFor(t, 10*time.Second, "offsets stored", func() (bool, string) {
			return consumer.storedAt(0) > 0, fmt.Sprint(consumer.storedAt(0))
		})
		start := time.Now()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("stopping took %v", took)
		}
		if !consumer.isClosed() {
			t.Error("consumer not closed")
		}
		if next, _ := consumer.Position(consumer.topic, 0); next >= 100_000 {
			t.Error("the backlog was drained before the loop stopped: the test proves nothing")
		}
	})
}
