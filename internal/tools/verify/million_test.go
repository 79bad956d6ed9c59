package verify

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/tools/testkit"
	"tickcompact/internal/tools/tradegen"
)

// MillionEnv turns on TestVerifyMillionRecords, a measurement rather than a
// check: it takes a minute or two to set up. MillionEnv+"_ARGS" runs verify
// once per ;-separated set of extra flags instead of twice with none.
const MillionEnv = "TICKCOMPACT_VERIFY_MILLION"

// The verify binary reads 1,000,000 input records over 900 ISINs and the
// output the contract prescribes for them (written here from the naive model),
// finds no violation, and reports its wall time and peak RSS.
func TestVerifyMillionRecords(t *testing.T) {
	k, input, output := millionTopics(t)

	const n = 1_000_000
	rng := rand.New(rand.NewSource(1))
	universe := tradegen.Universe(900)
	start := time.Now().Add(-2 * time.Hour).Truncate(2 * time.Second)
	records := make([]testkit.Record, n)
	for i := range records {
		inst := universe[rng.Intn(len(universe))]
		ts := start.Add(time.Duration(i)*4*time.Millisecond - time.Duration(rng.Int63n(int64(800*time.Millisecond))))
		value := fmt.Sprintf(`{"isin":"%s","price":%d,"volume":%d,"seq":%d}`, inst.ISIN, 1000+rng.Intn(90000), 1+rng.Intn(500), i)
		records[i] = testkit.Record{Key: []byte(inst.ISIN), Value: []byte(value), Timestamp: ts, Partition: -1}
	}
	began := time.Now()
	producer := k.NewProducer(t)
	stored := make([]kafka.TopicPartition, 0, n)
	for i := 0; i < n; i += 100_000 {
		stored = append(stored, producer.Send(input, records[i:i+100_000])...)
	}
	trades := make([]tradeRec, n)
	for i, r := range records {
		trades[i] = tradeRec{partition: stored[i].Partition, timestamp: r.Timestamp.UnixMilli(), isin: string(r.Key), raw: string(r.Value)}
	}
	outs, late := sendExpected(producer, output, trades)
	t.Logf("set-up: %d input records, %d output records, %d late, in %v", n, len(outs), late, time.Since(began))

	measure(t, []string{"--brokers=" + k.Brokers, "--input=" + input, "--output=" + output})
}

// millionTopics skips the test unless MillionEnv is set, and starts a
// cluster with an input and an output topic of 6 partitions each.
func millionTopics(t *testing.T) (k *testkit.Kafka, input, output string) {
	t.Helper()
	if os.Getenv(MillionEnv) == "" {
		t.Skipf("a measurement: set %s=1 to run it", MillionEnv)
	}
	k = testkit.StartKafka(t)
	input = testkit.UniqueName(t, "trades")
	output = input + "-2s"
	k.CreateTopic(t, input, 6)
	k.CreateTopic(t, output, 6)
	return k, input, output
}

