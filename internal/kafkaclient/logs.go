package kafkaclient

import (
	"context"
	"log/slog"
	"strings"

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
			logger.Log(ctx, level, ev.Message, "component", "librdkafka", "client", client, "facility", ev.Tag)
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
