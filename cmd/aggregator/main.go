// Command aggregator compacts the raw trades topic into one latest record per
// ISIN per window on trades-2s, exactly once. See README.md and
// configs/aggregator.yaml.
package main

import (
	"log/slog"
	"os"

	"tickcompact/aggregator"
	"tickcompact/internal/memtune"
	"tickcompact/internal/servicecmd"
)

func main() {
	memtune.Apply() // before librdkafka starts its threads
	os.Exit(servicecmd.Main("aggregator", os.Args[1:], os.Environ(), os.Stdout, os.Stderr, aggregator.LoadConfig,
		func(cfg aggregator.Config, logger *slog.Logger) (servicecmd.Service, error) {
			return aggregator.New(cfg, logger)
		}))
}
