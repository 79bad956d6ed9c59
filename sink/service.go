package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/opsserver"
)

// Service is one sink instance. New binds its HTTP port; Run connects to
// Kafka and Redis and works until its context ends.
type Service struct {
	cfg       Config
	logger    *slog.Logger
	metrics   *metrics
	ready     *readiness
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
	s := &Service{cfg: cfg, logger: logger, metrics: newMetrics(), ready: newReadiness(cfg.Secrets()),
		redisOpts: opts, healthInterval: defaultHealthInterval}
	s.metrics.registry.MustRegister(opsserver.ReadyGauge("tickcompact_sink", s.ready.check))
	srv, err := opsserver.Listen(cfg.HTTP.Addr, s.metrics.registry, s.ready.check, cfg.HTTP.Pprof)
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
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.http.Serve(ctx) })
	g.Go(func() error { return s.consume(ctx) })
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Client settings. consumerTuning may be overridden through kafka.properties;
// consumerRequired may not, as correctness depends on it.
var consumerTuning = kafka.ConfigMap{
	"session.timeout.ms":      10000, // a killed instance's partitions move within seconds
	"heartbeat.interval.ms":   2000,
	"auto.commit.interval.ms": 1000,
	"fetch.wait.max.ms":       50,
	// Once its prefetch queue is full (queued.max.messages.kbytes), librdkafka
	// waits this long before fetching again: 1 s by default, while the sink
	// empties that queue in a fraction of it and then starves (make bench,
	// row 4: 0.60 x -> 0.70 x of the bare Redis loop).
	"fetch.queue.backoff.ms": 10,
	// Poll hands records over a fetch response at a time, partition by
	// partition: small fetches interleave the partitions, and so keep the
	// writer lanes busy together rather than in turn (1 MB by default; row
	// 4: 0.70 x with 128 KB, 0.75 x with 64 KB). librdkafka has one fetch
	// at a time in flight per broker: with 5 ms round trips, 64 KB per
	// partition still reads some 50,000 records a second per partition.
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
		// and on close: a synchronous commit per batch cost ~7 ms each and
		// capped the sink at a quarter of Redis's rate (make bench, row 4).
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
	stopLogs := kafkaclient.Forward(ctx, kafkaclient.EnableLogs(ccm), s.logger, "sink-consumer", s.ready.watchLogs)
	defer stopLogs()
	consumer, err := kafka.NewConsumer(ccm)
	if err != nil {
		return fmt.Errorf("sink: creating consumer: %w", kafkaclient.CreationError(err))
	}
	loop := newConsumerLoop(s.cfg, s.logger, s.metrics, s.ready, consumer, writer, func() redisApplier { return newWriter() })
	loop.lag = kafkaclient.NewConsumerLag(consumer, s.metrics.lag)
	loop.healthInterval = s.healthInterval
	s.prepareRedis(ctx, writer, loop)
	s.ready.started.Store(true)
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

// readiness is what /readyz reports, updated by the consumer goroutine.
type readiness struct {
	started    atomic.Bool
	redisError atomic.Pointer[string]
	paused     atomic.Bool
	kafkaDown  atomic.Bool
	// authFailure is librdkafka's message when the broker refused the SASL
	// credentials; empty otherwise.
	authFailure atomic.Value // string
	assigned    atomic.Int32
	redact      *strings.Replacer
}

func newReadiness(secrets []string) *readiness {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "[REDACTED]")
		}
	}
	r := &readiness{redact: strings.NewReplacer(pairs...)}
	notChecked := "redis not checked yet"
	r.redisError.Store(&notChecked)
	return r
}

// setRedisError records the outcome of the last exchange with Redis; nil is
// success.
func (r *readiness) setRedisError(err error) {
	msg := ""
	if err != nil {
		// The reason is served over HTTP, outside the log redaction.
		msg = r.redact.Replace(err.Error())
	}
	r.redisError.Store(&msg)
}

func (r *readiness) check() error {
	if !r.started.Load() {
		return errors.New("starting")
	}
	if msg := *r.redisError.Load(); msg != "" {
		return fmt.Errorf("redis: %s", msg)
	}
	if msg, _ := r.authFailure.Load().(string); msg != "" {
		return fmt.Errorf("kafka authentication failed (check kafka.properties sasl.*): %s", r.redact.Replace(msg))
	}
	switch {
	case r.paused.Load():
		return errors.New("consumption paused while redis recovers")
	case r.kafkaDown.Load():
		return errors.New("kafka brokers unreachable")
	case r.assigned.Load() == 0:
		return errors.New("no input partitions assigned")
	}
	return nil
}

// watchLogs notes authentication failures that librdkafka only logs.
func (r *readiness) watchLogs(ev kafka.LogEvent) {
	if kafkaclient.AuthenticationFailed(ev) {
		r.authFailure.Store(ev.Message)
	}
}

// kafkaAnswered clears the Kafka problems once a request succeeded.
func (r *readiness) kafkaAnswered() {
	r.kafkaDown.Store(false)
	r.authFailure.Store("")
}
