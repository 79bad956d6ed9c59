//go:build faults

package faults_test

import (
	"math/rand"
	"strings"
	"syscall"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

// The aggregator, restarted by a supervisor whenever it exits, is SIGKILLed at
// ten random moments while trades flow live. After every restart it is
// emitting again (its group's committed offsets advance) within the
// contract's 15 s, and the output holds every (ISIN, window) exactly once.
func TestFaultAggregatorKilledTenTimes(t *testing.T) {
	k := realKafka(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	p := newPipeline(t, k, 6, nil)
	agg := p.aggregator("aggregator", true, "")
	opts := liveOptions(rng)
	gen := startFeed(t, k, p.input, opts)
	t.Logf("generator: %.0f trades/s over %d ISINs into %d partitions", opts.Rate, opts.Instruments, p.partitions)

	probe := p.progress()
	emitted, _, ok := probe.WaitBeyond(0, 30*time.Second)
	if !ok {
		t.Fatal("the aggregator committed nothing within 30s of its start")
	}
	t.Logf("first start: emitting %s after the process started", secs(emitted.Sub(agg.WaitStarts(1, time.Second))))

	const kills = 10
	restarted := agg.WaitStarts(1, time.Second)
	var delays []time.Duration
	for i := 1; i <= kills; i++ {
		// A random moment 3-6 s after the previous restart, and at least a
		// random moment after it emitted again: kills land anywhere in the
		// transaction cycle, never before the last restart was measured.
		at := restarted.Add(3*time.Second + time.Duration(rng.Int63n(int64(3*time.Second))))
		if floor := emitted.Add(time.Duration(rng.Int63n(int64(time.Second)))); floor.After(at) {
			at = floor
		}
		time.Sleep(time.Until(at))
		uptime := time.Since(restarted)
		killed := agg.Kill()
		base, err := probe.Total()
		if err != nil {
			t.Fatalf("reading committed offsets: %v", err)
		}
		restarted = agg.WaitStarts(i+1, 10*time.Second)
		var total int64
		emitted, total, ok = probe.WaitBeyond(base, restartToEmitBound+10*time.Second)
		d := emitted.Sub(restarted)
		delays = append(delays, d)
		t.Logf("kill %2d after %s of uptime: restarted %s later, emitting again %s after the restart (committed %d -> %d)",
			i, secs(uptime), secs(restarted.Sub(killed)), secs(d), base, total)
		if !ok {
			t.Fatalf("kill %d: the restarted aggregator did not commit anything within %v", i, restartToEmitBound+10*time.Second)
		}
		if d > restartToEmitBound {
			t.Errorf("kill %d: emitting again %s after the restart, the contract says within %v", i, secs(d), restartToEmitBound)
		}
	}
	time.Sleep(2 * time.Second)
	summary := gen.Stop()
	p.waitDrained(60 * time.Second)
	settle()
	last, took := agg.Stop(15 * time.Second)
	if last.code != 0 {
		t.Errorf("final aggregator ended with %s after SIGTERM (took %s)", last, secs(took))
	}
	rep := p.verify()
	t.Logf("RESULT records=%d (generator: %s) faults=%d SIGKILLs violations=%d restart-to-emit: %s (max %s, bound %v)",
		rep.Input.Records, summary, kills, rep.Violations.Total, durations(delays), secs(maxDuration(delays)), restartToEmitBound)
}

// Aggregator A is frozen (SIGSTOP) for longer than its transaction timeout
// and its session timeout while B, of the same group, takes its partitions
// over. When A thaws it must not write a second time what B wrote: its
// transaction was aborted by the broker and it is fenced. It may exit or
// recover; the test logs which. The output is exact either way.
func TestFaultZombieFenced(t *testing.T) {
	k := realKafka(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	p := newPipeline(t, k, 6, nil)
	const txnTimeout = 5 * time.Second
	p.extraEnv = []string{"AGGREGATOR_KAFKA_TRANSACTION_TIMEOUT=" + txnTimeout.String()}
	a := p.aggregator("A", false, "")
	opts := liveOptions(rng)
	gen := startFeed(t, k, p.input, opts)
	probe := p.progress()
	if _, _, ok := probe.WaitBeyond(0, 30*time.Second); !ok {
		t.Fatal("A committed nothing within 30s of its start")
	}
	time.Sleep(2*time.Second + time.Duration(rng.Int63n(int64(2*time.Second))))

	a.Signal(syscall.SIGSTOP)
	frozen := time.Now()
	base, err := probe.Total()
	if err != nil {
		t.Fatal(err)
	}
	b := p.aggregator("B", false, "")
	tookOver, _, ok := probe.WaitBeyond(base, 30*time.Second)
	if !ok {
		t.Fatal("B did not commit anything within 30s of A freezing")
	}
	t.Logf("A frozen; B emitting %s after A froze (session timeout 6s, transaction timeout %v)", secs(tookOver.Sub(frozen)), txnTimeout)
	const freeze = 12 * time.Second
	time.Sleep(time.Until(frozen.Add(freeze)))
	thawedAt := a.logs.Len()
	a.Signal(syscall.SIGCONT)
	thawed := time.Now()
	t.Logf("A thawed after %s frozen", secs(thawed.Sub(frozen)))

	// Give A time to notice: its next transactional request is refused.
	deadline := thawed.Add(15 * time.Second)
	for a.Running() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	outcome := ""
	if !a.Running() {
		e := a.Exits()[0]
		outcome = "A exited with " + e.String() + " " + secs(e.at.Sub(thawed)) + " after thawing"
	} else {
		outcome = "A kept running after thawing"
	}
	events := a.logs.LinesSince(thawedAt, `"level":"WARN"`, `"level":"ERROR"`, "partitions")
	t.Logf("%s; A's log after thawing (%d warnings, errors and assignment changes), first ones:", outcome, len(events))
	shown := 0
	for _, line := range events {
		if strings.Contains(line, "CONFWARN") {
			continue
		}
		if shown++; shown > 6 {
			break
		}
		t.Logf("  A: %s", excerpt(line, 360))
	}

	time.Sleep(3 * time.Second)
	summary := gen.Stop()
	p.waitDrained(60 * time.Second)
	settle()
	for _, proc := range []*process{a, b} {
		if proc.Running() {
			if e, took := proc.Stop(15 * time.Second); e.code != 0 {
				t.Errorf("%s ended with %s after SIGTERM (took %s)", proc.name, e, secs(took))
			}
		}
	}
	if e := b.Exits(); len(e) != 1 || e[0].code != 0 {
		t.Errorf("B ended with %v", e)
	}
	rep := p.verify()
	t.Logf("RESULT records=%d (generator: %s) faults=SIGSTOP %s of A (transaction timeout %v) violations=%d outcome=%q",
		rep.Input.Records, summary, secs(freeze), txnTimeout, rep.Violations.Total, outcome)
}

// The aggregator scales 1 -> 3 -> 1 while trades flow: two instances join,
// the group spreads the partitions over the three, then the two leave on
// SIGTERM (a clean stop within the bound) and the first takes everything
// back. The output is exact.
func TestFaultScaleOneThreeOne(t *testing.T) {
	k := realKafka(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	p := newPipeline(t, k, 6, nil)
	addrs := []string{testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)}
	first := p.aggregator("instance-1", false, addrs[0])
	opts := liveOptions(rng)
	gen := startFeed(t, k, p.input, opts)
	probe := p.progress()
	if _, _, ok := probe.WaitBeyond(0, 30*time.Second); !ok {
		t.Fatal("the first instance committed nothing within 30s")
	}
	time.Sleep(3 * time.Second)

	scaledOut := time.Now()
	others := []*process{p.aggregator("instance-2", false, addrs[1]), p.aggregator("instance-3", false, addrs[2])}
	spread := waitAssignment(t, addrs, func(a []float64) bool { return a[0] > 0 && a[1] > 0 && a[2] > 0 && a[0]+a[1]+a[2] == 6 }, 40*time.Second)
	t.Logf("scaled out to 3: partitions %v after %s", spread, secs(time.Since(scaledOut)))
	base, _ := probe.Total()
	if _, _, ok := probe.WaitBeyond(base, 15*time.Second); !ok {
		t.Fatal("no progress with three instances")
	}
	time.Sleep(4 * time.Second)

	scaledIn := time.Now()
	for _, proc := range others {
		e, took := proc.Stop(20 * time.Second)
		t.Logf("%s stopped on SIGTERM in %s: %s", proc.name, secs(took), e)
		if e.code != 0 || took > 15*time.Second {
			t.Errorf("%s: %s after %s; want a clean exit within 15s of SIGTERM", proc.name, e, secs(took))
		}
	}
	back := waitAssignment(t, addrs[:1], func(a []float64) bool { return a[0] == 6 }, 40*time.Second)
	t.Logf("scaled in to 1: partitions %v after %s", back, secs(time.Since(scaledIn)))
	base, _ = probe.Total()
	if _, _, ok := probe.WaitBeyond(base, 15*time.Second); !ok {
		t.Fatal("no progress after scaling in")
	}
	time.Sleep(3 * time.Second)

	summary := gen.Stop()
	p.waitDrained(60 * time.Second)
	settle()
	if e, took := first.Stop(15 * time.Second); e.code != 0 {
		t.Errorf("instance-1 ended with %s after SIGTERM (took %s)", e, secs(took))
	}
	rep := p.verify()
	t.Logf("RESULT records=%d (generator: %s) faults=scale 1->3->1 violations=%d", rep.Input.Records, summary, rep.Violations.Total)
}

// waitAssignment polls each instance's assigned_partitions gauge until cond
// holds and returns the last reading.
func waitAssignment(t *testing.T, addrs []string, cond func([]float64) bool, timeout time.Duration) []float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := make([]float64, len(addrs))
	for {
		var errs []string
		for i, addr := range addrs {
			v, err := testkit.ScrapeMetric(addr, "tickcompact_aggregator_assigned_partitions")
			if err != nil {
				errs = append(errs, err.Error())
				v = -1
			}
			got[i] = v
		}
		if len(errs) == 0 && cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("assignment not reached within %v: assigned_partitions %v %s", timeout, got, strings.Join(errs, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = secs(d)
	}
	return strings.Join(parts, " ")
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
