//go:build faults

package faults_test

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

// localBroker drives the broker under test through scripts/kafka-local.sh,
// with the environment the suite runs in (KAFKA_PORT, KAFKA_STATE_DIR ... as
// scripts/integration.sh exported them).
type localBroker struct {
	t      *testing.T
	script string
	env    []string
}

// brokerUnderTest returns the script's handle on the broker named by
// TICKCOMPACT_TEST_BROKERS, failing unless the script, with this environment,
// manages that very broker: killing another one would break someone else's
// tests. It makes sure the broker runs again when the test ends.
func brokerUnderTest(t *testing.T, brokers string) *localBroker {
	t.Helper()
	b := &localBroker{t: t, script: filepath.Join(testkit.ModuleRoot(t), "scripts", "kafka-local.sh"), env: os.Environ()}
	if os.Getenv("KAFKA_PORT") == "" {
		if i := strings.LastIndexByte(brokers, ':'); i >= 0 && !strings.Contains(brokers, ",") {
			b.env = append(b.env, "KAFKA_PORT="+brokers[i+1:])
		}
	}
	out, err := b.run("env")
	if err != nil {
		t.Fatalf("scripts/kafka-local.sh env: %v\n%s", err, out)
	}
	if !strings.Contains(out, "KAFKA_BROKERS="+brokers+"\n") {
		t.Fatalf("with this environment scripts/kafka-local.sh manages another broker than %s (%q): set KAFKA_PORT and KAFKA_STATE_DIR as for the broker under test", brokers, strings.TrimSpace(out))
	}
	t.Cleanup(func() {
		if _, err := b.run("status"); err != nil {
			t.Logf("the broker is down at the end of the test: starting it again")
			if out, err := b.run("start"); err != nil {
				t.Errorf("restarting the broker: %v\n%s", err, out)
			}
		}
	})
	return b
}

func (b *localBroker) run(command string) (string, error) {
	cmd := exec.Command(b.script, command)
	cmd.Env = b.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Kill SIGKILLs the broker.
func (b *localBroker) Kill() {
	b.t.Helper()
	if out, err := b.run("kill"); err != nil {
		b.t.Fatalf("kafka-local.sh kill: %v\n%s", err, out)
	}
}

// Start starts the broker on its existing storage and returns once it answers.
func (b *localBroker) Start() {
	b.t.Helper()
	if out, err := b.run("start"); err != nil {
		b.t.Fatalf("kafka-local.sh start: %v\n%s", err, out)
	}
}

// The broker is SIGKILLed mid-stream and started again on its storage while
// the generator keeps producing (its producer buffers and retries) and the
// supervised aggregator rides it out, restarted if it exits. The output is
// exact for everything the broker stored.
func TestFaultBrokerKilled(t *testing.T) {
	k := realKafka(t)
	broker := brokerUnderTest(t, k.Brokers)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	p := newPipeline(t, k, 6, nil)
	p.lateArrivals = true
	aggHTTP := testkit.FreeAddr(t)
	agg := p.aggregator("aggregator", true, aggHTTP)
	opts := liveOptions(rng)
	gen := startFeed(t, k, p.input, opts)
	probe := p.progress()
	if _, _, ok := probe.WaitBeyond(0, 30*time.Second); !ok {
		t.Fatal("the aggregator committed nothing within 30s")
	}
	time.Sleep(3*time.Second + time.Duration(rng.Int63n(int64(2*time.Second))))

	base, err := probe.Total()
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	broker.Kill()
	const down = 5 * time.Second
	time.Sleep(down)
	startAt := time.Now()
	broker.Start()
	answered := time.Now()
	emitted, total, ok := probe.WaitBeyond(base, 90*time.Second)
	if !ok {
		t.Fatalf("the aggregator committed nothing within 90s of the broker's restart (committed %d before the kill)", base)
	}
	t.Logf("broker killed, down %s, its start took %s; aggregator emitting again %s after the broker answered (%s after the kill; committed %d -> %d)",
		secs(startAt.Sub(killed)), secs(answered.Sub(startAt)), secs(emitted.Sub(answered)), secs(emitted.Sub(killed)), base, total)

	time.Sleep(5 * time.Second)
	summary := gen.Stop()
	if len(summary.Failures) > 0 {
		t.Logf("the generator was restarted after: %v", summary.Failures)
	}
	t.Logf("generator: %d librdkafka warnings while the broker was away", len(gen.logs.LinesSince(0, "level=WARN")))
	p.waitDrained(90 * time.Second)
	settle()
	// Records stamped while the broker was away reach the aggregator only
	// when it is back; a window already closed by wall clock counts them late.
	late, _ := testkit.ScrapeMetric(aggHTTP, "tickcompact_aggregator_late_records_total")
	wallClock, _ := testkit.ScrapeMetric(aggHTTP, `tickcompact_aggregator_windows_closed_total{by="wall_clock"}`)
	t.Logf("aggregator: %v late records, %v windows closed by wall clock", late, wallClock)
	last, took := agg.Stop(15 * time.Second)
	exits := agg.Exits()
	t.Logf("aggregator: %d incarnation(s); exits %v", agg.Starts(), exits)
	for _, line := range agg.LogLines(`"msg":"aggregator stopped","err"`) {
		t.Logf("  aggregator: %s", excerpt(line, 400))
	}
	if last.code != 0 {
		t.Errorf("final aggregator ended with %s after SIGTERM (took %s)", last, secs(took))
	}
	rep := p.verify()
	// Records stamped while the broker was away may arrive after their window
	// closed by wall clock: late by the contract, and found late by verify's
	// live model through the closing headers. One incarnation counts each of
	// them at least once (again when it replays after an abort or a lost
	// assignment), and exactly once without those.
	replayed := agg.LogsContain("aborting transaction") || agg.LogsContain("partitions lost")
	switch {
	case agg.Starts() != 1:
	case int64(late) < rep.Input.Late.Live, !replayed && int64(late) != rep.Input.Late.Live:
		t.Errorf("the aggregator counted %v late records, verify's live model %d (replayed: %v)", late, rep.Input.Late.Live, replayed)
	}
	t.Logf("wall-clock closes: %d output records, %d closes not explained by record timestamps", rep.Windows.DeclaredWallClock, rep.Windows.WallClockUnexplained)
	t.Logf("RESULT records=%d (generator: %s) faults=broker SIGKILL, down %s violations=%d aggregator restarts=%d",
		rep.Input.Records, summary, secs(answered.Sub(killed)), rep.Violations.Total, agg.Starts()-1)
}
