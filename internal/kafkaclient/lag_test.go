package kafkaclient

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"tickcompact/internal/tools/testkit"
)

// fakeLagSource is a consumer's local state, set by the test.
type fakeLagSource struct {
	position map[int32]kafka.Offset
	high     map[int32]int64
	calls    int
	closed   bool
}

func (f *fakeLagSource) Assignment() ([]kafka.TopicPartition, error) {
	f.calls++
	if f.closed {
		return nil, errors.New("closed")
	}
	var tps []kafka.TopicPartition
	topic := "trades"
	for p := range f.position {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p})
	}
	return tps, nil
}

func (f *fakeLagSource) Position(tps []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	out := make([]kafka.TopicPartition, len(tps))
	for i, tp := range tps {
		tp.Offset = f.position[tp.Partition]
		out[i] = tp
	}
	return out, nil
}

func (f *fakeLagSource) GetWatermarkOffsets(_ string, p int32) (int64, int64, error) {
	high, ok := f.high[p]
	if !ok {
		return 0, 0, errors.New("unknown partition")
	}
	return 0, high, nil
}

// lagSeries returns the gauge's series as sorted "topic/partition=value" words.
func lagSeries(t *testing.T, gauge *prometheus.GaugeVec) string {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	gauge.Collect(ch)
	close(ch)
	var series []string
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range d.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		series = append(series, fmt.Sprintf("%s/%s=%g", labels["topic"], labels["partition"], d.GetGauge().GetValue()))
	}
	slices.Sort(series)
	return strings.Join(series, " ")
}

func TestConsumerLagFromPositionAndWatermark(t *testing.T) {
	source := &fakeLagSource{
		position: map[int32]kafka.Offset{0: 40, 1: kafka.OffsetInvalid, 2: 7},
		high:     map[int32]int64{0: 100, 1: 50, 2: 7},
	}
	gauge := NewLagGauge("test")
	lag := NewConsumerLag(source, gauge)
	now := time.Unix(1000, 0)
	lag.now = func() time.Time { return now }

	lag.Refresh()
	// Partition 1 has no position yet: no series rather than a made-up one.
	if got, want := lagSeries(t, gauge), "trades/0=60 trades/2=0"; got != want {
		t.Fatalf("lag %q, want %q", got, want)
	}

	// Within the interval nothing is read.
	source.position[0] = 90
	now = now.Add(LagRefreshInterval - time.Millisecond)
	calls := source.calls
	lag.Refresh()
	if source.calls != calls {
		t.Errorf("Refresh read the consumer %d times within %v", source.calls-calls, LagRefreshInterval)
	}
	if got, want := lagSeries(t, gauge), "trades/0=60 trades/2=0"; got != want {
		t.Errorf("lag %q changed within the interval, want %q", got, want)
	}

	// Partition 2 revoked, partition 1 polled: its series appears, 2's goes.
	now = now.Add(time.Millisecond)
	delete(source.position, 2)
	source.position[1] = 45
	lag.Refresh()
	if got, want := lagSeries(t, gauge), "trades/0=10 trades/1=5"; got != want {
		t.Fatalf("after revoke: lag %q, want %q", got, want)
	}

	// A closed consumer changes nothing and does not panic.
	now = now.Add(time.Hour)
	source.closed = true
	lag.Refresh()
	if got, want := lagSeries(t, gauge), "trades/0=10 trades/1=5"; got != want {
		t.Fatalf("closed: lag %q, want %q", got, want)
	}

	var none *ConsumerLag
	none.Refresh() // a nil ConsumerLag is off
}

// TestE2EConsumerLag checks, against librdkafka and a broker, that the
// cached watermarks and the position give the records not yet polled, and
// that a read_committed consumer caught up with a transactional producer's
// output (which ends in a commit marker) shows zero.
func TestE2EConsumerLag(t *testing.T) {
	k := testkit.StartKafka(t)
	topic := testkit.UniqueName(t, "lag")
	k.CreateTopic(t, topic, 2)
	var plain []testkit.Record
	for i := range 10 {
		plain = append(plain, testkit.Record{Key: []byte("k"), Value: fmt.Appendf(nil, "%d", i), Partition: 0})
	}
	k.Produce(t, topic, plain)
	// Partition 1 ends at offset 5: four records and the commit marker.
	produceTransactional(t, k.Brokers, topic, 1, 4)

	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": k.Brokers, "group.id": testkit.UniqueName(t, "lag"),
		"isolation.level": "read_committed", "auto.offset.reset": "earliest", "enable.auto.commit": false, "log_level": 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: 0}, {Topic: &topic, Partition: 1, Offset: 0}}); err != nil {
		t.Fatal(err)
	}
	gauge := NewLagGauge("test")
	lag := NewConsumerLag(c, gauge)

	// Stop after six records of partition 0: its lag is the four left.
	polled := map[int32]int64{}
	deadline := time.Now().Add(30 * time.Second)
	for polled[0] < 6 && time.Now().Before(deadline) {
		if m, ok := c.Poll(100).(*kafka.Message); ok {
			polled[m.TopicPartition.Partition] = int64(m.TopicPartition.Offset) + 1
		}
	}
	if polled[0] != 6 {
		t.Fatalf("polled %v within 30s", polled)
	}
	lag.Refresh()
	if got, want := lagSeries(t, gauge), topic+"/0=4"; !strings.HasPrefix(got, want+" ") && got != want {
		t.Errorf("partition 0 after 6 of its 10 records: lag %q, want %s", got, want)
	}

	// Caught up on both: zero, the commit marker included.
	for time.Now().Before(deadline) {
		if m, ok := c.Poll(100).(*kafka.Message); ok {
			polled[m.TopicPartition.Partition] = int64(m.TopicPartition.Offset) + 1
		}
		lag.now = func() time.Time { return time.Now().Add(time.Hour) } // no throttle here
		lag.Refresh()
		if lagSeries(t, gauge) == topic+"/0=0 "+topic+"/1=0" {
			return
		}
	}
	t.Fatalf("caught up (polled through %v): lag %q, want 0 on both partitions", polled, lagSeries(t, gauge))
}

// produceTransactional writes n records to partition in one committed transaction.
func produceTransactional(t *testing.T, brokers, topic string, partition int32, n int) {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": brokers, "transactional.id": testkit.UniqueName(t, "lag-txn"), "log_level": 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	go func() {
		for range p.Events() {
		}
	}()
	ctx := t.Context()
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition}, Value: fmt.Appendf(nil, "%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
}
