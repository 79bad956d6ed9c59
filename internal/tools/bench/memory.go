package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/tools/tradegen"
)

const memoryISINs = 100_000

// runMemory is row 5: the aggregator's peak RSS with 100,000 ISINs trading
// in every window, live at 60,000 trades/s (each ISIN every 1.67 s) and
// draining a backlog flat out (the highest rate it sustains).
func (e *env) runMemory(ctx context.Context) []Row {
	const target = "<= 200 MB peak RSS"
	warm, measure, windows := 4*time.Second, 20*time.Second, 20
	if e.opts.Quick {
		warm, measure, windows = 2*time.Second, 5*time.Second, 3
	}
	feed := newRoundRobinFeed(memoryISINs)
	var rows []Row
	row, err := e.memoryLive(ctx, feed, 60_000, warm, measure)
	if err != nil {
		row = Failed("5a", "Peak RSS, 100,000 ISINs, live", target, err)
	}
	rows = append(rows, row)
	row, err = e.memoryBacklog(ctx, feed, windows)
	if err != nil {
		row = Failed("5b", "Peak RSS, 100,000 ISINs, backlog", target, err)
	}
	rows = append(rows, row)
	e.notef("row 5: every one of 100,000 ISINs trades in every 2 s window: records round-robin over a fixed shuffle of tradegen.Universe(100000), values in tradegen's JSON shape, keyed by ISIN, 6 partitions. Peak RSS = VmHWM of the aggregator binary from /proc/<pid>/status at the end (MB = 10^6 bytes); Go heap in use and Go runtime memory (go_memstats_sys_bytes - heap_released_bytes) are maxima of /metrics sampled every 250 ms; C heap in use and freed-but-held are maxima of the tickcompact_c_heap_* gauges (glibc mallinfo2); the rest of the RSS is the binary, thread stacks and pages glibc has not touched again.")
	return rows
}

// roundRobinFeed makes trade records cycling over a shuffled universe, so
// that every ISIN trades once per len(instruments) records.
type roundRobinFeed struct {
	instruments []tradegen.Instrument
	order       []int
	next        int
	seq         int64
	buf         []byte
}

func newRoundRobinFeed(n int) *roundRobinFeed {
	f := &roundRobinFeed{instruments: tradegen.Universe(n)}
	f.order = rand.New(rand.NewPCG(5, 5)).Perm(n)
	return f
}

// record returns the next trade, stamped ts.
func (f *roundRobinFeed) record(topic *string, ts time.Time) *kafka.Message {
	in := &f.instruments[f.order[f.next]]
	f.next = (f.next + 1) % len(f.order)
	f.seq++
	side := "buy"
	if f.seq%2 == 0 {
		side = "sell"
	}
	value := appendTrade(make([]byte, 0, 192), in, 1+f.seq%500, side, ts.UnixMilli(), f.seq)
	return &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: topic, Partition: kafka.PartitionAny},
		Key:            []byte(in.ISIN),
		Value:          value,
		Timestamp:      ts,
	}
}

// appendTrade writes a trade in the JSON shape tradegen produces.
func appendTrade(b []byte, in *tradegen.Instrument, volume int64, side string, tradeTime, seq int64) []byte {
	b = append(b, `{"isin":"`...)
	b = append(b, in.ISIN...)
	b = append(b, `","name":`...)
	b = strconv.AppendQuote(b, in.Name)
	b = append(b, `,"market":"`...)
	b = append(b, in.Market...)
	b = append(b, `","price":`...)
	b = strconv.AppendInt(b, in.PrevClose, 10)
	b = append(b, `,"prevClose":`...)
	b = strconv.AppendInt(b, in.PrevClose, 10)
	b = append(b, `,"volume":`...)
	b = strconv.AppendInt(b, volume, 10)
	b = append(b, `,"side":"`...)
	b = append(b, side...)
	b = append(b, `","tradeTime":`...)
	b = strconv.AppendInt(b, tradeTime, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, '}')
}

// feedProducer produces with tradegen's producer settings and counts
// acknowledgements.
type feedProducer struct {
	producer      *kafka.Producer
	sent          atomic.Int64
	acked, failed atomic.Int64
	drained       chan struct{}
}

func (e *env) newFeedProducer() (*feedProducer, error) {
	cfg := tradegen.ProducerConfig(e.cluster.Brokers, map[string]string{"queue.buffering.max.messages": "1000000", "log_level": "3"})
	p, err := kafka.NewProducer(cfg)
	if err != nil {
		return nil, err
	}
	fp := &feedProducer{producer: p, drained: make(chan struct{})}
	go func() {
		defer close(fp.drained)
		for ev := range p.Events() {
			if m, ok := ev.(*kafka.Message); ok {
				if m.TopicPartition.Error != nil {
					fp.failed.Add(1)
				} else {
					fp.acked.Add(1)
				}
			}
		}
	}()
	return fp, nil
}

