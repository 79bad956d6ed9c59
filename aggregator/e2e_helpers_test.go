package aggregator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"tickcompact/aggregator"
	"tickcompact/internal/tools/bigdec"
	"tickcompact/internal/tools/testkit"
	"tickcompact/internal/tools/tradegen"
)

// harness is one aggregator scenario: a cluster, unique topics and a group.
type harness struct {
	t          *testing.T
	kafka      *testkit.Kafka
	input      string
	output     string
	dlq        string
	group      string
	partitions int
	size       time.Duration
	grace      time.Duration
	idle       time.Duration
	extraArgs  []string
	// aggregates turns on the interval aggregates (input.price_field=price,
	// input.volume_field=volume).
	aggregates bool
	// httpAddr is the ops server of the last instance startInProcess ran.
	httpAddr string
}

func newHarness(t *testing.T, partitions int) *harness {
	t.Helper()
	k := testkit.StartKafka(t, kfake.GroupMinSessionTimeout(time.Second))
	t.Logf("kafka: %s at %s", k.Kind, k.Brokers)
	h := &harness{
		t: t, kafka: k, partitions: partitions,
		input: testkit.UniqueName(t, "trades"),
		group: testkit.UniqueName(t, "agg"),
		size:  2 * time.Second,
		idle:  time.Second,
	}
	h.output = h.input + "-2s"
	h.dlq = h.input + ".dlq"
	k.CreateTopic(t, h.input, partitions)
	return h
}

// args are the aggregator's command-line settings for this scenario. Session
// timeouts are short so a killed instance's partitions move quickly.
func (h *harness) args() []string {
	args := []string{
		"--kafka.brokers=" + h.kafka.Brokers,
		"--kafka.properties=session.timeout.ms=3000",
		"--kafka.properties=heartbeat.interval.ms=500",
		"--input.topic=" + h.input,
		"--input.group=" + h.group,
		"--output.topic=" + h.output,
		"--output.replication=1",
		"--dlq.topic=" + h.dlq,
		"--window.size=" + h.size.String(),
		"--window.grace=" + h.grace.String(),
		"--window.idle_timeout=" + h.idle.String(),
		"--http.addr=127.0.0.1:0",
		"--log.level=" + logLevel(),
	}
	if h.aggregates {
		args = append(args, "--input.price_field=price", "--input.volume_field=volume")
	}
	return append(args, h.extraArgs...)
}

// startInProcess runs one aggregator instance in this process and returns a
// function that stops it and reports how it ended.
func (h *harness) startInProcess() (stop func() error) {
	h.t.Helper()
	cfg, err := aggregator.LoadConfig(h.args(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(testWriter{h.t}, &slog.HandlerOptions{Level: cfgLevel(cfg.Log.Level)}))
	svc, err := aggregator.New(cfg, logger)
	if err != nil {
		h.t.Fatal(err)
	}
	h.httpAddr = svc.HTTPAddr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	stopped := false
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				result = fmt.Errorf("aggregator did not stop within 30s")
			}
		}
		return result
	}
	h.t.Cleanup(func() { _ = stop() })
	return stop
}

// startProcess runs the aggregator binary, configured through environment
// variables as an operator would, from an empty working directory.
func (h *harness) startProcess(logTo io.Writer) *exec.Cmd {
	h.t.Helper()
	cmd := exec.Command(testkit.Binary(h.t, "aggregator"), h.args()...)
	cmd.Dir = h.t.TempDir()
	cmd.Stdout, cmd.Stderr = logTo, logTo
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	})
	return cmd
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// sent is an input record as the broker stored it.
type sent struct {
	isin      string
	value     []byte
	eventTime int64
	partition int32
	offset    int64
	valid     bool
}

