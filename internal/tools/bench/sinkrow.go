package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/redisconn"
	"tickcompact/internal/tools/tradegen"
	"tickcompact/sink"
)

// Sink metric names (sink/metrics.go).
const (
	metricSinkConsumed = "tickcompact_sink_records_consumed_total"
	metricSinkWritten  = "tickcompact_sink_records_written_total"
	metricSinkStale    = "tickcompact_sink_stale_skipped_total"
)

// runSink is row 4: the sink binary applying a preloaded trades-2s-like
// topic to Redis, compared with a bare WriteBatch loop fed from memory.
func (e *env) runSink(ctx context.Context) []Row {
	const id, measure, target = "4", "Sink into Redis", ">= 0.7 x limit"
	n := 1_000_000
	if e.opts.Quick {
		n = 100_000
	}
	row, err := e.sinkRow(ctx, n)
	if err != nil {
		return []Row{Failed(id, measure, target, err)}
	}
	return []Row{row}
}

// sinkRecord is one trades-2s-like record.
type sinkRecord struct {
	update      sink.Update
	windowStart int64
	trades      int
}

// compactedRecords builds n records shaped like the aggregator's output:
// tradegen trades over 900 ISINs grouped into 2 s windows by event time, the
// latest trade of each ISIN per window, windows in increasing order.
func compactedRecords(n int) ([]sinkRecord, error) {
	g, err := tradegen.NewGenerator(tradegen.Options{Seed: 23, Instruments: 900, Start: time.UnixMilli(1_764_000_000_000)})
	if err != nil {
		return nil, err
	}
	out := make([]sinkRecord, 0, n)
	var (
		window int64 = -1
		index        = map[string]int{} // ISIN -> position in out for the current window
	)
	for len(out) < n {
		r := g.Next()
		ts := r.Timestamp.UnixMilli()
		start := ts - ts%windowSizeMillis
		if start != window {
			window = start
			clear(index)
		}
		if i, ok := index[r.ISIN]; ok {
			out[i].update.Value = r.Value
			out[i].trades++
			continue
		}
		index[r.ISIN] = len(out)
		out = append(out, sinkRecord{update: sink.Update{ISIN: r.ISIN, WindowEnd: start + windowSizeMillis, Value: r.Value},
			windowStart: start, trades: 1})
	}
	return out, nil
}

