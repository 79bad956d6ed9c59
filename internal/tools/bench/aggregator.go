package bench

import (
	"context"
	"fmt"
	"time"
)

// Aggregator metric names (aggregator/metrics.go).
const (
	metricConsumed      = "tickcompact_aggregator_records_consumed_total"
	metricEmitted       = "tickcompact_aggregator_records_emitted_total"
	metricLate          = "tickcompact_aggregator_late_records_total"
	metricDLQ           = "tickcompact_aggregator_dlq_records_total"
	metricEmissionDelay = "tickcompact_aggregator_emission_delay_seconds"
	metricOpenISINs     = "tickcompact_aggregator_open_isins"
	metricGoHeapInuse   = "go_memstats_heap_inuse_bytes"
)

// aggregatorRun is an aggregator binary working on one input topic with a
// fresh group and fresh output and DLQ topics.
type aggregatorRun struct {
	*service
	Group, Output, DLQ string
}

// startAggregator runs the aggregator binary on input with defaults for
// everything but names, grace 0 and the HTTP address.
func (e *env) startAggregator(ctx context.Context, input string, flags ...string) (*aggregatorRun, error) {
	if e.opts.AggregatorBin == "" {
		return nil, fmt.Errorf("no aggregator binary (--aggregator-bin)")
	}
	run := &aggregatorRun{Group: uniqueName("group"), Output: uniqueName("out"), DLQ: uniqueName("dlq")}
	e.cluster.Forget(run.Output, run.DLQ)
	args := []string{
		"--kafka.brokers=" + e.cluster.Brokers,
		"--input.topic=" + input,
		"--input.group=" + run.Group,
		"--output.topic=" + run.Output,
		"--output.replication=1",
		"--dlq.topic=" + run.DLQ,
		"--window.grace=0s",
		"--http.addr=127.0.0.1:0",
		"--log.level=info",
	}
	if e.opts.ProfileDir != "" {
		args = append(args, "--http.pprof=true") // row 5 saves heap profiles
	}
	args = append(append(args, flags...), e.opts.AggregatorFlags...)
	svc, err := startService(ctx, "aggregator", e.opts.AggregatorBin, e.opts.WorkDir, e.perfDir(), e.opts.ServiceEnv, args)
	if err != nil {
		return nil, err
	}
	run.service = svc
	return run, nil
}

// startLive creates the input topic, starts the aggregator on it with flags
// and waits until it is ready: a live row's start. The caller stops the
// aggregator.
func (e *env) startLive(ctx context.Context, topic string, flags ...string) (*aggregatorRun, error) {
	if err := e.cluster.CreateTopic(ctx, topic, backlogPartitions); err != nil {
		return nil, err
	}
	agg, err := e.startAggregator(ctx, topic, flags...)
	if err != nil {
		return nil, err
	}
	if err := agg.WaitReady(ctx, time.Minute); err != nil {
		agg.Stop()
		return nil, err
	}
	return agg, nil
}

// drainWatch observes a group draining a backlog: the first record consumed
// and the moment its committed position reaches the end of every partition.
type drainWatch struct {
	// First is when records_consumed_total was first seen above zero.
	First time.Time
	// Processed is when the committed checkpoints' processed-through offsets
	// reached the end of every partition: every record processed and its
	// output committed, in one transaction.
	Processed time.Time
	// Closed is when the committed offsets themselves reached the end: the
	// last open windows closed too (by wall clock, window.idle_timeout after
	// the partition went quiet).
	Closed time.Time
	// Consumed, Emitted and Rejected (records sent to the DLQ) are the
	// counters at the end.
	Consumed, Emitted, Rejected float64
	// PeakRSS is the aggregator's VmHWM at the end.
	PeakRSS int64
}

// Took is the drain's time: first record consumed -> every record processed.
func (w drainWatch) Took() time.Duration { return w.Processed.Sub(w.First) }

// watchDrain polls the aggregator's /metrics and the group's committed
// offsets every 50 ms until the offsets reach ends and emitted reaches
// wantEmitted (or, when wantEmitted < 0, until the checkpoints reach ends).
func (e *env) watchDrain(ctx context.Context, agg *aggregatorRun, topic string, ends []int64, wantEmitted float64, timeout time.Duration) (drainWatch, error) {
	var w drainWatch
	watcher, err := e.cluster.watchCommits(agg.Group, topic, len(ends))
	if err != nil {
		return w, err
	}
	defer watcher.Close()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := agg.Metrics(ctx)
		if err == nil {
			w.Consumed, w.Emitted, w.Rejected = s.Value(metricConsumed), s.Value(metricEmitted), s.Value(metricDLQ)
			if w.First.IsZero() && w.Consumed > 0 {
				w.First = s.At
			}
		}
		p, err := watcher.read()
		if err == nil {
			offsets, processed := p.reached(ends)
			now := time.Now()
			if processed && w.Processed.IsZero() {
				w.Processed = now
			}
			if offsets && w.Closed.IsZero() {
				w.Closed = now
			}
		}
		if !w.Processed.IsZero() && (wantEmitted < 0 || (!w.Closed.IsZero() && w.Emitted >= wantEmitted)) {
			w.PeakRSS, _ = agg.PeakRSS()
			return w, nil
		}
		if agg.Exited() {
			return w, fmt.Errorf("aggregator exited; log %s:\n%s", agg.logPath, agg.logTail())
		}
		if time.Now().After(deadline) {
			return w, fmt.Errorf("aggregator did not finish within %v (consumed %.0f, emitted %.0f of %.0f)", timeout, w.Consumed, w.Emitted, wantEmitted)
		}
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-tick.C:
		}
	}
}
