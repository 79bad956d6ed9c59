package sink

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"

	"tickcompact/internal/isin"
	"tickcompact/internal/logging"
	"tickcompact/internal/tools/testkit"
)

// e2e is one end-to-end scenario: a Kafka cluster (embedded, or the real one
// named by TICKCOMPACT_TEST_BROKERS), a unique trades-2s-like topic and group,
// and a Redis.
type e2e struct {
	t          *testing.T
	kafka      *testkit.Kafka
	redis      *testkit.Redis
	topic      string
	group      string
	partitions int
	// latest is the expected snapshot: per ISIN, the value of the greatest
	// window end produced so far.
	latest    map[string]string
	latestEnd map[string]int64
	produced  int
	// envelopes, when set, makes the expected snapshot hold envelopes
	// (redis.format envelope).
	envelopes *envelopeEncoder
}

func newE2E(t *testing.T, partitions int, redisOpts ...testkit.RedisOption) *e2e {
	t.Helper()
	k := testkit.StartKafka(t, kfake.GroupMinSessionTimeout(time.Second))
	t.Logf("kafka: %s at %s", k.Kind, k.Brokers)
	h := &e2e{
		t: t, kafka: k, partitions: partitions,
		redis:     testkit.StartRedis(t, redisOpts...),
		topic:     testkit.UniqueName(t, "trades-2s"),
		group:     testkit.UniqueName(t, "sink"),
		latest:    map[string]string{},
		latestEnd: map[string]int64{},
	}
	k.CreateTopic(t, h.topic, partitions)
	return h
}

// config is the sink's configuration for this scenario. The session timeout
// is the smallest a real broker accepts by default
// (group.min.session.timeout.ms), and heartbeats are frequent, so that
// rebalances settle quickly.
func (h *e2e) config(edit func(*Config)) Config {
	h.t.Helper()
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		h.t.Fatal(err)
	}
	cfg.Kafka.Brokers = h.kafka.Brokers
	cfg.Kafka.Properties = map[string]string{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
	cfg.Input.Topic, cfg.Input.Group = h.topic, h.group
	cfg.Redis.Addr = h.redis.Addr
	cfg.Redis.Username, cfg.Redis.Password = h.redis.Username, h.redis.Password
	cfg.Redis.Timeout = time.Second
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Log.Level = "info"
	if edit != nil {
		edit(&cfg)
	}
	return cfg
}

// instance is a sink service running in this process.
type instance struct {
	t      *testing.T
	svc    *Service
	logs   *testkit.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

// start runs a sink in this process with a logger that redacts cfg's secrets
// into a buffer, printed when the test fails.
func (h *e2e) start(cfg Config, tweak func(*Service)) *instance {
	h.t.Helper()
	logs := &testkit.SyncBuffer{}
	logger, err := logging.New(logs, cfg.Log.Level, cfg.Log.Format, cfg.Secrets())
	if err != nil {
		h.t.Fatal(err)
	}
	svc, err := New(cfg, logger)
	if err != nil {
		h.t.Fatal(err)
	}
	if tweak != nil {
		tweak(svc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: h.t, svc: svc, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- svc.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-in.done:
		case <-time.After(20 * time.Second):
		}
		if h.t.Failed() || os.Getenv("TICKCOMPACT_TEST_LOG") != "" {
			h.t.Logf("sink logs (%s):\n%s", svc.HTTPAddr(), logs.String())
		}
	})
	return in
}

// stop cancels the instance and returns Run's result, failing the test when
// shutdown takes longer than the contract's bound.
func (in *instance) stop() error {
	in.t.Helper()
	in.cancel()
	start := time.Now()
	select {
	case err := <-in.done:
		in.done <- err // for the cleanup
		if d := time.Since(start); d > 12*time.Second {
			in.t.Errorf("shutdown took %v", d)
		}
		return err
	case <-time.After(15 * time.Second):
		in.t.Fatal("the sink did not stop within 15s of cancellation")
		return nil
	}
}

