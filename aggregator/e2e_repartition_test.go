package aggregator_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"tickcompact/aggregator/progress"
	"tickcompact/internal/tools/testkit"
)

// A raw topic not keyed by ISIN (random keys, no keys) still yields one
// record per (ISIN, window): input.repartition re-keys it through
// <input>-by-isin exactly once, and the output is what the contract
// prescribes for the raw topic as a whole, a record being late only when its
// window had ended in its own raw partition's order.
func TestE2ERepartition(t *testing.T) {
	h := newHarness(t, 3)
	h.aggregates = true
	h.extraArgs = []string{"--input.repartition=true"}
	start := time.Now().Add(-5 * time.Minute).Truncate(2 * time.Second)
	records := untie(trades(11, 3000, 40, start, 10*time.Millisecond, 300*time.Millisecond))
	for i := range records {
		switch i % 3 {
		case 0:
			records[i].Key = nil
		case 1:
			records[i].Key = []byte(fmt.Sprintf("order-%d", i))
		} // else: keyed by ISIN
	}
	records = append(records,
		testkit.Record{Key: []byte("x"), Value: []byte(`{"isin":"KR7005930004"}`), Timestamp: start, Partition: -1},
		testkit.Record{Value: []byte(`not json`), Timestamp: start, Partition: -1})
	raw := keyedByISIN(h.produce(records)[:3000])
	want, late := h.expected(raw)
	if late == 0 {
		t.Fatal("test data has no late records; the scenario would not cover them")
	}

	stop := h.startInProcess()
	checkRepartitionTopic(t, h, raw)
	got := h.collect(len(want), 60*time.Second)
	dlq := h.kafka.ReadCommitted(t, h.dlq, 2, 0, 30*time.Second)
	rekeyed, rejected, emitted := waitMetric(t, h.httpAddr, "tickcompact_aggregator_records_repartitioned_total", 3000),
		waitMetric(t, h.httpAddr, "tickcompact_aggregator_dlq_records_total", 2),
		waitMetric(t, h.httpAddr, "tickcompact_aggregator_records_emitted_total", float64(len(got)))
	lateCounted := waitMetric(t, h.httpAddr, "tickcompact_aggregator_late_records_total", float64(late))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	compare(t, want, got)
	if rekeyed != 3000 || rejected != 2 || emitted != float64(len(got)) || lateCounted != float64(late) {
		t.Errorf("metrics: records_repartitioned_total %.0f, dlq_records_total %.0f, records_emitted_total %.0f, late_records_total %.0f; want 3000, 2, %d, %d",
			rekeyed, rejected, emitted, lateCounted, len(got), late)
	}
	if len(dlq) != 2 || testkit.Header(dlq[0], "source-topic") != h.input {
		t.Fatalf("DLQ: %d records (want 2, with the raw topic as source)", len(dlq))
	}
	t.Logf("3002 raw records, 3000 re-keyed exactly once, %d output records (%d late), exact", len(got), late)
}

