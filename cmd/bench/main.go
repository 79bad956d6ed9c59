// Command bench measures tickcompact against its performance targets and
// prints one table (see internal/tools/bench and scripts/bench.sh, which builds
// the services and picks the broker).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"tickcompact/internal/cli"
	"tickcompact/internal/tools/bench"
)

func main() { os.Exit(run()) }

// command is bench's --help.
var command = cli.Command{
	Name: "bench",
	Summary: `bench measures tickcompact against its performance targets and prints one table: each figure
beside the limit it is judged against, measured in the same run. make bench (scripts/bench.sh)
builds the services and picks the broker.`,
	Footer: "Exit codes: 0 the table was printed (whatever the verdicts); 1 the run failed; 2 bad flags.",
}

// Exit codes: 0 the table was printed (whatever the verdicts), 1 the run
// failed, 2 bad flags.
func run() int {
	var opts bench.Options
	var rows, sectionOut string
	flags := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	flags.BoolVar(&opts.Quick, "quick", false, "small sizes and short phases (a smoke test, not comparable with the targets)")
	flags.StringVar(&opts.Brokers, "brokers", "", "Kafka bootstrap list; empty starts an embedded kfake broker in this process")
	flags.StringVar(&opts.BrokerKind, "broker-kind", "", `label of a real broker in the output, e.g. "Apache Kafka 4.1.2 (scripts/kafka-local.sh)"`)
	flags.StringVar(&opts.AggregatorBin, "aggregator-bin", "", "aggregator binary (go build ./cmd/aggregator)")
	flags.StringVar(&opts.SinkBin, "sink-bin", "", "sink binary (go build ./cmd/sink)")
	flags.StringVar(&opts.GatewayBin, "gateway-bin", "", "gateway binary (go build ./cmd/gateway)")
	flags.StringVar(&opts.ModuleDir, "module-dir", ".", "module root, where row 1's go test runs")
	flags.StringVar(&opts.WorkDir, "work-dir", "", "directory for service logs and Redis (default: a temporary one, removed at the end)")
	flags.StringVar(&opts.ProfileDir, "profile-dir", "", "save the aggregator's Go profiles into this directory: row 2's CPU, row 5's heap at its peak (go tool pprof FILE)")
	flags.BoolVar(&opts.Perf, "perf", false, "with --profile-dir, also record each service's CPU profile with perf there (perf report -i FILE); it slows the services down")
	flags.StringArrayVar(&opts.AggregatorFlags, "aggregator-flag", nil, "extra aggregator flag for a what-if run, e.g. --aggregator-flag=--output.commit_interval=200ms (repeatable; printed with the table)")
	flags.StringArrayVar(&opts.SinkFlags, "sink-flag", nil, "extra sink flag for a what-if run (repeatable; printed with the table)")
	flags.StringArrayVar(&opts.ServiceEnv, "service-env", nil, "extra KEY=VALUE environment variable for the services in a what-if run, e.g. GOMEMLIMIT=150MiB (repeatable; printed with the table)")
	flags.StringVar(&rows, "rows", "", "comma-separated rows to run, 1-8 (default all)")
	flags.StringVar(&sectionOut, "section-out", "", "also write the run as docs/performance.md's \"Latest figures\" section to this file")
	err := command.Parse(flags, os.Args[1:])
	if cli.Answered(err, os.Stdout) { // --help, --version
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q\n", flags.Arg(0))
		return 2
	}
	if rows != "" {
		for _, r := range strings.Split(rows, ",") {
			r = strings.TrimSpace(r)
			if r < "1" || r > "8" || len(r) != 1 {
				fmt.Fprintf(os.Stderr, "bench: --rows: %q is not a row number 1-8\n", r)
				return 2
			}
			opts.Rows = append(opts.Rows, r)
		}
	}
	opts.Progress = os.Stderr
	if opts.ProfileDir != "" {
		// The services write their profiles there; a missing directory
		// would lose them without a word.
		if err := os.MkdirAll(opts.ProfileDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench: --profile-dir:", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	report, err := bench.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if len(report.Rows) == 0 {
			return 1
		}
	}
	fmt.Println()
	if werr := report.WriteText(os.Stdout); werr != nil {
		fmt.Fprintln(os.Stderr, "bench:", werr)
		return 1
	}
	if sectionOut != "" {
		f, ferr := os.Create(sectionOut)
		if ferr == nil {
			ferr = errors.Join(report.WriteSection(f), f.Close())
		}
		if ferr != nil {
			fmt.Fprintln(os.Stderr, "bench:", ferr)
			return 1
		}
	}
	if err != nil {
		return 1
	}
	return 0
}
