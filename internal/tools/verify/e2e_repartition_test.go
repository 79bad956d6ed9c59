package verify_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os/exec"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"tickcompact/aggregator"
	"tickcompact/aggregator/progress"
	"tickcompact/internal/tools/testkit"
	"tickcompact/internal/tools/tradegen"
	"tickcompact/internal/tools/verify"
)

// verify names the repartition topic as the aggregator does.
func TestRepartitionTopicName(t *testing.T) {
	cfg, err := aggregator.LoadConfig([]string{"--input.topic=ticks", "--input.repartition=true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := verify.RepartitionTopic("ticks"), cfg.RepartitionTopic(); got != want {
		t.Fatalf("verify reads %q, the aggregator writes %q", got, want)
	}
}

// The real aggregator, two instances with input.repartition, drains a raw
// backlog keyed at random (with disorder, late trades and invalid records);
// one instance is SIGKILLed midway and restarted. verify --repartition finds
// the copy into <input>-by-isin exact and the output that of the raw topic as
// a whole, with the trades late in their own raw partition lost and no more.
// Then a second copy of a raw record is injected into <input>-by-isin and a
// second record of a window into the output: verify reports exactly those.
func TestE2EVerifyRepartition(t *testing.T) {
	k := testkit.StartKafka(t, kfake.GroupMinSessionTimeout(time.Second))
	t.Logf("kafka: %s at %s", k.Kind, k.Brokers)
	const partitions, n = 4, 40_000
	raw := testkit.UniqueName(t, "trades")
	output, byISIN, group := raw+"-2s", verify.RepartitionTopic(raw), testkit.UniqueName(t, "agg")
	k.CreateTopic(t, raw, partitions)

	// 200 s of event time, 20 minutes old, shuffled within 800 ms; keys
	// that are not ISINs, or none.
	rng := rand.New(rand.NewSource(21))
	universe := tradegen.Universe(60)
	start := time.Now().Add(-20 * time.Minute).Truncate(2 * time.Second)
	var records []testkit.Record
	for i := range n {
		inst := universe[rng.Intn(len(universe))]
		ts := start.Add(time.Duration(i)*5*time.Millisecond - time.Duration(rng.Int63n(int64(800*time.Millisecond))))
		r := testkit.Record{Value: []byte(fmt.Sprintf(`{"isin":"%s","price":%d,"seq":%d}`, inst.ISIN, 1000+rng.Intn(9000), i)),
			Timestamp: ts, Partition: -1}
		if i%2 == 0 {
			r.Key = []byte(fmt.Sprintf("order-%d", rng.Int63()))
		}
		records = append(records, r)
		if i%5000 == 0 {
			records = append(records, testkit.Record{Key: []byte("x"), Value: []byte(`{"isin":"KR7005930004"}`), Timestamp: ts, Partition: -1})
		}
	}
	stored := k.Produce(t, raw, records)
	want, late := rawTopicWindows(t, records, stored)
	if late == 0 {
		t.Fatal("test data has no late trades")
	}
	t.Logf("%d raw records, %d valid trades (%d late in their raw partition), %d windows expected", len(records), n, late, want)

	args := []string{
		"--kafka.brokers=" + k.Brokers,
		"--kafka.properties=session.timeout.ms=3000",
		"--kafka.properties=heartbeat.interval.ms=500",
		"--input.topic=" + raw,
		"--input.group=" + group,
		"--input.repartition=true",
		"--output.topic=" + output,
		"--output.replication=1",
		"--dlq.topic=" + raw + ".dlq",
		"--http.addr=127.0.0.1:0",
		"--log.level=warn",
	}
	var logs testkit.SyncBuffer
	binary := testkit.Binary(t, "aggregator")
	testkit.Binary(t, "verify") // built before the clock starts
	startAggregator := func() *exec.Cmd {
		cmd := exec.Command(binary, args...)
		cmd.Dir = t.TempDir()
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_, _ = cmd.Process.Wait()
			}
		})
		return cmd
	}
	began := time.Now()
	first, second := startAggregator(), startAggregator()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && k.CommittedTotal(t, group, byISIN, partitions) < n/10 {
		time.Sleep(50 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := k.CommittedTotal(t, group, byISIN, partitions)
	t.Logf("first instance SIGKILLed after %v with %d records of %s committed", time.Since(began).Round(time.Millisecond), killedAt, byISIN)
	if killedAt >= int64(n) {
		t.Fatalf("the kill landed after the backlog was drained; the scenario tested too little")
	}
	restarted := startAggregator()
	// The last windows close by wall clock once every raw partition is idle.
	if got := k.ReadCommitted(t, output, want, 0, 3*time.Minute); len(got) != want {
		t.Fatalf("%d output records within 3 minutes, want %d; aggregator logs:\n%s", len(got), want, logs.String())
	}
	t.Logf("every window emitted after %v", time.Since(began).Round(time.Millisecond))
	// Killed too: verify reads what is committed, which no way of stopping
	// may change (how the aggregator stops is its own tests' concern).
	for _, cmd := range []*exec.Cmd{second, restarted} {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}

	verifyArgs := []string{"--brokers=" + k.Brokers, "--input=" + raw, "--output=" + output, "--repartition"}
	code, rep := runVerify(t, verifyArgs...)
	if code != 0 || !rep.OK {
		t.Fatalf("exit %d, violations %+v, examples %+v, notes %q", code, rep.Violations, rep.Examples, rep.Notes)
	}
	rs := rep.Repartition
	if rs == nil || rs.RawTopic != raw || rs.Topic != byISIN || rs.RawRecords != int64(len(records)) || rs.RawValid != n ||
		rs.Copied != n || rs.NotCopiedYet != 0 || rs.Markers == 0 || rs.RawRejected["invalid-isin"] != int64(len(records)-n) {
		t.Fatalf("repartition report %+v", rs)
	}
	if rs.Late != (verify.RawLateReport{OwnPartition: int64(late), Watermark: int64(late), Live: int64(late)}) {
		t.Errorf("late %+v, want %d lost to lateness, all of them late in their own raw partition", rs.Late, late)
	}
	if rep.Input.Topic != byISIN || rep.Input.Records != n || rep.Output.Records != int64(want) || rep.Windows.Matched != int64(want) ||
		rep.Windows.MatchedLiveOnly != 0 || rep.Windows.WallClockUnexplained != 0 || rep.Windows.DeclaredWallClock == 0 {
		t.Errorf("input %+v, output %+v, windows %+v", rep.Input, rep.Output, rep.Windows)
	}
	t.Logf("verify: %d raw records, %d copies and %d markers in %s, %d output records (%d closed by wall clock), in %d ms",
		rs.RawRecords, rs.Copied, rs.Markers, byISIN, rep.Output.Records, rep.Windows.DeclaredWallClock, rep.ElapsedMS)

	// A second copy of the first trade copied, and a second record of the
	// first window emitted.
	var copied, emitted testkit.Record
	for _, m := range k.ReadCommitted(t, byISIN, -1, 0, 30*time.Second) {
		if !progress.IsMarker(m) {
			copied = testkit.Record{Key: m.Key, Value: m.Value, Timestamp: m.Timestamp, Headers: m.Headers, Partition: m.TopicPartition.Partition}
			break
		}
	}
	m := k.ReadCommitted(t, output, 1, 0, 30*time.Second)[0]
	emitted = testkit.Record{Key: m.Key, Value: m.Value, Timestamp: m.Timestamp, Headers: m.Headers, Partition: m.TopicPartition.Partition}
	k.Produce(t, byISIN, []testkit.Record{copied})
	k.Produce(t, output, []testkit.Record{emitted})
	// A transaction a killed instance left open hides what follows it from
	// read_committed readers until it times out.
	if got := k.ReadCommitted(t, byISIN, int(rep.Input.Records+rs.Markers+1), 0, time.Minute); len(got) != int(rep.Input.Records+rs.Markers+1) {
		t.Fatalf("the injected copy is not visible in %s after a minute", byISIN)
	}
	if got := k.ReadCommitted(t, output, want+1, 0, time.Minute); len(got) != want+1 {
		t.Fatalf("the injected record is not visible in %s after a minute", output)
	}
	code, rep = runVerify(t, verifyArgs...)
	wantViolations := verify.ViolationReport{Total: 2, Duplicates: 1, CopyDuplicates: 1}
	if code != 1 || rep.Violations != wantViolations {
		t.Fatalf("after injection: exit %d, violations %+v, want %+v; examples %+v", code, rep.Violations, wantViolations, rep.Examples)
	}
	text, _ := exec.Command(testkit.Binary(t, "verify"), verifyArgs...).Output()
	t.Logf("verify after injection:\n%s", text)
}

// rawTopicWindows counts the (ISIN, window)s the contract prescribes for a
// raw topic as a whole, each trade's lateness judged in its own raw
// partition's order (2 s windows, no grace), and the valid trades late.
func rawTopicWindows(t *testing.T, records []testkit.Record, stored []kafka.TopicPartition) (windows, late int) {
	t.Helper()
	type key struct {
		isin  string
		start int64
	}
	seen := map[key]bool{}
	watermark := map[int32]int64{}
	order := make([]int, len(records))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		pa, pb := stored[order[a]], stored[order[b]]
		return pa.Partition < pb.Partition || (pa.Partition == pb.Partition && pa.Offset < pb.Offset)
	})
	for _, i := range order {
		var doc struct{ ISIN string }
		if err := json.Unmarshal(records[i].Value, &doc); err != nil || doc.ISIN == "KR7005930004" {
			continue // invalid
		}
		ts, p := records[i].Timestamp.UnixMilli(), stored[i].Partition
		w, ok := watermark[p]
		if !ok || ts > w {
			w = ts
		}
		watermark[p] = w
		start := ts - ts%2000
		if start+2000 <= w-w%2000 {
			late++
			continue
		}
		seen[key{doc.ISIN, start}] = true
	}
	return len(seen), late
}
