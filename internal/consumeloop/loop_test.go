package consumeloop_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/consumeloop"
	"tickcompact/internal/consumeloop/consumetest"
)

const topic = "in"

// recorder is a Handler that writes down what it is given, as lines, and
// fails the test if it is ever called while another of its calls runs.
type recorder struct {
	t    *testing.T
	loop *consumeloop.Loop

	mu    sync.Mutex
	lines []string
	busy  bool

	// onRecord, when set, runs for each record (after it is written down).
	onRecord func(m *kafka.Message) error
	// tick is what Tick returns.
	tick time.Duration
	// tickBlock, when set, makes the next Tick block this long.
	tickBlock time.Duration
	// stopBlock makes Stop wait until its context ends.
	stopBlock bool
	ticks     int
	// actions run in Tick, on the Loop's goroutine (see do).
	actions chan func(*consumeloop.Loop) error
	wake    chan struct{}
}

// do runs action on the Loop's goroutine, in its next Tick, and waits for
// it: the way a Handler calls Pause, Resume or Rewind.
func (r *recorder) do(action func(*consumeloop.Loop) error) error {
	done := make(chan error, 1)
	r.actions <- func(l *consumeloop.Loop) error {
		err := action(l)
		done <- err
		return nil
	}
	r.wake <- struct{}{}
	return <-done
}

func (r *recorder) enter() func() {
	r.mu.Lock()
	if r.busy {
		r.t.Error("handler called while another call runs")
	}
	r.busy = true
	r.mu.Unlock()
	return func() { r.mu.Lock(); r.busy = false; r.mu.Unlock() }
}

func (r *recorder) note(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

func (r *recorder) Assigned(_ context.Context, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	defer r.enter()()
	r.note("assigned %v", consumeloop.Partitions(parts))
	out := slices.Clone(parts)
	for i := range out {
		out[i].Offset = kafka.OffsetStored
	}
	return out, nil
}

func (r *recorder) Revoked(_ context.Context, parts []kafka.TopicPartition, lost bool) error {
	defer r.enter()()
	r.note("revoked %v lost=%v", consumeloop.Partitions(parts), lost)
	return nil
}

func (r *recorder) Handle(_ context.Context, ev kafka.Event, _ time.Time) error {
	defer r.enter()()
	switch e := ev.(type) {
	case *kafka.Message:
		r.note("record %d@%d", e.TopicPartition.Partition, e.TopicPartition.Offset)
		if r.onRecord != nil {
			return r.onRecord(e)
		}
	case kafka.PartitionEOF:
		r.note("end %d@%d", e.Partition, e.Offset)
	case kafka.Error:
		r.note("error %v", e.Code())
	}
	return nil
}

func (r *recorder) Tick(context.Context, time.Time) (time.Duration, error) {
	defer r.enter()()
	r.mu.Lock()
	r.ticks++
	block := r.tickBlock
	r.tickBlock = 0
	r.mu.Unlock()
	if block > 0 {
		r.note("tick blocks")
		time.Sleep(block)
		r.note("tick done")
	}
	for {
		select {
		case action := <-r.actions:
			if err := action(r.loop); err != nil {
				return 0, err
			}
		default:
			return r.tick, nil
		}
	}
}

func (r *recorder) Stop(ctx context.Context, cause error) error {
	defer r.enter()()
	r.note("stop cause=%v", cause != nil)
	if r.stopBlock {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// run starts a Loop for a recorder on a fake consumer and returns a
// function that cancels it and returns Run's error.
func run(t *testing.T, c *consumetest.Consumer, r *recorder, opts consumeloop.Options) func() error {
	t.Helper()
	opts.Topics = []string{topic}
	r.t = t
	if r.tick == 0 {
		r.tick = 50 * time.Millisecond
	}
	r.actions = make(chan func(*consumeloop.Loop) error, 1)
	r.wake = make(chan struct{}, 1)
	opts.Wake = r.wake
	r.loop = consumeloop.New(c, r, opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.loop.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

func records(n int) []*kafka.Message {
	out := make([]*kafka.Message, n)
	for i := range out {
		out[i] = &kafka.Message{Value: []byte{byte(i)}}
	}
	return out
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("handler saw\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Rebalances come in order with the records: a partition's records after
// its assignment, none after its revocation, and a lost revocation says so.
func TestRecordsAndRebalancesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		c.Append(topic, 0, records(2)...)
		c.Append(topic, 1, records(1)...)
		r := &recorder{}
		stop := run(t, c, r, consumeloop.Options{})
		c.Assign(topic, 0, 1)
		synctest.Wait()
		c.Revoke(topic, false, 0)
		synctest.Wait()
		c.Append(topic, 0, records(1)...) // not assigned any more
		c.Append(topic, 1, records(1)...)
		synctest.Wait()
		c.Revoke(topic, true, 1)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		wantLines(t, r.seen(),
			"assigned [0 1]", "record 0@0", "record 1@0", "record 0@1", "end 0@2", "end 1@1",
			"revoked [0] lost=false", "record 1@1", "end 1@2",
			"revoked [1] lost=true", "stop cause=false")
	})
}

// A rebalance arriving while the Handler is busy (a commit in Tick) waits
// for it: the Handler is never called twice at once.
func TestRebalanceDuringCommitWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		c.Append(topic, 0, records(1)...)
		r := &recorder{}
		stop := run(t, c, r, consumeloop.Options{})
		c.Assign(topic, 0)
		synctest.Wait()
		r.mu.Lock()
		r.tickBlock = 3 * time.Second
		r.mu.Unlock()
		time.Sleep(r.tick) // the next Tick starts blocking
		synctest.Wait()
		c.Revoke(topic, false, 0)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		wantLines(t, r.seen(), "assigned [0]", "record 0@0", "end 0@1", "tick blocks", "tick done", "revoked [0] lost=false", "stop cause=false")
	})
}

// Partitions assigned while paused stay paused; a revocation while paused is
// handled; Resume lets the records of what is still assigned come.
func TestRevokeWhilePaused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		c.Append(topic, 0, records(1)...)
		r := &recorder{}
		stop := run(t, c, r, consumeloop.Options{})
		c.Assign(topic, 0)
		synctest.Wait()
		if err := r.do(func(l *consumeloop.Loop) error { return l.Pause() }); err != nil {
			t.Fatal(err)
		}
		c.Append(topic, 0, records(1)...)
		c.Assign(topic, 1)
		c.Append(topic, 1, records(1)...)
		time.Sleep(time.Second)
		synctest.Wait()
		c.Revoke(topic, false, 0)
		synctest.Wait()
		if err := r.do(func(l *consumeloop.Loop) error {
			if !l.Paused() || len(l.Assignment()) != 1 {
				return fmt.Errorf("paused %v, assignment %v", l.Paused(), l.Assignment())
			}
			return l.Resume()
		}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		wantLines(t, r.seen(),
			"assigned [0]", "record 0@0", "end 0@1", // then paused: record 0@1 never comes
			"assigned [1]", "revoked [0] lost=false",
			"record 1@0", "end 1@1", // resumed
			"stop cause=false", "revoked [1] lost=false")
	})
}

