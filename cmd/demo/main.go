// Command demo runs the whole pipeline in one process — an embedded Kafka
// broker and Redis (or real ones), the synthetic KRX feed, the aggregator,
// the sink, the gateway and its live page — and shows a live board of it. It is what `make demo` runs.
//
// Exit codes: 0 clean stop (Ctrl-C, --duration or --windows; also when run
// as `make demo`: see takeTerminal); 1 a port taken, a broker or Redis
// unreachable, or a service failed; 2 bad flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"tickcompact/internal/cli"
	"tickcompact/internal/tools/demo"
)

func main() { os.Exit(run()) }

func run() int {
	opts, err := parseFlags(os.Args[1:])
	if cli.Answered(err, os.Stdout) { // --help, --version
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 2
	}
	restore := takeTerminal() // Ctrl-C for the demo alone, not make
	defer restore()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, demo.ErrInvalidOptions) {
			return 2
		}
		return 1
	}
	return 0
}

// command is demo's --help.
var command = cli.Command{
	Name: "demo",
	Summary: `demo runs the whole tickcompact pipeline in one process (an embedded Kafka broker and Redis, or
real ones, the synthetic KRX feed, the aggregator and the sink) and shows a live board of it. It is
what make demo runs.`,
	Footer: "Exit codes: 0 clean stop (Ctrl-C, --duration or --windows); 1 a port taken, a broker or Redis\nunreachable, or a service failed; 2 bad flags.",
}

// parseFlags turns the command line into demo options; checking them is
// demo.Run's (Options.Validate).
func parseFlags(args []string) (demo.Options, error) {
	opts := demo.DefaultOptions()
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	fs.StringVar(&opts.Brokers, "brokers", "", "use this Kafka cluster (host:port,...) instead of the embedded broker")
	fs.StringVar(&opts.Redis, "redis", "", "use this Redis (host:port) instead of the embedded one")
	fs.IntVar(&opts.KafkaPort, "kafka-port", 0, "loopback port of the embedded broker (0 = a free one)")
	fs.IntVar(&opts.RedisPort, "redis-port", 0, "loopback port of the embedded Redis (0 = a free one)")
	fs.DurationVar(&opts.ConnectTimeout, "connect-timeout", opts.ConnectTimeout, "give up when a given broker or Redis does not answer within this")
	fs.IntVar(&opts.Partitions, "partitions", opts.Partitions, "partitions of the trades topic when the demo creates it")
	fs.Float64Var(&opts.Rate, "rate", opts.Rate, "average trades per second (0 = flat out)")
	fs.IntVar(&opts.Instruments, "instruments", opts.Instruments, "number of KRX instruments")
	fs.Float64Var(&opts.Malformed, "malformed", opts.Malformed, "share (0..1) of malformed trades, sent to the DLQ")
	fs.Int64Var(&opts.Seed, "seed", opts.Seed, "random seed of the feed")
	fs.BoolVar(&opts.OpeningSpike, "opening-spike", opts.OpeningSpike, "start with the opening auction and its burst")
	fs.StringVar(&opts.StreamKey, "stream", "", "also append every update to this Redis stream (sink redis.stream_key)")
	fs.StringVar(&opts.AggregatorHTTP, "aggregator-http", opts.AggregatorHTTP, "aggregator /metrics address")
	fs.StringVar(&opts.SinkHTTP, "sink-http", opts.SinkHTTP, "sink /metrics address")
	fs.StringVar(&opts.GatewayHTTP, "gateway-http", opts.GatewayHTTP, "gateway address: the live page, /ws and /metrics")
	fs.StringVar(&opts.LogLevel, "log-level", opts.LogLevel, "services' log level: debug, info, warn or error")
	fs.DurationVar(&opts.Duration, "duration", 0, "stop after this long (0 = until Ctrl-C)")
	fs.IntVar(&opts.Windows, "windows", 0, "stop after this many board refreshes (0 = until Ctrl-C)")
	fs.BoolVar(&opts.Plain, "plain", false, "one plain line per window, even on a terminal")
	if err := command.Parse(fs, args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return opts, nil
}
