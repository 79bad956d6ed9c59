// Command aggregator compacts the raw trades topic into one latest record per
// ISIN per window on trades-2s, exactly once. See README.md and
// configs/aggregator.yaml.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tickcompact/aggregator"
	"tickcompact/internal/cli"
	"tickcompact/internal/configload"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/logging"
	"tickcompact/internal/memtune"
)

func main() { os.Exit(run()) }

// Exit codes: 0 clean stop (or --help, --version), 1 runtime failure, 2 bad
// configuration.
func run() int {
	memtune.Apply() // before librdkafka starts its threads
	cfg, err := aggregator.LoadConfig(os.Args[1:], os.Environ())
	if cli.Answered(err, os.Stdout) { // --help, --version
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2
		}
		return 1
	}
	logger, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format, kafkaclient.Secrets(cfg.Kafka.Properties))
	if err != nil {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	svc, err := aggregator.New(cfg, logger)
	if err != nil {
		logger.Error("aggregator failed to start", "err", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2
		}
		return 1
	}
	logger.Info("aggregator starting", "config", cfg.String(), "http", svc.HTTPAddr())
	if err := svc.Run(ctx); err != nil {
		logger.Error("aggregator stopped", "err", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2 // librdkafka refused kafka.properties, before connecting
		}
		return 1
	}
	logger.Info("aggregator stopped cleanly")
	return 0
}
