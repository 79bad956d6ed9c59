package aggregator_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/tools/testkit"
)

// A backlog of known trades, with disorder inside windows, equal timestamps
// and late records, gives exactly the records the contract prescribes.
func TestE2EBacklogExact(t *testing.T) {
	h := newHarness(t, 3)
	start := time.Now().Add(-10 * time.Minute).Truncate(2 * time.Second)
	records := trades(1, 3000, 40, start, 10*time.Millisecond, 1200*time.Millisecond)
	// Two trades of one ISIN with one timestamp, the greatest of their
	// window: the later offset must win.
	tie := start.Add(5999 * time.Millisecond)
	ties := []testkit.Record{
		{Key: []byte("KR7005930003"), Value: []byte(`{"isin":"KR7005930003","tie":1}`), Timestamp: tie, Partition: -1},
		{Key: []byte("KR7005930003"), Value: []byte(`{"isin":"KR7005930003","tie":2}`), Timestamp: tie, Partition: -1},
	}
	records = append(records[:500], append(ties, records[500:]...)...)
	in := h.produce(records)
	want, late := h.expected(in)
	if w := want[outputKey{"KR7005930003", start.Add(4 * time.Second).UnixMilli()}]; w.value != `{"isin":"KR7005930003","tie":2}` {
		t.Fatalf("test data: the tie is not the expected winner of its window: %+v", w)
	}
	if late == 0 {
		t.Fatal("test data has no late records; the scenario would not cover them")
	}
	t.Logf("%d input records, %d expected output records, %d late", len(in), len(want), late)

	stop := h.startInProcess()
	got := h.collect(len(want), 20*time.Second)
	testkit.WaitCaughtUp(t, h.httpAddr, "tickcompact_aggregator_consumer_lag", 3, 10*time.Second)
	if ready := waitMetric(t, h.httpAddr, "tickcompact_aggregator_ready", 1); ready != 1 {
		t.Errorf("tickcompact_aggregator_ready = %g while emitting", ready)
	}
	if err := stop(); err != nil {
		t.Fatalf("aggregator: %v", err)
	}
	compare(t, want, got)
	// Nothing more after a restart: every window was committed once.
	stop = h.startInProcess()
	time.Sleep(3 * time.Second)
	if err := stop(); err != nil {
		t.Fatalf("aggregator (second run): %v", err)
	}
	compare(t, want, h.collect(-1, time.Minute))
}

// The aggregator process, SIGKILLed several times while draining a large
// backlog and restarted each time, still leaves exactly the expected records
// for a read_committed reader: no duplicate, no gap, and the interval
// aggregates of every record rebuilt from the replayed input exactly as one
// uninterrupted run computes them.
func TestE2EKilledDuringBacklog(t *testing.T) {
	h := newHarness(t, 4)
	h.aggregates = true
	start := time.Now().Add(-2 * time.Hour).Truncate(2 * time.Second)
	// 400,000 trades over 900 ISINs spanning 800 windows.
	in := h.produce(trades(2, 400_000, 900, start, 4*time.Millisecond, 800*time.Millisecond))
	want, late := h.expected(in)
	t.Logf("%d input records, %d expected output records, %d late", len(in), len(want), late)

	var logs testkit.SyncBuffer
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	kills, midDrain, committed := 0, 0, int64(0)
	for ; kills < 4; kills++ {
		cmd := h.startProcess(&logs)
		// Kill at a random moment once this instance has committed progress
		// of its own, usually mid-transaction.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) && h.kafka.CommittedTotal(t, h.group, h.input, h.partitions) <= committed {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.Int63n(int64(300 * time.Millisecond))))
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		progress := h.kafka.CommittedTotal(t, h.group, h.input, h.partitions)
		t.Logf("kill %d: input offsets committed %d of %d", kills+1, progress, len(in))
		if progress > committed && progress < int64(len(in)) {
			midDrain++
		}
		committed = progress
	}
	if midDrain < 3 {
		t.Fatalf("only %d kills landed while the backlog was draining; the scenario tested too little", midDrain)
	}
	cmd := h.startProcess(&logs)
	got := h.collect(len(want), 60*time.Second)
	// SIGTERM: a clean exit, within the bound the README promises (10 s
	// for the final commit, plus leaving the group).
	_ = cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	stopAt := time.Now()
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("final aggregator exited with %v\n%s", err, logs.String())
		}
		t.Logf("stopped %v after SIGTERM", time.Since(stopAt).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatalf("the aggregator did not exit within 15s of SIGTERM")
	}
	if len(got) != len(want) {
		t.Logf("aggregator logs:\n%s", logs.String())
	}
	compare(t, want, got)
	// Let any stray transaction surface before the final check.
	compare(t, want, h.collect(-1, time.Minute))
	t.Logf("%d kills, %d output records, exact", kills, len(got))
}

