package kafkaclient

import (
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/prometheus/client_golang/prometheus"
)

// LagRefreshInterval is how often ConsumerLag.Refresh reads the lag at most.
const LagRefreshInterval = time.Second

// LagSource is the part of *kafka.Consumer the lag is read from. All three
// calls read librdkafka's local state; none asks a broker.
type LagSource interface {
	Assignment() ([]kafka.TopicPartition, error)
	Position(partitions []kafka.TopicPartition) ([]kafka.TopicPartition, error)
	GetWatermarkOffsets(topic string, partition int32) (low, high int64, err error)
}

// NewLagGauge returns the gauge <namespace>_consumer_lag{topic, partition}:
// per assigned partition, the records between the consumer's position and the
// end of the partition. Register it with the service's other metrics.
func NewLagGauge(namespace string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "consumer_lag",
		Help: "Records between this instance's position and the end of each assigned partition (the last stable offset for read_committed), " +
			"from librdkafka's cached watermarks, refreshed at most every second."},
		[]string{"topic", "partition"})
}

// ConsumerLag publishes one consumer's lag on a gauge from NewLagGauge.
//
// The end of a partition is librdkafka's cached high watermark, which every
// fetch response updates (for a read_committed consumer, the last stable
// offset); the position is the offset after the last record Poll returned.
// Reading both costs no broker round trip, and Refresh reads them at most
// once per LagRefreshInterval, so the consume loop may call it on every
// iteration. A partition shows no lag until both are known (its first fetch
// answered and a record polled from it since it was assigned); the series of
// a partition that is no longer assigned is removed.
//
// Refresh must be called from the goroutine that polls the consumer, or
// otherwise never concurrently with the consumer's Close. A nil *ConsumerLag
// does nothing.
type ConsumerLag struct {
	source LagSource
	gauge  *prometheus.GaugeVec
	now    func() time.Time
	last   time.Time
	// shown are the series this consumer set, as {topic, partition} labels.
	shown map[[2]string]bool
}

// NewConsumerLag returns the lag of source, published on gauge.
func NewConsumerLag(source LagSource, gauge *prometheus.GaugeVec) *ConsumerLag {
	return &ConsumerLag{source: source, gauge: gauge, now: time.Now, shown: map[[2]string]bool{}}
}

// Refresh updates the gauge when LagRefreshInterval has passed since the last
// update.
func (l *ConsumerLag) Refresh() {
	if l == nil {
		return
	}
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < LagRefreshInterval {
		return
	}
	l.last = now
	assigned, err := l.source.Assignment()
	if err != nil {
		return // closed or closing: the next refresh tries again
	}
	positions, err := l.source.Position(assigned)
	if err != nil {
		return
	}
	current := make(map[[2]string]bool, len(positions))
	for _, p := range positions {
		if p.Topic == nil || p.Offset < 0 {
			continue
		}
		_, high, err := l.source.GetWatermarkOffsets(*p.Topic, p.Partition)
		if err != nil || high < 0 {
			continue
		}
		labels := [2]string{*p.Topic, strconv.Itoa(int(p.Partition))}
		l.gauge.WithLabelValues(labels[0], labels[1]).Set(float64(max(high-int64(p.Offset), 0)))
		current[labels] = true
	}
	for labels := range l.shown {
		if !current[labels] {
			l.gauge.DeleteLabelValues(labels[0], labels[1])
		}
	}
	l.shown = current
}
