package redisconn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// logger routes go-redis's own log lines into slog.
type logger struct{ logger *slog.Logger }

func (l logger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, v...), "component", "go-redis")
}

// RouteLogs sends go-redis's own log lines (connection pool notices) to
// logger, which redacts secrets. go-redis's logger is process-wide, so a
// command calls this once, not a service.
func RouteLogs(l *slog.Logger) {
	redis.SetLogger(logger{logger: l})
}