// Two instances in one group while trades flow live: partitions move when the
// second joins and again when the first leaves; every (ISIN, window) is
// emitted exactly once, with the expected value.
func TestE2ETwoInstancesRebalance(t *testing.T) {
	h := newHarness(t, 6)
	// The model has no wall-clock closing: make a stall of the test's own
	// producer on a loaded machine too short to trigger it.
	h.idle = 5 * time.Second
	first := h.startInProcess()
	time.Sleep(2 * time.Second)

	var in []sent
	producer := h.kafka.NewProducer(t)
	produceFor := func(d time.Duration, seed int64) {
		deadline := time.Now().Add(d)
		for ; time.Now().Before(deadline); seed++ {
			batch := trades(seed, 50, 300, time.Now(), 0, 0)
			for i := range batch {
				batch[i].Timestamp = time.Now()
			}
			in = append(in, stored(batch, producer.Send(h.input, batch))...)
			time.Sleep(50 * time.Millisecond)
		}
	}
	produceFor(3*time.Second, 100)
	second := h.startInProcess()
	produceFor(4*time.Second, 200)
	if err := first(); err != nil {
		t.Fatalf("first instance: %v", err)
	}
	produceFor(4*time.Second, 300)
	third := h.startInProcess() // the first comes back as a new member
	produceFor(3*time.Second, 400)

	want, late := h.expected(in)
	got := h.collect(len(want), 60*time.Second)
	for name, stop := range map[string]func() error{"second": second, "third": third} {
		if err := stop(); err != nil {
			t.Errorf("%s instance: %v", name, err)
		}
	}
	if late != 0 {
		t.Logf("%d late records in live input", late)
	}
	compare(t, want, got)
	t.Logf("%d input records, %d output records across two rebalances, exact", len(in), len(got))
}

