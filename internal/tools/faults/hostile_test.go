//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"tickcompact/internal/tools/hostile"
	"tickcompact/internal/tools/testkit"
	"tickcompact/internal/tools/tradegen"
)

// hostileRecord is a hostile record and what the aggregator must do with it.
type hostileRecord struct {
	testkit.Record
	kind   string
	reason string
	zero   bool
}

// expectedDLQ is what the DLQ must hold for one source record.
type expectedDLQ struct {
	kind      string
	reason    string
	crc       uint32
	size      int
	timestamp int64
	seen      bool
}

type position struct {
	partition int32
	offset    int64
}

// 10,000 hostile records mixed into a backlog of 200,000 valid trades: every
// one lands in the DLQ, read read_committed, with the reason its construction
// gives it and its original bytes; and the output is exact. The drain rates
// of the mixed backlog and of the same 200,000 valid trades alone are
// logged; make bench's row 6 holds them to the factor of two.
func TestFaultHostileRecords(t *testing.T) {
	k := realKafka(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const valid = 200_000
	total := 0
	for _, hk := range hostile.Kinds {
		total += hk.Count
	}
	if total != 10_000 {
		t.Fatalf("test data: %d hostile records, want 10,000", total)
	}
	// The input must accept far-future timestamps: Kafka 4 brokers refuse
	// records more than an hour ahead by default
	// (log.message.timestamp.after.max.ms).
	topicConfig := map[string]string{"message.timestamp.after.max.ms": "9223372036854775807"}
	clean := newPipeline(t, k, 6, topicConfig)
	mixed := newPipeline(t, k, 6, topicConfig)

	// The same valid trades in both topics: the generator's schedule,
	// stamped from ten minutes ago.
	start := time.Now().Add(-10 * time.Minute).Truncate(windowSize)
	g, err := tradegen.NewGenerator(tradegen.Options{Seed: rng.Int63(), Instruments: 900, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	validRecords := make([]testkit.Record, valid)
	for i := range validRecords {
		r := g.Next()
		validRecords[i] = testkit.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Partition: -1}
	}
	span := validRecords[valid-1].Timestamp.Sub(start)
	universe := g.Instruments()

	var rejects []hostileRecord
	for _, hk := range hostile.Kinds {
		for range hk.Count {
			isin := universe[rng.Intn(len(universe))].ISIN
			key, value, ts := hk.Make(rng, isin, start.Add(time.Duration(rng.Int63n(int64(span)))))
			rejects = append(rejects, hostileRecord{Record: testkit.Record{Key: key, Value: value, Timestamp: ts, Partition: -1}, kind: hk.Name, reason: hk.Reason, zero: hk.ZeroTimestamp})
		}
	}
	rng.Shuffle(len(rejects), func(i, j int) { rejects[i], rejects[j] = rejects[j], rejects[i] })

	began := time.Now()
	k.NewProducer(t).Send(clean.input, validRecords)
	t.Logf("backlog of %d valid trades (%s of event time) written to the clean topic in %s", valid, span.Round(time.Second), secs(time.Since(began)))
	began = time.Now()
	expected := writeMixed(t, k, mixed.input, rng, validRecords, rejects)
	t.Logf("the same trades and %d hostile records written to the mixed topic in %s", len(rejects), secs(time.Since(began)))

	// Throughput, one backlog at a time, logged: make bench judges it (row
	// 6, on a backlog ten times this size, where a drain lasts long enough
	// for its rate to mean something on a shared machine).
	cleanDrain, cleanAgg := measureDrain(t, clean, "aggregator-clean")
	settle()
	cleanAgg.Stop(15 * time.Second)
	mixedDrain, mixedAgg := measureDrain(t, mixed, "aggregator-mixed")
	ratio := mixedDrain.took.Seconds() / cleanDrain.took.Seconds()
	t.Logf("drain from the aggregator's start: %d valid alone, %s; with %d hostile, %s; drain time mixed/clean %.2f (make bench row 6 holds it to 2)",
		valid, cleanDrain, len(rejects), mixedDrain, ratio)

	// Live trades after the hostile backlog.
	gen := startFeed(t, k, mixed.input, liveOptions(rng))
	time.Sleep(4 * time.Second)
	summary := gen.Stop()
	mixed.waitDrained(60 * time.Second)
	settle()
	if e, took := mixedAgg.Stop(15 * time.Second); e.code != 0 {
		t.Errorf("aggregator ended with %s after SIGTERM (took %s)", e, secs(took))
	}

	checkDLQ(t, k, mixed, expected)
	rep := mixed.verify()
	wantRejected := map[string]int64{}
	for _, hk := range hostile.Kinds {
		wantRejected[hk.Reason] += int64(hk.Count)
	}
	if fmt.Sprint(nonZero(rep.Input.Rejected)) != fmt.Sprint(wantRejected) {
		t.Errorf("verify counts rejected input %v, the test wrote %v", nonZero(rep.Input.Rejected), wantRejected)
	}
	cleanRep := clean.verify()
	t.Logf("RESULT records=%d mixed (%d hostile, live tail: %s) + %d clean faults=%d hostile records violations=%d+%d drain rate clean=%.0f/s mixed=%.0f/s time ratio=%.2f",
		rep.Input.Records, len(rejects), summary, cleanRep.Input.Records, len(rejects), rep.Violations.Total, cleanRep.Violations.Total,
		cleanDrain.rate(), mixedDrain.rate(), ratio)
}

// writeMixed writes the valid records with the hostile ones inserted at random
// places, the zero-timestamp ones through franz-go halfway, and returns what
// the DLQ must hold, by source position.
func writeMixed(t *testing.T, k *testkit.Kafka, topic string, rng *rand.Rand, validRecords []testkit.Record, rejects []hostileRecord) map[position]*expectedDLQ {
	t.Helper()
	var viaLibrdkafka, viaFranz []hostileRecord
	for _, h := range rejects {
		if h.zero {
			viaFranz = append(viaFranz, h)
		} else {
			viaLibrdkafka = append(viaLibrdkafka, h)
		}
	}
	at := make([]int, len(viaLibrdkafka))
	for i := range at {
		at[i] = rng.Intn(len(validRecords) + 1)
	}
	sort.Ints(at)
	records := make([]testkit.Record, 0, len(validRecords)+len(viaLibrdkafka))
	hostileAt := map[int]hostileRecord{}
	next := 0
	for i, v := range validRecords {
		for next < len(at) && at[next] == i {
			hostileAt[len(records)] = viaLibrdkafka[next]
			records = append(records, viaLibrdkafka[next].Record)
			next++
		}
		records = append(records, v)
	}
	for ; next < len(at); next++ {
		hostileAt[len(records)] = viaLibrdkafka[next]
		records = append(records, viaLibrdkafka[next].Record)
	}

	expected := map[position]*expectedDLQ{}
	add := func(h hostileRecord, partition int32, offset int64) {
		expected[position{partition, offset}] = &expectedDLQ{kind: h.kind, reason: h.reason, crc: crc32.ChecksumIEEE(h.Value),
			size: len(h.Value), timestamp: h.Timestamp.UnixMilli()}
	}
	producer := k.NewProducer(t)
	half := len(records) / 2
	for i, tp := range producer.Send(topic, records[:half]) {
		if h, ok := hostileAt[i]; ok {
			add(h, tp.Partition, int64(tp.Offset))
		}
	}

	client, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	batch := make([]*kgo.Record, len(viaFranz))
	source := map[*kgo.Record]hostileRecord{}
	for i, h := range viaFranz {
		batch[i] = &kgo.Record{Topic: topic, Key: h.Key, Value: h.Value, Timestamp: h.Timestamp}
		source[batch[i]] = h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results := client.ProduceSync(ctx, batch...)
	if err := results.FirstErr(); err != nil {
		t.Fatalf("producing zero-timestamp records: %v", err)
	}
	for _, r := range results {
		add(source[r.Record], r.Record.Partition, r.Record.Offset)
	}

	for i, tp := range producer.Send(topic, records[half:]) {
		if h, ok := hostileAt[half+i]; ok {
			add(h, tp.Partition, int64(tp.Offset))
		}
	}
	if len(expected) != len(rejects) {
		t.Fatalf("%d hostile records stored at %d distinct positions", len(rejects), len(expected))
	}
	return expected
}

// drain is how long an aggregator took to process a backlog of records,
// from its start (group join and first fetches included, as they are on
// both sides) until every record was processed and its output committed.
type drain struct {
	records int64
	took    time.Duration
}

func (d drain) rate() float64 { return float64(d.records) / d.took.Seconds() }

func (d drain) String() string {
	return fmt.Sprintf("%d records in %s (%.0f records/s)", d.records, secs(d.took), d.rate())
}

// measureDrain starts an aggregator on a pipeline whose input is a backlog
// and measures its drain, polling the group's committed checkpoints. The
// aggregator keeps running.
func measureDrain(t *testing.T, p *pipeline, name string) (drain, *process) {
	t.Helper()
	ends, err := endOffsets(p.kafka, p.input, p.partitions)
	if err != nil {
		t.Fatal(err)
	}
	total := sum(ends)
	probe := p.progress()
	agg := p.aggregator(name, false, "")
	started := agg.WaitStarts(1, time.Second)
	var last int64
	lastProgress := time.Now()
	for {
		n, err := probe.Processed()
		now := time.Now()
		if err == nil {
			if n > last {
				last, lastProgress = n, now
			}
			if n >= total {
				return drain{records: total, took: now.Sub(started)}, agg
			}
		}
		if !agg.Running() || now.Sub(lastProgress) > 30*time.Second {
			per, _ := probe.PerPartition()
			t.Logf("%s: committed %v of end offsets %v", name, per, ends)
			aborts := agg.LogLines("transaction aborted; rewinding")
			if len(aborts) > 0 {
				t.Logf("%d aborted transactions; the first: %s", len(aborts), excerpt(aborts[0], 600))
			}
			for _, line := range agg.LogLines(`"msg":"aggregator stopped","err"`) {
				t.Logf("exit: %s", excerpt(line, 600))
			}
			if !agg.Running() {
				t.Fatalf("%s exited while draining (%v) with %d of %d input records processed", name, agg.Exits(), n, total)
			}
			t.Fatalf("%s made no progress for 30s with %d of %d input records processed", name, n, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkDLQ reads the DLQ read_committed and compares it, record by record,
// with what the test wrote: each hostile record once, with its reason, its
// original bytes and source headers, and nothing else.
func checkDLQ(t *testing.T, k *testkit.Kafka, p *pipeline, expected map[position]*expectedDLQ) {
	t.Helper()
	msgs := k.ReadCommitted(t, p.dlq, -1, time.Second, 120*time.Second)
	want, got := map[string]int{}, map[string]int{}
	for _, e := range expected {
		want[e.reason]++
	}
	var problems []string
	problem := func(format string, args ...any) {
		if len(problems) < 10 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	bad, noTimestamp, timestampLost := 0, 0, map[string]int{}
	for _, m := range msgs {
		reason := testkit.Header(m, "dlq-reason")
		got[reason]++
		sp, err1 := strconv.ParseInt(testkit.Header(m, "source-partition"), 10, 32)
		so, err2 := strconv.ParseInt(testkit.Header(m, "source-offset"), 10, 64)
		e := expected[position{int32(sp), so}]
		switch {
		case err1 != nil || err2 != nil || testkit.Header(m, "source-topic") != p.input:
			bad++
			problem("DLQ record at %v without proper source headers: %v", m.TopicPartition, m.Headers)
		case e == nil:
			bad++
			problem("DLQ record for source %d@%d, which is no hostile record (reason %s, error %q, value %q)", sp, so, reason, testkit.Header(m, "dlq-error"), excerpt(string(m.Value), 120))
		case e.seen:
			bad++
			problem("second DLQ record for source %d@%d (%s)", sp, so, e.kind)
		case e.reason != reason:
			bad++
			e.seen = true
			problem("%s record at %d@%d: dlq-reason %q, want %q (dlq-error %q)", e.kind, sp, so, reason, e.reason, testkit.Header(m, "dlq-error"))
		case crc32.ChecksumIEEE(m.Value) != e.crc || len(m.Value) != e.size:
			bad++
			e.seen = true
			problem("%s record at %d@%d: DLQ value of %d bytes differs from the original's %d", e.kind, sp, so, len(m.Value), e.size)
		default:
			e.seen = true
			if m.Timestamp.UnixMilli() != e.timestamp {
				if e.timestamp == 0 || e.timestamp == -1 {
					// librdkafka writes timestamp 0 (and Kafka's "none",
					// -1) as the current time.
					noTimestamp++
				} else {
					timestampLost[e.kind]++
				}
			}
		}
	}
	missing := map[string]int{}
	for pos, e := range expected {
		if !e.seen {
			missing[e.kind]++
			problem("no DLQ record for the %s record at %d@%d", e.kind, pos.partition, pos.offset)
		}
	}
	t.Logf("DLQ: %d records read_committed; by reason %v (written %v)", len(msgs), got, want)
	if noTimestamp > 0 {
		t.Logf("%d DLQ records of sources stamped 0 or -1 (no timestamp) carry the time they were written instead: librdkafka cannot write 0", noTimestamp)
	}
	if len(timestampLost) > 0 {
		t.Errorf("DLQ records that lost their original timestamp, by kind: %v", timestampLost)
	}
	if bad > 0 || len(missing) > 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DLQ differs from the hostile records written: %d wrong records, missing by kind %v:\n  %s", bad, missing, strings.Join(problems, "\n  "))
	}
}
