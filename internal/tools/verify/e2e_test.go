package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator"
	"tickcompact/internal/tools/testkit"
	"tickcompact/internal/tools/tradegen"
	"tickcompact/internal/tools/verify"
	"tickcompact/sink"
)

// runService runs a service in this process until the test ends.
func runService(t *testing.T, name string, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30s", name)
		}
	}
	t.Cleanup(stop)
	return stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if l := os.Getenv("TICKCOMPACT_TEST_LOG"); l != "" {
		_ = level.UnmarshalText([]byte(l))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

// runVerify runs the verify binary with --json and returns its exit status
// and report.
func runVerify(t *testing.T, args ...string) (int, verify.Report) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testkit.Binary(t, "verify"), append(args, "--json")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	var rep verify.Report
	if code < 2 {
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("verify exited %d with output that is not a report: %v\n%s\nstderr:\n%s", code, err, stdout.String(), stderr.String())
		}
	} else {
		t.Logf("verify exited %d: %s", code, stderr.String())
	}
	return code, rep
}

// The real aggregator drains a backlog (with invalid and late records), with
// the interval aggregates on, and the real sink applies its output to Redis:
// verify finds no violation in the topics nor in the snapshot. Then a duplicate, a record with a wrong value
// and a record for a window without trades are written to the output, and
// verify reports exactly those three, with exit status 1.
func TestE2EVerifyBacklog(t *testing.T) {
	k := testkit.StartKafka(t)
	t.Logf("kafka: %s at %s", k.Kind, k.Brokers)
	input := testkit.UniqueName(t, "trades")
	output, dlq := input+"-2s", input+".dlq"
	k.CreateTopic(t, input, 3)

	// 3000 trades over 40 ISINs, 10 minutes old, shuffled within 1.2s so
	// that some are late; a few invalid records.
	rng := rand.New(rand.NewSource(8))
	universe := tradegen.Universe(40)
	start := time.Now().Add(-10 * time.Minute).Truncate(2 * time.Second)
	var records []testkit.Record
	for i := range 3000 {
		inst := universe[rng.Intn(len(universe))]
		ts := start.Add(time.Duration(i)*10*time.Millisecond - time.Duration(rng.Int63n(int64(1200*time.Millisecond))))
		value := fmt.Sprintf(`{"isin":"%s","price":%d.%d,"volume":%d,"seq":%d}`, inst.ISIN, 1000+rng.Intn(9000), rng.Intn(10), 1+rng.Intn(100), i)
		records = append(records, testkit.Record{Key: []byte(inst.ISIN), Value: []byte(value), Timestamp: ts, Partition: -1})
		if i%500 == 0 {
			records = append(records, testkit.Record{Key: []byte(inst.ISIN), Value: []byte(`{"isin":`), Timestamp: ts, Partition: -1})
		}
	}
	stored := k.Produce(t, input, records)

	// The model's own count of the records to wait for.
	v, err := verify.New(verify.Settings{WindowSize: 2 * time.Second, IdleTimeout: time.Second, ISINField: "isin",
		MaxFuture: time.Minute, Now: time.Now(), PriceField: "price", VolumeField: "volume"})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range records {
		v.Input(verify.InputRecord{Partition: stored[i].Partition, Offset: int64(stored[i].Offset),
			Timestamp: r.Timestamp.UnixMilli(), Value: r.Value})
	}
	model := v.Report()
	want := int(model.Windows.Expected + model.Windows.Open)
	if model.Input.Late.Watermark == 0 || model.Input.Rejected["invalid-json"] != 6 {
		t.Fatalf("test data: late %+v, rejected %v", model.Input.Late, model.Input.Rejected)
	}

	cfg, err := aggregator.LoadConfig([]string{
		"--kafka.brokers=" + k.Brokers,
		"--input.topic=" + input,
		"--input.group=" + testkit.UniqueName(t, "agg"),
		"--output.topic=" + output,
		"--output.replication=1",
		"--dlq.topic=" + dlq,
		"--http.addr=127.0.0.1:0",
		"--input.price_field=price",
		"--input.volume_field=volume",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	agg, err := aggregator.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stopAggregator := runService(t, "aggregator", agg.Run)
	// Every window, the last ones closed by wall clock once the partitions
	// are quiet.
	got := k.ReadCommitted(t, output, want, 0, 30*time.Second)
	if len(got) != want {
		t.Fatalf("%d output records within 30s, want %d", len(got), want)
	}

	redisServer := testkit.StartRedis(t)
	sinkCfg, err := sink.LoadConfig([]string{
		"--kafka.brokers=" + k.Brokers,
		"--input.topic=" + output,
		"--input.group=" + testkit.UniqueName(t, "sink"),
		"--redis.addr=" + redisServer.Addr,
		"--http.addr=127.0.0.1:0",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sinkSvc, err := sink.New(sinkCfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stopSink := runService(t, "sink", sinkSvc.Run)

	args := []string{"--brokers=" + k.Brokers, "--input=" + input, "--output=" + output, "--price-field=price", "--volume-field=volume"}
	// The sink applies the output within moments; until then the snapshot
	// is stale.
	var code int
	var rep verify.Report
	for deadline := time.Now().Add(15 * time.Second); ; {
		code, rep = runVerify(t, append(args, "--redis="+redisServer.Addr, "--settle=200ms")...)
		if code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if code != 0 || !rep.OK {
		t.Fatalf("clean run: exit %d, violations %+v, examples %+v", code, rep.Violations, rep.Examples)
	}
	if rep.Input.Records != int64(len(records)) || rep.Input.Valid != 3000 || rep.Input.Rejected["invalid-json"] != 6 ||
		rep.Input.Late.Watermark != model.Input.Late.Watermark || rep.Output.Records != int64(want) || rep.Windows.Matched != int64(want) ||
		rep.Redis == nil || rep.Redis.Matched != 40 || rep.Input.Partitions != 3 {
		t.Errorf("clean run report: input %+v output %+v windows %+v redis %+v", rep.Input, rep.Output, rep.Windows, rep.Redis)
	}
	stopSink()
	stopAggregator()

	// A trailing trade whose window the stopped aggregator leaves open, and
	// three bad output records.
	last := got[len(got)-1]
	trailing := testkit.Record{Key: []byte(universe[0].ISIN), Value: []byte(fmt.Sprintf(`{"isin":"%s","price":1,"volume":1}`, universe[0].ISIN)),
		Timestamp: start.Add(time.Minute), Partition: -1}
	k.Produce(t, input, []testkit.Record{trailing})
	windowStart := trailing.Timestamp.UnixMilli() - trailing.Timestamp.UnixMilli()%2000
	header := func(start int64, count int) []kafka.Header {
		return []kafka.Header{
			{Key: "window-start", Value: []byte(strconv.FormatInt(start, 10))},
			{Key: "window-end", Value: []byte(strconv.FormatInt(start+2000, 10))},
			{Key: "trade-count", Value: []byte(strconv.Itoa(count))},
		}
	}
	k.Produce(t, output, []testkit.Record{
		{Key: last.Key, Value: last.Value, Timestamp: last.Timestamp, Headers: last.Headers, Partition: last.TopicPartition.Partition},
		{Key: trailing.Key, Value: []byte(`{"isin":"wrong"}`), Timestamp: trailing.Timestamp, Headers: header(windowStart, 1), Partition: -1},
		{Key: []byte(universe[1].ISIN), Value: []byte(`{}`), Timestamp: start.Add(-time.Hour), Headers: header(start.Add(-time.Hour).UnixMilli(), 1), Partition: -1},
	})
	code, rep = runVerify(t, args...)
	wantViolations := verify.ViolationReport{Total: 3, Duplicates: 1, Mismatches: 1, MismatchFields: verify.MismatchCount{Value: 1, Aggregates: 1}, Extras: 1}
	if code != 1 || rep.Violations != wantViolations {
		t.Fatalf("after injection: exit %d, violations %+v, want %+v; examples %+v", code, rep.Violations, wantViolations, rep.Examples)
	}
	kinds := map[string]int{}
	for _, e := range rep.Examples {
		kinds[e.Kind]++
	}
	if len(rep.Examples) != 3 || kinds["duplicate"] != 1 || kinds["mismatch"] != 1 || kinds["extra"] != 1 {
		t.Errorf("examples: %+v", rep.Examples)
	}
	text, _ := exec.Command(testkit.Binary(t, "verify"), args...).Output()
	t.Logf("verify after injection, in %d ms:\n%s", rep.ElapsedMS, text)
}

// Bad flags and unreachable brokers exit with status 2.
func TestVerifyBinaryExitsTwo(t *testing.T) {
	for _, args := range [][]string{
		{"--window-size=7s"},
		{"--property=novalue"},
		{"--property=isolation.level=read_uncommitted"},
		{"--brokers=127.0.0.1:1", "--timeout=1s"},
	} {
		cmd := exec.Command(testkit.Binary(t, "verify"), args...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("verify %v: %v, want exit status 2\n%s", args, err, out)
		}
	}
}

// verify reaches a SASL/SCRAM cluster through --property, and a wrong
// password exits with status 2 without the password in the output.
func TestE2EVerifySASL(t *testing.T) {
	k := testkit.StartKafkaSASL(t)
	input := testkit.UniqueName(t, "trades")
	output := input + "-2s"
	k.CreateTopic(t, input, 1)
	k.CreateTopic(t, output, 1)
	id := tradegen.Universe(1)[0].ISIN
	start := time.Now().Add(-time.Minute).Truncate(2 * time.Second)
	trade := func(ms int, seq int) testkit.Record {
		return testkit.Record{Key: []byte(id), Value: []byte(fmt.Sprintf(`{"isin":"%s","seq":%d}`, id, seq)),
			Timestamp: start.Add(time.Duration(ms) * time.Millisecond), Partition: 0}
	}
	trades := []testkit.Record{trade(100, 1), trade(900, 2), trade(2100, 3)}
	k.Produce(t, input, trades)
	k.Produce(t, output, []testkit.Record{{Key: []byte(id), Value: trades[1].Value, Timestamp: trades[1].Timestamp, Partition: 0,
		Headers: []kafka.Header{
			{Key: "window-start", Value: []byte(strconv.FormatInt(start.UnixMilli(), 10))},
			{Key: "window-end", Value: []byte(strconv.FormatInt(start.UnixMilli()+2000, 10))},
			{Key: "trade-count", Value: []byte("2")},
		}}})

	args := func(password string) []string {
		out := []string{"--brokers=" + k.Brokers, "--input=" + input, "--output=" + output, "--timeout=5s"}
		for key, value := range k.ClientProperties(password) {
			out = append(out, "--property="+key+"="+value)
		}
		return out
	}
	code, rep := runVerify(t, args(k.Password)...)
	if code != 0 || rep.Windows.Matched != 1 || rep.Windows.OpenPending != 1 {
		t.Fatalf("exit %d, windows %+v, violations %+v", code, rep.Windows, rep.Violations)
	}

	const wrong = "not-the-password-4711"
	cmd := exec.Command(testkit.Binary(t, "verify"), append(args(wrong), "--timeout=2s")...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("wrong password: %v, want exit status 2\n%s", err, out)
	}
	if bytes.Contains(out, []byte(wrong)) {
		t.Errorf("the password appears in the output:\n%s", out)
	}
}
