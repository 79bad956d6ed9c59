package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/tools/tradegen"
)

const (
	backlogPartitions = 6
	windowSizeMillis  = 2000 // the aggregator's default window.size
)

// drainResult is one side's pass over a backlog.
type drainResult struct {
	Records     int64
	First, Last time.Time
}

func (d drainResult) Rate() float64 {
	if !d.Last.After(d.First) {
		return 0
	}
	return float64(d.Records) / d.Last.Sub(d.First).Seconds()
}

// Row 2's target: the aggregator drains a backlog at least this share of
// the rate of the Poll + produce loop, the client's ceiling for this output:
// what is left below it is the aggregator's own work, which the product can
// change. The bare Poll loop is printed beside it as information.
const backlogTargetRatio = 0.9

// runBacklog is row 2: the aggregator drains a preloaded backlog, judged
// against the Poll + produce loop, which reads the same backlog and writes
// the aggregator's output with the same settings.
func (e *env) runBacklog(ctx context.Context) []Row {
	const id, measure = "2", "Backlog drain, 900 ISINs, 6 partitions"
	target := backlogTarget()
	n := int64(2_000_000)
	if e.opts.Quick {
		n = 200_000
	}
	rows, err := e.drainBacklog(ctx, n)
	if err != nil {
		return []Row{Failed(id, measure, target, err)}
	}
	return rows
}

// tradeBacklog is a topic preloaded with trades, and what draining it emits.
type tradeBacklog struct {
	topic string
	ends  []int64
	// records is how many records the topic holds (trades and, in a mixed
	// backlog, hostile records).
	records int64
	// gen is the trades' schedule; span how far back their event times go.
	gen  tradegen.Options
	span time.Duration
	// wantEmitted counts the (ISIN, window) outputs of the trades.
	wantEmitted int64
}

// drainTimeout bounds one side's pass over a backlog of n records.
func drainTimeout(n int64) time.Duration { return 5*time.Minute + time.Duration(n/5000)*time.Second }

// trades preloads n trades over 900 ISINs into a fresh topic, flat out by
// tradegen, once per run: rows 2 and 6 drain the same backlog.
func (e *env) trades(ctx context.Context, n int64) (*tradeBacklog, error) {
	if e.backlog != nil && e.backlog.records == n {
		return e.backlog, nil
	}
	topic := uniqueName("trades")
	if err := e.cluster.CreateTopic(ctx, topic, backlogPartitions); err != nil {
		return nil, err
	}
	// Event times lie in the past, twice as far back as the schedule needs
	// at its default rate, so nothing is future-time and the windows close by
	// event time (the last one per partition by wall clock once caught up).
	span := time.Duration(float64(n)/tradegen.DefaultRate*2) * time.Second
	genOpts := tradegen.Options{Seed: 7, Instruments: 900, Count: n, Start: time.Now().Add(-span - time.Minute).Truncate(time.Second)}
	e.logf("backlog: preloading %s trades (tradegen, flat out) into %s", thousands(n), topic)
	producer, err := tradegen.NewProducer(e.cluster.Brokers, nil, e.logger)
	if err != nil {
		return nil, err
	}
	stats, err := tradegen.Produce(ctx, producer, topic, genOpts)
	producer.Close()
	if err != nil {
		return nil, fmt.Errorf("preloading: %w", err)
	}
	ends, err := e.cluster.EndOffsets(topic, backlogPartitions)
	if err != nil {
		return nil, err
	}
	if sum(ends) != n {
		return nil, fmt.Errorf("preloaded %d records, the topic holds %d", stats.Delivered, sum(ends))
	}
	wantEmitted, err := expectedWindows(genOpts)
	if err != nil {
		return nil, err
	}
	e.logf("backlog: preloaded in %v; %s (ISIN, window) outputs expected", stats.Elapsed.Round(time.Millisecond), thousands(wantEmitted))
	e.backlog = &tradeBacklog{topic: topic, ends: ends, records: n, gen: genOpts, span: span, wantEmitted: wantEmitted}
	return e.backlog, nil
}

