//go:build faults

package faults_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator"
	"tickcompact/internal/tools/testkit"
	"tickcompact/internal/tools/tradegen"
	"tickcompact/internal/tools/verify"
)

// Window settings of every scenario unless it says otherwise.
const (
	windowSize  = 2 * time.Second
	windowGrace = 0
	idleTimeout = time.Second
)

// restartToEmitBound is the contract's bound: an instance that was killed and
// restarted is emitting again within 15 s.
const restartToEmitBound = 15 * time.Second

// realKafka returns the real broker the suite runs against. The suite has no
// embedded tier: without TICKCOMPACT_TEST_BROKERS it fails, never skips.
func realKafka(t *testing.T) *testkit.Kafka {
	t.Helper()
	if os.Getenv(testkit.BrokersEnv) == "" {
		t.Fatalf("%s is not set: the fault suite runs only against a real broker (make test-integration)", testkit.BrokersEnv)
	}
	k := testkit.StartKafka(t)
	if k.Kind != "apache-kafka" {
		t.Fatalf("expected the real broker, got %s", k.Kind)
	}
	return k
}

// pipeline is one scenario's topics and consumer group on the real broker.
type pipeline struct {
	t          *testing.T
	kafka      *testkit.Kafka
	input      string
	output     string
	dlq        string
	group      string
	partitions int
	// extraEnv is added to every aggregator's environment.
	extraEnv []string
	probe    *offsetProbe
	// lateArrivals says records may reach the broker long after they were
	// stamped (the broker was down): wall-clock closes that record
	// timestamps do not explain are then expected.
	lateArrivals bool
}

// newPipeline creates a unique input topic with partitions and names the
// output and DLQ topics after it; the aggregator creates those two.
func newPipeline(t *testing.T, k *testkit.Kafka, partitions int, topicConfig map[string]string) *pipeline {
	t.Helper()
	p := &pipeline{
		t: t, kafka: k, partitions: partitions,
		input: testkit.UniqueName(t, "trades"),
		group: testkit.UniqueName(t, "agg"),
	}
	p.output, p.dlq = p.input+"-2s", p.input+".dlq"
	k.CreateTopicWithConfig(t, p.input, partitions, topicConfig)
	return p
}

// aggregatorEnv configures an aggregator the way an operator's container
// would: through AGGREGATOR_* variables only.
func (p *pipeline) aggregatorEnv(httpAddr string) []string {
	return append([]string{
		"AGGREGATOR_KAFKA_BROKERS=" + p.kafka.Brokers,
		"AGGREGATOR_KAFKA_PROPERTIES_SESSION_TIMEOUT_MS=6000",
		"AGGREGATOR_KAFKA_PROPERTIES_HEARTBEAT_INTERVAL_MS=500",
		"AGGREGATOR_INPUT_TOPIC=" + p.input,
		"AGGREGATOR_INPUT_GROUP=" + p.group,
		"AGGREGATOR_OUTPUT_TOPIC=" + p.output,
		"AGGREGATOR_OUTPUT_REPLICATION=1",
		"AGGREGATOR_DLQ_TOPIC=" + p.dlq,
		"AGGREGATOR_WINDOW_SIZE=" + windowSize.String(),
		"AGGREGATOR_WINDOW_GRACE=" + time.Duration(windowGrace).String(),
		"AGGREGATOR_WINDOW_IDLE_TIMEOUT=" + idleTimeout.String(),
		"AGGREGATOR_HTTP_ADDR=" + httpAddr,
		"AGGREGATOR_LOG_LEVEL=" + logLevel(),
	}, p.extraEnv...)
}

// aggregator runs the aggregator binary; with restart it is supervised like a
// container with a restart policy. httpAddr "" means a free port of its own.
func (p *pipeline) aggregator(name string, restart bool, httpAddr string) *process {
	p.t.Helper()
	if httpAddr == "" {
		httpAddr = "127.0.0.1:0"
	}
	return supervise(p.t, name, testkit.Binary(p.t, "aggregator"), p.aggregatorEnv(httpAddr), restart)
}

// offsetProbe reads one group's committed offsets of one topic, through a
// long-lived client so that polling it is cheap and precise.
type offsetProbe struct {
	consumer *kafka.Consumer
	tps      []kafka.TopicPartition
}

