package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/sync/errgroup"

	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/opsserver"
)

// Service is one aggregator instance. New binds its HTTP port; Run connects
// to Kafka and works until its context ends.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	ready   *conditions
	http    *opsserver.Server
}

// New validates cfg and binds the HTTP address, so a bad configuration or a
// taken port fails before anything connects.
func New(cfg Config, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, logger: logger, metrics: newMetrics(cfg.Window.Size), ready: newConditions(cfg, logger)}
	s.metrics.registry.MustRegister(opsserver.ReadyGauge("tickcompact_aggregator", s.ready.state.Check))
	srv, err := opsserver.Listen(cfg.HTTP, s.metrics.registry, s.ready.state.Check)
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	s.http = srv
	return s, nil
}

// HTTPAddr is the address /metrics, /healthz and /readyz are served on.
func (s *Service) HTTPAddr() string { return s.http.Addr() }

// Run runs the aggregator until ctx is done (a clean stop returns nil) or a
// fatal error. On return, everything pending was committed or aborted.
func (s *Service) Run(ctx context.Context) error { return s.http.Run(ctx, s.runPipeline) }

func (s *Service) runPipeline(ctx context.Context) error {
	cfg := s.cfg
	g, ctx := errgroup.WithContext(ctx)
	// Both stages are built before either runs: a stage that failed to build
	// must not leave the other running while its clients are closed. They
	// are built before the topics are ensured, so that librdkafka refuses
	// any kafka.properties setting (one only a consumer or a transactional
	// producer checks) before the admin client has connected.
	windowTopic := cfg.Input.Topic
	var rs *repartitionStage
	if cfg.Input.Repartition {
		windowTopic = cfg.RepartitionTopic()
		var cleanup func()
		var err error
		if rs, cleanup, err = s.newRepartitionStage(ctx); err != nil {
			return err
		}
		defer cleanup()
	}
	ws, cleanup, err := s.newWindowStage(ctx, windowTopic)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := s.ensureTopics(ctx); err != nil {
		return err
	}
	if rs != nil {
		g.Go(func() error { return rs.run(ctx) })
	}
	g.Go(func() error { return ws.run(ctx) })
	return g.Wait()
}