func (in *instance) get(path string) (int, string) {
	in.t.Helper()
	resp, err := http.Get("http://" + in.svc.HTTPAddr() + path)
	if err != nil {
		in.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric returns the sum over label sets of a sample of /metrics.
func (in *instance) metric(name string) float64 {
	in.t.Helper()
	_, body := in.get("/metrics")
	return testkit.MetricValue(body, name)
}

// testISIN returns a valid KRX-like ISIN for i.
func testISIN(i int) string {
	body := fmt.Sprintf("KR7%06d00", 5930+i*7)
	check, _ := isin.CheckDigit(body)
	return body + string(check)
}

// trade is a trades-2s record for isin in the window ending at end.
func trade(id string, end int64, tag string) testkit.Record {
	value := fmt.Sprintf(`{"isin":%q,"price":%d,"tag":%q}`, id, 70000+end%997, tag)
	return testkit.Record{
		Key: []byte(id), Value: []byte(value), Partition: -1, Timestamp: time.UnixMilli(end - 1),
		Headers: []kafka.Header{
			{Key: "window-start", Value: []byte(strconv.FormatInt(end-2000, 10))},
			{Key: WindowEndHeader, Value: []byte(strconv.FormatInt(end, 10))},
			{Key: "trade-count", Value: []byte("3")},
		},
	}
}

// produce writes records and folds the valid ones into the expected snapshot.
func (h *e2e) produce(records []testkit.Record) {
	h.t.Helper()
	h.kafka.Produce(h.t, h.topic, records)
	h.produced += len(records)
	for _, r := range records {
		msg := &kafka.Message{Key: r.Key, Value: r.Value, Headers: r.Headers}
		u, reason, _ := parseRecord(msg)
		if reason == "" && h.envelopes != nil {
			u.Value, reason, _ = h.envelopes.encode(msg, u)
		}
		if reason != "" {
			continue
		}
		if end, ok := h.latestEnd[u.ISIN]; !ok || u.WindowEnd > end {
			h.latestEnd[u.ISIN], h.latest[u.ISIN] = u.WindowEnd, string(u.Value)
		}
	}
}

// waitSnapshot waits until the snapshot hash equals the expected one.
func (h *e2e) waitSnapshot(timeout time.Duration) {
	h.t.Helper()
	client := h.redis.Client()
	want := maps.Clone(h.latest)
	testkit.WaitFor(h.t, timeout, "the Redis snapshot to match", func() (bool, string) {
		got, err := client.HGetAll(context.Background(), "trades:latest").Result()
		if err != nil {
			return false, err.Error()
		}
		if maps.Equal(got, want) {
			return true, ""
		}
		return false, fmt.Sprintf("%d of %d fields, %d differ", len(got), len(want), countDiff(got, want))
	})
}

func countDiff(got, want map[string]string) int {
	n := 0
	for k, v := range want {
		if got[k] != v {
			n++
		}
	}
	return n
}

// committed returns a consumer of the sink's group (never subscribed, for
// the caller to close) and the group's committed offset of every partition.
func (h *e2e) committed() (*kafka.Consumer, []kafka.TopicPartition) {
	h.t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": h.kafka.Brokers, "group.id": h.group})
	if err != nil {
		h.t.Fatal(err)
	}
	parts := make([]kafka.TopicPartition, h.partitions)
	for p := range parts {
		parts[p] = kafka.TopicPartition{Topic: &h.topic, Partition: int32(p)}
	}
	committed, err := c.Committed(parts, 10000)
	if err != nil {
		c.Close()
		h.t.Fatal(err)
	}
	return c, committed
}

// checkCommittedAtEnd checks that the group committed every non-empty
// partition up to its end: all records were acknowledged by Redis and
// nothing is left over.
func (h *e2e) checkCommittedAtEnd() {
	h.t.Helper()
	c, committed := h.committed()
	defer c.Close()
	for _, tp := range committed {
		low, high, err := c.QueryWatermarkOffsets(h.topic, tp.Partition, 10000)
		if err != nil {
			h.t.Fatal(err)
		}
		if low == high && tp.Offset < 0 {
			continue // an empty partition: nothing to commit
		}
		if int64(tp.Offset) != high {
			h.t.Errorf("partition %d: committed %v, want the end offset %d", tp.Partition, tp.Offset, high)
		}
	}
}

// committedOffsets returns the group's committed offsets, -1 where none.
func (h *e2e) committedOffsets() []int64 {
	h.t.Helper()
	c, committed := h.committed()
	c.Close()
	out := make([]int64, len(committed))
	for i, tp := range committed {
		out[i] = max(-1, int64(tp.Offset))
	}
	slices.Sort(out)
	return out
}