// measure runs the verify binary with args, once per variant of extra flags
// (MillionEnv+"_ARGS"), or twice, and logs its wall time, peak RSS and report.
func measure(t *testing.T, args []string) {
	t.Helper()
	variants := [][]string{nil}
	if extra := os.Getenv(MillionEnv + "_ARGS"); extra != "" {
		// Variants of extra flags to compare (tuning): "--a=1 --b=2;--c=3".
		variants = nil
		for _, v := range strings.Split(extra, ";") {
			variants = append(variants, strings.Fields(v))
		}
	}
	if len(variants) == 1 {
		variants = append(variants, variants[0])
	}
	for run, extra := range variants {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(testkit.Binary(t, "verify"), append(slices.Clone(args), extra...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		began := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// VmHWM of the running process: wait4's ru_maxrss would include the
		// test process's own memory, which the child's exec inherits.
		var hwm string
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
	sample:
		for {
			if status, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); rerr == nil {
				for _, line := range strings.Split(string(status), "\n") {
					if strings.HasPrefix(line, "VmHWM:") {
						hwm = strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
					}
				}
			}
			select {
			case err = <-done:
				break sample
			case <-time.After(20 * time.Millisecond):
			}
		}
		elapsed := time.Since(began)
		if err != nil {
			t.Fatalf("verify: %v\n%s\n%s", err, stdout.String(), stderr.String())
		}
		t.Logf("run %d %v: %v wall, peak RSS (VmHWM) %s, CPU user %v sys %v\n%s", run+1, extra, elapsed.Round(time.Millisecond),
			hwm, cmd.ProcessState.UserTime().Round(time.Millisecond),
			cmd.ProcessState.SystemTime().Round(time.Millisecond), stdout.String())
	}
}

// The verify binary reads, with --repartition, 1,000,000 raw records over
// 900 ISINs keyed at random, their copy into <raw>-by-isin (written here the
// way the repartition stage writes it: chunks of raw partitions interleaved,
// progress markers after each) and the output the contract prescribes for
// the raw topic as a whole, finds no violation, and reports its wall time and
// peak RSS.
func TestVerifyMillionRecordsRepartition(t *testing.T) {
	k, raw, output := millionTopics(t)
	const partitions, n = 6, 1_000_000
	k.CreateTopic(t, RepartitionTopic(raw), partitions)

	rng := rand.New(rand.NewSource(1))
	universe := tradegen.Universe(900)
	start := time.Now().Add(-2 * time.Hour).Truncate(2 * time.Second)
	trades := make([]tradeRec, n)
	records := make([]testkit.Record, n)
	// One trade per ISIN and millisecond: ties across raw partitions have
	// no order common to the raw topic and its copy.
	used := map[string]map[int64]bool{}
	for i := range trades {
		inst := universe[rng.Intn(len(universe))]
		ts := start.Add(time.Duration(i)*4*time.Millisecond - time.Duration(rng.Int63n(int64(800*time.Millisecond))))
		if used[inst.ISIN] == nil {
			used[inst.ISIN] = map[int64]bool{}
		}
		for used[inst.ISIN][ts.UnixMilli()] {
			ts = ts.Add(time.Millisecond)
		}
		used[inst.ISIN][ts.UnixMilli()] = true
		trades[i] = tradeRec{partition: int32(i % partitions), timestamp: ts.UnixMilli(), isin: inst.ISIN,
			raw: fmt.Sprintf(`{"isin":"%s","price":%d,"volume":%d,"seq":%d}`, inst.ISIN, 1000+rng.Intn(90000), 1+rng.Intn(500), i)}
		records[i] = testkit.Record{Value: []byte(trades[i].raw), Timestamp: ts, Partition: trades[i].partition}
	}
	began := time.Now()
	producer := k.NewProducer(t)
	sendAll(producer, raw, records)
	c := newCopier(t, trades, partitions, partitions)
	for done := false; !done; {
		c.txn(chunk{rng.Intn(partitions), 1 + rng.Intn(20_000)})
		done = true
		for p := range c.raw {
			done = done && c.next[p] == len(c.raw[p])
		}
	}
	var copies []testkit.Record
	for q, list := range c.copies {
		for _, r := range list {
			copies = append(copies, testkit.Record{Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(r.Timestamp), Headers: r.Headers, Partition: int32(q)})
		}
	}
	sendAll(producer, RepartitionTopic(raw), copies)
	outs, late := sendExpected(producer, output, trades)
	t.Logf("set-up: %d raw records, %d copies and markers, %d output records, %d late, in %v", n, len(copies), len(outs), late, time.Since(began))
	measure(t, []string{"--brokers=" + k.Brokers, "--input=" + raw, "--output=" + output, "--repartition"})
}

// sendExpected writes to output the records the naive model expects for
// trades, and returns them with its count of late trades.
func sendExpected(producer *testkit.Producer, output string, trades []tradeRec) ([]OutputRecord, int) {
	outs, late := naive(trades, 2000, 0)
	expected := make([]testkit.Record, len(outs))
	for i, o := range outs {
		expected[i] = testkit.Record{Key: o.Key, Value: o.Value, Timestamp: time.UnixMilli(o.Timestamp), Partition: -1,
			Headers: []kafka.Header{{Key: "window-start", Value: o.WindowStart}, {Key: "window-end", Value: o.WindowEnd},
				{Key: "trade-count", Value: o.TradeCount}}}
	}
	sendAll(producer, output, expected)
	return outs, late
}

// sendAll writes records to topic in batches of 100,000.
func sendAll(producer *testkit.Producer, topic string, records []testkit.Record) {
	for i := 0; i < len(records); i += 100_000 {
		producer.Send(topic, records[i:min(i+100_000, len(records))])
	}
}
