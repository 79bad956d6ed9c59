// Package testkit brings up what the tests talk to, in one line each: a Kafka
// cluster (the embedded kfake one, or a real broker named by
// TICKCOMPACT_TEST_BROKERS), topics, producers and read_committed readers, and
// the services' binaries.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokersEnv names the environment variable that points the tests at a real
// Kafka cluster instead of the embedded one.
const BrokersEnv = "TICKCOMPACT_TEST_BROKERS"

// Kafka is a cluster a test can use.
type Kafka struct {
	// Brokers is the bootstrap list.
	Brokers string
	// Kind is "kfake" for the embedded cluster, "apache-kafka" for a real one.
	Kind string
	// Embedded is the in-process cluster, nil for a real broker.
	Embedded *kfake.Cluster
	// Properties are librdkafka properties every testkit client uses (SASL).
	Properties map[string]string
}

// SASLBrokersEnv names the SASL_PLAINTEXT (SCRAM-SHA-512) listener of the real
// cluster; its user and password come from KAFKA_SCRAM_USER and
// KAFKA_SCRAM_PASSWORD (scripts/kafka-local.sh's defaults when unset).
const SASLBrokersEnv = "TICKCOMPACT_TEST_SASL_BROKERS"

// SASL is a cluster that requires SCRAM-SHA-512 authentication.
type SASL struct {
	*Kafka
	User, Password string
}

// ClientProperties are the librdkafka properties a service needs to connect
// with password (the right one or not).
func (s *SASL) ClientProperties(password string) map[string]string {
	return map[string]string{
		"security.protocol": "SASL_PLAINTEXT",
		"sasl.mechanism":    "SCRAM-SHA-512",
		"sasl.username":     s.User,
		"sasl.password":     password,
	}
}

// StartKafkaSASL returns the real cluster's SASL listener when
// TICKCOMPACT_TEST_BROKERS is set (failing the test when the SASL listener is
// not named), or an embedded cluster that requires SCRAM-SHA-512.
func StartKafkaSASL(t testing.TB) *SASL {
	t.Helper()
	if External() {
		brokers := os.Getenv(SASLBrokersEnv)
		if brokers == "" {
			t.Fatalf("%s is set but %s is not: the SASL scenario cannot run against the real broker", BrokersEnv, SASLBrokersEnv)
		}
		s := &SASL{Kafka: &Kafka{Brokers: brokers, Kind: "apache-kafka"}, User: envOr("KAFKA_SCRAM_USER", "tickcompact"), Password: envOr("KAFKA_SCRAM_PASSWORD", "tickcompact-secret")}
		s.Properties = s.ClientProperties(s.Password)
		return s
	}
	s := &SASL{User: "tickcompact", Password: "scram-" + hex.EncodeToString(randomBytes(6))}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", s.User, s.Password))
	if err != nil {
		t.Fatalf("starting embedded kafka with SASL: %v", err)
	}
	t.Cleanup(c.Close)
	s.Kafka = &Kafka{Brokers: strings.Join(c.ListenAddrs(), ","), Kind: "kfake", Embedded: c}
	s.Properties = s.ClientProperties(s.Password)
	return s
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// config returns a client configuration with the cluster's properties.
func (k *Kafka) config(extra kafka.ConfigMap) *kafka.ConfigMap {
	cm := kafka.ConfigMap{"bootstrap.servers": k.Brokers, "log_level": 4}
	for key, v := range k.Properties {
		cm[key] = v
	}
	for key, v := range extra {
		cm[key] = v
	}
	return &cm
}

// StartKafka returns the real cluster named by TICKCOMPACT_TEST_BROKERS, or
// starts an embedded single-broker cluster on a free loopback port, closed
// when the test ends. Tests must use unique topic and group names
// (UniqueName), since a real cluster is shared by every test of a run.
func StartKafka(t testing.TB, opts ...kfake.Opt) *Kafka {
	t.Helper()
	if brokers := os.Getenv(BrokersEnv); brokers != "" {
		return &Kafka{Brokers: brokers, Kind: "apache-kafka"}
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("starting embedded kafka: %v", err)
	}
	t.Cleanup(c.Close)
	return &Kafka{Brokers: strings.Join(c.ListenAddrs(), ","), Kind: "kfake", Embedded: c}
}

// External reports whether the tests run against a real broker.
func External() bool { return os.Getenv(BrokersEnv) != "" }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// UniqueName returns prefix plus the test's name and a random suffix: a topic
// or group name no other test or run uses.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	b := randomBytes(4)
	name := unsafeName.ReplaceAllString(t.Name(), "-")
	if len(name) > 80 {
		name = name[:80]
	}
	return fmt.Sprintf("%s.%s.%s", prefix, strings.ToLower(name), hex.EncodeToString(b))
}

// CreateTopic creates topic with partitions (replication 1) and waits until
// its metadata is visible.
func (k *Kafka) CreateTopic(t testing.TB, topic string, partitions int) {
	t.Helper()
	k.CreateTopicWithConfig(t, topic, partitions, nil)
}

