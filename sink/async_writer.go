package sink

import (
	"context"
	"time"
)

// redisApplier is what the sink needs from Redis. *RedisWriter is the real
// one; tests substitute their own.
type redisApplier interface {
	// apply sends the updates whose outcome is pending, records the outcome
	// of each one Redis acknowledged and returns how many were newly written
	// or stale; nil means none is left pending (RedisWriter.apply).
	apply(ctx context.Context, updates []Update, outcomes []outcome) (written, stale int, err error)
	// Ping checks that Redis answers.
	Ping(ctx context.Context) error
}

// asyncWriter applies batches to Redis on a goroutine of its own, so that
// the consumer goroutine reads Kafka while Redis works. It holds at most one
// batch: after submit, the caller must receive that batch's result before it
// submits to this writer again. A writer's batches are therefore applied in
// the order submitted, and a failed batch is never overtaken by a later one.
type asyncWriter struct {
	redis    redisApplier
	requests chan writeRequest
	// results receives one writeResult per submitted batch; several writers
	// may share it. wake is signalled after each, without blocking.
	results chan<- writeResult
	wake    chan<- struct{}
}

type writeRequest struct {
	batch    *batch
	deadline time.Time
}

// writeResult is what became of a submitted batch. Once received, the batch
// belongs to the consumer goroutine again.
type writeResult struct {
	batch          *batch
	written, stale int
	// took is the time the attempt took.
	took time.Duration
	err  error
}

// newAsyncWriter returns a writer applying batches with redis and sending
// their results to results, which must have room for one result per writer
// sharing it, so that a writer never blocks on it, then signalling wake.
func newAsyncWriter(redis redisApplier, results chan<- writeResult, wake chan<- struct{}) *asyncWriter {
	return &asyncWriter{redis: redis, requests: make(chan writeRequest, 1), results: results, wake: wake}
}

// run applies submitted batches until close is called. It always returns nil.
func (w *asyncWriter) run() error {
	for req := range w.requests {
		// An attempt is bounded by its own deadline, not by shutdown: a batch
		// half-sent when the signal arrives is finished if Redis answers.
		ctx, cancel := context.WithDeadline(context.Background(), req.deadline)
		start := time.Now()
		written, stale, err := w.redis.apply(ctx, req.batch.updates, req.batch.outcomes)
		cancel()
		w.results <- writeResult{batch: req.batch, written: written, stale: stale, took: time.Since(start), err: err}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// submit hands b to the writer goroutine, to be applied within timeout. It
// does not block.
func (w *asyncWriter) submit(b *batch, timeout time.Duration) {
	w.requests <- writeRequest{batch: b, deadline: time.Now().Add(timeout)}
}

// close makes run return once the batch it holds, if any, is done. The
// caller must not submit afterwards.
func (w *asyncWriter) close() { close(w.requests) }
