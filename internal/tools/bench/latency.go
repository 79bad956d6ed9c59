package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/tools/emission"
	"tickcompact/internal/tools/tradegen"
)

// Row 3's target. With grace 0 a window cannot close before its partition's
// next trade past the window's end arrives (or the idle timeout passes): the
// input floor, read back from the input topic. The aggregator's p99 is judged
// against the floor's p99 plus latencyOverFloor, or latencyTarget when that
// is larger; the table prints both.
const (
	latencyTarget    = 100 * time.Millisecond
	latencyOverFloor = 30 * time.Millisecond
)

const latencyTargetText = "p99 <= max(100 ms, input floor p99 + 30 ms)"

// latencyLimit is the p99, in seconds, that row 3 allows over an input floor
// whose p99 is floorP99 seconds.
func latencyLimit(floorP99 float64) float64 {
	return max(latencyTarget.Seconds(), floorP99+latencyOverFloor.Seconds())
}

// runLatency is row 3: emission delay with the generator live.
func (e *env) runLatency(ctx context.Context) []Row {
	warm, measure := 4*time.Second, 20*time.Second
	if e.opts.Quick {
		warm, measure = 2*time.Second, 5*time.Second
	}
	var rows []Row
	for _, c := range []struct {
		id          string
		rate        float64
		repartition bool
	}{{"3a", 1000, false}, {"3b", 50_000, false}, {"3c", 1000, true}} {
		row, err := e.latencyAt(ctx, c.id, c.rate, c.repartition, warm, measure)
		if err != nil {
			row = Failed(c.id, latencyMeasure(c.rate, c.repartition), latencyTargetText, err)
		}
		rows = append(rows, row)
	}
	e.notef("row 3: tradegen paced live (Zipf popularity over 900 ISINs, clock timestamps) into a fresh 6-partition topic; aggregator binary with grace 0 and default window 2s, commit_interval 50ms; %v warm-up, then %v measured.", warm, measure)
	e.notef("row 3c: as 3a, but tradegen sends the trades without a key (spread at random over the 6 partitions) and the aggregator runs with input.repartition=true: trades pass through the repartition stage and <input>-by-isin, and a window closes once every raw partition has passed it. Its input floor is per window the greatest of the raw partitions' gaps, as every one of them must pass the window's end.")
	e.notef("row 3: figure = quantiles of the aggregator's emission_delay_seconds histogram (commit time - window end, one observation per closed window per partition), the difference of two scrapes bracketing the measured interval, interpolated within buckets as histogram_quantile does. Input floor = the p99, over (partition, window) pairs, of the time from the window's end to the timestamp of the partition's first trade at or past it (grace 0: no close comes sooner, except by wall clock after window.idle_timeout); read back from the input topic after the run. Limit = the floor + 30 ms, or 100 ms when that is larger. Reader = cross-check: a read_committed consumer of the output (aggregator consumer tuning) taking receive time - window-end header per record received in the same interval, exact quantiles.")
	return rows
}

// latencyMeasure names a row 3 measurement.
func latencyMeasure(rate float64, repartition bool) string {
	m := fmt.Sprintf("Emission delay, live %s trades/s", thousands(int64(rate)))
	if repartition {
		m += ", unkeyed input, input.repartition"
	}
	return m
}