func (fp *feedProducer) produce(ctx context.Context, msg *kafka.Message) error {
	for {
		err := fp.producer.Produce(msg, nil)
		if err == nil {
			fp.sent.Add(1)
			return nil
		}
		if kerr, ok := err.(kafka.Error); ok && kerr.Code() == kafka.ErrQueueFull {
			if !sleep(ctx, time.Millisecond) {
				return ctx.Err()
			}
			continue
		}
		return err
	}
}

// close flushes and reports failed deliveries.
func (fp *feedProducer) close() error {
	fp.producer.Flush(30_000)
	fp.producer.Close()
	<-fp.drained
	if n := fp.failed.Load(); n > 0 {
		return fmt.Errorf("%d records not delivered", n)
	}
	if pending := fp.sent.Load() - fp.acked.Load(); pending > 0 {
		return fmt.Errorf("%d records unacknowledged", pending)
	}
	return nil
}

// memorySampler tracks the aggregator's largest RSS and Go heap.
type memorySampler struct {
	maxHeap float64
	// maxGoResident is the most the Go runtime held from the OS (sys minus
	// released heap): the rest of the RSS is C (librdkafka, glibc malloc).
	maxGoResident float64
	// maxCInUse and maxCFree are the most C heap in use and freed but held
	// by glibc (memtune's tickcompact_c_heap_* gauges).
	maxCInUse, maxCFree float64
	stop                chan struct{}
	done                chan struct{}
}

