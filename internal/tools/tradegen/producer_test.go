package tradegen

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

const testPartitions = 6

// startCluster starts an embedded single-broker Kafka with a six-partition
// "trades" topic and returns its bootstrap address.
func startCluster(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(testPartitions, "trades"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

func newTestProducer(t *testing.T, brokers string) *kafka.Producer {
	t.Helper()
	p, err := NewProducer(brokers, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestProduceToKafka(t *testing.T) {
	brokers := startCluster(t)
	producer := newTestProducer(t, brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()

	if created, err := EnsureTopic(ctx, producer, "trades", false, 0, 0); err != nil || created {
		t.Fatalf("EnsureTopic(trades) = %v, %v", created, err)
	}
	const n = 5_000
	stats, err := Produce(ctx, producer, "trades", Options{Seed: 11, Count: n, OpeningSpike: true, MalformedShare: 0.02})
	if err != nil {
		t.Fatalf("Produce: %v (stats %+v)", err, stats)
	}
	want := ExpectedMalformed(n, 0.02)
	if stats.Produced != n || stats.Delivered != n || stats.Failed != 0 || stats.Pending != 0 || stats.Stop != StopCount || !equalCounts(stats.Malformed, want) {
		t.Fatalf("stats %+v, want %d delivered and malformed %v", stats, n, want)
	}
	t.Logf("produced %d flat out in %s", stats.Delivered, stats.Elapsed)

	records := consumeAll(t, ctx, brokers, "trades", n)
	if len(records) != n {
		t.Fatalf("read back %d records, want %d", len(records), n)
	}
	partitionOf := make(map[string]int32)
	valid := 0
	for _, m := range records {
		key := string(m.Key)
		if p, ok := partitionOf[key]; ok && p != m.TopicPartition.Partition {
			t.Fatalf("key %s on partitions %d and %d", key, p, m.TopicPartition.Partition)
		}
		partitionOf[key] = m.TopicPartition.Partition
		if want := javaPartition(m.Key, testPartitions); m.TopicPartition.Partition != want {
			t.Fatalf("key %s on partition %d, the Java partitioner says %d", key, m.TopicPartition.Partition, want)
		}
		var trade struct {
			ISIN      *string `json:"isin"`
			TradeTime any     `json:"tradeTime"`
		}
		if json.Unmarshal(m.Value, &trade) != nil || trade.ISIN == nil {
			continue // invalid-json or missing-isin
		}
		if *trade.ISIN != key {
			t.Fatalf("key %q, isin field %q", key, *trade.ISIN)
		}
		if ms, ok := trade.TradeTime.(float64); ok {
			if int64(ms) != m.Timestamp.UnixMilli() {
				t.Fatalf("tradeTime %d, record timestamp %d", int64(ms), m.Timestamp.UnixMilli())
			}
			valid++
		}
	}
	t.Logf("read back %d records (%d with an ISIN and numeric tradeTime), %d keys over %d partitions",
		len(records), valid, len(partitionOf), testPartitions)
}

// Unkeyed records carry no key and spread over the partitions: one ISIN's
// trades land on several of them. librdkafka's partitioner keeps unkeyed
// records on one partition for sticky.partitioning.linger.ms (10 ms) at a
// time, so the trades are paced over a second, as a live feed would be.
func TestProduceUnkeyed(t *testing.T) {
	brokers := startCluster(t)
	producer := newTestProducer(t, brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	const n = 2_000
	if _, err := Produce(ctx, producer, "trades", Options{Seed: 3, Count: n, Instruments: 20, Rate: n, Unkeyed: true}); err != nil {
		t.Fatal(err)
	}
	partitionsOf := map[string]map[int32]bool{}
	for _, m := range consumeAll(t, ctx, brokers, "trades", n) {
		if m.Key != nil {
			t.Fatalf("record with key %q", m.Key)
		}
		var trade struct{ ISIN string }
		if err := json.Unmarshal(m.Value, &trade); err != nil {
			t.Fatal(err)
		}
		if partitionsOf[trade.ISIN] == nil {
			partitionsOf[trade.ISIN] = map[int32]bool{}
		}
		partitionsOf[trade.ISIN][m.TopicPartition.Partition] = true
	}
	for isin, parts := range partitionsOf {
		if len(parts) < 2 {
			t.Errorf("ISIN %s on %d partition(s); unkeyed records should spread", isin, len(parts))
		}
	}
}

func TestEnsureTopic(t *testing.T) {
	brokers := startCluster(t)
	producer := newTestProducer(t, brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	if _, err := EnsureTopic(ctx, producer, "quotes", false, 3, -1); !errors.Is(err, ErrTopicMissing) {
		t.Fatalf("missing topic without create: %v, want ErrTopicMissing", err)
	}
	if created, err := EnsureTopic(ctx, producer, "quotes", true, 3, 1); err != nil || !created {
		t.Fatalf("creating topic: %v, %v", created, err)
	}
	md, err := producer.GetMetadata(nil, true, 5_000)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(md.Topics["quotes"].Partitions); got != 3 {
		t.Errorf("created topic has %d partitions, want 3", got)
	}
	if created, err := EnsureTopic(ctx, producer, "quotes", true, 3, 1); err != nil || created {
		t.Errorf("existing topic: %v, %v", created, err)
	}
}

func TestEnsureTopicUnreachable(t *testing.T) {
	producer := newTestProducer(t, "127.0.0.1:1") // nothing listens on port 1
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := EnsureTopic(ctx, producer, "trades", true, 6, -1)
	if !errors.Is(err, ErrBrokerUnreachable) {
		t.Fatalf("EnsureTopic against a closed port: %v, want ErrBrokerUnreachable", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s, want about the 1.5 s deadline", took)
	}
}

func TestProducePacesAndStopsOnDuration(t *testing.T) {
	brokers := startCluster(t)
	producer := newTestProducer(t, brokers)
	opts := Options{Seed: 4, Rate: 2_000, Duration: 1500 * time.Millisecond}
	start := time.Now()
	stats, err := Produce(t.Context(), producer, "trades", opts)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	took := time.Since(start)
	// The schedule decides the count; the wall clock only has to keep up.
	g := mustGenerator(t, opts)
	var want int64
	for g.NextDue() < opts.Duration {
		g.Next()
		want++
	}
	if stats.Produced != want || stats.Delivered != want || stats.Stop != StopDuration {
		t.Errorf("stats %+v, want %d delivered, stopped by duration", stats, want)
	}
	if took < 1400*time.Millisecond || took > 5*time.Second {
		t.Errorf("took %s to produce 1.5 s of schedule", took)
	}
	t.Logf("paced at 2000/s for 1.5 s: %d records in %s", stats.Delivered, took)
}

// consumeAll reads n records from every partition of topic from the beginning.
func consumeAll(t *testing.T, ctx context.Context, brokers, topic string, n int) []*kafka.Message {
	t.Helper()
	consumer, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  brokers,
		"group.id":           "tradegen-test",
		"enable.auto.commit": false,
		"log_level":          3,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var assignment []kafka.TopicPartition
	for p := range int32(testPartitions) {
		assignment = append(assignment, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := consumer.Assign(assignment); err != nil {
		t.Fatal(err)
	}
	var out []*kafka.Message
	for len(out) < n && ctx.Err() == nil {
		switch e := consumer.Poll(100).(type) {
		case *kafka.Message:
			out = append(out, e)
		case kafka.Error:
			t.Logf("consumer: %v", e)
		}
	}
	return out
}

// javaPartition is the Java client's default partitioner for a keyed record:
// murmur2 of the key, made positive, modulo the partition count.
func javaPartition(key []byte, partitions int32) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(key))
	for i := 0; i+4 <= len(key); i += 4 {
		k := uint32(key[i]) | uint32(key[i+1])<<8 | uint32(key[i+2])<<16 | uint32(key[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := key[len(key)&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h&0x7fffffff) % partitions
}
