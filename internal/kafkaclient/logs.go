package kafkaclient

import (
	"context"
	"log/slog"
	"strings"
	"sync"
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

// Forward runs ForwardLogs on a goroutine of its own and returns stop, which
// ends it and waits until it has written the events already waiting. Call
// stop after closing the client: a service's last transaction and its
// revocation happen after it was told to stop, and their lines are worth
// keeping. (What librdkafka logs inside Close itself, confluent-kafka-go does
// not deliver: it stops reading the log queue first.)
func Forward(ctx context.Context, logs <-chan kafka.LogEvent, logger *slog.Logger, client string, watchers ...LogWatcher) (stop func()) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		ForwardLogs(fctx, logs, logger, client, watchers...)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// ForwardLogs writes librdkafka's log events to logger, one line each, until
// logs is closed or ctx is done, showing each to the watchers first. When ctx
// is done it still writes the events already waiting, at LogLevel.
func ForwardLogs(ctx context.Context, logs <-chan kafka.LogEvent, logger *slog.Logger, client string, watchers ...LogWatcher) {
	forward := func(ev kafka.LogEvent) {
		for _, w := range watchers {
			w(ev)
		}
		level := LogLevel(ev)
		if !logger.Enabled(ctx, level) {
			return
		}
		// The line carries the time the event left librdkafka's log queue,
		// not the time this goroutine got to it: it can be milliseconds
		// behind, which matters when lines from both are read as one
		// timeline (a transaction's steps, a rebalance).
		at := ev.Timestamp
		if at.IsZero() {
			at = time.Now() // not from confluent-kafka-go, which always stamps it
		}
		r := slog.NewRecord(at, level, ev.Message, 0)
		r.AddAttrs(slog.String("component", "librdkafka"), slog.String("client", client), slog.String("facility", ev.Tag))
		_ = logger.Handler().Handle(ctx, r)
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ev, ok := <-logs:
					if !ok {
						return
					}
					forward(ev)
				default:
					return
				}
			}
		case ev, ok := <-logs:
			if !ok {
				return
			}
			forward(ev)
		}
	}
}

// LogLevel is the slog level of a librdkafka log event, whose levels follow
// syslog: 0-3 are errors, 4 warnings, 5-6 info, 7 debug.
func LogLevel(ev kafka.LogEvent) slog.Level {
	switch {
	case ev.Level <= 3:
		return slog.LevelError
	case ev.Level == 4:
		return slog.LevelWarn
	case ev.Level <= 6:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// AuthenticationFailed reports whether a log event says the broker refused
// the client's SASL credentials. librdkafka raises no error event for it when
// the broker just closes the connection, only this log line, and then reports
// every broker down.
func AuthenticationFailed(ev kafka.LogEvent) bool {
	return ev.Level <= 3 && strings.Contains(ev.Message, "SASL authentication error")
}