// newProbe returns a probe of group's committed offsets over topic's
// partitions, closed when the test ends.
func newProbe(t *testing.T, k *testkit.Kafka, group, topic string, partitions int) *offsetProbe {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": k.Brokers, "group.id": group, "log_level": 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pr := &offsetProbe{consumer: c}
	for i := 0; i < partitions; i++ {
		pr.tps = append(pr.tps, kafka.TopicPartition{Topic: &topic, Partition: int32(i)})
	}
	return pr
}

// committed reads the group's committed offsets and their metadata: none
// while the group does not exist yet. It returns an error rather than
// failing, so that it can be polled while the broker is down.
func (pr *offsetProbe) committed() ([]kafka.TopicPartition, error) {
	got, err := pr.consumer.Committed(pr.tps, 5000)
	var kerr kafka.Error
	if errors.As(err, &kerr) && kerr.Code() == kafka.ErrGroupIDNotFound {
		return nil, nil
	}
	return got, err
}

// PerPartition returns the committed offsets, -1 where none.
func (pr *offsetProbe) PerPartition() ([]int64, error) {
	got, err := pr.committed()
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(pr.tps))
	for i := range out {
		out[i] = -1
	}
	for _, tp := range got {
		if tp.Offset >= 0 {
			out[tp.Partition] = int64(tp.Offset)
		}
	}
	return out, nil
}

// Total is the sum of the committed offsets (0 where none).
func (pr *offsetProbe) Total() (int64, error) {
	per, err := pr.PerPartition()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, o := range per {
		if o > 0 {
			total += o
		}
	}
	return total, nil
}

// Processed is the sum over partitions of the offsets below which every
// record was processed and its output committed (aggregator.ProcessedThrough:
// unlike the committed offsets, it does not wait for the last windows to
// close by wall clock).
func (pr *offsetProbe) Processed() (int64, error) {
	got, err := pr.committed()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, tp := range got {
		if tp.Offset < 0 {
			continue
		}
		metadata := ""
		if tp.Metadata != nil {
			metadata = *tp.Metadata
		}
		total += aggregator.ProcessedThrough(int64(tp.Offset), metadata)
	}
	return total, nil
}

// WaitBeyond polls the committed total until it exceeds from and returns when
// it saw that happen and the total then; ok is false after timeout.
func (pr *offsetProbe) WaitBeyond(from int64, timeout time.Duration) (at time.Time, total int64, ok bool) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := pr.Total()
		now := time.Now()
		if err == nil && n > from {
			return now, n, true
		}
		if now.After(deadline) {
			return now, n, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// progress is the pipeline's aggregator group's probe on its input.
func (p *pipeline) progress() *offsetProbe {
	p.t.Helper()
	if p.probe == nil {
		p.probe = newProbe(p.t, p.kafka, p.group, p.input, p.partitions)
	}
	return p.probe
}

// endOffsets returns topic's high watermarks: for a topic written without
// transactions, where each partition's records end.
func endOffsets(k *testkit.Kafka, topic string, partitions int) ([]int64, error) {
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": k.Brokers, "group.id": "faults-watermarks", "log_level": 0})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make([]int64, partitions)
	for p := range out {
		_, high, err := c.QueryWatermarkOffsets(topic, int32(p), 5000)
		if err != nil {
			return nil, err
		}
		out[p] = high
	}
	return out, nil
}

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

// waitDrained waits until the group has committed every input record, which
// the input's end offsets count (the generator does not use transactions).
func (p *pipeline) waitDrained(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var n, end int64
	var err error
	for time.Now().Before(deadline) {
		var ends []int64
		if ends, err = endOffsets(p.kafka, p.input, p.partitions); err == nil {
			end = sum(ends)
			if n, err = p.progress().Total(); err == nil && n == end {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("the aggregator did not commit the whole input within %v: committed %d of %d (%v)", timeout, n, end, err)
}

// settle waits for the last windows to close by wall clock once the input is
// drained: their end plus the idle timeout, plus a margin.
func settle() { time.Sleep(windowSize + idleTimeout + 1500*time.Millisecond) }

// ---------------------------------------------------------------------------
// process supervision

// process is a service binary, optionally restarted whenever it exits, like a
// container with `restart: always`. Its output goes to a buffer saved to a
// file when the test fails.
type process struct {
	t       *testing.T
	name    string
	bin     string
	env     []string
	restart bool
	logs    *logBuffer

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current incarnation has exited
	starts   []time.Time
	exits    []exit
	stopping bool
	done     chan struct{} // closed when the supervisor loop ends
	startErr error
}

// exit is how one incarnation ended.
type exit struct {
	at     time.Time
	code   int    // -1 when killed by a signal
	signal string // the signal, if any
}

func (e exit) String() string {
	if e.signal != "" {
		return "signal: " + e.signal
	}
	return "exit status " + strconv.Itoa(e.code)
}

// restartDelay is the supervisor's pause before a restart.
const restartDelay = 200 * time.Millisecond

// supervise starts bin with env (added to this process's environment minus
// the services' own variables) from an empty directory.
func supervise(t *testing.T, name, bin string, env []string, restart bool) *process {
	t.Helper()
	base := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AGGREGATOR_") && !strings.HasPrefix(kv, "SINK_") {
			base = append(base, kv)
		}
	}
	p := &process{t: t, name: name, bin: bin, env: append(base, env...), restart: restart,
		logs: &logBuffer{}, done: make(chan struct{})}
	dir := t.TempDir()
	first := make(chan struct{})
	go p.loop(dir, first)
	<-first
	if p.startErr != nil {
		t.Fatalf("starting %s: %v", name, p.startErr)
	}
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			p.saveLogs()
		}
	})
	return p
}

