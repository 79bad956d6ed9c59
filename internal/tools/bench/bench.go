// Package bench measures tickcompact against its performance targets (issue
// 7, and issue 8's bound on hostile records) and prints one table: each
// figure beside the limit it is compared with, measured in the same run on
// the same data with the same client settings, and whether it meets its
// target. One file per row: engine.go (1, the window engine through go
// test), backlog.go (2), latency.go (3), sinkrow.go (4), memory.go (5),
// hostile.go (6), endtoend.go (7, through the gateway to a WebSocket
// client), fanout.go (8, the gateway's fan-out). The services run as their real binaries; the limits (bare
// loops) run in this process.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options configure Run.
type Options struct {
	// Quick uses small sizes and short phases, for a smoke test.
	Quick bool
	// Brokers is the Kafka bootstrap list; empty starts an embedded kfake
	// broker in this process.
	Brokers string
	// BrokerKind labels a real broker in the output ("Apache Kafka 4.1.2").
	BrokerKind string
	// AggregatorBin, SinkBin and GatewayBin are the services' binaries (go
	// build ./cmd/...).
	AggregatorBin, SinkBin, GatewayBin string
	// ModuleDir is the module root, where go test runs row 1.
	ModuleDir string
	// WorkDir holds the services' logs and Redis's directory.
	WorkDir string
	// AggregatorFlags and SinkFlags are extra flags for the services, for
	// what-if runs (e.g. --output.commit_interval=200ms); they are printed
	// with the table, as the figures are then not the defaults'.
	AggregatorFlags, SinkFlags []string
	// ServiceEnv are extra KEY=VALUE environment variables for both
	// services (GOGC, GOMEMLIMIT ...), for what-if runs; printed with the table.
	ServiceEnv []string
	// ProfileDir, when set, receives Go profiles from the aggregator
	// (row 2's CPU, row 5's heap at its peak) and, with Perf, perf's CPU
	// profile of each service (perf must be installed; see startService).
	ProfileDir string
	Perf       bool
	// Rows selects rows by number ("1".."6"); empty runs all of them.
	Rows []string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Report is the outcome of Run.
type Report struct {
	Rows []Row
	// Notes say how each row was measured and what else was seen.
	Notes   []string
	Machine Machine
	Broker  string
	Quick   bool
	Started time.Time
	Elapsed time.Duration
	// AggregatorFlags and SinkFlags are Options'.
	AggregatorFlags, SinkFlags, ServiceEnv []string
	// LoadBefore and LoadAfter are /proc/loadavg at start and end.
	LoadBefore, LoadAfter string
}

// env is what the rows share during one run.
type env struct {
	opts    Options
	cluster *Cluster
	notes   []string
	logger  *slog.Logger
	// backlog is the trades rows 2 and 6 drain, preloaded by the first.
	backlog *tradeBacklog
}

// perfDir is where perf records the services, or "" when it does not.
func (e *env) perfDir() string {
	if !e.opts.Perf {
		return ""
	}
	return e.opts.ProfileDir
}

// profilePath is name in the profile directory, or "" when profiles are
// not recorded.
func (e *env) profilePath(name string) string {
	if e.opts.ProfileDir == "" {
		return ""
	}
	return filepath.Join(e.opts.ProfileDir, name)
}

func (e *env) logf(format string, args ...any) {
	if e.opts.Progress != nil {
		fmt.Fprintf(e.opts.Progress, "bench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

func (e *env) notef(format string, args ...any) {
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
	e.logf(format, args...)
}

func (o Options) wants(row string) bool { return len(o.Rows) == 0 || slices.Contains(o.Rows, row) }

// Run measures the selected rows. Failed measurements become rows marked
// "n/a" with their error; Run itself fails only when the broker cannot be
// reached or the context ends.
func Run(ctx context.Context, opts Options) (Report, error) {
	rep := Report{Started: time.Now(), Quick: opts.Quick, Machine: DescribeMachine(), LoadBefore: loadAvg(),
		AggregatorFlags: opts.AggregatorFlags, SinkFlags: opts.SinkFlags, ServiceEnv: opts.ServiceEnv}
	if opts.WorkDir == "" {
		dir, err := os.MkdirTemp("", "tickcompact-bench-")
		if err != nil {
			return rep, err
		}
		defer os.RemoveAll(dir)
		opts.WorkDir = dir
	}
	if opts.ModuleDir == "" {
		opts.ModuleDir = "."
	}
	e := &env{opts: opts, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if opts.Progress != nil {
		e.logger = slog.New(slog.NewTextHandler(opts.Progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if slices.ContainsFunc([]string{"2", "3", "4", "5", "6", "7"}, opts.wants) {
		cluster, err := OpenCluster(opts.Brokers, opts.BrokerKind)
		if err != nil {
			return rep, err
		}
		defer cluster.Close()
		e.cluster = cluster
		rep.Broker = cluster.Kind
		e.logf("broker: %s", cluster.Kind)
	}
	steps := []struct {
		row string
		run func(context.Context) []Row
	}{
		{"1", e.runEngine},
		{"2", e.runBacklog},
		{"3", e.runLatency},
		{"4", e.runSink},
		{"5", e.runMemory},
		{"6", e.runHostile},
		{"7", e.runEndToEnd},
		{"8", e.runFanout},
	}
	for _, s := range steps {
		if !opts.wants(s.row) {
			continue
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Rows = append(rep.Rows, s.run(ctx)...)
	}
	rep.Notes = e.notes
	rep.Elapsed = time.Since(rep.Started)
	rep.LoadAfter = loadAvg()
	return rep, ctx.Err()
}

// WriteText writes the table followed by the run's context and notes.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := "full"
	if r.Quick {
		mode = "quick (--quick: reduced sizes, not comparable with the targets)"
	}
	fmt.Fprintf(&b, "tickcompact benchmark, %s run, %s\n", mode, r.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "broker: %s\n", orDash(r.Broker))
	fmt.Fprintf(&b, "machine: %s\n", r.Machine)
	fmt.Fprintf(&b, "load average (1/5/15 min): %s at start, %s at end; %s elapsed\n", r.LoadBefore, r.LoadAfter, r.Elapsed.Round(time.Second))
	if w := r.whatIf(); w != "" {
		fmt.Fprintf(&b, "%s\n", w)
	}
	b.WriteString("\n")
	if err := RenderTable(&b, r.Rows); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%s\n", Summary(r.Rows))
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// whatIf describes non-default settings of a what-if run, or is empty.
func (r Report) whatIf() string {
	if len(r.AggregatorFlags)+len(r.SinkFlags)+len(r.ServiceEnv) == 0 {
		return ""
	}
	return fmt.Sprintf("WHAT-IF RUN, not the defaults: aggregator flags %q, sink flags %q, service environment %q", r.AggregatorFlags, r.SinkFlags, r.ServiceEnv)
}

// WriteSection writes the "Latest figures" section of docs/performance.md:
// the machine and broker the run used, the table and its notes. The method
// stays in the page; this is what a run replaces.
func (r Report) WriteSection(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## Latest figures\n\n")
	fmt.Fprintf(&b, "Command: `make bench`, started %s, took %s.\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "- Machine: %s\n", r.Machine)
	fmt.Fprintf(&b, "- Broker: %s\n", orDash(r.Broker))
	fmt.Fprintf(&b, "- Load average (1/5/15 min): %s at the start, %s at the end\n", r.LoadBefore, r.LoadAfter)
	if w := r.whatIf(); w != "" {
		fmt.Fprintf(&b, "- %s\n", w)
	}
	b.WriteString("\n")
	if err := RenderTable(&b, r.Rows); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\n%s.\n", Summary(r.Rows))
	if len(r.Notes) > 0 {
		b.WriteString("\nSame run, beside the table:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
