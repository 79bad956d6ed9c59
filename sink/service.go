package sink

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/redis/go-redis/v9"

	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/opsserver"
	"tickcompact/internal/readiness"
	"tickcompact/internal/redisconn"
)

// Service is one sink instance. New binds its HTTP port; Run connects to
// Kafka and Redis and works until its context ends.
type Service struct {
	cfg       Config
	logger    *slog.Logger
	metrics   *metrics
	ready     *conditions
	http      *opsserver.Server
	redisOpts *redis.UniversalOptions
	// healthInterval is how often an idle sink PINGs Redis; tests lengthen
	// it to make an outage be found by a pending batch instead.
	healthInterval time.Duration
}

// New validates cfg, prepares the Redis client's options (reading the TLS CA
// file) and binds the HTTP address, so a bad configuration or a taken port
// fails before anything connects.
func New(cfg Config, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := redisOptions(cfg.Redis)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, logger: logger, metrics: newMetrics(), ready: newConditions(cfg, logger),
		redisOpts: opts, healthInterval: defaultHealthInterval}
	s.metrics.registry.MustRegister(opsserver.ReadyGauge("tickcompact_sink", s.ready.state.Check))
	srv, err := opsserver.Listen(cfg.HTTP, s.metrics.registry, s.ready.state.Check)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s.http = srv
	return s, nil
}

// HTTPAddr is the address /metrics, /healthz and /readyz are served on.
func (s *Service) HTTPAddr() string { return s.http.Addr() }

// Run runs the sink until ctx is done (a clean stop returns nil) or a fatal
// Kafka error. Redis outages are not fatal: the sink pauses and retries. On
// return, no offset was committed for a record Redis did not acknowledge.
func (s *Service) Run(ctx context.Context) error { return s.http.Run(ctx, s.consume) }

// Client settings. consumerTuning may be overridden through kafka.properties;
// consumerRequired may not, as correctness depends on it.
var consumerTuning = kafka.ConfigMap{
	"session.timeout.ms":      10000, // a killed instance's partitions move within seconds
	"heartbeat.interval.ms":   2000,
	"auto.commit.interval.ms": 1000,
	"fetch.wait.max.ms":       50,
	// Once its prefetch queue is full (queued.max.messages.kbytes), librdkafka
	// waits this long before fetching again: 1 s by default, while the sink
	// empties that queue in a fraction of it and then starves.
	"fetch.queue.backoff.ms": 10,
	// Poll hands records over a fetch response at a time, partition by
	// partition: small fetches (1 MB by default) interleave the partitions,
	// and so keep the writer lanes busy together rather than in turn.
	// librdkafka has one fetch at a time in flight per broker: with 5 ms
	// round trips, 64 KB per partition still reads some 50,000 records a
	// second per partition.
	"max.partition.fetch.bytes": 65536,
	"reconnect.backoff.max.ms":  kafkaclient.ReconnectBackoffMaxMs,
}

// consumerRequired are the consumer settings the sink's correctness rests
// on, which kafka.properties may not name (Config.Validate).
func consumerRequired(group, start string) kafka.ConfigMap {
	return kafka.ConfigMap{
		"group.id":        group,
		"client.id":       "tickcompact-sink",
		"isolation.level": "read_committed",
		// Offsets are stored only after Redis acknowledged their batch, and
		// librdkafka commits stored offsets in the background, on revocation
		// and on close: a synchronous commit per batch is a broker round
		// trip per batch, which would cap the sink far below Redis's rate.
		"enable.auto.commit":            true,
		"enable.auto.offset.store":      false,
		"partition.assignment.strategy": "cooperative-sticky",
		"auto.offset.reset":             start,
	}
}

func (s *Service) consume(ctx context.Context) error {
	client := redis.NewUniversalClient(s.redisOpts)
	defer client.Close()
	// One writer per lane (each keeps its own buffers), and the loop's own
	// for health checks and loading the script.
	newWriter := func() *RedisWriter {
		writer := NewRedisWriter(client, s.cfg.Redis)
		writer.onReload = func() {
			s.metrics.scriptReloads.Inc()
			s.logger.Info("redis answered NOSCRIPT (restarted?): snapshot script reloaded")
		}
		return writer
	}
	writer := newWriter()

	ccm, err := kafkaclient.ConfigMap(s.cfg.Kafka.Brokers, consumerTuning, s.cfg.Kafka.Properties, consumerRequired(s.cfg.Input.Group, s.cfg.Input.Start))
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	// Forwarding ends when consume returns, after the loop closed the
	// consumer: the revocation and the last writes come after ctx is done.
	stopLogs := s.ready.kafka.Forward(ctx, kafkaclient.EnableLogs(ccm), "sink-consumer")
	defer stopLogs()
	consumer, err := kafka.NewConsumer(ccm)
	if err != nil {
		return fmt.Errorf("sink: creating consumer: %w", kafkaclient.CreationError(err))
	}
	loop := newConsumerLoop(s.cfg, s.logger, s.metrics, s.ready, consumer, writer, func() redisApplier { return newWriter() })
	loop.lag = kafkaclient.NewConsumerLag(consumer, s.metrics.lag)
	loop.healthInterval = s.healthInterval
	s.prepareRedis(ctx, writer, loop)
	s.ready.started.Met()
	return loop.run(ctx)
}

// prepareRedis checks Redis and loads the script once at start-up. A failure
// is not fatal: the loop starts paused and retries with backoff.
func (s *Service) prepareRedis(ctx context.Context, writer *RedisWriter, loop *consumerLoop) {
	pingCtx, cancel := context.WithTimeout(ctx, s.cfg.Redis.Timeout)
	defer cancel()
	err := writer.Ping(pingCtx)
	if err == nil {
		err = writer.LoadScript(pingCtx)
	}
	if err != nil {
		loop.redisFailed(err)
		return
	}
	loop.redisOK()
	s.logger.Info("redis ready; snapshot script loaded", "sha1", snapshotSHA)
}

// conditions are the sink's /readyz conditions (internal/readiness),
// updated by the consumer goroutine.
type conditions struct {
	state *readiness.State
	// kafka keeps the dependency on the brokers and gets the consumer's
	// logs and errors.
	kafka      *kafkaclient.Monitor
	redis      *readiness.Condition
	started    *readiness.Condition
	partitions *readiness.Condition
}

func newConditions(cfg Config, logger *slog.Logger) *conditions {
	state := readiness.New(cfg.Secrets())
	return &conditions{
		state:      state,
		kafka:      kafkaclient.NewMonitor(logger, cfg.Kafka.Brokers, state),
		redis:      state.Dependency("redis", "not checked yet"),
		started:    state.Condition("consumer", "starting"),
		partitions: state.Condition("partitions", "no input partitions assigned"),
	}
}

// setRedisError records the outcome of the last exchange with Redis; nil is
// success.
func (r *conditions) setRedisError(err error) {
	if err == nil {
		r.redis.Met()
		return
	}
	r.redis.Fail(redisconn.Reason(err))
}