func (e *env) latencyAt(ctx context.Context, id string, target float64, repartition bool, warm, measure time.Duration) (Row, error) {
	topic := uniqueName("live")
	var flags []string
	if repartition {
		flags = append(flags, "--input.repartition=true")
		e.cluster.Forget(topic + "-by-isin")
	}
	agg, err := e.startLive(ctx, topic, flags...)
	if err != nil {
		return Row{}, err
	}
	defer agg.Stop()

	readerCtx, stopReader := context.WithCancel(ctx)
	var (
		mu      sync.Mutex
		samples []emission.Sample
	)
	readerDone := make(chan error, 1)
	go func() {
		reader := emission.Reader{Brokers: e.cluster.Brokers, Tuning: aggregatorConsumerTuning}
		readerDone <- reader.Watch(readerCtx, agg.Output, kafka.OffsetBeginning, func(s emission.Sample) {
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		})
	}()

	live, err := e.liveFeed(ctx, id, topic, agg, tradegen.Options{Seed: 11, Instruments: 900, Rate: target, Unkeyed: repartition}, warm, measure)
	sleep(ctx, time.Second) // the reader sees the last commits
	stopReader()
	readErr := <-readerDone
	switch {
	case err != nil:
		return Row{}, err
	case readErr != nil:
		return Row{}, fmt.Errorf("output reader: %w", readErr)
	}
	s1, s2, gen := live.s1, live.s2, live.gen

	h, err := s2.HistogramSince(s1, metricEmissionDelay)
	if err != nil {
		return Row{}, err
	}
	p50, p99 := h.Quantile(0.5), h.Quantile(0.99)
	interval := s2.At.Sub(s1.At).Seconds()
	achieved := (s2.Value(metricConsumed) - s1.Value(metricConsumed)) / interval
	var inInterval []float64
	mu.Lock()
	for _, s := range samples {
		if !s.Received.Before(s1.At) && !s.Received.After(s2.At) {
			inInterval = append(inInterval, s.Delay.Seconds())
		}
	}
	mu.Unlock()
	rp50, rp99 := SampleQuantile(inInterval, 0.5), SampleQuantile(inInterval, 0.99)
	gaps, err := e.inputGaps(ctx, topic, 2*time.Second, s1.At, s2.At)
	if err != nil {
		return Row{}, fmt.Errorf("input gaps: %w", err)
	}
	floor := gaps.perPartition()
	if repartition {
		floor = gaps.perWindow()
	}
	e.notef("row %s: input floor: over %d (partition, window) pairs ending in the measured interval, each partition's first trade at or past the window's end was stamped p50 %s, p99 %s, max %s after it; over the %d windows, the last partition's p50 %s, p99 %s.",
		id, len(gaps.gaps), millis(SampleQuantile(gaps.perPartition(), 0.5)), millis(SampleQuantile(gaps.perPartition(), 0.99)), millis(SampleQuantile(gaps.perPartition(), 1)),
		len(gaps.perWindow()), millis(SampleQuantile(gaps.perWindow(), 0.5)), millis(SampleQuantile(gaps.perWindow(), 0.99)))
	e.notef("row %s: target %s/s, generator produced %s on average, aggregator consumed %s in the measured interval; %.0f window closings observed (mean %s), %d output records read; late records %.0f.",
		id, thousands(int64(target)), rate(float64(gen.Produced)/gen.Elapsed.Seconds()), rate(achieved),
		h.Count, millis(h.Sum/h.Count), len(inInterval), s2.Value(metricLate))
	floorP99 := SampleQuantile(floor, 0.99)
	limit := latencyLimit(floorP99)
	return Row{
		ID:      id,
		Measure: fmt.Sprintf("%s (achieved %s), 900 ISINs, grace 0", latencyMeasure(target, repartition), rate(achieved)),
		Figure:  fmt.Sprintf("p50 %s, p99 %s (reader: p50 %s, p99 %s)", millis(p50), millis(p99), millis(rp50), millis(rp99)),
		Limit:   fmt.Sprintf("input floor p99 %s; limit %s", millis(floorP99), millis(limit)),
		Target:  latencyTargetText,
		Verdict: AtMost(p99, limit),
	}, nil
}

// liveRun is what liveFeed measured: the aggregator's metrics after the
// warm-up and after the measured interval, and the generator's figures.
type liveRun struct {
	s1, s2 Scrape
	gen    tradegen.Stats
}

// liveFeed paces tradegen live into topic with feed's options for warm +
// measure while agg works, and scrapes agg after the warm-up and again
// after the measured interval.
func (e *env) liveFeed(ctx context.Context, id, topic string, agg *aggregatorRun, feed tradegen.Options, warm, measure time.Duration) (liveRun, error) {
	var run liveRun
	producer, err := tradegen.NewProducer(e.cluster.Brokers, nil, e.logger)
	if err != nil {
		return run, err
	}
	defer producer.Close()
	e.logf("row %s: generator live at %s trades/s for %v", id, thousands(int64(feed.Rate)), warm+measure)
	type produced struct {
		stats tradegen.Stats
		err   error
	}
	genDone := make(chan produced, 1)
	go func() {
		feed.Duration = warm + measure + time.Second
		st, err := tradegen.Produce(ctx, producer, topic, feed)
		genDone <- produced{st, err}
	}()
	if sleep(ctx, warm) {
		run.s1, err = agg.Metrics(ctx)
	}
	if err == nil && sleep(ctx, measure) {
		run.s2, err = agg.Metrics(ctx)
	}
	gen := <-genDone
	run.gen = gen.stats
	switch {
	case ctx.Err() != nil:
		return run, ctx.Err()
	case err != nil:
		return run, err
	case gen.err != nil:
		return run, fmt.Errorf("generator: %w", gen.err)
	}
	return run, nil
}
