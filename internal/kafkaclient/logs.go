package kafkaclient

import (
	"context"
	"log/slog"

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

// ForwardLogs writes librdkafka's log events to logger, one line each, until
// ctx is done or logs is closed. librdkafka levels follow syslog: 0-3 are
// errors, 4 warnings, 5-6 info, 7 debug.
func ForwardLogs(ctx context.Context, logs <-chan kafka.LogEvent, logger *slog.Logger, client string) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-logs:
			if !ok {
				return
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