// A backlog of 200,000 trades on a raw topic keyed at random (each raw
// partition in event-time order), replayed by two aggregator instances with
// input.repartition, one of them SIGKILLed and restarted midway, gives
// exactly one record per (ISIN, window) of the raw topic as a whole, with
// every trade counted: chunks of one raw partition copied ahead of the
// others do not make the others' trades late.
func TestE2ERepartitionBacklog(t *testing.T) {
	h := newHarness(t, 6)
	h.aggregates = true
	h.extraArgs = []string{"--input.repartition=true"}
	start := time.Now().Add(-time.Hour).Truncate(2 * time.Second)
	// 300 s of event time; every raw partition in event-time order.
	records := untie(trades(15, 200_000, 900, start, 1500*time.Microsecond, 0))
	rng := rand.New(rand.NewSource(15))
	for i := range records {
		records[i].Key = []byte(fmt.Sprintf("order-%d", rng.Int63()))
	}
	raw := keyedByISIN(h.produce(records))
	want, late := h.expected(raw)
	if late != 0 {
		t.Fatalf("test data: %d late records in the raw partitions' own order, want none", late)
	}
	all := 0
	for _, w := range want {
		all += w.count
	}
	t.Logf("%d raw trades, %d expected output records", len(raw), len(want))

	var logs testkit.SyncBuffer
	first := h.startProcess(&logs)
	second := h.startProcess(&logs)
	// Kill the first instance once the window stage committed progress.
	byISIN := h.input + "-by-isin"
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && h.kafka.CommittedTotal(t, h.group, byISIN, h.partitions) < 20_000 {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.Int63n(int64(300 * time.Millisecond))))
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := h.kafka.CommittedTotal(t, h.group, byISIN, h.partitions)
	t.Logf("first instance SIGKILLed with %d records of %s committed", killedAt, byISIN)
	if killedAt >= int64(len(raw)) {
		t.Fatalf("the kill landed after the backlog was drained; the scenario tested too little")
	}
	restarted := h.startProcess(&logs)

	got := h.collect(len(want), 3*time.Minute)
	for _, cmd := range []*exec.Cmd{second, restarted} {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("aggregator exited with %v", err)
		}
	}
	// Every (ISIN, window) of the raw topic is there once (collect fails on
	// a duplicate), with its latest trade; a trade lost to lateness shows as
	// a count below the expected one.
	lost, extra, wrong := 0, 0, 0
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			lost += w.count
			wrong++
		case g.value != w.value || g.timestamp != w.timestamp || g.end != w.end:
			wrong++
		case g.count < w.count:
			lost += w.count - g.count
		case g.count > w.count:
			extra += g.count - w.count
		}
	}
	t.Logf("%d output records of %d expected; %d of %d trades (%.2f %%) lost to lateness; %d counted twice",
		len(got), len(want), lost, len(raw), 100*float64(lost)/float64(len(raw)), extra)
	if wrong > 0 {
		t.Errorf("%d (ISIN, window) records missing or with another latest trade", wrong)
	}
	if lost*100 > len(raw) {
		t.Errorf("%d of %d trades lost to lateness, more than 1 %%", lost, len(raw))
	}
	if !testkit.External() {
		// kfake, after an instance is SIGKILLed with a transaction open and
		// its transactional.id is initialized again by its restart, at
		// times hands records of that aborted transaction to read_committed
		// readers, and sometimes keeps them: the window stage then counts a
		// trade whose copy was aborted and copied again (a record the
		// window stage read, by offset, is gone from the topic read
		// afterwards). Seen in 9 of 25 kfake runs at load averages of 10 to
		// 25, never on Apache Kafka. The exact comparison is the real
		// broker's.
		return
	}
	checkRepartitionTopic(t, h, raw)
	compare(t, want, got)
	// Nothing more: no stray transaction adds a duplicate (a reread of
	// the whole output, given time on a loaded machine).
	compare(t, want, h.collect(-1, time.Minute))
}

// A raw partition announced idle holds its windows open again as soon as
// records are waiting in it, even while no repartition stage copies them: an
// aggregator killed after the raw partitions went idle, with trades produced
// before it is restarted, still counts them in their window when it comes
// back after the window's end.
func TestE2ERepartitionRawBacklogHoldsQuietClose(t *testing.T) {
	h := newHarness(t, 2)
	h.size = 12 * time.Second
	h.extraArgs = []string{"--input.repartition=true"}
	size := h.size.Milliseconds()
	var logs testkit.SyncBuffer
	first := h.startProcess(&logs)
	waitIdleMarkers(t, h, nil, 30*time.Second) // started, and caught up
	// Start half a second into a window, so that all of the below happens
	// inside it.
	windowStart := (time.Now().UnixMilli()/size + 1) * size
	time.Sleep(time.Until(time.UnixMilli(windowStart + 500)))
	batch := func(seed int64) []testkit.Record {
		records := untie(trades(seed, 20, 10, time.Now(), time.Millisecond, 0))
		for i := range records {
			records[i].Key = []byte(fmt.Sprintf("order-%d-%d", seed, i))
		}
		return records
	}
	raw := keyedByISIN(h.produce(batch(1)))
	waitIdleMarkers(t, h, raw, 10*time.Second)
	t.Logf("raw partitions idle again %v into the window", time.Since(time.UnixMilli(windowStart)).Round(time.Millisecond))
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	raw = append(raw, keyedByISIN(h.produce(batch(2)))...)
	if end := time.UnixMilli(windowStart + size); time.Now().After(end) {
		t.Fatalf("the window ended before the second batch was produced; the scenario tested nothing")
	}
	time.Sleep(time.Until(time.UnixMilli(windowStart + size + 1000)))
	second := h.startProcess(&logs)
	want, late := h.expected(raw)
	if late != 0 {
		t.Fatalf("test data has %d late records", late)
	}
	got := h.collect(len(want), 30*time.Second)
	_ = second.Process.Signal(syscall.SIGTERM)
	_ = second.Wait()
	compare(t, want, got)
	t.Logf("%d trades, %d output records, exact: the trades produced while no aggregator ran were waited for", len(raw), len(got))
}

