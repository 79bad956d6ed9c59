package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"tickcompact/aggregator"
	"tickcompact/internal/kafkaclient"
)

// Cluster is the Kafka cluster the benchmark runs against: a real broker
// named by its bootstrap list, or an embedded kfake one in this process.
type Cluster struct {
	// Brokers is the bootstrap list.
	Brokers string
	// Kind describes the broker for the output, e.g. "Apache Kafka 4.1.2 at
	// 127.0.0.1:19092" or "embedded kfake".
	Kind string

	embedded *kfake.Cluster
	admin    *kafka.AdminClient
	topics   []string
}

// OpenCluster connects to brokers, or starts an embedded kfake cluster when
// brokers is empty. kind labels a real broker in the output.
func OpenCluster(brokers, kind string) (*Cluster, error) {
	c := &Cluster{Brokers: brokers, Kind: kind}
	if brokers == "" {
		embedded, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return nil, fmt.Errorf("starting the embedded kfake broker: %w", err)
		}
		c.embedded = embedded
		c.Brokers = strings.Join(embedded.ListenAddrs(), ",")
		c.Kind = "embedded kfake (in the bench process) at " + c.Brokers
	} else if c.Kind == "" {
		c.Kind = "Kafka at " + brokers
	}
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": c.Brokers, "log_level": 3})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	c.admin = admin
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := admin.ClusterID(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("kafka at %s does not answer: %w", c.Brokers, err)
	}
	return c, nil
}

// Close deletes the topics the benchmark created and stops an embedded broker.
func (c *Cluster) Close() {
	if c.admin != nil {
		if len(c.topics) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = c.admin.DeleteTopics(ctx, c.topics)
			cancel()
		}
		c.admin.Close()
	}
	if c.embedded != nil {
		c.embedded.Close()
	}
}

// Forget marks topics (an aggregator's output, say) for deletion on Close.
func (c *Cluster) Forget(topics ...string) { c.topics = append(c.topics, topics...) }

// CreateTopic creates topic with partitions (replication 1), deleted on Close.
func (c *Cluster) CreateTopic(ctx context.Context, topic string, partitions int) error {
	return c.CreateTopicWithConfig(ctx, topic, partitions, nil)
}