// trades generates n valid trades over isins instruments with event times
// from start, about gap apart, shuffled within disorder: deterministic for seed.
// Prices and volumes come in the forms feeds use: whole numbers mostly, some
// with decimals (one or two places, so scales differ within a window), some
// as numeric strings.
func trades(seed int64, n, isins int, start time.Time, gap, disorder time.Duration) []testkit.Record {
	rng := rand.New(rand.NewSource(seed))
	universe := tradegen.Universe(isins)
	out := make([]testkit.Record, n)
	for i := range out {
		inst := universe[rng.Intn(len(universe))]
		ts := start.Add(time.Duration(i) * gap)
		if disorder > 0 {
			ts = ts.Add(-time.Duration(rng.Int63n(int64(disorder))))
		}
		price, volume := strconv.Itoa(1000+rng.Intn(90000)), strconv.Itoa(1+rng.Intn(500))
		switch i % 7 {
		case 1:
			price += ".5"
		case 2:
			price = `"` + price + `.25"`
		case 3:
			volume = `"` + volume + `"`
		case 4:
			volume += ".125"
		}
		value := fmt.Sprintf(`{"isin":"%s","price":%s,"volume":%s,"seq":%d}`, inst.ISIN, price, volume, i)
		out[i] = testkit.Record{Key: []byte(inst.ISIN), Value: []byte(value), Timestamp: ts, Partition: -1}
	}
	return out
}

// produce writes records and returns them as stored (partition, offset).
func (h *harness) produce(records []testkit.Record) []sent {
	h.t.Helper()
	return stored(records, h.kafka.Produce(h.t, h.input, records))
}

func stored(records []testkit.Record, tps []kafka.TopicPartition) []sent {
	out := make([]sent, len(records))
	for i, r := range records {
		out[i] = sent{isin: string(r.Key), value: r.Value, eventTime: r.Timestamp.UnixMilli(),
			partition: tps[i].Partition, offset: int64(tps[i].Offset), valid: true}
	}
	return out
}

// outputKey identifies one output record: an ISIN in a window.
type outputKey struct {
	isin  string
	start int64
}

type outputRecord struct {
	value     string
	timestamp int64
	end       int64
	count     int
	// aggregates is "open high low volume vwap", empty without them.
	aggregates string
}

// expected computes the contract's output for a backlog independently of the
// engine: per partition in offset order, a record is late when its window
// ended at or before the watermark (max event time so far) minus grace,
// aligned down; every other record counts, and the latest by (event time,
// offset) is emitted, with the interval aggregates of the records counted
// (from bigdec's model) when they are on. All windows are eventually emitted
// (the last ones by wall clock). It returns the records and the late count.
func (h *harness) expected(records []sent) (map[outputKey]outputRecord, int) {
	h.t.Helper()
	sz, gr := h.size.Milliseconds(), h.grace.Milliseconds()
	align := func(t int64) int64 { return t - ((t%sz)+sz)%sz }
	byPartition := map[int32][]sent{}
	for _, r := range records {
		if r.valid {
			byPartition[r.partition] = append(byPartition[r.partition], r)
		}
	}
	type best struct {
		r         sent
		count     int
		aggregate bigdec.Aggregate
	}
	chosen := map[outputKey]*best{}
	late := 0
	for _, rs := range byPartition {
		sort.Slice(rs, func(i, j int) bool { return rs[i].offset < rs[j].offset })
		watermark := int64(-1 << 62)
		for _, r := range rs {
			if r.eventTime > watermark {
				watermark = r.eventTime
			}
			start := align(r.eventTime)
			if start+sz <= align(watermark-gr) {
				late++
				continue
			}
			k := outputKey{r.isin, start}
			b := chosen[k]
			if b == nil {
				b = &best{r: r}
				chosen[k] = b
			}
			b.count++
			if h.aggregates {
				price, volume := quote(h.t, r.value)
				b.aggregate.Add(price, volume, r.eventTime, r.offset)
			}
			if r.eventTime > b.r.eventTime || (r.eventTime == b.r.eventTime && r.offset > b.r.offset) {
				b.r = r
			}
		}
	}
	out := map[outputKey]outputRecord{}
	for k, b := range chosen {
		o := outputRecord{value: string(b.r.value), timestamp: b.r.eventTime, end: k.start + sz, count: b.count}
		if h.aggregates {
			a := b.aggregate.Headers()
			o.aggregates = strings.Join([]string{a.Open, a.High, a.Low, a.Volume, a.VWAP}, " ")
		}
		out[k] = o
	}
	return out, late
}

