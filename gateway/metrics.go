package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus metrics, on a registry of their own so
// several instances can run in one process (tests, the demo).
type metrics struct {
	registry *prometheus.Registry

	connections     prometheus.Gauge
	accepted        prometheus.Counter
	rejected        *prometheus.CounterVec
	messagesSent    prometheus.Counter
	updatesSent     prometheus.Counter
	conflated       prometheus.Counter
	slowDisconnects *prometheus.CounterVec
	pingTimeouts    prometheus.Counter
	badRequests     prometheus.Counter
	delay           prometheus.Histogram
	instruments     prometheus.Gauge
	redisMessages   prometheus.Counter
	notEnvelopes    *prometheus.CounterVec
	resyncs         prometheus.Counter
	redisErrors     prometheus.Counter
}

// Labels of connections_rejected_total and slow_clients_disconnected_total.
var (
	rejectReasons = []string{"handshake", "limit"}
	slowReasons   = []string{"lag", "write-timeout"}
	valueSources  = []string{"pubsub", "snapshot"}
)

func newMetrics() *metrics {
	const ns = "tickcompact_gateway"
	m := &metrics{
		registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections",
			Help: "Open WebSocket connections."}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connections_total",
			Help: "WebSocket connections accepted."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_rejected_total",
			Help: "WebSocket connections refused, by reason: handshake (not a WebSocket request, or an origin not in websocket.allowed_origins) or limit (websocket.max_connections reached; closed with 1013)."}, []string{"reason"}),
		messagesSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_sent_total",
			Help: "WebSocket messages written to clients (snapshots, batches of updates, errors)."}),
		updatesSent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "updates_sent_total",
			Help: "Envelopes written to clients inside updates messages."}),
		conflated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "updates_conflated_total",
			Help: "Updates replaced by a newer one of the same ISIN before a client could be sent them."}),
		slowDisconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "slow_clients_disconnected_total",
			Help: "Clients disconnected for being slow, by reason: lag (updates waited longer than websocket.max_lag; closed with 4008) or write-timeout (a write took longer than websocket.write_timeout)."}, []string{"reason"}),
		pingTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ping_timeouts_total",
			Help: "Clients disconnected for not answering a ping within websocket.ping_interval (closed with 4009)."}),
		badRequests: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "bad_requests_total",
			Help: "Client messages refused with an error message (the subscription is unchanged)."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "delivery_delay_seconds",
			Help:    "Time from an update's window end to its write to a client, per client and update.",
			Buckets: []float64{.01, .025, .05, .1, .15, .25, .5, 1, 2.5, 5, 10, 30}}),
		instruments: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "instruments",
			Help: "ISINs with a stored envelope."}),
		redisMessages: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "redis_messages_total",
			Help: "Messages received from the sink's Pub/Sub channel."}),
		notEnvelopes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "not_envelope_values_total",
			Help: "Values read from Redis that are not envelopes (a sink with redis.format raw?), by source; they are not served."}, []string{"source"}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "redis_resyncs_total",
			Help: "Times the snapshot hash was read after (re)subscribing to Redis."}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "redis_errors_total",
			Help: "Lost or failed Redis connections and reads; each is retried with backoff."}),
	}
	m.registry.MustRegister(m.connections, m.accepted, m.rejected, m.messagesSent, m.updatesSent, m.conflated,
		m.slowDisconnects, m.pingTimeouts, m.badRequests, m.delay, m.instruments, m.redisMessages, m.notEnvelopes,
		m.resyncs, m.redisErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range rejectReasons {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range slowReasons {
		m.slowDisconnects.WithLabelValues(r)
	}
	for _, s := range valueSources {
		m.notEnvelopes.WithLabelValues(s)
	}
	return m
}
