package sink

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/memtune"
)

// Reasons a record is skipped as invalid (label of invalid_records_total).
const (
	reasonEmptyKey         = "empty-key"
	reasonMissingWindowEnd = "missing-window-end"
	reasonBadWindowEnd     = "invalid-window-end"
	// reasonBadEnvelopeHeader: with redis.format envelope, a window-start or
	// trade-count header missing or unusable, or an aggregate header that is
	// not a number.
	reasonBadEnvelopeHeader = "invalid-envelope-header"
)

// metrics are the sink's Prometheus metrics, registered on a registry of their
// own so several instances can run in one process (tests, the demo).
type metrics struct {
	registry *prometheus.Registry

	consumed      prometheus.Counter
	written       prometheus.Counter
	stale         prometheus.Counter
	invalid       *prometheus.CounterVec
	redisErrors   prometheus.Counter
	scriptReloads prometheus.Counter
	commits       *prometheus.CounterVec
	batchLatency  prometheus.Histogram
	batchSize     prometheus.Histogram
	paused        prometheus.Gauge
	assigned      prometheus.Gauge
	lag           *prometheus.GaugeVec
}

func newMetrics() *metrics {
	const ns = "tickcompact_sink"
	m := &metrics{
		registry: prometheus.NewRegistry(),
		consumed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_consumed_total",
			Help: "Records read from the input topic, including redeliveries after a restart or rebalance."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_written_total",
			Help: "Records applied to Redis: snapshot written and published."}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "stale_skipped_total",
			Help: "Records whose window end was not newer than the stored one; nothing written or published."}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "invalid_records_total",
			Help: "Records skipped because their key or a header they need was unusable, by reason."}, []string{"reason"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "redis_errors_total",
			Help: "Failed attempts to write a batch to Redis or to reach it; each is retried."}),
		scriptReloads: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "script_reloads_total",
			Help: "Times the snapshot script was loaded again after Redis answered NOSCRIPT (its script cache emptied within a pipeline; each pipeline's first command, an EVAL, caches it otherwise)."}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "offset_commits_total",
			Help: "Offset stores after Redis acknowledged a batch, by result (ok or error); librdkafka commits the stored offsets every auto.commit.interval.ms."}, []string{"result"}),
		batchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_latency_seconds",
			Help:    "Time to write one batch to Redis (one successful pipeline attempt); the next batch is read from Kafka meanwhile.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_records",
			Help:    "Records per batch written to Redis.",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000}}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "paused",
			Help: "1 while consumption is paused because Redis is failing, else 0."}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "assigned_partitions",
			Help: "Input partitions assigned to this instance."}),
		lag: kafkaclient.NewLagGauge(ns),
	}
	m.registry.MustRegister(m.consumed, m.written, m.stale, m.invalid, m.redisErrors, m.scriptReloads, m.commits,
		m.batchLatency, m.batchSize, m.paused, m.assigned, m.lag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), memtune.MallocCollector())
	for _, r := range []string{reasonEmptyKey, reasonMissingWindowEnd, reasonBadWindowEnd, reasonBadEnvelopeHeader} {
		m.invalid.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.commits.WithLabelValues(r)
	}
	return m
}