// sampleMemory starts sampling. With heapProfile set (make bench
// --profile-dir), each new maximum of the Go heap also saves the
// aggregator's heap profile (/debug/pprof/heap) there, so the file ends up
// holding the heap at its peak.
func sampleMemory(ctx context.Context, agg *aggregatorRun, heapProfile string) *memorySampler {
	m := &memorySampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if s, err := agg.Metrics(ctx); err == nil {
				if heap := s.Value(metricGoHeapInuse); heap > m.maxHeap {
					if heapProfile != "" {
						_ = agg.SaveProfile(ctx, "heap", heapProfile)
					}
					m.maxHeap = heap
				}
				m.maxGoResident = max(m.maxGoResident, s.Value("go_memstats_sys_bytes")-s.Value("go_memstats_heap_released_bytes"))
				m.maxCInUse = max(m.maxCInUse, s.Value("tickcompact_c_heap_in_use_bytes"))
				m.maxCFree = max(m.maxCFree, s.Value("tickcompact_c_heap_free_bytes"))
			}
			select {
			case <-m.stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *memorySampler) Stop() *memorySampler { close(m.stop); <-m.done; return m }

func (m *memorySampler) String() string {
	return fmt.Sprintf("Go heap in use at most %s, Go runtime memory from the OS at most %s, C heap in use at most %s and freed but held by glibc at most %s",
		megabytes(int64(m.maxHeap)), megabytes(int64(m.maxGoResident)), megabytes(int64(m.maxCInUse)), megabytes(int64(m.maxCFree)))
}

func (e *env) memoryLive(ctx context.Context, feed *roundRobinFeed, target float64, warm, measure time.Duration) (Row, error) {
	topic := uniqueName("mem-live")
	agg, err := e.startLive(ctx, topic)
	if err != nil {
		return Row{}, err
	}
	defer agg.Stop()
	fp, err := e.newFeedProducer()
	if err != nil {
		return Row{}, err
	}
	sampler := sampleMemory(ctx, agg, e.profilePath("aggregator-5a-heap.pb.gz"))
	e.logf("row 5a: round-robin feed over 100,000 ISINs at %s trades/s for %v", thousands(int64(target)), warm+measure)

	genCtx, stopGen := context.WithCancel(ctx)
	genErr := make(chan error, 1)
	go func() {
		start := time.Now()
		var sent int64
		for genCtx.Err() == nil {
			due := int64(target * time.Since(start).Seconds())
			for ; sent < due && genCtx.Err() == nil; sent++ {
				if err := fp.produce(genCtx, feed.record(&topic, time.Now().Truncate(time.Millisecond))); err != nil && genCtx.Err() == nil {
					genErr <- err
					return
				}
			}
			sleep(genCtx, time.Millisecond)
		}
		genErr <- nil
	}()
	var s1, s2 Scrape
	var sent1, sent2 int64
	if sleep(ctx, warm) {
		sent1 = fp.sent.Load()
		s1, err = agg.Metrics(ctx)
	}
	if err == nil && sleep(ctx, measure) {
		sent2 = fp.sent.Load()
		s2, err = agg.Metrics(ctx)
	}
	stopGen()
	gerr := <-genErr
	cerr := fp.close()
	mem := sampler.Stop()
	peak, perr := agg.PeakRSS()
	switch {
	case ctx.Err() != nil:
		return Row{}, ctx.Err()
	case err != nil:
		return Row{}, err
	case gerr != nil:
		return Row{}, gerr
	case cerr != nil:
		return Row{}, cerr
	case perr != nil:
		return Row{}, perr
	}
	interval := s2.At.Sub(s1.At).Seconds()
	consumed := (s2.Value(metricConsumed) - s1.Value(metricConsumed)) / interval
	produced := float64(sent2-sent1) / interval
	lag1, lag2 := float64(sent1)-s1.Value(metricConsumed), float64(sent2)-s2.Value(metricConsumed)
	sustained := lag2-lag1 < produced // the backlog grew by less than a second's worth
	verdictNote := "kept up"
	if !sustained {
		verdictNote = "fell behind"
	}
	e.notef("row 5a: live, target %s/s: produced %s, aggregator consumed %s over %v (%s: lag %.0f -> %.0f records), open (ISIN, window) entries %.0f at the end; peak RSS %s, %s.",
		thousands(int64(target)), rate(produced), rate(consumed), measure, verdictNote, lag1, lag2, s2.Value(metricOpenISINs), megabytes(peak), mem)
	return Row{
		ID:      "5a",
		Measure: fmt.Sprintf("Peak RSS, 100,000 ISINs, live (consumed %s, %s)", rate(consumed), verdictNote),
		Figure:  megabytes(peak),
		Limit:   "-",
		Target:  "<= 200 MB",
		Verdict: AtMost(float64(peak), 200e6),
	}, nil
}

func (e *env) memoryBacklog(ctx context.Context, feed *roundRobinFeed, windows int) (Row, error) {
	topic := uniqueName("mem-backlog")
	if err := e.cluster.CreateTopic(ctx, topic, backlogPartitions); err != nil {
		return Row{}, err
	}
	n := int64(windows * memoryISINs)
	fp, err := e.newFeedProducer()
	if err != nil {
		return Row{}, err
	}
	e.logf("row 5b: preloading %d windows x 100,000 ISINs = %s records", windows, thousands(n))
	base := time.Now().Add(-time.Duration(windows)*2*time.Second - time.Minute).Truncate(2 * time.Second)
	for w := 0; w < windows; w++ {
		for i := 0; i < memoryISINs; i++ {
			ts := base.Add(time.Duration(w)*2*time.Second + time.Duration(i)*2*time.Second/memoryISINs).Truncate(time.Millisecond)
			if err := fp.produce(ctx, feed.record(&topic, ts)); err != nil {
				fp.close()
				return Row{}, err
			}
		}
	}
	if err := fp.close(); err != nil {
		return Row{}, err
	}
	ends, err := e.cluster.EndOffsets(topic, backlogPartitions)
	if err != nil {
		return Row{}, err
	}
	agg, err := e.startAggregator(ctx, topic)
	if err != nil {
		return Row{}, err
	}
	defer agg.Stop()
	sampler := sampleMemory(ctx, agg, e.profilePath("aggregator-5b-heap.pb.gz"))
	// Each record is the only trade of its ISIN in its window: every input
	// record is an output record.
	w, err := e.watchDrain(ctx, agg, topic, ends, float64(n), 5*time.Minute+time.Duration(n/5000)*time.Second)
	mem := sampler.Stop()
	if err != nil {
		return Row{}, err
	}
	drain := float64(n) / w.Processed.Sub(w.First).Seconds()
	e.notef("row 5b: backlog of %d windows x 100,000 ISINs (%s records, event times in the past), drained flat out by a fresh aggregator: %s (first record -> all checkpoints at the end), %.0f output records; peak RSS %s, %s.",
		windows, thousands(n), rate(drain), w.Emitted, megabytes(w.PeakRSS), mem)
	return Row{
		ID:      "5b",
		Measure: fmt.Sprintf("Peak RSS, 100,000 ISINs, backlog drained flat out (%s sustained)", rate(drain)),
		Figure:  megabytes(w.PeakRSS),
		Limit:   "-",
		Target:  "<= 200 MB",
		Verdict: AtMost(float64(w.PeakRSS), 200e6),
	}, nil
}