// quote reads a valid trade's price and volume with encoding/json and
// math/big.
func quote(t *testing.T, value []byte) (price, volume bigdec.Number) {
	t.Helper()
	var fields struct{ Price, Volume json.RawMessage }
	if err := json.Unmarshal(value, &fields); err != nil {
		t.Fatalf("trade %s: %v", value, err)
	}
	read := func(raw json.RawMessage) bigdec.Number {
		var text string
		if json.Unmarshal(raw, &text) != nil {
			text = string(raw)
		}
		n, ok := bigdec.Parse(text)
		if !ok || n.Value == nil {
			t.Fatalf("trade %s: %q is not a usable number", value, raw)
		}
		return n
	}
	return read(fields.Price), read(fields.Volume)
}

// collect reads the output topic as read_committed until want records or the
// timeout, and indexes them, failing on any duplicate (ISIN, window).
func (h *harness) collect(want int, timeout time.Duration) map[outputKey]outputRecord {
	h.t.Helper()
	msgs := h.kafka.ReadCommitted(h.t, h.output, want, 0, timeout)
	out := map[outputKey]outputRecord{}
	dups := 0
	for _, m := range msgs {
		start, err1 := strconv.ParseInt(testkit.Header(m, "window-start"), 10, 64)
		end, err2 := strconv.ParseInt(testkit.Header(m, "window-end"), 10, 64)
		count, err3 := strconv.Atoi(testkit.Header(m, "trade-count"))
		if err1 != nil || err2 != nil || err3 != nil {
			h.t.Fatalf("output record with bad headers: %v", m.Headers)
		}
		k := outputKey{string(m.Key), start}
		if _, dup := out[k]; dup {
			dups++
			if dups <= 5 {
				h.t.Errorf("duplicate output for %s window %d", k.isin, k.start)
			}
		}
		var aggregates []string
		for _, name := range []string{aggregator.HeaderWindowOpen, aggregator.HeaderWindowHigh, aggregator.HeaderWindowLow,
			aggregator.HeaderWindowVolume, aggregator.HeaderWindowVWAP} {
			if v := testkit.Header(m, name); v != "" {
				aggregates = append(aggregates, v)
			}
		}
		out[k] = outputRecord{value: string(m.Value), timestamp: m.Timestamp.UnixMilli(), end: end, count: count,
			aggregates: strings.Join(aggregates, " ")}
	}
	if dups > 0 {
		h.t.Fatalf("%d duplicate (ISIN, window) records in %d output records", dups, len(msgs))
	}
	return out
}

// compare fails the test with the first differences between want and got.
func compare(t *testing.T, want, got map[outputKey]outputRecord) {
	t.Helper()
	missing, extra, wrong := 0, 0, 0
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing++
			if missing <= 5 {
				t.Errorf("missing %s window %d: want %s", k.isin, k.start, w.value)
			}
		case g != w:
			wrong++
			if wrong <= 5 {
				t.Errorf("%s window %d: got %+v, want %+v", k.isin, k.start, g, w)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra++
			if extra <= 5 {
				t.Errorf("unexpected output %s window %d", k.isin, k.start)
			}
		}
	}
	if missing+extra+wrong > 0 {
		t.Fatalf("output differs: %d missing, %d unexpected, %d wrong of %d expected", missing, extra, wrong, len(want))
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// logLevel is the services' log level in tests: warn, or TICKCOMPACT_TEST_LOG.
func logLevel() string {
	if l := os.Getenv("TICKCOMPACT_TEST_LOG"); l != "" {
		return l
	}
	return "warn"
}

func cfgLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

// waitMetric scrapes name from the ops server at addr until it reaches want
// or 5 s pass, and returns the last value read: a counter updated just after
// the commit a test's read saw may lag that read by a moment.
func waitMetric(t *testing.T, addr, name string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := testkit.ScrapeMetric(addr, name)
		if err == nil && v >= want || time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("scraping %s: %v", name, err)
			}
			return v
		}
		time.Sleep(20 * time.Millisecond)
	}
}
