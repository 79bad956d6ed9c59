package aggregator

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"tickcompact/aggregator/trade"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/memtune"
)

// metrics are the aggregator's Prometheus metrics, registered on a registry of
// their own so several instances can run in one process (tests, the demo).
type metrics struct {
	registry *prometheus.Registry

	consumed      prometheus.Counter
	replayed      prometheus.Counter
	emitted       prometheus.Counter
	windowsClosed *prometheus.CounterVec
	late          prometheus.Counter
	dlq           *prometheus.CounterVec
	transactions  *prometheus.CounterVec
	emissionDelay prometheus.Histogram
	openISINs     prometheus.Gauge
	assigned      prometheus.Gauge
	repartitioned prometheus.Counter
	// markersWritten and markersRead count progress markers (input.repartition).
	markersWritten prometheus.Counter
	markersRead    prometheus.Counter
	lag            *prometheus.GaugeVec
	lastEmission   prometheus.Gauge
	windowSize     prometheus.Gauge
}

// newMetrics returns the metrics of an aggregator whose windows last
// windowSize.
func newMetrics(windowSize time.Duration) *metrics {
	const ns = "tickcompact_aggregator"
	m := &metrics{
		registry: prometheus.NewRegistry(),
		consumed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_consumed_total",
			Help: "Input records read, including replays after a restart or rebalance."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_replayed_total",
			Help: "Input records re-read to rebuild open windows after a restart, rebalance or abort."}),
		emitted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_emitted_total",
			Help: "Records written to the output topic in committed transactions."}),
		windowsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "windows_closed_total",
			Help: "Windows closed per partition, by what closed them (watermark or wall_clock)."}, []string{"by"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "late_records_total",
			Help: "Valid records whose window had already closed; counted, not emitted."}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dlq_records_total",
			Help: "Rejected input records, by dlq-reason, counted when the transaction covering them commits."}, []string{"reason"}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "transactions_total",
			Help: "Kafka transactions by result (committed or aborted)."}, []string{"result"}),
		emissionDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "emission_delay_seconds",
			Help:    "Transaction commit time minus window end, per closed window and partition.",
			Buckets: emissionDelayBuckets}),
		openISINs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "open_isins",
			Help: "(ISIN, window) entries held in open windows."}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "assigned_partitions",
			Help: "Input partitions assigned to this instance."}),
		repartitioned: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_repartitioned_total",
			Help: "Raw records re-keyed by ISIN into the repartition topic (input.repartition), in committed transactions."}),
		markersWritten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "progress_markers_written_total",
			Help: "Progress markers written to the repartition topic (input.repartition), in committed transactions."}),
		markersRead: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "progress_markers_read_total",
			Help: "Progress markers read from the repartition topic (input.repartition), including replays."}),
		lag: kafkaclient.NewLagGauge(ns),
		lastEmission: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_emission_timestamp_seconds",
			Help: "Unix time of the last committed transaction that emitted closed windows; the start time until the first."}),
		windowSize: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "window_size_seconds",
			Help: "The configured window size (window.size)."}),
	}
	m.registry.MustRegister(m.consumed, m.replayed, m.emitted, m.windowsClosed, m.late, m.dlq, m.transactions,
		m.emissionDelay, m.openISINs, m.assigned, m.repartitioned, m.markersWritten, m.markersRead,
		m.lag, m.lastEmission, m.windowSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), memtune.MallocCollector())
	for _, r := range trade.Reasons {
		m.dlq.WithLabelValues(string(r))
	}
	for _, by := range []string{"watermark", "wall_clock"} {
		m.windowsClosed.WithLabelValues(by)
	}
	for _, result := range []string{"committed", "aborted"} {
		m.transactions.WithLabelValues(result)
	}
	m.lastEmission.SetToCurrentTime()
	m.windowSize.Set(windowSize.Seconds())
	return m
}

// emissionDelayBuckets step by 10 ms from 50 to 100 ms, where live windows
// close and where an operator's target is likely to be: a quantile is
// interpolated within its bucket, so a bucket there is as wide as the
// estimate's error.
var emissionDelayBuckets = []float64{.005, .01, .025, .05, .06, .07, .08, .09, .1, .125, .15, .2, .25, .5, 1, 1.5, 2, 3, 5, 10, 30}
