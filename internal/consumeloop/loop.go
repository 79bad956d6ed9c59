package consumeloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Options configure a Loop. Topics is required.
type Options struct {
	// Topics are subscribed to.
	Topics []string
	// Logger gets the Loop's own lines (partitions assigned and revoked).
	Logger *slog.Logger
	// PollTimeout bounds each Poll, and so how long a rebalance or a
	// shutdown can wait for the polling goroutine (default 100ms).
	PollTimeout time.Duration
	// ShutdownTimeout bounds Handler.Stop (default 10s).
	ShutdownTimeout time.Duration
	// CloseTimeout bounds closing the consumer after Stop (default 5s).
	// Closing leaves the group, and runs the revocation of what is still
	// assigned; a group coordinator that does not answer would hold it
	// for as long as it likes. Past the bound, Run returns ErrCloseTimeout
	// and the Handler hears of no further rebalance; the group then drops
	// this member after its session timeout.
	CloseTimeout time.Duration
	// Wake, when set, ends the Loop's wait for the next event early (a
	// Handler's asynchronous work finished): Tick is called at once.
	Wake <-chan struct{}
	// OnError, when set, is told of each client error the consumer
	// reported that is not fatal, before Handle gets it: where the service
	// logs it and keeps its readiness.
	OnError func(kafka.Error)
	// OnAssigned, when set, is told how many partitions are assigned after
	// each rebalance (readiness, metrics).
	OnAssigned func(n int)
	// AfterPoll, when set, is called on the polling goroutine after each
	// batch handed over and each Poll that returned nothing: the one
	// goroutine that polls, where the consumer's local state (positions,
	// cached watermarks) may be read without racing Poll, as the consumer
	// lag gauge does. It must be quick.
	AfterPoll func()
}

// Loop runs one consumer for one Handler. Rewind, Pause, Resume and
// Assignment may be called by the Handler, on the Loop's goroutine, from
// any of its methods.
type Loop struct {
	consumer Consumer
	handler  Handler
	opts     Options
	poll     *poller

	// ctx is Run's context while Run runs, for the Handler calls the
	// rebalance callback makes.
	ctx context.Context
	// assigned are the partitions assigned, by topic and partition.
	assigned map[topicPartition]kafka.TopicPartition
	// paused is set between Pause and Resume; partitions assigned
	// meanwhile are paused as well.
	paused bool
	// closing is set once the Handler was stopped: partitions assigned by
	// a rebalance the consumer's Close still runs are handed straight back.
	closing bool
	// failure is the first error of a Handler called from a rebalance
	// callback, which cannot return it to Run directly.
	failure error
	stopped bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// New returns a Loop reading with consumer for handler.
func New(consumer Consumer, handler Handler, opts Options) *Loop {
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 100 * time.Millisecond
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Loop{consumer: consumer, handler: handler, opts: opts, assigned: map[topicPartition]kafka.TopicPartition{}}
	l.poll = &poller{consumer: consumer, handle: l.rebalance, pollTimeout: opts.PollTimeout, afterPoll: opts.AfterPoll}
	return l
}

// Run subscribes and hands what the consumer reads to the Handler until ctx
// is done (it then returns nil) or the Handler or the consumer fails (it
// returns that error). Either way the Handler is stopped and the consumer
// closed, which leaves the group: Run returns within PollTimeout plus
// ShutdownTimeout plus CloseTimeout of ctx's end. Run may be called once.
func (l *Loop) Run(ctx context.Context) error {
	l.ctx = ctx
	if err := l.consumer.SubscribeTopics(l.opts.Topics, l.poll.onRebalance); err != nil {
		_ = l.consumer.Close() // never subscribed: nothing to commit or leave
		return fmt.Errorf("%w to %v: %w", ErrSubscribe, l.opts.Topics, err)
	}
	l.poll.start()
	err := l.loop(ctx)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil // a Handler's call cut short by the end of ctx: a clean stop
	}
	return errors.Join(err, l.shutdown(err))
}

func (l *Loop) loop(ctx context.Context) error {
	deadline := time.Now()
	for ctx.Err() == nil {
		ev := l.poll.next(time.Until(deadline), l.opts.Wake)
		if l.failure != nil {
			return l.failure
		}
		if ev != nil {
			if err := l.dispatch(ctx, ev); err != nil {
				return err
			}
			if l.failure != nil {
				return l.failure
			}
			if l.poll.ready() && time.Now().Before(deadline) {
				continue // more to hand over: Tick when it runs out, or is due
			}
		}
		wait, err := l.handler.Tick(ctx, time.Now())
		if err != nil {
			return err
		}
		if l.failure != nil {
			return l.failure
		}
		deadline = time.Now().Add(wait)
	}
	return nil
}

// dispatch hands one event to the Handler, or stops on a fatal client error.
func (l *Loop) dispatch(ctx context.Context, ev kafka.Event) error {
	switch e := ev.(type) {
	case *kafka.Message, kafka.PartitionEOF:
	case kafka.Error:
		if e.IsFatal() {
			return fmt.Errorf("%w: %w", ErrFatal, e)
		}
		if l.opts.OnError != nil {
			l.opts.OnError(e)
		}
	default:
		return nil // statistics, offsets committed: nothing the Handler asked for
	}
	return l.handler.Handle(ctx, ev, time.Now())
}

// shutdown stops the polling goroutine, stops the Handler within
// ShutdownTimeout and closes the consumer. A fatal client error the poller
// had read ahead, or a failure of a rebalance it handed over meanwhile,
// becomes the cause if there was none. It is idempotent.
func (l *Loop) shutdown(cause error) error {
	if l.stopped {
		return nil
	}
	l.stopped = true
	var errs []error
	for _, ev := range l.poll.halt() {
		if e, ok := ev.(kafka.Error); ok && e.IsFatal() && cause == nil {
			cause = fmt.Errorf("%w: %w", ErrFatal, e)
			errs = append(errs, cause)
		}
	}
	if cause == nil && l.failure != nil {
		cause = l.failure
		errs = append(errs, cause)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.ShutdownTimeout)
	defer cancel()
	l.ctx = ctx
	if err := l.handler.Stop(ctx, cause); err != nil {
		errs = append(errs, err)
	}
	l.closing = true
	failed := l.failure
	// Close runs the last revocation through the rebalance callback, on
	// Close's goroutine: this one only waits for it, and past the bound
	// touches nothing the callback may still be using.
	closed := make(chan error, 1)
	go func() { closed <- l.consumer.Close() }()
	timer := time.NewTimer(l.opts.CloseTimeout)
	defer timer.Stop()
	select {
	case err := <-closed:
		if err != nil {
			errs = append(errs, fmt.Errorf("closing consumer: %w", err))
		}
		if l.failure != failed {
			errs = append(errs, l.failure) // raised by a revocation inside Close
		}
	case <-timer.C:
		l.poll.abandon()
		errs = append(errs, fmt.Errorf("%w within %v: the group drops this member after its session timeout", ErrCloseTimeout, l.opts.CloseTimeout))
	}
	return errors.Join(errs...)
}
