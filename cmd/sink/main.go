// Command sink applies the compacted trades-2s topic to Redis: a latest-value
// snapshot per ISIN, Pub/Sub and an optional stream, never going back to an
// older window. See README.md and configs/sink.yaml.
package main

import (
	"log/slog"
	"os"

	"tickcompact/internal/memtune"
	"tickcompact/internal/redisconn"
	"tickcompact/internal/servicecmd"
	"tickcompact/sink"
)

func main() {
	memtune.Apply() // before librdkafka starts its threads
	os.Exit(servicecmd.Main("sink", os.Args[1:], os.Environ(), os.Stdout, os.Stderr, sink.LoadConfig,
		func(cfg sink.Config, logger *slog.Logger) (servicecmd.Service, error) {
			redisconn.RouteLogs(logger) // go-redis's logger is process-wide
			return sink.New(cfg, logger)
		}))
}
