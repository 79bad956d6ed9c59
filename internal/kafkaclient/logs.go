package kafkaclient

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// EnableLogs sets cm up so that librdkafka delivers its logs on a channel, and
// returns that channel for ForwardLogs.
func EnableLogs(cm *kafka.ConfigMap) chan kafka.LogEvent {
	logs := make(chan kafka.LogEvent, 1000)
	_ = cm.SetKey("go.logs.channel.enable", true)
	_ = cm.SetKey("go.logs.channel", logs)
	return logs
}

// LogWatcher sees every librdkafka log event before it is logged.
type LogWatcher func(kafka.LogEvent)

// ForwardLogs writes librdkafka's log events to logger, one line each, until
// ctx is done or logs is closed, showing each to the watchers first.
// librdkafka levels follow syslog: 0-3 are errors, 4 warnings, 5-6 info, 7 debug.
func ForwardLogs(ctx context.Context, logs <-chan kafka.LogEvent, logger *slog.Logger, client string, watchers ...LogWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-logs:
			if !ok {
				return
			}
			for _, w := range watchers {
				w(ev)
			}
			level := slog.LevelDebug
			switch {
			case ev.Level <= 3:
				level = slog.LevelError
			case ev.Level == 4:
				level = slog.LevelWarn
			case ev.Level <= 6:
				level = slog.LevelInfo
			}
			if !logger.Enabled(ctx, level) {
				continue
			}
			// The line carries the time the event left librdkafka's log
			// queue, not the time this goroutine got to it: it can be
			// milliseconds behind, which matters when lines from both are
			// read as one timeline (a transaction's steps, a rebalance).
			at := ev.Timestamp
			if at.IsZero() {
				at = time.Now() // not from confluent-kafka-go, which always stamps it
			}
			r := slog.NewRecord(at, level, ev.Message, 0)
			r.AddAttrs(slog.String("component", "librdkafka"), slog.String("client", client), slog.String("facility", ev.Tag))
			_ = logger.Handler().Handle(ctx, r)
		}
	}
}

// AuthenticationFailed reports whether a log event says the broker refused
// the client's SASL credentials. librdkafka raises no error event for it when
// the broker just closes the connection, only this log line, and then reports
// every broker down.
func AuthenticationFailed(ev kafka.LogEvent) bool {
	return ev.Level <= 3 && strings.Contains(ev.Message, "SASL authentication error")
}