func (e *env) sinkRow(ctx context.Context, n int) (Row, error) {
	records, err := compactedRecords(n)
	if err != nil {
		return Row{}, err
	}
	var valueBytes int
	for _, r := range records {
		valueBytes += len(r.update.Value)
	}
	topic := uniqueName("compacted")
	if err := e.cluster.CreateTopic(ctx, topic, backlogPartitions); err != nil {
		return Row{}, err
	}
	if err := e.keepForever(ctx, topic); err != nil {
		return Row{}, err
	}
	e.logf("row 4: preloading %s trades-2s-like records into %s", thousands(int64(n)), topic)
	if err := e.produceCompacted(ctx, topic, records); err != nil {
		return Row{}, err
	}
	ends, err := e.cluster.EndOffsets(topic, backlogPartitions)
	if err != nil {
		return Row{}, err
	}
	if sum(ends) != int64(n) {
		return Row{}, fmt.Errorf("preloaded %d records, the topic holds %d", n, sum(ends))
	}

	redisServer, err := startRedis(ctx, e.opts.WorkDir)
	if err != nil {
		return Row{}, err
	}
	defer redisServer.Stop()
	cfg := sinkRedisDefaults(redisServer.Addr)
	// A what-if run with another batch size compares with a bare loop
	// batching the same way.
	for _, f := range e.opts.SinkFlags {
		if v, ok := strings.CutPrefix(f, "--redis.batch_size="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				cfg.BatchSize = n
			}
		}
	}

	redisPid := redisServer.cmd.Process.Pid
	bare1, err := e.bareRedis(ctx, cfg, redisPid, records)
	if err != nil {
		return Row{}, err
	}
	e.logf("row 4: bare WriteBatch loop (1st): %s", rate(bare1.Rate()))
	if err := redisServer.Flush(ctx); err != nil {
		return Row{}, err
	}
	sinkRes, written, stale, err := e.sinkDrain(ctx, topic, redisServer.Addr, redisPid, ends)
	if err != nil {
		return Row{}, err
	}
	if written+stale != float64(n) {
		return Row{}, fmt.Errorf("the sink committed the whole topic but applied %.0f of %d records (were records deleted before it read them?)", written+stale, n)
	}
	e.logf("row 4: sink: %s", rate(sinkRes.Rate()))
	if err := redisServer.Flush(ctx); err != nil {
		return Row{}, err
	}
	bare2, err := e.bareRedis(ctx, cfg, redisPid, records)
	if err != nil {
		return Row{}, err
	}
	e.logf("row 4: bare WriteBatch loop (2nd): %s", rate(bare2.Rate()))
	limit := max(bare1.Rate(), bare2.Rate())
	ratio := sinkRes.Rate() / limit
	e.notef("row 4: %s records like trades-2s (latest tradegen trade per ISIN per 2 s window, 900 ISINs, values %d bytes on average, headers window-start/window-end/trade-count, window ends increasing), 6 partitions, murmur2 keys, into a fresh redis-server %s (no persistence); Redis flushed before each side.",
		thousands(int64(n)), valueBytes/n, redisServer.Version)
	e.notef("row 4: sink = the real binary with defaults (batch_size %d, stream off), fresh group: first /metrics scrape with records_consumed_total > 0 -> first scrape with records_written_total + stale_skipped_total = all records, i.e. Redis acknowledged the last batch and its offsets are stored (scrapes every 50 ms at both ends, up to 500 ms apart in between, as each costs the sink CPU); it wrote %.0f, skipped %.0f stale. Untimed: librdkafka commits the stored offsets within auto.commit.interval.ms (1 s); the row waits for that commit at the end of every partition, %v after the last write. Limit = sink.NewRedisWriter(...).WriteBatch over the same updates from memory in batches of %d on the same Redis, script loaded first, timed from the first batch to the end of the last; run before and after the sink (%s, %s), the better is the limit.",
		cfg.BatchSize, written, stale, sinkRes.commitLag.Round(time.Millisecond), cfg.BatchSize, rate(bare1.Rate()), rate(bare2.Rate()))
	bareCPU := bare1.cpu
	if bare2.Rate() > bare1.Rate() {
		bareCPU = bare2.cpu
	}
	e.notef("row 4: CPU used, in cores (CPU seconds per wall second), of %d: the better bare loop: machine %.2f, redis-server %.2f, the loop (bench process) %.2f; the sink: machine %.2f, redis-server %.2f, sink %.2f, the rest (Kafka broker, this bench process, anything else running) %.2f.",
		runtime.NumCPU(), bareCPU.machine, bareCPU.procs[1], bareCPU.procs[0],
		sinkRes.cpu.machine, sinkRes.cpu.procs[1], sinkRes.cpu.procs[0], sinkRes.cpu.machine-sinkRes.cpu.procs[0]-sinkRes.cpu.procs[1])
	return Row{
		ID:      "4",
		Measure: fmt.Sprintf("Sink into Redis, %s records, 900 ISINs", thousands(int64(n))),
		Figure:  fmt.Sprintf("%s (%.2f x)", rate(sinkRes.Rate()), ratio),
		Limit:   rate(limit) + " bare WriteBatch loop",
		Target:  ">= 0.7 x limit",
		Verdict: AtLeast(ratio, 0.7),
	}, nil
}