func (p *process) loop(dir string, first chan struct{}) {
	defer close(p.done)
	for n := 0; ; n++ {
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		cmd := exec.Command(p.bin)
		cmd.Dir, cmd.Env = dir, p.env
		cmd.Stdout, cmd.Stderr = p.logs, p.logs
		fmt.Fprintf(p.logs, "=== %s incarnation %d starts at %s\n", p.name, n+1, time.Now().Format("15:04:05.000"))
		err := cmd.Start()
		exited := make(chan struct{})
		if err == nil {
			p.cmd, p.exited = cmd, exited
			p.starts = append(p.starts, time.Now())
		}
		p.mu.Unlock()
		if n == 0 {
			p.startErr = err
			close(first)
		}
		if err != nil {
			return
		}
		werr := cmd.Wait()
		e := exit{at: time.Now(), code: cmd.ProcessState.ExitCode()}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.signal = ws.Signal().String()
		}
		_ = werr
		fmt.Fprintf(p.logs, "=== %s incarnation %d ended at %s: %s\n", p.name, n+1, e.at.Format("15:04:05.000"), e)
		p.mu.Lock()
		p.exits = append(p.exits, e)
		close(exited)
		stop := p.stopping || !p.restart
		p.mu.Unlock()
		if stop {
			return
		}
		time.Sleep(restartDelay)
	}
}

// Signal sends sig to the running incarnation.
func (p *process) Signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		p.t.Fatalf("%s is not running", p.name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// Kill SIGKILLs the running incarnation, waits until it has exited and
// returns when it did; the supervisor restarts it.
func (p *process) Kill() time.Time {
	p.t.Helper()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("killing %s: %v", p.name, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s did not die within 10s of SIGKILL", p.name)
	}
	return time.Now()
}

// WaitStarts waits until the process has been started n times and returns
// when the n-th start happened.
func (p *process) WaitStarts(n int, timeout time.Duration) time.Time {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		if len(p.starts) >= n {
			at := p.starts[n-1]
			p.mu.Unlock()
			return at
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			p.t.Fatalf("%s was not started a %d. time within %v", p.name, n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Exits returns how the incarnations ended so far.
func (p *process) Exits() []exit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]exit(nil), p.exits...)
}

// Starts counts the incarnations started so far.
func (p *process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.starts)
}

// Running reports whether an incarnation is running now.
func (p *process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop ends supervision: SIGTERM to the running incarnation, SIGKILL after
// grace. It returns how the last incarnation ended and how long stopping
// took. It is idempotent.
func (p *process) Stop(grace time.Duration) (exit, time.Duration) {
	p.mu.Lock()
	p.stopping = true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	began := time.Now()
	if cmd != nil {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGCONT) // in case it was frozen
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(grace):
				// Hung: SIGQUIT makes the Go runtime print every
				// goroutine's stack to the saved log before exiting.
				fmt.Fprintf(p.logs, "=== %s did not stop within %v of SIGTERM: SIGQUIT for a goroutine dump\n", p.name, grace)
				_ = cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-exited:
				case <-time.After(3 * time.Second):
					_ = cmd.Process.Signal(syscall.SIGKILL)
					<-exited
				}
			}
		}
	}
	took := time.Since(began)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.exits) == 0 {
		return exit{code: -1}, took
	}
	return p.exits[len(p.exits)-1], took
}