// CreateTopicWithConfig is CreateTopic with topic configs (cleanup.policy...).
func (c *Cluster) CreateTopicWithConfig(ctx context.Context, topic string, partitions int, config map[string]string) error {
	res, err := c.admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, Config: config}})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("creating topic %s: %w", topic, r.Error)
		}
	}
	c.topics = append(c.topics, topic)
	for {
		md, err := c.admin.GetMetadata(&topic, false, 5000)
		if err == nil && len(md.Topics[topic].Partitions) == partitions {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not visible: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// uniqueName returns "bench.<what>.<random>": a topic or group no other run uses.
func uniqueName(what string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "bench." + what + "." + hex.EncodeToString(b)
}

// aggregatorConsumerTuning is the aggregator's own consumer tuning.
var aggregatorConsumerTuning = aggregator.ConsumerTuning()

// aggregatorConsumerRequired are the aggregator's fixed consumer settings for
// a consumer in group, reading from the earliest offset. Its client.id is
// the group's name, as the aggregator's is its transactional.id: one per run.
func aggregatorConsumerRequired(group string) kafka.ConfigMap {
	return aggregator.ConsumerRequired(group, group, "earliest")
}

// aggregatorTransactionTimeout is kafka.transaction_timeout's default.
var aggregatorTransactionTimeout = aggregator.Defaults()["kafka.transaction_timeout"].(time.Duration)

// aggregatorLikeProducer returns a transactional producer with the
// aggregator's producer settings, its transactions initialized.
func (c *Cluster) aggregatorLikeProducer(ctx context.Context, transactionalID string) (*kafka.Producer, error) {
	cm, err := kafkaclient.ConfigMap(c.Brokers, aggregator.ProducerTuning(), nil, aggregator.ProducerRequired(transactionalID, aggregatorTransactionTimeout))
	if err != nil {
		return nil, err
	}
	cm.SetKey("log_level", 3)
	producer, err := kafka.NewProducer(cm)
	if err != nil {
		return nil, err
	}
	if err := producer.InitTransactions(ctx); err != nil {
		producer.Close()
		return nil, fmt.Errorf("initializing transactions: %w", err)
	}
	return producer, nil
}

// AggregatorConsumerSettings describes, for the output, the consumer settings
// both sides of the backlog comparison use.
func AggregatorConsumerSettings() string {
	var parts []string
	for _, m := range []kafka.ConfigMap{aggregatorConsumerTuning, aggregatorConsumerRequired("")} {
		for _, k := range sortedKeys(m) {
			if k == "group.id" || k == "client.id" {
				continue // per run
			}
			parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
		}
	}
	return strings.Join(parts, " ")
}

// aggregatorLikeConsumer returns a consumer in group with the aggregator's
// consumer settings.
func (c *Cluster) aggregatorLikeConsumer(group string) (*kafka.Consumer, error) {
	cm, err := kafkaclient.ConfigMap(c.Brokers, aggregatorConsumerTuning, nil, aggregatorConsumerRequired(group))
	if err != nil {
		return nil, err
	}
	cm.SetKey("log_level", 3)
	return kafka.NewConsumer(cm)
}

// EndOffsets returns the high watermark of each partition of topic.
func (c *Cluster) EndOffsets(topic string, partitions int) ([]int64, error) {
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": c.Brokers, "group.id": uniqueName("watermarks"), "log_level": 3})
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	out := make([]int64, partitions)
	for p := range out {
		_, high, err := cons.QueryWatermarkOffsets(topic, int32(p), 10000)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, err)
		}
		out[p] = high
	}
	return out, nil
}

// commitWatcher reads a group's committed offsets (and the aggregator's
// checkpoint metadata) without joining the group.
type commitWatcher struct {
	consumer *kafka.Consumer
	tps      []kafka.TopicPartition
}

func (c *Cluster) watchCommits(group, topic string, partitions int) (*commitWatcher, error) {
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": c.Brokers, "group.id": group,
		"isolation.level": "read_committed", "log_level": 3})
	if err != nil {
		return nil, err
	}
	w := &commitWatcher{consumer: cons}
	for p := 0; p < partitions; p++ {
		w.tps = append(w.tps, kafka.TopicPartition{Topic: &topic, Partition: int32(p)})
	}
	return w, nil
}

func (w *commitWatcher) Close() { _ = w.consumer.Close() }

// progress is a group's committed position per partition: the committed
// offset and, for the aggregator, the processed-through offset of its
// checkpoint (equal to the offset for other groups).
type progress struct {
	offsets, processed []int64
}

// reached reports whether offsets, and processed, are at least ends on
// every partition.
func (p progress) reached(ends []int64) (offsets, processed bool) {
	offsets, processed = len(p.offsets) == len(ends), len(p.processed) == len(ends)
	for i, end := range ends {
		offsets = offsets && p.offsets[i] >= end
		processed = processed && p.processed[i] >= end
	}
	return offsets, processed
}

func (w *commitWatcher) read() (progress, error) {
	committed, err := w.consumer.Committed(w.tps, 5000)
	if err != nil {
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.Code() == kafka.ErrGroupIDNotFound {
			return progress{}, nil
		}
		return progress{}, err
	}
	var p progress
	for _, tp := range committed {
		off := int64(tp.Offset)
		if off < 0 {
			off = 0
		}
		processed := off
		if tp.Metadata != nil {
			processed = max(processed, aggregator.ProcessedThrough(off, *tp.Metadata))
		}
		p.offsets = append(p.offsets, off)
		p.processed = append(p.processed, processed)
	}
	return p, nil
}