// ensureTopics waits for the input topic and creates the output, DLQ and
// repartition topics when missing.
func (s *Service) ensureTopics(ctx context.Context) error {
	cfg := s.cfg
	cm, err := s.configMap(nil, nil)
	if err != nil {
		return err
	}
	// An admin client made from a producer shares its log channel, so
	// librdkafka's messages (an authentication failure, say) reach slog.
	// Forwarding ends after the client is closed (defers run last first).
	stopLogs := s.ready.kafka.Forward(ctx, kafkaclient.EnableLogs(cm), "admin")
	defer stopLogs()
	producer, err := kafka.NewProducer(cm)
	if err != nil {
		return fmt.Errorf("aggregator: creating admin client: %w", kafkaclient.CreationError(err))
	}
	defer producer.Close()
	go s.watchClientErrors(producer.Events(), "admin")
	admin, err := kafka.NewAdminClientFromProducer(producer)
	if err != nil {
		return fmt.Errorf("aggregator: creating admin client: %w", err)
	}
	defer admin.Close()

	var inputPartitions int
	for {
		inputPartitions, err = kafkaclient.PartitionCount(admin, cfg.Input.Topic, 10*time.Second)
		if err == nil {
			break
		}
		s.ready.inputTopic.Fail("waiting for " + cfg.Input.Topic + ": " + err.Error())
		s.logger.Warn("waiting for the input topic", "topic", cfg.Input.Topic, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	s.ready.inputTopic.Met()
	s.ready.kafka.Answered()
	outputPartitions := cfg.Output.Partitions
	if outputPartitions == 0 {
		outputPartitions = inputPartitions
	}
	topics := []kafkaclient.TopicSpec{{Name: cfg.Output.Topic, Partitions: outputPartitions, Replication: cfg.Output.Replication, Config: cfg.Output.Config}}
	// Rejected and re-keyed records keep their original timestamps, which
	// may be far off (a future-time record); Kafka 4 refuses timestamps more
	// than an hour ahead by default (message.timestamp.after.max.ms), which
	// would make such a record impossible to dead-letter.
	anyTimestamp := map[string]string{
		"message.timestamp.after.max.ms":  "9223372036854775807",
		"message.timestamp.before.max.ms": "9223372036854775807",
	}
	if cfg.DLQ.Topic != "" {
		topics = append(topics, kafkaclient.TopicSpec{Name: cfg.DLQ.Topic, Partitions: inputPartitions, Replication: cfg.Output.Replication, Config: anyTimestamp})
	}
	if cfg.Input.Repartition {
		topics = append(topics, kafkaclient.TopicSpec{Name: cfg.RepartitionTopic(), Partitions: inputPartitions, Replication: cfg.Output.Replication, Config: anyTimestamp})
	}
	for _, t := range topics {
		n, err := kafkaclient.EnsureTopic(ctx, admin, t)
		if err != nil {
			return fmt.Errorf("aggregator: %w", err)
		}
		s.logger.Info("topic ready", "topic", t.Name, "partitions", n)
	}
	return nil
}

// Client settings. tuning may be overridden through kafka.properties;
// required may not, as correctness depends on them.
var (
	consumerTuning = kafka.ConfigMap{
		"session.timeout.ms":    10000, // a killed instance's partitions move within seconds
		"heartbeat.interval.ms": 2000,
		"fetch.wait.max.ms":     5,
		// When the prefetched queue is over queued.min.messages or
		// queued.max.messages.kbytes, librdkafka waits fetch.queue.backoff.ms
		// before fetching again: 1 s by default, during which the loop empties
		// a small queue and starves. With 10 ms a small prefetch (8 MB, 1 MB
		// per partition) keeps the loop fed, so memory stays low while a
		// backlog drains as fast as with a large one; see
		// docs/performance.md for the figures.
		"fetch.queue.backoff.ms":     10,
		"queued.min.messages":        100000,
		"queued.max.messages.kbytes": 8192,
		"max.partition.fetch.bytes":  1048576,
		"fetch.max.bytes":            2097152,
		"reconnect.backoff.max.ms":   kafkaclient.ReconnectBackoffMaxMs,
	}
	producerTuning = kafka.ConfigMap{
		"linger.ms": 5,
		// A window of 100,000 ISINs is 100,000 records handed over at once:
		// unbounded, librdkafka would hold them all (~1 KB each with their
		// headers), hundreds of MB while draining a backlog. The transactor
		// waits for room instead.
		"queue.buffering.max.messages": 5000,
		// confluent-kafka-go allocates both channels at these sizes (1,000,000
		// each by default, 24 MB of Go heap). Delivery reports are off, so
		// Events carries errors only, and the produce channel is unused.
		"go.events.channel.size":  10000,
		"go.produce.channel.size": 1,
		// librdkafka reports every delivered record to confluent-kafka-go,
		// which copies its key and value into Go before finding nobody
		// wants the report: garbage for each output record.
		"go.delivery.report.fields": "none",
		// Transactional requests the broker answers with
		// CONCURRENT_TRANSACTIONS are retried after this backoff; librdkafka's
		// 100 ms default adds that much to a window's emission delay.
		"retry.backoff.ms":         10,
		"reconnect.backoff.max.ms": kafkaclient.ReconnectBackoffMaxMs,
	}
)

// ConsumerTuning returns a copy of the consumer settings the aggregator uses
// unless kafka.properties overrides them, for tools that must read with the
// same settings (cmd/bench).
func ConsumerTuning() kafka.ConfigMap { return maps.Clone(consumerTuning) }

// ProducerTuning is ConsumerTuning for the transactional producer, for tools
// that must write the way the aggregator writes (cmd/bench).
func ProducerTuning() kafka.ConfigMap { return maps.Clone(producerTuning) }

// ConsumerRequired returns the consumer settings the aggregator's
// correctness rests on, which kafka.properties cannot override: manual
// offsets, committed in its transactions; read_committed; partition EOF,
// which tells it a partition is caught up (wall-clock closing). start is
// input.start. Tools that must read as it reads (cmd/bench) use them too.
func ConsumerRequired(group, clientID, start string) kafka.ConfigMap {
	return kafka.ConfigMap{
		"group.id":                      group,
		"client.id":                     clientID,
		"isolation.level":               "read_committed",
		"enable.auto.commit":            false,
		"enable.auto.offset.store":      false,
		"enable.partition.eof":          true,
		"partition.assignment.strategy": "cooperative-sticky",
		"auto.offset.reset":             start,
	}
}

// ProducerRequired is ConsumerRequired for the transactional producer:
// transactions under transactionalID, the Java client's partitioner, no
// delivery reports (the transaction's commit reports failures).
func ProducerRequired(transactionalID string, timeout time.Duration) kafka.ConfigMap {
	return kafka.ConfigMap{
		"client.id":              transactionalID,
		"transactional.id":       transactionalID,
		"enable.idempotence":     true,
		"partitioner":            "murmur2_random",
		"go.delivery.reports":    false,
		"transaction.timeout.ms": strconv.FormatInt(timeout.Milliseconds(), 10),
	}
}

func (s *Service) configMap(tuning, required kafka.ConfigMap) (*kafka.ConfigMap, error) {
	cm, err := kafkaclient.ConfigMap(s.cfg.Kafka.Brokers, tuning, s.cfg.Kafka.Properties, required)
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	return cm, nil
}

// newClients builds a consumer in group and a transactional producer whose
// transactional.id is claimed with idSuffix.
func (s *Service) newClients(ctx context.Context, group, idSuffix, client string) (*kafka.Consumer, *transactor, func(), error) {
	txnID := s.cfg.Kafka.TransactionalID
	var slot *slotLock
	if txnID == "" {
		var err error
		if slot, err = claimTransactionalID(group, ""); err != nil {
			return nil, nil, nil, fmt.Errorf("aggregator: %w", err)
		}
		txnID = slot.ID
	} else {
		txnID += idSuffix
	}
	ccm, err := s.configMap(consumerTuning, ConsumerRequired(group, txnID, s.cfg.Input.Start))
	if err != nil {
		slot.Release()
		return nil, nil, nil, err
	}
	pcm, err := s.configMap(producerTuning, ProducerRequired(txnID, s.cfg.Kafka.TransactionTimeout))
	if err != nil {
		slot.Release()
		return nil, nil, nil, err
	}
	// The clients' logs are forwarded until cleanup, after both are closed:
	// the last transaction and the revocation come after ctx is done.
	stopConsumerLogs := s.ready.kafka.Forward(ctx, kafkaclient.EnableLogs(ccm), client+"-consumer")
	stopProducerLogs := s.ready.kafka.Forward(ctx, kafkaclient.EnableLogs(pcm), client+"-producer")
	stopLogs := func() { stopConsumerLogs(); stopProducerLogs() }
	// The producer first: it connects to nothing before InitTransactions
	// (librdkafka's connections are sparse), while a consumer in a group
	// looks for its coordinator at once, so whatever librdkafka refuses in
	// either is refused before anything connects.
	producer, err := kafka.NewProducer(pcm)
	if err != nil {
		stopLogs()
		slot.Release()
		return nil, nil, nil, fmt.Errorf("aggregator: creating producer: %w", kafkaclient.CreationError(err))
	}
	consumer, err := kafka.NewConsumer(ccm)
	if err != nil {
		producer.Close()
		stopLogs()
		slot.Release()
		return nil, nil, nil, fmt.Errorf("aggregator: creating consumer: %w", kafkaclient.CreationError(err))
	}
	go s.watchClientErrors(producer.Events(), client+"-producer")
	s.logger.Info("kafka clients created", "stage", client, "group", group, "transactional_id", txnID)
	// The stage closes the consumer when it stops, before cleanup.
	cleanup := func() {
		producer.Close()
		stopLogs()
		slot.Release()
	}
	return consumer, &transactor{producer: producer, consumer: consumer, logger: s.logger.With("stage", client), metrics: s.metrics,
		queueFullLimit: min(s.cfg.Kafka.TransactionTimeout, 5*time.Second)}, cleanup, nil
}

// watchClientErrors drains a producer's event channel (delivery reports are
// off, so only errors arrive) until the producer closes, reporting errors to
// the Kafka monitor.
func (s *Service) watchClientErrors(events chan kafka.Event, client string) {
	for ev := range events {
		if e, ok := ev.(kafka.Error); ok {
			s.ready.kafka.Error(client, e)
		}
	}
}

func (s *Service) parser() *trade.Parser {
	return trade.NewParser(s.cfg.Input.Fields())
}

func (s *Service) newWindowStage(ctx context.Context, topic string) (*windowStage, func(), error) {
	consumer, txn, cleanup, err := s.newClients(ctx, s.cfg.Input.Group, "", "window")
	if err != nil {
		return nil, nil, err
	}
	ws := &windowStage{
		metrics: s.metrics,
		parser:  s.parser(),
		window: window.Config{Size: s.cfg.Window.Size, Grace: s.cfg.Window.Grace, IdleTimeout: s.cfg.Window.IdleTimeout, Upstream: s.cfg.Input.Repartition,
			Aggregates: s.cfg.Input.Fields().Aggregates()},
		outputTopic: s.cfg.Output.Topic,
		dlqTopic:    s.cfg.DLQ.Topic,
		partitions:  map[int32]*partitionState{},
		pending:     map[int32]window.Checkpoint{},
		rawEnds:     map[int32]int64{},
		backlog:     backlogWatch{consumer: consumer, topic: topic},
	}
	ws.txnStage = s.txnStage("window", topic, consumer, txn, ws)
	return ws, cleanup, nil
}

func (s *Service) newRepartitionStage(ctx context.Context) (*repartitionStage, func(), error) {
	consumer, txn, cleanup, err := s.newClients(ctx, s.cfg.Input.Group+"-repartition", "-repartition", "repartition")
	if err != nil {
		return nil, nil, err
	}
	rs := &repartitionStage{
		metrics:    s.metrics,
		parser:     s.parser(),
		rawTopic:   s.cfg.Input.Topic,
		keyedTopic: s.cfg.RepartitionTopic(),
		dlqTopic:   s.cfg.DLQ.Topic,
		window:     window.Config{Size: s.cfg.Window.Size, Grace: s.cfg.Window.Grace},
		sources:    map[int32]*rawSource{},
		backlog:    backlogWatch{consumer: consumer, topic: s.cfg.Input.Topic},
	}
	rs.txnStage = s.txnStage("repartition", s.cfg.Input.Topic, consumer, txn, rs)
	return rs, cleanup, nil
}

func (s *Service) txnStage(name, topic string, consumer *kafka.Consumer, txn *transactor, state stageState) txnStage {
	return txnStage{name: name, cfg: s.cfg, topic: topic, logger: s.logger.With("stage", name),
		consumer: consumer, txn: txn, state: state, ready: s.ready,
		afterPoll: kafkaclient.NewConsumerLag(consumer, s.metrics.lag).Refresh}
}