// Rewind drops what was read ahead and hands the records over again from
// the offsets asked for: a Handler that aborted a transaction replays.
func TestAbortAndRewind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		c.Append(topic, 0, records(6)...)
		r := &recorder{}
		rewound := false
		r.onRecord = func(m *kafka.Message) error {
			if m.TopicPartition.Offset == 3 && !rewound {
				rewound = true
				r.note("abort")
				return r.loop.Rewind([]kafka.TopicPartition{{Topic: m.TopicPartition.Topic, Partition: 0, Offset: 1}})
			}
			return nil
		}
		stop := run(t, c, r, consumeloop.Options{})
		c.Assign(topic, 0)
		time.Sleep(time.Second)
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		wantLines(t, r.seen(), "assigned [0]", "record 0@0", "record 0@1", "record 0@2", "record 0@3", "abort",
			"record 0@1", "record 0@2", "record 0@3", "record 0@4", "record 0@5", "end 0@6", "stop cause=false", "revoked [0] lost=false")
		if c.Seeks() != 1 {
			t.Fatalf("%d seeks, want 1", c.Seeks())
		}
	})
}

// A Rewind inside a revocation only seeks: the polling goroutine waits in
// Poll for the callback, and every record read before the rebalance has
// been handed over already. Here a Handler that loses a partition rewinds
// the one it keeps, as an aborted transaction requires.
func TestRewindInsideRebalance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		c.Append(topic, 0, records(2)...)
		c.Append(topic, 1, records(2)...)
		r := &recorder{}
		h := &rewindOnLost{recorder: r}
		r.t = t
		r.tick = 50 * time.Millisecond
		r.actions = make(chan func(*consumeloop.Loop) error, 1)
		r.loop = consumeloop.New(c, h, consumeloop.Options{Topics: []string{topic}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.loop.Run(ctx) }()
		c.Assign(topic, 0, 1)
		time.Sleep(time.Second)
		c.Revoke(topic, true, 0)
		time.Sleep(time.Second)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		wantLines(t, r.seen(), "assigned [0 1]", "record 0@0", "record 1@0", "record 0@1", "record 1@1", "end 0@2", "end 1@2",
			"revoked [0] lost=true", "rewound [1] to 0", "record 1@0", "record 1@1", "end 1@2", "stop cause=false", "revoked [1] lost=false")
	})
}