// Malformed records land in the DLQ with the right reason and source headers;
// the output is exactly what the valid records alone give. The interval
// aggregates are on, so bad prices and volumes are malformed too.
func TestE2EMalformedToDLQ(t *testing.T) {
	h := newHarness(t, 2)
	h.aggregates = true
	start := time.Now().Add(-5 * time.Minute).Truncate(2 * time.Second)
	records := trades(3, 1000, 30, start, 10*time.Millisecond, 0)
	bad := []struct {
		value  string
		ts     time.Time
		reason string
	}{
		{`{"isin":"KR7005930003"`, start.Add(time.Second), "invalid-json"},
		{"\x00\x01binary", start.Add(time.Second), "invalid-json"},
		{`{"code":"KR7005930003"}`, start.Add(2 * time.Second), "missing-isin"},
		{`{"isin":"kr7005930003"}`, start.Add(3 * time.Second), "invalid-isin"},
		{`{"isin":"KR7005930004"}`, start.Add(3 * time.Second), "invalid-isin"},
		{`{"isin":"KR7005930003","price":1,"volume":1}`, time.Now().Add(time.Hour), "future-time"},
		{`{"isin":"KR7005930003","price":"71,200","volume":3}`, start.Add(4 * time.Second), "invalid-price"},
		{`{"isin":"KR7005930003","price":71200,"volume":0}`, start.Add(4 * time.Second), "invalid-price"},
		{`{"isin":"KR7005930003","volume":3}`, start.Add(5 * time.Second), "invalid-price"},
	}
	var mixed []testkit.Record
	for i, r := range records {
		mixed = append(mixed, r)
		if i%100 == 0 && i/100 < len(bad) {
			b := bad[i/100]
			mixed = append(mixed, testkit.Record{Key: []byte("KR7005930003"), Value: []byte(b.value), Timestamp: b.ts, Partition: -1,
				Headers: []kafka.Header{{Key: "origin", Value: []byte("test")}}})
		}
	}
	in := h.produce(mixed)
	for i := range in {
		in[i].valid = !strings.Contains(string(in[i].value), "kr7") && json.Valid(in[i].value) &&
			strings.Contains(string(in[i].value), `"seq"`)
	}
	want, _ := h.expected(in)
	stop := h.startInProcess()
	got := h.collect(len(want), 30*time.Second)
	dlq := h.kafka.ReadCommitted(t, h.dlq, len(bad), 0, 30*time.Second)
	// The counters follow the commits the reads above saw: records_emitted_total
	// counts output records only, not the DLQ's.
	emitted, rejected := waitMetric(t, h.httpAddr, "tickcompact_aggregator_records_emitted_total", float64(len(got))),
		waitMetric(t, h.httpAddr, "tickcompact_aggregator_dlq_records_total", float64(len(bad)))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	compare(t, want, got)
	if emitted != float64(len(got)) || rejected != float64(len(bad)) {
		t.Errorf("metrics: records_emitted_total %.0f, dlq_records_total %.0f; want %d output and %d DLQ records", emitted, rejected, len(got), len(bad))
	}
	if len(dlq) != len(bad) {
		t.Fatalf("DLQ has %d records, want %d", len(dlq), len(bad))
	}
	reasons := map[string]int{}
	for _, m := range dlq {
		reasons[testkit.Header(m, "dlq-reason")]++
		if testkit.Header(m, "source-topic") != h.input || testkit.Header(m, "dlq-error") == "" || testkit.Header(m, "origin") != "test" {
			t.Errorf("DLQ record headers incomplete: %v", m.Headers)
		}
		p, _ := strconv.Atoi(testkit.Header(m, "source-partition"))
		o, _ := strconv.ParseInt(testkit.Header(m, "source-offset"), 10, 64)
		found := false
		for _, s := range in {
			if s.partition == int32(p) && s.offset == o && string(s.value) == string(m.Value) {
				found = true
			}
		}
		if !found {
			t.Errorf("DLQ record %q does not point at its source (partition %d offset %d)", m.Value, p, o)
		}
		if string(m.Key) != "KR7005930003" {
			t.Errorf("DLQ record key %q, want the original", m.Key)
		}
	}
	wantReasons := map[string]int{"invalid-json": 2, "missing-isin": 1, "invalid-isin": 2, "future-time": 1, "invalid-price": 3}
	if fmt.Sprint(reasons) != fmt.Sprint(wantReasons) {
		t.Fatalf("DLQ reasons %v, want %v", reasons, wantReasons)
	}
}

// A partition that goes quiet still has its last window emitted, by wall
// clock, within window.idle_timeout plus a second of the window's end.
func TestE2EQuietPartitionClosesByWallClock(t *testing.T) {
	h := newHarness(t, 2)
	stop := h.startInProcess()
	defer stop()
	time.Sleep(2 * time.Second) // let it join and reach the end of the empty topic
	// Trades now, then silence.
	now := time.Now()
	batch := trades(5, 20, 5, now, 0, 0)
	for i := range batch {
		batch[i].Timestamp = now
	}
	in := h.produce(batch)
	want, _ := h.expected(in)
	windowEnd := (now.UnixMilli()/h.size.Milliseconds() + 1) * h.size.Milliseconds()
	got := h.collect(len(want), 10*time.Second)
	seen := time.Now()
	compare(t, want, got)
	delay := seen.Sub(time.UnixMilli(windowEnd))
	t.Logf("last window emitted %v after its end (idle timeout %v)", delay, h.idle)
	if delay > h.idle+time.Second {
		t.Fatalf("quiet partition's window emitted %v after its end, want within %v", delay, h.idle+time.Second)
	}
}