// waitIdleMarkers waits until the repartition topic holds a marker saying
// each raw partition is idle, past the records of copied.
func waitIdleMarkers(t *testing.T, h *harness, copied []sent, timeout time.Duration) {
	t.Helper()
	past := map[int32]int64{}
	for _, r := range copied {
		past[r.partition] = max(past[r.partition], r.offset+1)
	}
	deadline := time.Now().Add(timeout)
	for {
		idle := map[int32]bool{}
		for _, m := range h.kafka.ReadCommitted(t, h.input+"-by-isin", -1, 200*time.Millisecond, 5*time.Second) {
			if !progress.IsMarker(m) {
				continue
			}
			_, progress, err := progress.DecodeMarker(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range progress {
				idle[p.Source] = p.Idle && p.Offset >= past[p.Source]
			}
		}
		all := len(idle) == h.partitions
		for _, i := range idle {
			all = all && i
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("raw partitions not announced idle within %v: %v", timeout, idle)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRepartitionTopic reads <input>-by-isin and checks that every valid raw
// record was copied exactly once, keyed by its ISIN, with where it came
// from, and that progress markers reached every partition.
func checkRepartitionTopic(t *testing.T, h *harness, raw []sent) {
	t.Helper()
	topic := h.input + "-by-isin"
	type position struct {
		partition int32
		offset    int64
	}
	valid := map[position]sent{}
	for _, r := range raw {
		valid[position{r.partition, r.offset}] = r
	}
	copied := map[position]bool{}
	markers := map[int32]int{}
	deadline := time.Now().Add(60 * time.Second)
	for len(copied) < len(valid) && time.Now().Before(deadline) {
		clear(copied)
		clear(markers)
		for _, m := range h.kafka.ReadCommitted(t, topic, -1, time.Second, 30*time.Second) {
			if progress.IsMarker(m) {
				if _, _, err := progress.DecodeMarker(m); err != nil {
					t.Fatalf("%s partition %d offset %d: %v", topic, m.TopicPartition.Partition, m.TopicPartition.Offset, err)
				}
				markers[m.TopicPartition.Partition]++
				continue
			}
			rp, err1 := strconv.ParseInt(testkit.Header(m, progress.HeaderRawPartition), 10, 32)
			ro, err2 := strconv.ParseInt(testkit.Header(m, progress.HeaderRawOffset), 10, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s record without its raw position: %v", topic, m.Headers)
			}
			pos := position{int32(rp), ro}
			r, ok := valid[pos]
			switch {
			case !ok:
				t.Fatalf("%s holds raw %v, which is no valid raw record", topic, pos)
			case copied[pos]:
				t.Fatalf("raw record %v copied twice", pos)
			case string(m.Value) != string(r.value) || string(m.Key) != r.isin:
				t.Fatalf("raw record %v copied as key %q value %q, want key %q value %q", pos, m.Key, m.Value, r.isin, r.value)
			}
			var doc struct{ ISIN string }
			if err := json.Unmarshal(m.Value, &doc); err != nil || doc.ISIN != string(m.Key) {
				t.Fatalf("repartition record keyed %q holds ISIN %q", m.Key, doc.ISIN)
			}
			copied[pos] = true
		}
	}
	if len(copied) != len(valid) {
		t.Fatalf("%s has %d of the %d valid raw records", topic, len(copied), len(valid))
	}
	for p := int32(0); p < int32(h.partitions); p++ {
		if markers[p] == 0 {
			t.Fatalf("%s partition %d has no progress marker", topic, p)
		}
	}
}

// keyedByISIN sets each raw record's ISIN from its value: the raw topic's
// keys are not ISINs.
func keyedByISIN(raw []sent) []sent {
	for i := range raw {
		var doc struct{ ISIN string }
		_ = json.Unmarshal(raw[i].value, &doc)
		raw[i].isin = doc.ISIN
	}
	return raw
}

// untie makes event times unique per ISIN: the latest trade of an ISIN in a
// window is decided by (event time, offset), and offsets of different raw
// partitions cannot be compared, so a test computing the output from the
// raw topic as a whole needs no ties across them.
func untie(records []testkit.Record) []testkit.Record {
	seen := map[string]map[int64]bool{}
	for i := range records {
		var doc struct{ ISIN string }
		_ = json.Unmarshal(records[i].Value, &doc)
		if seen[doc.ISIN] == nil {
			seen[doc.ISIN] = map[int64]bool{}
		}
		for seen[doc.ISIN][records[i].Timestamp.UnixMilli()] {
			records[i].Timestamp = records[i].Timestamp.Add(time.Millisecond)
		}
		seen[doc.ISIN][records[i].Timestamp.UnixMilli()] = true
	}
	return records
}
