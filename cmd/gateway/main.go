// Command gateway serves the sink's Redis to browsers: a WebSocket feed of
// the latest trade per ISIN per window (snapshot on subscribe, then updates,
// never an older window) and a live web page. See docs/websocket.md and
// configs/gateway.yaml.
package main

import (
	"log/slog"
	"os"

	"tickcompact/gateway"
	"tickcompact/internal/redisconn"
	"tickcompact/internal/servicecmd"
)

func main() {
	os.Exit(servicecmd.Main("gateway", os.Args[1:], os.Environ(), os.Stdout, os.Stderr, gateway.LoadConfig,
		func(cfg gateway.Config, logger *slog.Logger) (servicecmd.Service, error) {
			redisconn.RouteLogs(logger) // go-redis's logger is process-wide
			return gateway.New(cfg, logger)
		}))
}