// aggregatorDrain runs the aggregator binary over b in a fresh group until
// every record is processed, every window emitted and its offsets committed.
// The drain is timed from the first record consumed to every partition's
// checkpoint at the end (drainWatch.Took). With a profile name and
// --profile-dir, it saves 2 s of CPU profile from the first record on.
func (e *env) aggregatorDrain(ctx context.Context, b *tradeBacklog, profile string) (drainWatch, error) {
	agg, err := e.startAggregator(ctx, b.topic)
	if err != nil {
		return drainWatch{}, err
	}
	defer agg.Stop()
	profiled := make(chan struct{})
	profileCtx, stopProfile := context.WithCancel(ctx)
	go func() {
		defer close(profiled)
		path := ""
		if profile != "" {
			path = e.profilePath(profile)
		}
		for path != "" && profileCtx.Err() == nil {
			if s, err := agg.Metrics(profileCtx); err == nil && s.Value(metricConsumed) > 0 {
				_ = agg.SaveProfile(profileCtx, "profile?seconds=2", path)
				return
			}
			sleep(profileCtx, 20*time.Millisecond)
		}
	}()
	w, err := e.watchDrain(ctx, agg, b.topic, b.ends, float64(b.wantEmitted), drainTimeout(b.records))
	stopProfile()
	<-profiled
	return w, err
}

func (e *env) drainBacklog(ctx context.Context, n int64) ([]Row, error) {
	b, err := e.trades(ctx, n)
	if err != nil {
		return nil, err
	}
	topic, ends, span, wantEmitted, timeout := b.topic, b.ends, b.span, b.wantEmitted, drainTimeout(n)
	bare1, err := e.bareDrain(ctx, topic, ends, timeout)
	if err != nil {
		return nil, fmt.Errorf("bare loop: %w", err)
	}
	e.logf("row 2: bare Poll loop (1st): %s", rate(bare1.Rate()))

	w, err := e.aggregatorDrain(ctx, b, "aggregator-2-cpu.pb.gz")
	if err != nil {
		return nil, err
	}
	aggRate := float64(n) / w.Took().Seconds()
	e.logf("row 2: aggregator: %s", rate(aggRate))

	bare2, err := e.bareDrain(ctx, topic, ends, timeout)
	if err != nil {
		return nil, fmt.Errorf("bare loop: %w", err)
	}
	e.logf("row 2: bare Poll loop (2nd): %s", rate(bare2.Rate()))
	bare := max(bare1.Rate(), bare2.Rate())

	floor, err := e.produceDrain(ctx, topic, ends, wantEmitted, timeout)
	if err != nil {
		return nil, fmt.Errorf("Poll + produce loop: %w", err)
	}
	e.logf("row 2: Poll + produce loop: %s", rate(floor.Rate()))
	ratio := aggRate / floor.Rate()

	e.notef("row 2: %s trades, 900 ISINs, 6 partitions, preloaded flat out by tradegen (event times %v in the past); both sides read with %s, in a fresh group each, started from the earliest offset.",
		thousands(n), span.Round(time.Minute), AggregatorConsumerSettings())
	e.notef("row 2: rate = records / (first record consumed -> last). Bare loop (information: what the client reads with no output): timestamps of its first and last Poll'd message; runs once before and once after the aggregator (%s, %s), the better is shown. Aggregator (real binary, fresh group and output topic): first /metrics scrape (every 50 ms) with records_consumed_total > 0 -> first Committed() read (every 50 ms, same poller also runs during the bare loop) where every partition's checkpoint (offset metadata processed-through) is at the end, i.e. all records processed and their output committed.",
		rate(bare1.Rate()), rate(bare2.Rate()))
	e.notef("row 2: limit = the Poll + produce loop (no window computed: what this client costs for the output alone, its ceiling for it): the bare loop plus a transactional producer with the aggregator's settings writing %s records, as many as the aggregator emits, spread evenly, with the consumed key and value and the six output headers at their sizes, into a fresh compacted topic, offsets in each transaction, one commit every %v as the aggregator's while draining; from the first record polled to the last commit: %s = %.2f x the bare loop; the aggregator ran at %.2f x of it and %.2f x of the bare loop.",
		thousands(wantEmitted), floorCommitInterval, rate(floor.Rate()), floor.Rate()/bare, ratio, aggRate/bare)
	e.notef("row 2: aggregator consumed %.0f records, emitted %.0f of %s expected (ISIN, window) records; committed offsets reached the end (last windows closed by wall clock, idle_timeout 1s) %v after the first record (%s counting that); its peak RSS %s.",
		w.Consumed, w.Emitted, thousands(wantEmitted), w.Closed.Sub(w.First).Round(time.Millisecond), rate(float64(n)/w.Closed.Sub(w.First).Seconds()), megabytes(w.PeakRSS))
	return []Row{{
		ID:      "2",
		Measure: fmt.Sprintf("Backlog drain, %s trades, 900 ISINs, 6 partitions", thousands(n)),
		Figure:  fmt.Sprintf("%s (%.2f x)", rate(aggRate), ratio),
		Limit:   fmt.Sprintf("%s Poll + produce loop (bare Poll loop: %s, for information)", rate(floor.Rate()), rate(bare)),
		Target:  backlogTarget(),
		Verdict: AtLeast(ratio, backlogTargetRatio),
	}}, nil
}