// sinkRedisDefaults is the sink's default Redis configuration (sink.Defaults)
// for addr: what the sink binary runs with when only redis.addr is given.
func sinkRedisDefaults(addr string) sink.RedisConfig {
	d := sink.Defaults()
	return sink.RedisConfig{
		Config:       redisconn.Config{Addr: addr, Timeout: d["redis.timeout"].(time.Duration)},
		Channel:      d["redis.channel"].(string),
		SnapshotKey:  d["redis.snapshot_key"].(string),
		StreamKey:    d["redis.stream_key"].(string),
		StreamMaxLen: int64(d["redis.stream_maxlen"].(int)),
		BatchSize:    d["redis.batch_size"].(int),
		Format:       d["redis.format"].(string),
	}
}

// keepForever turns time-based retention off for topic: the records'
// timestamps are fixed dates, which a broker would otherwise delete as
// older than retention.ms while the row runs.
func (e *env) keepForever(ctx context.Context, topic string) error {
	res, err := e.cluster.admin.IncrementalAlterConfigs(ctx, []kafka.ConfigResource{{
		Type: kafka.ResourceTopic, Name: topic,
		Config: []kafka.ConfigEntry{{Name: "retention.ms", Value: "-1", IncrementalOperation: kafka.AlterConfigOpTypeSet}},
	}})
	if err == nil && len(res) == 1 && res[0].Error.Code() != kafka.ErrNoError {
		err = res[0].Error
	}
	if err != nil {
		return fmt.Errorf("setting retention.ms=-1 on %s: %w", topic, err)
	}
	return nil
}

