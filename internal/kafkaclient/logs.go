package kafkaclient

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// EnableLogs sets cm up so that librdkafka delivers its logs on a channel, and
// returns that channel for Monitor.Forward.
func EnableLogs(cm *kafka.ConfigMap) chan kafka.LogEvent {
	logs := make(chan kafka.LogEvent, 1000)
	_ = cm.SetKey("go.logs.channel.enable", true)
	_ = cm.SetKey("go.logs.channel", logs)
	return logs
}

// Forward writes the log events of one client (named client in each line)
// to m's logger on a goroutine of its own, and returns stop, which ends it
// and waits until it has written the events already waiting. Call stop after
// closing the client: a service's last transaction and its revocation happen
// after it was told to stop, and their lines are worth keeping. (What
// librdkafka logs inside Close itself, confluent-kafka-go does not deliver:
// it stops reading the log queue first.)
func (m *Monitor) Forward(ctx context.Context, logs <-chan kafka.LogEvent, client string) (stop func()) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.forwardLogs(fctx, logs, client)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// forwardLogs writes log events until logs is closed or ctx is done; when ctx
// is done it still writes the events already waiting.
func (m *Monitor) forwardLogs(ctx context.Context, logs <-chan kafka.LogEvent, client string) {
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ev, ok := <-logs:
					if !ok {
						return
					}
					m.logEvent(ctx, ev, client)
				default:
					return
				}
			}
		case ev, ok := <-logs:
			if !ok {
				return
			}
			m.logEvent(ctx, ev, client)
		}
	}
}

// logEvent writes one librdkafka log event at its level. Warnings and errors
// that repeat (a broker that does not answer is reported at every attempt to
// reach it, by every client) are folded: see logging.Folder; the line
// written after a fold carries the count of those it stands for.
func (m *Monitor) logEvent(ctx context.Context, ev kafka.LogEvent, client string) {
	if AuthenticationFailed(ev) {
		m.authFailed(ev.Message)
	}
	level := LogLevel(ev)
	if !m.logger.Enabled(ctx, level) {
		return
	}
	folded := 0
	if level >= slog.LevelWarn {
		var write bool
		if write, folded = m.folder.Note("log " + foldKind(ev.Message)); !write {
			return
		}
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
	if folded > 0 {
		r.AddAttrs(slog.Int("folded", folded))
	}
	_ = m.logger.Handler().Handle(ctx, r)
}

var (
	threadPrefix = regexp.MustCompile(`^\[thrd:[^\]]*\]: `)
	stateSuffix  = regexp.MustCompile(` \(after \d+ms in state .*\)$`)
	digits       = regexp.MustCompile(`\d+`)
)

// foldKind is what two log lines must share to be folded as repetitions:
// their text without the thread, the time in the connection's state (and
// librdkafka's own count of suppressed repeats) and the other numbers, so
// that "1/1 brokers are down" and "0/1 brokers are down" are one kind.
func foldKind(msg string) string {
	msg = threadPrefix.ReplaceAllString(msg, "")
	msg = stateSuffix.ReplaceAllString(msg, "")
	return digits.ReplaceAllString(msg, "#")
}

// cause is an error text without librdkafka's connection-state suffix, so
// that the readiness reason stays the same from one attempt to the next.
func cause(msg string) string {
	return stateSuffix.ReplaceAllString(threadPrefix.ReplaceAllString(msg, ""), "")
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
