// Package servicecmd is the body every service's main runs: read the
// configuration from the command line and the environment (answering --help
// and --version), build the logger, run the service until SIGINT or SIGTERM,
// and turn how it ended into the exit code. Signals are handled here and in
// no service package, so that services run inside tests.
package servicecmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"tickcompact/internal/cli"
	"tickcompact/internal/configload"
	"tickcompact/internal/logging"
)

// The exit codes of a service command.
const (
	// ExitClean is a clean stop, or an answered --help or --version.
	ExitClean = 0
	// ExitFailure is a runtime failure: the service could not go on.
	ExitFailure = 1
	// ExitConfig is a bad configuration, found before anything connected.
	ExitConfig = 2
)

// Config is what Main needs of a service's configuration.
type Config interface {
	// String summarizes the configuration for the start-up line, without
	// secrets.
	String() string
	// Logging is the log.* keys.
	Logging() logging.Config
	// Secrets are the values every log line masks.
	Secrets() []string
}

// Service is a service Main runs: its constructor has bound the HTTP port;
// Run works until its context ends (a clean stop returns nil).
type Service interface {
	HTTPAddr() string
	Run(ctx context.Context) error
}

// Main runs the command of the service called name: load reads the
// configuration from args and environ, start builds the service (binding its
// port; it may set process-wide logging first). Usage text and errors go to
// stdout and stderr, the logs to stderr. It returns the exit code.
func Main[C Config](name string, args, environ []string, stdout, stderr io.Writer,
	load func(args, environ []string) (C, error), start func(C, *slog.Logger) (Service, error)) int {
	cfg, err := load(args, environ)
	if cli.Answered(err, stdout) {
		return ExitClean
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitCode(err)
	}
	logs := cfg.Logging()
	logger, err := logging.New(stderr, logs.Level, logs.Format, cfg.Secrets())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitConfig
	}
	// The first signal starts the bounded stop, with the signals' default
	// disposition back first: a second one ends the process at once.
	signalled, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-signalled.Done()
		stop()
		cancel()
	}()
	svc, err := start(cfg, logger)
	if err != nil {
		logger.Error(name+" failed to start", "err", err)
		return exitCode(err)
	}
	logger.Info(name+" starting", "config", cfg.String(), "http", svc.HTTPAddr())
	if err := svc.Run(ctx); err != nil {
		logger.Error(name+" stopped", "err", err)
		return exitCode(err) // a configuration librdkafka refused, before connecting, is 2
	}
	logger.Info(name + " stopped cleanly")
	return ExitClean
}

func exitCode(err error) int {
	if errors.Is(err, configload.ErrInvalid) {
		return ExitConfig
	}
	return ExitFailure
}
