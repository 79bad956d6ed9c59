package aggregator

import (
	"context"

	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/consumeloop/consumetest"
	"tickcompact/internal/tools/testkit"
)

// fakeProducer is a transactional producer in memory. What a transaction
// produced becomes visible, and the offsets it sent are committed to the
// fake consumer's group, only when it commits; an abort drops both. A call
// can be made to fail once, or to take time (a broker round trip).
type fakeProducer struct {
	consumer *consumetest.Consumer

	mu        sync.Mutex
	open      bool
	produced  []*kafka.Message
	offsets   []kafka.TopicPartition
	committed []*kafka.Message
	commits   int
	aborts    int
	// failProduce fails the produce of the record with this value, once,
	// with the error librdkafka gives when the transaction must abort.
	failProduce string
	// commitDelay is how long CommitTransaction takes.
	commitDelay time.Duration
	// committing is closed when a CommitTransaction starts, if set.
	committing chan struct{}
}

func (p *fakeProducer) InitTransactions(context.Context) error { return nil }

func (p *fakeProducer) BeginTransaction() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		return kafka.NewError(kafka.ErrState, "transaction already open", false)
	}
	p.open = true
	return nil
}

func (p *fakeProducer) Produce(msg *kafka.Message, _ chan kafka.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.open {
		return kafka.NewError(kafka.ErrState, "no transaction open", false)
	}
	if p.failProduce != "" && string(msg.Value) == p.failProduce {
		p.failProduce = ""
		return kafka.NewError(kafka.ErrState, "transaction in an abortable state", false)
	}
	p.produced = append(p.produced, msg)
	return nil
}

func (p *fakeProducer) SendOffsetsToTransaction(_ context.Context, offsets []kafka.TopicPartition, _ *kafka.ConsumerGroupMetadata) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.offsets = append(p.offsets, offsets...)
	return nil
}

func (p *fakeProducer) CommitTransaction(ctx context.Context) error {
	p.mu.Lock()
	committing, delay := p.committing, p.commitDelay
	p.committing = nil
	p.mu.Unlock()
	if committing != nil {
		close(committing)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.committed = append(p.committed, p.produced...)
	p.consumer.Commit(p.offsets)
	p.produced, p.offsets, p.open = nil, nil, false
	p.commits++
	return nil
}

func (p *fakeProducer) AbortTransaction(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.produced, p.offsets, p.open = nil, nil, false
	p.aborts++
	return nil
}

// output returns the committed records of topic.
func (p *fakeProducer) output(topic string) []*kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*kafka.Message
	for _, m := range p.committed {
		if *m.TopicPartition.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// stageHarness runs a stage on the fake consumer and producer.
type stageHarness struct {
	t        *testing.T
	cfg      Config
	consumer *consumetest.Consumer
	producer *fakeProducer
	metrics  *metrics
	logs     *testkit.SyncBuffer
}

func newStageHarness(t *testing.T) *stageHarness {
	t.Helper()
	cfg, err := LoadConfig([]string{"--input.topic=in", "--output.topic=out", "--dlq.topic=dlq"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := consumetest.New(cfg.Input.Group)
	h := &stageHarness{t: t, cfg: cfg, consumer: c, producer: &fakeProducer{consumer: c}, metrics: newMetrics(cfg.Window.Size), logs: &testkit.SyncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stage logs:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *stageHarness) txnStage(name, topic string, state stageState) txnStage {
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("stage", name)
	return txnStage{name: name, cfg: h.cfg, topic: topic, logger: logger, consumer: h.consumer, state: state, ready: newConditions(h.cfg, logger),
		txn: &transactor{producer: h.producer, consumer: h.consumer, logger: logger, metrics: h.metrics, queueFullLimit: time.Second}}
}

// windowStage returns a window stage of the input topic.
func (h *stageHarness) windowStage() *windowStage {
	cfg := h.cfg
	ws := &windowStage{
		metrics: h.metrics, parser: trade.NewParser(trade.Fields{ISIN: "isin", MaxFuture: time.Minute}),
		window:      window.Config{Size: cfg.Window.Size, Grace: cfg.Window.Grace, IdleTimeout: cfg.Window.IdleTimeout},
		outputTopic: cfg.Output.Topic, dlqTopic: cfg.DLQ.Topic,
		partitions: map[int32]*partitionState{}, pending: map[int32]window.Checkpoint{}, rawEnds: map[int32]int64{},
		backlog: backlogWatch{consumer: h.consumer, topic: cfg.Input.Topic},
	}
	ws.txnStage = h.txnStage("window", cfg.Input.Topic, ws)
	return ws
}

// run runs a stage until the returned function is called, which returns
// what the stage returned.
func (h *stageHarness) run(run func(context.Context) error) func() error {
	ctx, cancel := context.WithCancel(h.t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

// trade is an input record of isin at event time at, its value naming it.
func tradeRecord(isin string, at time.Time, name string) *kafka.Message {
	return &kafka.Message{
		Key:       []byte(isin),
		Value:     []byte(`{"isin":"` + isin + `","name":"` + name + `"}`),
		Timestamp: at,
	}
}

// names returns the "name" of each record's value, sorted.
func names(msgs []*kafka.Message) []string {
	var out []string
	for _, m := range msgs {
		v := string(m.Value)
		i := len(`{"isin":"KR7005930003","name":"`)
		out = append(out, v[i:len(v)-2])
	}
	slices.Sort(out)
	return out
}

// list returns partitions of topic.
func list(topic string, partitions ...int32) []kafka.TopicPartition {
	out := make([]kafka.TopicPartition, len(partitions))
	for i, p := range partitions {
		out[i] = kafka.TopicPartition{Topic: &topic, Partition: p}
	}
	return out
}

// repartitionStage returns a repartition stage of the input topic into
// in-by-isin.
func (h *stageHarness) repartitionStage() *repartitionStage {
	cfg := h.cfg
	cfg.Input.Repartition = true
	h.consumer.CreateTopic(cfg.RepartitionTopic(), 2)
	rs := &repartitionStage{
		metrics: h.metrics, parser: trade.NewParser(trade.Fields{ISIN: "isin", MaxFuture: time.Minute}),
		rawTopic: cfg.Input.Topic, keyedTopic: cfg.RepartitionTopic(), dlqTopic: cfg.DLQ.Topic,
		window:  window.Config{Size: cfg.Window.Size, Grace: cfg.Window.Grace},
		sources: map[int32]*rawSource{}, backlog: backlogWatch{consumer: h.consumer, topic: cfg.Input.Topic},
	}
	rs.txnStage = h.txnStage("repartition", cfg.Input.Topic, rs)
	return rs
}
