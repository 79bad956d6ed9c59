// Command gateway serves the sink's Redis to browsers: a WebSocket feed of
// the latest trade per ISIN per window (snapshot on subscribe, then updates,
// never an older window) and a live web page. See docs/websocket.md and
// configs/gateway.yaml.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"tickcompact/gateway"
	"tickcompact/internal/cli"
	"tickcompact/internal/configload"
	"tickcompact/internal/logging"
	"tickcompact/internal/redisconn"
)

func main() { os.Exit(run()) }

// Exit codes: 0 clean stop (or --help, --version), 1 runtime failure, 2 bad
// configuration.
func run() int {
	cfg, err := gateway.LoadConfig(os.Args[1:], os.Environ())
	if cli.Answered(err, os.Stdout) { // --help, --version
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2
		}
		return 1
	}
	logger, err := logging.New(os.Stderr, cfg.Log.Level, cfg.Log.Format, cfg.Secrets())
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 2
	}
	redisconn.RouteLogs(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	svc, err := gateway.New(cfg, logger)
	if err != nil {
		logger.Error("gateway failed to start", "err", err)
		if errors.Is(err, configload.ErrInvalid) {
			return 2
		}
		return 1
	}
	logger.Info("gateway starting", "config", cfg.String(), "http", svc.HTTPAddr())
	if err := svc.Run(ctx); err != nil {
		logger.Error("gateway stopped", "err", err)
		return 1
	}
	logger.Info("gateway stopped cleanly")
	return 0
}
