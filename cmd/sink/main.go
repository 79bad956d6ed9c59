// Command sink applies the compacted trades-2s topic to Redis: a latest-value
// snapshot per ISIN, Pub/Sub and an optional stream, never going back to an
// older window. See README.md and configs/sink.yaml.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tickcompact/internal/cli"
	"tickcompact/internal/configload"
	"tickcompact/internal/logging"
	"tickcompact/internal/memtune"
	"tickcompact/internal/redisconn"
	"tickcompact/sink"
)

func main() { os.Exit(run()) }

// Exit codes: 0 clean stop (or --help, --version), 1 runtime failure, 2 bad
// configuration.
func run() int {
	memtune.Apply() // before librdkafka starts its threads
	cfg, err := sink.LoadConfig(os.Args[1:], os.Environ())
	if cli.Answered(err, os.Stdout) { // --help, --version
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2
		}
		return 1
	}
	logger, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format, cfg.Secrets())
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		return 2
	}
	redisconn.RouteLogs(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	svc, err := sink.New(cfg, logger)
	if err != nil {
		logger.Error("sink failed to start", "err", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2
		}
		return 1
	}
	logger.Info("sink starting", "config", cfg.String(), "http", svc.HTTPAddr())
	if err := svc.Run(ctx); err != nil {
		logger.Error("sink stopped", "err", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2 // librdkafka refused kafka.properties, before connecting
		}
		return 1
	}
	logger.Info("sink stopped cleanly")
	return 0
}