// rewindOnLost rewinds the partitions it keeps to the beginning when it
// loses some.
type rewindOnLost struct{ *recorder }

func (h *rewindOnLost) Revoked(ctx context.Context, parts []kafka.TopicPartition, lost bool) error {
	if err := h.recorder.Revoked(ctx, parts, lost); err != nil || !lost {
		return err
	}
	var keep []kafka.TopicPartition
	for _, tp := range h.loop.Assignment() {
		if !slices.ContainsFunc(parts, func(r kafka.TopicPartition) bool { return r.Partition == tp.Partition }) {
			tp.Offset = 0
			keep = append(keep, tp)
		}
	}
	h.note("rewound %v to 0", consumeloop.Partitions(keep))
	return h.loop.Rewind(keep)
}

// A fatal client error ends the Loop: Stop learns the cause, and Run's
// error wraps both ErrFatal and the client's kafka.Error.
func TestFatalClientError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		r := &recorder{}
		var reported []kafka.ErrorCode
		stop := run(t, c, r, consumeloop.Options{OnError: func(e kafka.Error) { reported = append(reported, e.Code()) }})
		c.Assign(topic, 0)
		c.Fail(kafka.NewError(kafka.ErrAllBrokersDown, "1/1 brokers are down", false))
		c.Fail(kafka.NewError(kafka.ErrFatal, "fenced", true))
		synctest.Wait()
		err := stop()
		var kerr kafka.Error
		if !errors.Is(err, consumeloop.ErrFatal) || !errors.As(err, &kerr) || kerr.Code() != kafka.ErrFatal {
			t.Fatalf("Run = %v, want ErrFatal wrapping the kafka.Error", err)
		}
		if !slices.Equal(reported, []kafka.ErrorCode{kafka.ErrAllBrokersDown}) {
			t.Fatalf("OnError got %v, want the non-fatal error only", reported)
		}
		wantLines(t, r.seen(), "assigned [0]", "error "+kafka.ErrAllBrokersDown.String(), "stop cause=true", "revoked [0] lost=false")
	})
}

// Shutdown is bounded: a Handler whose Stop does not finish is given
// ShutdownTimeout, then the consumer is closed all the same. Before Stop,
// the polling goroutine finishes its Poll: PollTimeout at most.
func TestShutdownWithinItsBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		r := &recorder{stopBlock: true}
		stop := run(t, c, r, consumeloop.Options{ShutdownTimeout: 3 * time.Second})
		c.Assign(topic, 0)
		synctest.Wait()
		began := time.Now()
		err := stop()
		if took := time.Since(began); took > 3*time.Second+100*time.Millisecond {
			t.Fatalf("Run returned %v after cancel, want within the 3s bound plus a Poll", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want Stop's deadline", err)
		}
		if got := r.seen(); got[len(got)-1] != "revoked [0] lost=false" {
			t.Fatalf("consumer not closed after Stop: %v", got)
		}
	})
}

// Closing the consumer is bounded too: when it does not finish within
// CloseTimeout, Run returns ErrCloseTimeout, and a revocation the Close
// delivers later does not reach the Handler.
func TestCloseWithinItsBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		release := make(chan struct{})
		c.HoldClose(release)
		r := &recorder{}
		stop := run(t, c, r, consumeloop.Options{CloseTimeout: 2 * time.Second})
		c.Assign(topic, 0)
		synctest.Wait()
		began := time.Now()
		err := stop()
		if took := time.Since(began); took > 2*time.Second+100*time.Millisecond {
			t.Fatalf("Run returned %v after cancel, want within the 2s bound plus a Poll", took)
		}
		if !errors.Is(err, consumeloop.ErrCloseTimeout) {
			t.Fatalf("Run = %v, want ErrCloseTimeout", err)
		}
		close(release)
		synctest.Wait()
		wantLines(t, r.seen(), "assigned [0]", "end 0@0", "stop cause=false")
	})
}

// Wake calls Tick at once instead of waiting for the wait Tick asked for.
func TestWakeTicksAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := consumetest.New("g")
		r := &recorder{tick: time.Hour}
		stop := run(t, c, r, consumeloop.Options{})
		synctest.Wait()
		began := time.Now()
		if err := r.do(func(*consumeloop.Loop) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if time.Since(began) != 0 {
			t.Fatalf("woken Tick came after %v", time.Since(began))
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}