// saveLogs writes the process's output to a file that outlives the test and
// logs its path and tail.
func (p *process) saveLogs() {
	dir := filepath.Join(os.TempDir(), "tickcompact-faults-logs")
	_ = os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name()+"-"+p.name)+".log")
	_ = os.WriteFile(path, []byte(p.logs.String()), 0o644)
	p.t.Logf("%s logs: %s; last lines:\n%s", p.name, path, p.logs.Tail(25))
}

// LogsContain reports whether any line of the output contains s.
func (p *process) LogsContain(s string) bool { return strings.Contains(p.logs.String(), s) }

// LogLines returns the output lines containing s.
func (p *process) LogLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// logBuffer is a process's output, with the searches the scenarios need.
type logBuffer struct{ testkit.SyncBuffer }

// LinesSince returns the lines written after the first from bytes that
// contain any of subs.
func (b *logBuffer) LinesSince(from int, subs ...string) []string {
	s := b.String()
	if from > len(s) {
		from = len(s)
	}
	var out []string
	for _, line := range strings.Split(s[from:], "\n") {
		for _, sub := range subs {
			if strings.Contains(line, sub) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// Tail returns the last n lines.
func (b *logBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func logLevel() string {
	if l := os.Getenv("TICKCOMPACT_TEST_LOG"); l != "" {
		return l
	}
	return "info"
}

// ---------------------------------------------------------------------------
// the live feed

// feed is the trade generator producing live to a topic in a goroutine. When
// tradegen.Produce fails it is started again with a new producer and the next
// seed, as an operator's supervisor would; verify reads the input topic
// itself, so only what the broker stored matters.
type feed struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}
	logs   *logBuffer

	mu       sync.Mutex
	stats    []tradegen.Stats
	failures []error
}

// feedSummary adds up a feed's runs.
type feedSummary struct {
	Produced, Delivered, Failed, Pending int64
	Runs                                 int
	Failures                             []error
	Malformed                            map[tradegen.Kind]int64
}

func (s feedSummary) String() string {
	return fmt.Sprintf("%d produced, %d delivered, %d failed, %d unacknowledged in %d run(s)", s.Produced, s.Delivered, s.Failed, s.Pending, s.Runs)
}

// startFeed runs tradegen.Produce with opts (Rate, Instruments ...) until Stop.
func startFeed(t *testing.T, k *testkit.Kafka, topic string, opts tradegen.Options) *feed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{t: t, cancel: cancel, done: make(chan struct{}), logs: &logBuffer{}}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		defer close(f.done)
		for run := int64(0); ; run++ {
			producer, err := tradegen.NewProducer(k.Brokers, nil, logger)
			if err != nil {
				f.mu.Lock()
				f.failures = append(f.failures, err)
				f.mu.Unlock()
				return
			}
			o := opts
			o.Seed = opts.Seed + run
			st, err := tradegen.Produce(ctx, producer, topic, o)
			producer.Close()
			f.mu.Lock()
			f.stats = append(f.stats, st)
			if err != nil {
				f.failures = append(f.failures, err)
			}
			f.mu.Unlock()
			if ctx.Err() != nil || err == nil {
				return
			}
			fmt.Fprintf(f.logs, "generator run %d stopped: %v (%d delivered); restarting\n", run+1, err, st.Delivered)
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { f.Stop() })
	return f
}

// Stop cancels the generator, waits for its last flush and sums up its runs.
func (f *feed) Stop() feedSummary {
	f.cancel()
	select {
	case <-f.done:
	case <-time.After(60 * time.Second):
		f.t.Errorf("the generator did not stop within 60s")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := feedSummary{Runs: len(f.stats), Failures: f.failures, Malformed: map[tradegen.Kind]int64{}}
	for _, st := range f.stats {
		s.Produced += st.Produced
		s.Delivered += st.Delivered
		s.Failed += st.Failed
		s.Pending += st.Pending
		for k, n := range st.Malformed {
			s.Malformed[k] += n
		}
	}
	return s
}

// liveOptions is the generator at about 1000 trades/s over a random universe
// of 300 to 900 ISINs.
func liveOptions(rng *rand.Rand) tradegen.Options {
	return tradegen.Options{Seed: rng.Int63(), Rate: 1000, Instruments: 300 + rng.Intn(601), FlushTimeout: 30 * time.Second}
}

// ---------------------------------------------------------------------------
// verify

// verifyReport is verify's JSON report (the binary's output, decoded into
// the tool's own type) and its text.
type verifyReport struct {
	verify.Report
	raw string
}

// verify runs the verify binary over the pipeline's topics (plus extra flags,
// e.g. --redis) and fails the test on any violation, quoting the report. The
// output is read as not compacted: the cleaner does not run on a topic this
// young, so every missing window is a gap.
func (p *pipeline) verify(extra ...string) verifyReport {
	p.t.Helper()
	args := append([]string{
		"--brokers=" + p.kafka.Brokers,
		"--input=" + p.input,
		"--output=" + p.output,
		"--window-size=" + windowSize.String(),
		"--grace=" + time.Duration(windowGrace).String(),
		"--idle-timeout=" + idleTimeout.String(),
		"--compacted=false",
		"--timeout=60s",
		"--json",
	}, extra...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testkit.Binary(p.t, "verify"), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		p.t.Fatalf("running verify: %v", err)
	}
	if code >= 2 {
		p.t.Fatalf("verify exited %d (usage or unreachable):\n%s", code, stderr.String())
	}
	var rep verifyReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		p.t.Fatalf("verify exited %d with output that is not its JSON report: %v\n%s\n%s", code, err, stdout.String(), stderr.String())
	}
	rep.raw = strings.TrimSpace(stdout.String())
	v := rep.Violations
	p.t.Logf("verify: %d input records (%d valid, rejected %v, late %d/%d), %d output records (%d closed by wall clock), %d windows expected, %d matched (%d live model only), %d open pending; violations %d (dup %d, gap %d, mismatch %d, extra %d, malformed %d, redis %d)",
		rep.Input.Records, rep.Input.Valid, nonZero(rep.Input.Rejected), rep.Input.Late.Watermark, rep.Input.Late.Live,
		rep.Output.Records, rep.Windows.DeclaredWallClock, rep.Windows.Expected, rep.Windows.Matched, rep.Windows.MatchedLiveOnly, rep.Windows.OpenPending,
		v.Total, v.Duplicates, v.Gaps, v.Mismatches, v.Extras, v.Malformed, v.Redis)
	if rep.Redis != nil {
		r := rep.Redis
		p.t.Logf("verify redis: %d fields, %d expected, %d matched; missing %d, value %d, window-end %d, stale %d, unexpected %d, ahead %d",
			r.Fields, r.Expected, r.Matched, r.Missing, r.ValueMismatches, r.WindowEndMismatches, r.Stale, r.Unexpected, r.Ahead)
	}
	if code != 0 || !rep.OK || v.Total != 0 {
		p.t.Errorf("verify found %d violations (exit %d); report:\n%s", v.Total, code, excerpt(rep.raw, 6000))
	}
	if rep.Input.Valid == 0 || rep.Output.Records == 0 {
		p.t.Errorf("verify saw %d valid input records and %d output records: the scenario tested nothing", rep.Input.Valid, rep.Output.Records)
	}
	// verify trusts the output's closing headers for where windows closed by
	// wall clock; record timestamps check that independently wherever records
	// arrive when they are stamped.
	if rep.Windows.WallClockUnexplained != 0 && !p.lateArrivals {
		p.t.Errorf("%d wall-clock closes that record timestamps do not explain (windows closed too early?); report:\n%s", rep.Windows.WallClockUnexplained, excerpt(rep.raw, 3000))
	}
	if rep.Windows.OpenPending != 0 {
		p.t.Errorf("%d (ISIN, window)s still not emitted after the input went quiet for longer than window size + idle timeout", rep.Windows.OpenPending)
	}
	return rep
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func excerpt(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// ms formats a duration in seconds with millisecond precision.
func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