func backlogTarget() string {
	return fmt.Sprintf(">= %.1f x Poll + produce loop", backlogTargetRatio)
}

// expectedWindows counts the distinct (ISIN, window) pairs of the records
// Produce writes with opts: the aggregator's output for a backlog whose
// event times never go backwards (no late records).
func expectedWindows(opts tradegen.Options) (int64, error) {
	g, err := tradegen.NewGenerator(opts)
	if err != nil {
		return 0, err
	}
	seen := make(map[[2]int64]struct{}, opts.Count/2)
	for i := int64(0); i < opts.Count; i++ {
		r := g.Next()
		ts := r.Timestamp.UnixMilli()
		seen[[2]int64{int64(r.Instrument), ts - ts%windowSizeMillis}] = struct{}{}
	}
	return int64(len(seen)), nil
}

// bareDrain reads the backlog with a bare Poll loop in a fresh group, with
// the aggregator's consumer settings, while the same committed-offsets poller
// as the aggregator's runs against its group.
func (e *env) bareDrain(ctx context.Context, topic string, ends []int64, timeout time.Duration) (drainResult, error) {
	group := uniqueName("bare")
	consumer, err := e.cluster.aggregatorLikeConsumer(group)
	if err != nil {
		return drainResult{}, err
	}
	defer consumer.Close()
	return e.pollDrain(ctx, consumer, group, topic, ends, timeout, nil)
}

// pollDrain subscribes consumer (of group) to topic and polls until it read
// every record below ends, calling each (unless nil) per record with the
// count read so far, while observeCommits runs against the group.
func (e *env) pollDrain(ctx context.Context, consumer *kafka.Consumer, group, topic string, ends []int64, timeout time.Duration, each func(read int64, m *kafka.Message, now time.Time) error) (drainResult, error) {
	if err := consumer.Subscribe(topic, nil); err != nil {
		return drainResult{}, err
	}
	stopObserver := e.observeCommits(group, topic, len(ends))
	defer stopObserver()

	want := sum(ends)
	var res drainResult
	deadline := time.Now().Add(timeout)
	for res.Records < want {
		switch ev := consumer.Poll(100).(type) {
		case *kafka.Message:
			now := time.Now()
			if res.Records == 0 {
				res.First = now
			}
			res.Last = now
			res.Records++
			if each != nil {
				if err := each(res.Records, ev, now); err != nil {
					return res, err
				}
			}
		case kafka.Error:
			if ev.IsFatal() {
				return res, ev
			}
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if res.Records%4096 == 0 && time.Now().After(deadline) {
			return res, fmt.Errorf("read %d of %d records within %v", res.Records, want, timeout)
		}
	}
	return res, nil
}

// observeCommits reads group's committed offsets every 50 ms, as watchDrain
// does for the aggregator, so that both sides share the machine with the
// same observer. It returns a function that stops it.
func (e *env) observeCommits(group, topic string, partitions int) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		watcher, err := e.cluster.watchCommits(group, topic, partitions)
		if err != nil {
			return
		}
		defer watcher.Close()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = watcher.read()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-stopped }
}
