package kafkaclient

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/logging"
	"tickcompact/internal/readiness"
)

// Monitor is where all Kafka clients of one service report: their librdkafka
// log events (Forward) and their error events (Error). It writes both to the
// service's log with repetitions folded, says in a line of its own when no
// broker can be reached (then again at each folding step while that lasts,
// and once more when they answer again), and keeps the service's "kafka"
// readiness dependency with one reason: not connected yet, brokers
// unreachable (and why), or authentication refused.
type Monitor struct {
	logger  *slog.Logger
	brokers string
	folder  *logging.Folder
	// kafka is the readiness dependency; nil for a tool without /readyz.
	kafka *readiness.Condition
	// troubled is true while the dependency may be failing; it keeps
	// Answered, called for every record, to one atomic load.
	troubled atomic.Bool

	mu        sync.Mutex
	downSince time.Time // when every broker was found down; zero otherwise
	lastCause string    // the last connection error seen, for the messages
	auth      string    // librdkafka's message when the brokers refused the credentials
}

// kindUnreachable is the fold kind of the Monitor's own lines about every
// broker being down.
const kindUnreachable = "kafka unreachable"

// NewMonitor returns a Monitor writing to logger for the clients of a service
// whose kafka.brokers is brokers. With state, it adds the dependency "kafka"
// to it, failing ("not connected yet") until Answered is first called.
func NewMonitor(logger *slog.Logger, brokers string, state *readiness.State) *Monitor {
	m := &Monitor{logger: logger, brokers: brokers, folder: logging.NewFolder()}
	if state != nil {
		m.kafka = state.Dependency("kafka", "not connected yet")
	}
	m.troubled.Store(true)
	return m
}

// Error reports an error event of client (from Poll, or a producer's Events
// channel). It logs it, folding repetitions; every broker being down, or
// the credentials being refused, also fails the readiness dependency.
// librdkafka raises a connection failure both as an error event and as a
// log line (Forward), so Error keeps its text for the messages and leaves
// the writing to the log line.
func (m *Monitor) Error(client string, e kafka.Error) {
	switch e.Code() {
	case kafka.ErrAllBrokersDown:
		m.unreachable(client)
		return
	case kafka.ErrTransport, kafka.ErrResolve:
		m.mu.Lock()
		m.lastCause = cause(e.Error())
		m.mu.Unlock()
		m.logger.Debug("kafka client error", "client", client, "err", e, "code", e.Code().String())
		return
	case kafka.ErrAuthentication:
		m.authFailed(e.Error())
	}
	level := slog.LevelWarn
	if e.IsFatal() {
		level = slog.LevelError
	}
	write, folded := m.folder.Note("error " + e.Code().String() + " " + foldKind(e.Error()))
	if !write {
		return
	}
	attrs := []any{"client", client, "err", e, "code", e.Code().String(), "fatal", e.IsFatal()}
	if folded > 0 {
		attrs = append(attrs, "folded", folded)
	}
	m.logger.Log(context.Background(), level, "kafka client error", attrs...)
}

// unreachable handles librdkafka's report that every broker is down (which it
// repeats, with a count that is sometimes 0/1, every few tens of
// milliseconds while it retries).
func (m *Monitor) unreachable(client string) {
	m.mu.Lock()
	now := time.Now()
	first := m.downSince.IsZero()
	if first {
		m.downSince = now
		m.folder.Forget(kindUnreachable)
	}
	since, why := m.downSince, m.lastCause
	m.troubled.Store(true)
	if m.kafka != nil && m.auth == "" { // refused credentials also take every broker down
		reason := "no broker reachable (kafka.brokers " + m.brokers + ")"
		if why != "" {
			reason += ": " + why
		}
		m.kafka.Fail(reason)
	}
	m.mu.Unlock()
	write, folded := m.folder.Note(kindUnreachable)
	switch {
	case !write:
	case first:
		m.logger.Warn("kafka: no broker reachable; retrying", "brokers", m.brokers, "cause", why, "client", client)
	default:
		m.logger.Warn("kafka: still no broker reachable; retrying", "brokers", m.brokers, "cause", why,
			"for", now.Sub(since).Round(time.Second).String(), "reports", folded)
	}
}

// authFailed notes that the brokers refused the credentials, which librdkafka
// reports as an error event or only as a log line (either is written as it
// comes).
func (m *Monitor) authFailed(msg string) {
	m.mu.Lock()
	m.auth = msg
	m.troubled.Store(true)
	if m.kafka != nil {
		m.kafka.Fail("authentication failed (check kafka.properties sasl.*): " + msg)
	}
	m.mu.Unlock()
}

// Answered reports that Kafka answered a request (a record arrived, a
// transaction committed, metadata came back): the dependency is met, and if
// every broker had been down, a line says how long that lasted. It costs one
// atomic load when nothing was wrong, so it may be called for every record.
func (m *Monitor) Answered() {
	if !m.troubled.Load() {
		return
	}
	m.mu.Lock()
	since := m.downSince
	m.downSince, m.auth = time.Time{}, ""
	m.troubled.Store(false)
	if m.kafka != nil {
		m.kafka.Met()
	}
	folded := m.folder.Forget(kindUnreachable)
	m.mu.Unlock()
	if !since.IsZero() {
		m.logger.Info("kafka: brokers reachable again", "brokers", m.brokers,
			"after", time.Since(since).Round(time.Second).String(), "reports", folded)
	}
}

// Reachable reports whether Kafka has answered since it was last found
// unreachable (false before it first answered).
func (m *Monitor) Reachable() bool { return !m.troubled.Load() }
