package consumeloop

import (
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// poller calls the consumer's Poll on a goroutine of its own and hands the
// events to the loop goroutine in batches, in order. Each Poll is a cgo call
// that also copies the record into Go: on the loop goroutine, polling and
// handling (parsing, windowing, producing, each with cgo calls of its own)
// would take turns, and a backlog would drain at the speed of one goroutine.
//
// Rebalance callbacks, which librdkafka invokes from inside Poll, are handed
// over too, after the events polled before them, and the polling goroutine
// waits inside Poll until the loop has handled them: the Handler's state
// stays single-threaded, and no event of a revoked partition follows its
// revocation.
type poller struct {
	consumer Consumer
	// handle handles a rebalance event on the loop goroutine.
	handle func(kafka.Event)
	// pollTimeout bounds each Poll while nothing is waiting to be handed
	// over.
	pollTimeout time.Duration
	// afterPoll, when set, runs after each batch or idle Poll (Options.AfterPoll).
	afterPoll func()
	batches   chan polled
	stop      chan struct{}
	done      chan struct{}
	// active is set while the goroutine runs: a rebalance callback then
	// comes from its Poll and must be handed over; otherwise (Close, or a
	// rewind) it runs on the caller's goroutine.
	active atomic.Bool
	// abandoned is set when the Loop stopped waiting for Close: callbacks
	// from then on leave the partitions to the client's default handling.
	abandoned atomic.Bool
	// batch collects events on the polling goroutine until handed over.
	batch []kafka.Event
	// handling is set, on the loop goroutine, while it handles a rebalance
	// handed over: the polling goroutine waits inside Poll then.
	handling bool
	// pending are the events of the last batch handed over that the loop
	// has not taken yet (loop goroutine only).
	pending []kafka.Event
}

// polled is what the poller hands over: events, or a rebalance to handle.
type polled struct {
	events    []kafka.Event
	rebalance *rebalanceCall
}

// rebalanceCall is a rebalance callback waiting for the loop goroutine.
type rebalanceCall struct {
	event kafka.Event
	done  chan struct{}
}

const (
	// pollBatch bounds the events handed over at once.
	pollBatch = 256
	// pollBatches bounds the batches waiting for the loop: records polled
	// ahead of it beyond librdkafka's own prefetch.
	pollBatches = 4
)

// start runs the polling goroutine.
func (p *poller) start() {
	p.batches = make(chan polled, pollBatches)
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	p.active.Store(true)
	go p.run(p.batches, p.stop, p.done)
}

func (p *poller) run(batches chan<- polled, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	p.batch = make([]kafka.Event, 0, pollBatch)
	for {
		select {
		case <-stop:
			return
		default:
		}
		// A partial batch goes to the loop as soon as nothing more is
		// waiting: live, a record must not wait for the next one.
		timeout := int(p.pollTimeout.Milliseconds())
		if len(p.batch) > 0 {
			timeout = 0
		}
		if ev := p.consumer.Poll(timeout); ev != nil {
			p.batch = append(p.batch, ev)
			if _, ok := ev.(*kafka.Message); ok && len(p.batch) < cap(p.batch) {
				continue
			}
		}
		if p.afterPoll != nil {
			p.afterPoll()
		}
		if len(p.batch) == 0 {
			continue
		}
		select {
		case batches <- polled{events: p.batch}:
			p.batch = make([]kafka.Event, 0, pollBatch)
		case <-stop:
			return
		}
	}
}

// onRebalance is the consumer's rebalance callback. From the polling
// goroutine it hands over the events polled before ev, then ev, and waits
// until the loop goroutine handled it (through next or halt); otherwise it
// calls handle itself. The loop always reads the batches eventually, so the
// sends block rather than give up.
func (p *poller) onRebalance(_ *kafka.Consumer, ev kafka.Event) error {
	if p.abandoned.Load() {
		return nil
	}
	if !p.active.Load() {
		p.handle(ev)
		return nil
	}
	if len(p.batch) > 0 {
		p.batches <- polled{events: p.batch}
		p.batch = make([]kafka.Event, 0, pollBatch)
	}
	call := &rebalanceCall{event: ev, done: make(chan struct{})}
	p.batches <- polled{rebalance: call}
	<-call.done
	return nil
}

// abandon stops rebalance callbacks from reaching the Loop: it returned
// without waiting for the consumer's Close.
func (p *poller) abandon() { p.abandoned.Store(true) }

// next returns the loop's next event, or nil when none came within timeout
// or wake fired first. A rebalance handed over is handled on the way (also
// returning nil, so the caller looks at what it changed).
func (p *poller) next(timeout time.Duration, wake <-chan struct{}) kafka.Event {
	if len(p.pending) > 0 {
		ev := p.pending[0]
		p.pending[0] = nil
		p.pending = p.pending[1:]
		return ev
	}
	t := time.NewTimer(max(timeout, 0))
	defer t.Stop()
	select {
	case b := <-p.batches:
		if b.rebalance != nil {
			p.call(b.rebalance)
			return nil
		}
		p.pending = b.events[1:]
		return b.events[0]
	case <-wake:
		return nil
	case <-t.C:
		return nil
	}
}

// ready reports whether an event can be handed over without waiting.
func (p *poller) ready() bool { return len(p.pending) > 0 || len(p.batches) > 0 }

// call handles a rebalance handed over and lets the polling goroutine go on.
func (p *poller) call(c *rebalanceCall) {
	p.handling = true
	defer func() { p.handling = false; close(c.done) }()
	p.handle(c.event)
}

// halt stops the polling goroutine and waits for it, handling the
// rebalances it hands over meanwhile. It returns the events polled ahead of
// the loop (pending first), in order, for the caller to drop (records past
// the positions it is about to seek to) or handle (client errors, which
// librdkafka reports once). After halt the consumer may be polled, sought or
// closed by the caller; start resumes. It returns at once if the goroutine
// is not running.
func (p *poller) halt() []kafka.Event {
	ahead := p.pending
	p.pending = nil
	if !p.active.Load() {
		return ahead
	}
	close(p.stop)
	for {
		select {
		case b := <-p.batches:
			if b.rebalance != nil {
				p.call(b.rebalance)
			}
			ahead = append(ahead, b.events...)
		case <-p.done:
			// The goroutine cannot end inside a callback, so what is left
			// are events, and the batch it had not handed over yet.
			for len(p.batches) > 0 {
				ahead = append(ahead, (<-p.batches).events...)
			}
			ahead = append(ahead, p.batch...)
			p.batch = nil
			p.active.Store(false)
			return ahead
		}
	}
}

// haltable reports whether halt may be called: not while handling a
// rebalance handed over, as the polling goroutine waits for that inside
// Poll. (It polls nothing stale then: every event polled before the
// rebalance was handed over, and taken, before it.)
func (p *poller) haltable() bool { return p.active.Load() && !p.handling }
