// Command verify audits the aggregator's output topic (and optionally the
// sink's Redis snapshot) against its input topic. See internal/tools/verify and
// `verify --help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tickcompact/internal/cli"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/logging"
	"tickcompact/internal/tools/verify"
)

func main() { os.Exit(run()) }

// Exit codes: 0 no violation (or --help, --version), 1 violations, 2 bad
// flags or unreadable brokers or Redis.
func run() int {
	cfg, err := verify.ParseArgs(os.Args[1:], os.Getenv)
	if cli.Answered(err, os.Stdout) { // --help, --version
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// librdkafka's own warnings and errors, with every credential masked.
	logger, err := logging.New(os.Stderr, "warn", "text", append(kafkaclient.Secrets(cfg.Properties), cfg.Redis.Password))
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	report, err := verify.Run(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	write := report.WriteText
	if cfg.JSON {
		write = report.WriteJSON
	}
	if err := write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "verify:", err)
		return 2
	}
	if !report.OK {
		return 1
	}
	return 0
}