// CreateTopicWithConfig is CreateTopic with topic configs.
func (k *Kafka) CreateTopicWithConfig(t testing.TB, topic string, partitions int, configs map[string]string) {
	t.Helper()
	admin, err := kafka.NewAdminClient(k.config(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := admin.CreateTopics(ctx, []kafka.TopicSpecification{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, Config: configs}})
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
	for _, r := range res {
		if r.Error.Code() != kafka.ErrNoError {
			t.Fatalf("creating topic %s: %v", topic, r.Error)
		}
	}
	for {
		md, err := admin.GetMetadata(&topic, false, 5000)
		if err == nil && len(md.Topics[topic].Partitions) == partitions {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("topic %s not visible: %v", topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Record is a record to produce. Partition -1 lets the murmur2 partitioner
// choose by key.
type Record struct {
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Partition int32
	Headers   []kafka.Header
}

// Producer is a long-lived test producer using the Java (murmur2) partitioner.
type Producer struct {
	t        testing.TB
	producer *kafka.Producer
}

// NewProducer returns a producer closed when the test ends.
func (k *Kafka) NewProducer(t testing.TB) *Producer {
	t.Helper()
	p, err := kafka.NewProducer(k.config(kafka.ConfigMap{
		"partitioner":        "murmur2_random",
		"enable.idempotence": true,
		"linger.ms":          2,
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &Producer{t: t, producer: p}
}

// Send writes records to topic in order and waits until every one is
// acknowledged, failing the test otherwise. It returns where each record was
// stored, in the order of records.
func (p *Producer) Send(topic string, records []Record) []kafka.TopicPartition {
	p.t.Helper()
	if len(records) == 0 {
		return nil
	}
	reports := make(chan kafka.Event, len(records))
	for i, r := range records {
		partition := r.Partition
		if partition < 0 {
			partition = kafka.PartitionAny
		}
		msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition},
			Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers, Opaque: i}
		for {
			err := p.producer.Produce(msg, reports)
			if err == nil {
				break
			}
			if kerr, ok := err.(kafka.Error); ok && kerr.Code() == kafka.ErrQueueFull {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			p.t.Fatalf("producing: %v", err)
		}
	}
	out := make([]kafka.TopicPartition, len(records))
	timeout := time.After(60 * time.Second)
	for range records {
		select {
		case ev := <-reports:
			m := ev.(*kafka.Message)
			if m.TopicPartition.Error != nil {
				p.t.Fatalf("delivery failed: %v", m.TopicPartition.Error)
			}
			out[m.Opaque.(int)] = m.TopicPartition
		case <-timeout:
			p.t.Fatalf("produce to %s: deliveries not confirmed within 60s", topic)
		}
	}
	return out
}

// Produce writes records to topic with a producer of its own; see Send.
func (k *Kafka) Produce(t testing.TB, topic string, records []Record) []kafka.TopicPartition {
	t.Helper()
	return k.NewProducer(t).Send(topic, records)
}

// ReadCommitted reads topic from the beginning as a read_committed reader
// until want records arrived (want < 0: until the topic is caught up and
// quiet for quietFor), or timeout. It returns the records ordered by
// partition and offset.
func (k *Kafka) ReadCommitted(t testing.TB, topic string, want int, quietFor, timeout time.Duration) []*kafka.Message {
	t.Helper()
	c, err := kafka.NewConsumer(k.config(kafka.ConfigMap{
		"group.id":             "testkit-reader",
		"isolation.level":      "read_committed",
		"enable.auto.commit":   false,
		"enable.partition.eof": true,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	var parts []kafka.TopicPartition
	for len(parts) == 0 { // the topic may not have been created yet
		md, err := c.GetMetadata(&topic, false, 10000)
		if err == nil {
			for _, p := range md.Topics[topic].Partitions {
				parts = append(parts, kafka.TopicPartition{Topic: &topic, Partition: p.ID, Offset: kafka.OffsetBeginning})
			}
		}
		if len(parts) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("topic %s does not exist after %v", topic, timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := c.Assign(parts); err != nil {
		t.Fatal(err)
	}
	var out []*kafka.Message
	lastRecord := time.Now()
	eof := map[int32]bool{}
	for time.Now().Before(deadline) {
		if want >= 0 && len(out) >= want {
			break
		}
		if want < 0 && len(eof) == len(parts) && time.Since(lastRecord) >= quietFor {
			break
		}
		switch e := c.Poll(50).(type) {
		case *kafka.Message:
			out = append(out, e)
			lastRecord = time.Now()
			delete(eof, e.TopicPartition.Partition)
		case kafka.PartitionEOF:
			eof[e.Partition] = true
		case kafka.Error:
			t.Logf("reader: %v", e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].TopicPartition, out[j].TopicPartition
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	return out
}

// Header returns the value of the named header of m, or "".
func Header(m *kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// CommittedTotal returns the sum over topic's partitions of group's committed
// offsets (partitions with none count 0): a cheap measure of a group's progress.
// It reads the last committed offsets as they are, without waiting for a
// transaction that a killed member left open to be resolved.
func (k *Kafka) CommittedTotal(t testing.TB, group, topic string, partitions int) int64 {
	t.Helper()
	c, err := kafka.NewConsumer(k.config(kafka.ConfigMap{"group.id": group, "isolation.level": "read_uncommitted"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tps := make([]kafka.TopicPartition, partitions)
	for i := range tps {
		tps[i] = kafka.TopicPartition{Topic: &topic, Partition: int32(i)}
	}
	var committed []kafka.TopicPartition
	for attempt := 0; ; attempt++ {
		committed, err = c.Committed(tps, 10000)
		if kerr, ok := err.(kafka.Error); ok && kerr.Code() == kafka.ErrGroupIDNotFound {
			return 0 // nothing committed yet
		}
		if err == nil {
			break
		}
		if attempt == 10 {
			t.Fatalf("committed offsets of %s: %v", group, err)
		}
		// A broker just started, or a coordinator moving, answers "not
		// coordinator" or "load in progress" for a while.
		time.Sleep(300 * time.Millisecond)
	}
	var total int64
	for _, tp := range committed {
		if tp.Offset >= 0 {
			total += int64(tp.Offset)
		}
	}
	return total
}
