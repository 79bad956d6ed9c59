package redisconn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"tickcompact/internal/logging"
)

// logger routes go-redis's own log lines into slog. A Redis that does not
// answer makes go-redis repeat the same notice at every dial: repetitions of
// a notice (the same format) are folded (logging.Folder), and a line written
// after a fold says how many it stands for.
type logger struct {
	logger *slog.Logger
	folder *logging.Folder
}

func (l logger) Printf(ctx context.Context, format string, v ...any) {
	write, folded := l.folder.Note(format)
	if !write {
		return
	}
	attrs := []any{"component", "go-redis"}
	if folded > 0 {
		attrs = append(attrs, "folded", folded)
	}
	l.logger.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, v...), attrs...)
}

// RouteLogs sends go-redis's own log lines (connection pool notices) to
// logger, which redacts secrets. go-redis's logger is process-wide, so a
// command calls this once, not a service.
func RouteLogs(l *slog.Logger) {
	redis.SetLogger(logger{logger: l, folder: logging.NewFolder()})
}