// produceCompacted writes records with the aggregator's partitioner and waits
// for every acknowledgement.
func (e *env) produceCompacted(ctx context.Context, topic string, records []sinkRecord) error {
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": e.cluster.Brokers, "partitioner": "murmur2_random",
		"enable.idempotence": true, "linger.ms": 5, "queue.buffering.max.messages": 500000, "log_level": 3})
	if err != nil {
		return err
	}
	defer p.Close()
	reports := make(chan kafka.Event, 100_000)
	errc := make(chan error, 1)
	go func() {
		var first error
		for i := 0; i < len(records); i++ {
			m := (<-reports).(*kafka.Message)
			if m.TopicPartition.Error != nil && first == nil {
				first = m.TopicPartition.Error
			}
		}
		errc <- first
	}()
	for _, r := range records {
		msg := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key:            []byte(r.update.ISIN),
			Value:          r.update.Value,
			Timestamp:      time.UnixMilli(r.update.WindowEnd - 1),
			Headers: []kafka.Header{
				{Key: "window-start", Value: strconv.AppendInt(nil, r.windowStart, 10)},
				{Key: "window-end", Value: strconv.AppendInt(nil, r.update.WindowEnd, 10)},
				{Key: "trade-count", Value: strconv.AppendInt(nil, int64(r.trades), 10)},
			},
		}
		for {
			err := p.Produce(msg, reports)
			if err == nil {
				break
			}
			if kerr, ok := err.(kafka.Error); ok && kerr.Code() == kafka.ErrQueueFull {
				time.Sleep(time.Millisecond)
				continue
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bareResult is the bare loop's pass, with the CPU used meanwhile by the
// machine, this process (the loop) and redis-server.
type bareResult struct {
	drainResult
	cpu cpuUse
}

// bareRedis applies the updates from memory with the sink's RedisWriter in
// batches of the sink's batch size, on the redis-server of process redisPid.
func (e *env) bareRedis(ctx context.Context, cfg sink.RedisConfig, redisPid int, records []sinkRecord) (bareResult, error) {
	client, err := sink.NewRedisClient(cfg)
	if err != nil {
		return bareResult{}, err
	}
	defer client.Close()
	writer := sink.NewRedisWriter(client, cfg)
	if err := writer.LoadScript(ctx); err != nil {
		return bareResult{}, err
	}
	updates := make([]sink.Update, len(records))
	for i, r := range records {
		updates[i] = r.update
	}
	res := bareResult{drainResult: drainResult{First: time.Now()}}
	before := sampleCPU(os.Getpid(), redisPid)
	for i := 0; i < len(updates); i += cfg.BatchSize {
		batch := updates[i:min(i+cfg.BatchSize, len(updates))]
		written, stale, err := writer.WriteBatch(ctx, batch)
		if err != nil {
			return res, err
		}
		if written != len(batch) || stale != 0 {
			return res, fmt.Errorf("bare loop: batch at %d wrote %d, %d stale, of %d", i, written, stale, len(batch))
		}
		res.Records += int64(len(batch))
	}
	res.Last = time.Now()
	res.cpu = sampleCPU(os.Getpid(), redisPid).since(before)
	return res, nil
}

// sinkDrainResult is the sink's pass over the topic: timed from its first
// record consumed to its last record acknowledged by Redis.
type sinkDrainResult struct {
	drainResult
	// commitLag is how long after the last write the committed offsets
	// reached the end of every partition.
	commitLag time.Duration
	// cpu is the CPU used from the first record to the last by the
	// machine, the sink and redis-server.
	cpu cpuUse
}

// sinkDrain runs the sink binary on topic until it has applied every record
// and its committed offsets reach ends. It returns the records written and
// skipped as stale.
func (e *env) sinkDrain(ctx context.Context, topic, redisAddr string, redisPid int, ends []int64) (sinkDrainResult, float64, float64, error) {
	var res sinkDrainResult
	if e.opts.SinkBin == "" {
		return res, 0, 0, fmt.Errorf("no sink binary (--sink-bin)")
	}
	group := uniqueName("sink")
	svc, err := startService(ctx, "sink", e.opts.SinkBin, e.opts.WorkDir, e.perfDir(), e.opts.ServiceEnv, append([]string{
		"--kafka.brokers=" + e.cluster.Brokers,
		"--input.topic=" + topic,
		"--input.group=" + group,
		"--redis.addr=" + redisAddr,
		"--http.addr=127.0.0.1:0",
		"--log.level=info",
	}, e.opts.SinkFlags...))
	if err != nil {
		return res, 0, 0, err
	}
	defer svc.Stop()
	watcher, err := e.cluster.watchCommits(group, topic, len(ends))
	if err != nil {
		return res, 0, 0, err
	}
	defer watcher.Close()
	res.Records = sum(ends)
	deadline := time.Now().Add(5*time.Minute + time.Duration(res.Records/2000)*time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var (
		last       Scrape
		cpuAtFirst cpuSample
		markLast   = func(s Scrape) { res.Last, last, res.cpu = s.At, s, sampleCPU(svc.Pid(), redisPid).since(cpuAtFirst) }
		nextScrape = time.Now()
		nextCommit = time.Now()
	)
	for {
		// The sink is scraped until Redis acknowledged every record, the
		// broker is asked about the commit now and then meanwhile (a topic
		// short of records commits without them), then every tick.
		now := time.Now()
		if res.Last.IsZero() && !now.Before(nextScrape) {
			if s, err := svc.Metrics(ctx); err == nil {
				if res.First.IsZero() && s.Value(metricSinkConsumed) > 0 {
					res.First, cpuAtFirst = s.At, sampleCPU(svc.Pid(), redisPid)
				}
				applied := s.Value(metricSinkWritten) + s.Value(metricSinkStale)
				if applied >= float64(res.Records) {
					markLast(s)
				}
				nextScrape = s.At.Add(scrapeDelay(res.drainResult, s.At, applied))
			}
		}
		if !res.Last.IsZero() || !now.Before(nextCommit) {
			nextCommit = now.Add(time.Second)
			if p, err := watcher.read(); err == nil {
				if done, _ := p.reached(ends); done {
					if res.Last.IsZero() {
						// Committed between two scrapes, or short of records.
						s, err := svc.Metrics(ctx)
						if err != nil {
							return res, 0, 0, err
						}
						if s.Value(metricSinkWritten)+s.Value(metricSinkStale) < float64(res.Records) {
							return res, s.Value(metricSinkWritten), s.Value(metricSinkStale), nil // the caller reports the shortfall
						}
						markLast(s)
					}
					res.commitLag = time.Since(res.Last)
					e.noteSinkBatches(last, res.drainResult)
					return res, last.Value(metricSinkWritten), last.Value(metricSinkStale), nil
				}
			}
		}
		if svc.Exited() {
			return res, 0, 0, fmt.Errorf("sink exited; log %s:\n%s", svc.logPath, svc.logTail())
		}
		if time.Now().After(deadline) {
			return res, 0, 0, fmt.Errorf("sink did not apply and commit the whole topic in time; log %s", svc.logPath)
		}
		select {
		case <-ctx.Done():
			return res, 0, 0, ctx.Err()
		case <-tick.C:
		}
	}
}

// scrapeDelay is how long to wait before scraping the sink again, having
// seen applied records at now: 50 ms until the first record, then a
// quarter of the time the rest should take at the rate so far, from 50 to
// 500 ms. Every scrape costs the sink CPU that the bare loop does not
// spend, yet the last one comes within about 50 ms of the end.
func scrapeDelay(res drainResult, now time.Time, applied float64) time.Duration {
	const fine, coarse = 50 * time.Millisecond, 500 * time.Millisecond
	elapsed := now.Sub(res.First).Seconds()
	if res.First.IsZero() || applied <= 0 || elapsed <= 0 {
		return fine
	}
	remaining := time.Duration((float64(res.Records) - applied) / (applied / elapsed) * float64(time.Second))
	return min(coarse, max(fine, remaining/4))
}

// noteSinkBatches notes where the sink's time went: its batches' sizes, the
// time spent in Redis pipelines and the number of offset stores.
func (e *env) noteSinkBatches(s Scrape, res drainResult) {
	sizes, err1 := s.Histogram("tickcompact_sink_batch_records")
	latency, err2 := s.Histogram("tickcompact_sink_batch_latency_seconds")
	if err1 != nil || err2 != nil || sizes.Count == 0 {
		return
	}
	wall := res.Last.Sub(res.First).Seconds()
	e.notef("row 4: sink internals: %.0f batches of %.0f records on average; their pipelines took %.2f s in all (batch p50 %s; the writer lanes overlap, and the sink reads Kafka meanwhile) in %.2f s; %.0f offset stores.",
		sizes.Count, sizes.Sum/sizes.Count, latency.Sum, millis(latency.Quantile(0.5)), wall, s.Value("tickcompact_sink_offset_commits_total"))
}

// cpuSample is the CPU time used so far by the machine (all CPUs) and by
// some processes, from /proc, in seconds.
type cpuSample struct {
	at      time.Time
	machine float64
	procs   []float64
}

// cpuUse is the CPU used between two samples, in cores: CPU seconds per
// wall second.
type cpuUse struct {
	machine float64
	procs   []float64
}

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const userHZ = 100

// sampleCPU reads /proc/stat and /proc/<pid>/stat of pids; what cannot be
// read counts as zero.
func sampleCPU(pids ...int) cpuSample {
	s := cpuSample{at: time.Now(), procs: make([]float64, len(pids))}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i, f := range fields[1:] {
			if v, err := strconv.ParseFloat(f, 64); err == nil && i != 3 && i != 4 {
				s.machine += v / userHZ
			}
		}
	}
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces: state is
		// the 3rd field, utime the 14th and stime the 15th.
		_, rest, _ := strings.Cut(string(b), ") ")
		fields := strings.Fields(rest)
		if len(fields) > 12 {
			utime, _ := strconv.ParseFloat(fields[11], 64)
			stime, _ := strconv.ParseFloat(fields[12], 64)
			s.procs[i] = (utime + stime) / userHZ
		}
	}
	return s
}

func (s cpuSample) since(earlier cpuSample) cpuUse {
	wall := s.at.Sub(earlier.at).Seconds()
	if wall <= 0 || len(earlier.procs) != len(s.procs) {
		return cpuUse{procs: make([]float64, len(s.procs))}
	}
	u := cpuUse{machine: (s.machine - earlier.machine) / wall, procs: make([]float64, len(s.procs))}
	for i := range s.procs {
		u.procs[i] = (s.procs[i] - earlier.procs[i]) / wall
	}
	return u
}
