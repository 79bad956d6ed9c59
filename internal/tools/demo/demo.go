// Package demo runs the whole tickcompact pipeline in one process, for
// `make demo`: an embedded Kafka-protocol broker (kfake) and an embedded
// Redis (miniredis), or real ones, the synthetic KRX feed, the aggregator,
// the sink (in envelope format) and the gateway with its live page exactly
// as their commands build them, and a live board of what flows through. It never touches signals or exits: cmd/demo does.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"tickcompact/aggregator"
	"tickcompact/gateway"
	"tickcompact/internal/logging"
	"tickcompact/internal/redisconn"
	"tickcompact/internal/tools/emission"
	"tickcompact/internal/tools/tradegen"
	"tickcompact/sink"
)

// The names the demo uses: the services' defaults.
const (
	InputTopic  = "trades"
	OutputTopic = "trades-2s"
	DLQTopic    = "trades.dlq"
	Channel     = "trades:2s"
	SnapshotKey = "trades:latest"
	// WindowSize is the aggregator's window, and the board's refresh period.
	WindowSize = 2 * time.Second
)

const (
	// shutdownTimeout bounds how long the services may take to stop once the
	// demo is asked to stop.
	shutdownTimeout = 20 * time.Second
	// readyTimeout bounds how long the sink and the feed wait for the
	// aggregator to join its group before they start anyway.
	readyTimeout = 30 * time.Second
	// feedFlushTimeout bounds the feed's final flush on shutdown.
	feedFlushTimeout = 5 * time.Second
)

// ErrInvalidOptions is wrapped by every error of Options.Validate.
var ErrInvalidOptions = errors.New("demo: invalid options")

// Options configure Run. DefaultOptions gives the ones `make demo` uses.
type Options struct {
	// Brokers, when set, is a Kafka cluster to use instead of the embedded
	// one; the input topic is created on it when missing.
	Brokers string
	// Redis, when set, is a Redis host:port to use instead of the embedded one.
	Redis string
	// KafkaPort and RedisPort are the loopback ports of the embedded servers;
	// 0 picks free ones.
	KafkaPort, RedisPort int
	// Partitions is the input topic's partition count when the demo creates it.
	Partitions int
	// ConnectTimeout bounds the check that a given broker or Redis answers.
	ConnectTimeout time.Duration

	// Rate is the feed's average trades per second; 0 or less is flat out.
	Rate float64
	// Instruments is the size of the KRX universe; 0 is tradegen's default.
	Instruments int
	// Malformed is the share (0..1) of malformed trades, which go to the DLQ.
	Malformed float64
	// Seed selects the trade sequence.
	Seed int64
	// OpeningSpike starts the feed with the opening auction and its burst.
	OpeningSpike bool

	// StreamKey, when set, turns on the sink's Redis stream under that key.
	StreamKey string
	// AggregatorHTTP and SinkHTTP are the services' http.addr (/metrics).
	AggregatorHTTP, SinkHTTP string
	// GatewayHTTP is the gateway's http.addr: the live page, /ws, /metrics.
	GatewayHTTP string
	// LogLevel is the services' log.level.
	LogLevel string

	// Duration stops the demo after this long; 0 runs until ctx is done.
	Duration time.Duration
	// Windows stops the demo after this many board refreshes; 0 never.
	Windows int
	// Plain forces one plain line per refresh even on a terminal.
	Plain bool

	// Stdout receives the header and the board; a terminal gets the
	// in-place board, anything else plain lines.
	Stdout io.Writer
	// Logs receives the services' log lines. When both Stdout and Logs are
	// terminals, the last few lines are shown on the board instead.
	Logs io.Writer
	// Ready, when set, is called once everything is listening, before the
	// feed starts.
	Ready func(Endpoints)
}

// DefaultOptions returns the settings of `make demo`.
func DefaultOptions() Options {
	return Options{
		Partitions:     6,
		ConnectTimeout: 10 * time.Second,
		Rate:           tradegen.DefaultRate,
		Instruments:    tradegen.DefaultInstruments,
		Malformed:      0.01,
		Seed:           1,
		OpeningSpike:   true,
		AggregatorHTTP: "127.0.0.1:0",
		SinkHTTP:       "127.0.0.1:0",
		GatewayHTTP:    "127.0.0.1:8080",
		LogLevel:       "warn",
		Stdout:         os.Stdout,
		Logs:           os.Stderr,
	}
}

// Validate checks the options without any I/O; errors wrap ErrInvalidOptions
// and name the flag.
func (o Options) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch {
	case o.KafkaPort < 0 || o.KafkaPort > 65535:
		return bad("--kafka-port %d: want 0 to 65535", o.KafkaPort)
	case o.RedisPort < 0 || o.RedisPort > 65535:
		return bad("--redis-port %d: want 0 to 65535", o.RedisPort)
	case o.Brokers != "" && o.KafkaPort != 0:
		return bad("--kafka-port is for the embedded broker and cannot be combined with --brokers")
	case o.Redis != "" && o.RedisPort != 0:
		return bad("--redis-port is for the embedded Redis and cannot be combined with --redis")
	case o.Partitions < 1:
		return bad("--partitions must be at least 1, got %d", o.Partitions)
	case o.ConnectTimeout <= 0:
		return bad("--connect-timeout must be positive, got %s", o.ConnectTimeout)
	case o.Duration < 0:
		return bad("--duration must not be negative, got %s", o.Duration)
	case o.Windows < 0:
		return bad("--windows must not be negative, got %d", o.Windows)
	case o.AggregatorHTTP == "" || o.SinkHTTP == "" || o.GatewayHTTP == "":
		return bad("--aggregator-http, --sink-http and --gateway-http must not be empty")
	case o.Stdout == nil || o.Logs == nil:
		return bad("Stdout and Logs must be set")
	}
	if err := o.feedOptions().Validate(); err != nil {
		// Reworded in terms of the flags that set each field.
		flags := strings.NewReplacer("Instruments ", "--instruments ", "Rate ", "--rate ", "MalformedShare ", "--malformed ")
		return bad("%s", flags.Replace(strings.TrimPrefix(err.Error(), tradegen.ErrInvalidOptions.Error()+": ")))
	}
	return nil
}

func (o Options) feedOptions() tradegen.Options {
	return tradegen.Options{
		Seed:           o.Seed,
		Instruments:    o.Instruments,
		Rate:           o.Rate,
		MalformedShare: o.Malformed,
		OpeningSpike:   o.OpeningSpike,
		FlushTimeout:   feedFlushTimeout,
	}
}

// Endpoints are where the running demo can be reached.
type Endpoints struct {
	// Brokers is the Kafka bootstrap list; EmbeddedKafka says it is kfake.
	Brokers       string
	EmbeddedKafka bool
	// Redis is the Redis host:port; EmbeddedRedis says it is miniredis.
	Redis         string
	EmbeddedRedis bool
	// AggregatorMetrics, SinkMetrics and GatewayMetrics are the /metrics URLs.
	AggregatorMetrics, SinkMetrics, GatewayMetrics string
	// Page is the URL of the gateway's live page.
	Page string
}

// Reasons the demo stops by itself, as context causes.
var (
	errDurationReached = errors.New("duration reached")
	errWindowsShown    = errors.New("windows shown")
)

// Run runs the demo until ctx is done, Duration passes or Windows refreshes
// were shown, then stops every part within a bounded time. A clean stop
// returns nil. Errors starting up wrap ErrInvalidOptions, ErrPortTaken or
// ErrUnreachable, and name the flag, port or address at fault.
func Run(ctx context.Context, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	started := time.Now()
	tty := !opts.Plain && IsTerminal(opts.Stdout)
	logOut, logWhere := opts.Logs, "stderr"
	var notes *recentLines
	if tty && IsTerminal(opts.Logs) {
		// Log lines on the same terminal would tear the board: show the last
		// few on it instead.
		notes = newRecentLines(1)
		logOut, logWhere = notes, "shown on the board"
	}
	logger, err := logging.New(logOut, opts.LogLevel, "text", nil)
	if err != nil {
		return fmt.Errorf("%w: --log-level: %v", ErrInvalidOptions, err)
	}
	// go-redis logs through one process-wide logger, shared by the sink and
	// the board's own client.
	redisconn.RouteLogs(logger)

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	kafkaCluster, err := startKafka(opts.Brokers, opts.KafkaPort, opts.Partitions)
	if err != nil {
		return err
	}
	defer kafkaCluster.close()
	redisServer, err := startRedis(ctx, opts.Redis, opts.RedisPort, opts.ConnectTimeout)
	if err != nil {
		return err
	}
	defer redisServer.close()

	producer, err := tradegen.NewProducer(kafkaCluster.brokers, nil, logger.With("service", "tradegen"))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer producer.Close()
	replication := -1 // the broker's default
	if kafkaCluster.embedded != nil {
		replication = 1
	}
	if err := ensureInputTopic(ctx, producer, kafkaCluster.brokers, opts.Partitions, replication, opts.ConnectTimeout); err != nil {
		return err
	}

	agg, err := newAggregator(opts, kafkaCluster.brokers, replication, logger.With("service", "aggregator"))
	if err != nil {
		return err
	}
	snk, err := newSink(opts, kafkaCluster.brokers, redisServer.addr, logger.With("service", "sink"))
	if err != nil {
		return err
	}
	gw, err := newGateway(opts, redisServer.addr, logger.With("service", "gateway"))
	if err != nil {
		return err
	}

	redisClient := redis.NewClient(&redis.Options{Addr: redisServer.addr, DialTimeout: 3 * time.Second})
	defer redisClient.Close()
	feed, err := subscribeQuotes(ctx, redisClient, Channel, latestShown)
	if err != nil {
		return err
	}

	endpoints := Endpoints{
		Brokers: kafkaCluster.brokers, EmbeddedKafka: kafkaCluster.embedded != nil,
		Redis: redisServer.addr, EmbeddedRedis: redisServer.embedded != nil,
		AggregatorMetrics: "http://" + agg.HTTPAddr() + "/metrics",
		SinkMetrics:       "http://" + snk.HTTPAddr() + "/metrics",
		GatewayMetrics:    "http://" + gw.HTTPAddr() + "/metrics",
		Page:              "http://" + gw.HTTPAddr() + "/",
	}
	printHeader(opts.Stdout, endpoints, opts, logWhere, tty)
	if opts.Ready != nil {
		opts.Ready(endpoints)
	}
	if opts.Duration > 0 {
		timer := time.AfterFunc(opts.Duration, func() { stop(errDurationReached) })
		defer timer.Stop()
	}

	mon := &monitor{
		board:             NewBoard(opts.Stdout, tty),
		http:              &http.Client{Timeout: time.Second},
		aggregatorMetrics: endpoints.AggregatorMetrics,
		redis:             redisClient,
		feed:              feed,
		delays:            &delayLog{},
		notes:             notes,
		started:           started,
		windows:           opts.Windows,
		done:              func() { stop(errWindowsShown) },
	}
	// The sink and the feed start once the aggregator has joined its group
	// and created trades-2s: the sink then finds its topic at once, and the
	// board shows the opening from its first window.
	aggregatorReady := make(chan struct{})
	g, groupCtx := errgroup.WithContext(ctx)
	g.Go(func() error { return agg.Run(groupCtx) })
	g.Go(func() error { return gw.Run(groupCtx) })
	g.Go(func() error {
		defer close(aggregatorReady)
		if err := waitReady(groupCtx, "http://"+agg.HTTPAddr()+"/readyz", readyTimeout); err != nil && groupCtx.Err() == nil {
			logger.Warn("aggregator not ready; starting the sink and the feed anyway", "waited", readyTimeout.String(), "reason", err.Error())
		}
		return nil
	})
	g.Go(func() error {
		<-aggregatorReady
		return snk.Run(groupCtx)
	})
	g.Go(func() error {
		<-aggregatorReady
		return runFeed(groupCtx, producer, opts.feedOptions(), logger.With("service", "tradegen"))
	})
	g.Go(func() error {
		// The board's own read_committed reader of trades-2s, for exact
		// emission delays. It starts at the end, with the feed: what the
		// topic already held (a given cluster) was committed long ago.
		<-aggregatorReady
		reader := emission.Reader{Brokers: kafkaCluster.brokers, Tuning: kafka.ConfigMap{"fetch.wait.max.ms": 5}, Logger: logger.With("service", "board")}
		if err := reader.Watch(groupCtx, OutputTopic, kafka.OffsetEnd, mon.delays.add); err != nil {
			logger.Warn("the board's reader of "+OutputTopic+" stopped; delays are no longer shown", "err", err.Error())
		}
		return nil
	})
	g.Go(func() error { return feed.run(groupCtx) })
	g.Go(func() error { return mon.run(groupCtx) })

	err = waitBounded(groupCtx, g.Wait)
	printSummary(opts.Stdout, mon, context.Cause(ctx), err)
	return err
}

// newAggregator builds the aggregator the way cmd/aggregator does, from
// command-line flags. --config=/dev/null and no environment make its
// settings exactly these, whatever configs/aggregator.yaml or AGGREGATOR_*
// say on this machine.
func newAggregator(opts Options, brokers string, replication int, logger *slog.Logger) (*aggregator.Service, error) {
	cfg, err := aggregator.LoadConfig([]string{
		"--config=" + os.DevNull,
		"--kafka.brokers=" + brokers,
		"--input.topic=" + InputTopic,
		"--output.topic=" + OutputTopic,
		fmt.Sprintf("--output.replication=%d", replication),
		"--dlq.topic=" + DLQTopic,
		"--window.size=" + WindowSize.String(),
		// The interval aggregates, from the fields tradegen writes.
		"--input.price_field=price",
		"--input.volume_field=volume",
		"--http.addr=" + opts.AggregatorHTTP,
		"--log.level=" + opts.LogLevel,
		"--log.format=text",
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("demo: aggregator: %w", err)
	}
	svc, err := aggregator.New(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("demo: aggregator (--aggregator-http %s): %w", opts.AggregatorHTTP, err)
	}
	return svc, nil
}

// newSink builds the sink the way cmd/sink does; see newAggregator.
func newSink(opts Options, brokers, redisAddr string, logger *slog.Logger) (*sink.Service, error) {
	args := []string{
		"--config=" + os.DevNull,
		"--kafka.brokers=" + brokers,
		"--input.topic=" + OutputTopic,
		"--redis.addr=" + redisAddr,
		"--redis.channel=" + Channel,
		"--redis.snapshot_key=" + SnapshotKey,
		"--redis.format=" + sink.FormatEnvelope,
		"--http.addr=" + opts.SinkHTTP,
		"--log.level=" + opts.LogLevel,
		"--log.format=text",
	}
	if opts.StreamKey != "" {
		args = append(args, "--redis.stream_key="+opts.StreamKey)
	}
	cfg, err := sink.LoadConfig(args, nil)
	if err != nil {
		return nil, fmt.Errorf("demo: sink: %w", err)
	}
	svc, err := sink.New(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("demo: sink (--sink-http %s): %w", opts.SinkHTTP, err)
	}
	return svc, nil
}

// newGateway builds the gateway the way cmd/gateway does; see newAggregator.
func newGateway(opts Options, redisAddr string, logger *slog.Logger) (*gateway.Service, error) {
	cfg, err := gateway.LoadConfig([]string{
		"--config=" + os.DevNull,
		"--redis.addr=" + redisAddr,
		"--redis.channel=" + Channel,
		"--redis.snapshot_key=" + SnapshotKey,
		"--http.addr=" + opts.GatewayHTTP,
		"--log.level=" + opts.LogLevel,
		"--log.format=text",
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("demo: gateway: %w", err)
	}
	svc, err := gateway.New(cfg, logger)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("demo: gateway: %w: %s is in use (choose another with --gateway-http, or 127.0.0.1:0 for a free one): %w", ErrPortTaken, opts.GatewayHTTP, err)
		}
		return nil, fmt.Errorf("demo: gateway (--gateway-http %s): %w", opts.GatewayHTTP, err)
	}
	return svc, nil
}

// runFeed produces the feed until ctx is done.
func runFeed(ctx context.Context, producer *kafka.Producer, opts tradegen.Options, logger *slog.Logger) error {
	if ctx.Err() != nil {
		return nil
	}
	stats, err := tradegen.Produce(ctx, producer, InputTopic, opts)
	if err != nil {
		if ctx.Err() != nil {
			// Stopping: a flush cut short loses nothing the board promised.
			logger.Warn("feed stopped", "err", err.Error(), "produced", stats.Produced, "delivered", stats.Delivered)
			return nil
		}
		return fmt.Errorf("demo: feed: %w", err)
	}
	return nil
}

// waitReady polls url until it answers 200, ctx is done or timeout passes.
func waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	lastErr := errors.New("no answer yet")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return lastErr
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitBounded waits for wait to return. Once ctx is done (a stop was asked
// for, or one part failed) it waits at most shutdownTimeout more. A clean stop
// returns nil.
func waitBounded(ctx context.Context, wait func() error) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		case <-time.After(shutdownTimeout):
			return fmt.Errorf("demo: the services did not stop within %s", shutdownTimeout)
		}
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// headerRows is how many lines printHeader writes: with boardRows, what the
// terminal board is drawn for.
const headerRows = 9

// printHeader writes what runs where and how to watch it. On a terminal each
// line is cut to the screen's width, so that the header and the board fit
// 80x24 together.
func printHeader(w io.Writer, e Endpoints, opts Options, logWhere string, tty bool) {
	kind := func(embedded bool, name string) string {
		if embedded {
			return "embedded " + name
		}
		return "given"
	}
	host, port := splitHostPort(e.Redis)
	rate := fmt.Sprintf("~%g trades/s", opts.Rate)
	if opts.Rate <= 0 {
		rate = "flat out"
	}
	instruments := opts.Instruments
	if instruments == 0 {
		instruments = tradegen.DefaultInstruments
	}
	feed := fmt.Sprintf("%s, %d instruments, %g%% malformed", rate, instruments, opts.Malformed*100)
	if opts.OpeningSpike {
		feed += ", opening spike"
	}
	feed += fmt.Sprintf(", seed %d", opts.Seed)
	redisWhat := Channel + ", " + SnapshotKey
	if opts.StreamKey != "" {
		redisWhat += ", " + opts.StreamKey
	}
	metrics := func(url string) string { return strings.TrimPrefix(url, "http://") }
	lines := []string{
		"tickcompact demo: trades -> aggregator -> trades-2s -> sink -> Redis -> gateway",
		fmt.Sprintf("  page     %s  (live table; WebSocket at /ws, and /metrics)", e.Page),
		fmt.Sprintf("  kafka    %s (%s)  %s, %s, %s", e.Brokers, kind(e.EmbeddedKafka, "kfake"), InputTopic, OutputTopic, DLQTopic),
		fmt.Sprintf("  redis    %s (%s)  %s", e.Redis, kind(e.EmbeddedRedis, "miniredis"), redisWhat),
		"  feed     " + feed,
		fmt.Sprintf("  metrics  %s (aggregator), %s (sink)", metrics(e.AggregatorMetrics), metrics(e.SinkMetrics)),
		fmt.Sprintf("  watch    kcat -C -b %s -t %s   (apt-get install kcat)", firstBroker(e.Brokers), OutputTopic),
		fmt.Sprintf("           redis-cli -h %s -p %s SUBSCRIBE %s", host, port, Channel),
		fmt.Sprintf("  logs     %s (level %s); Ctrl-C stops everything", logWhere, opts.LogLevel),
	}
	if tty {
		for i, l := range lines {
			lines[i] = fitColumns(l, screenColumns-1)
		}
	}
	_, _ = io.WriteString(w, strings.Join(lines, "\n")+"\n")
}

// printSummary writes one closing line: why the demo stopped and its totals.
func printSummary(w io.Writer, mon *monitor, cause, err error) {
	why := "interrupted"
	switch {
	case err != nil:
		why = "failed"
	case errors.Is(cause, errDurationReached):
		why = "duration reached"
	case errors.Is(cause, errWindowsShown):
		why = "windows shown"
	}
	last := mon.lastSample()
	fmt.Fprintf(w, "stopped (%s): windows=%d total_in=%d total_out=%d total_ratio=%s dlq=%d late=%d redis_total=%d\n",
		why, mon.refreshes(), last.TotalIn, last.TotalOut, ratioText(last.TotalIn, last.TotalOut), last.DLQTotal(), last.Late, last.RedisTotal)
}

func splitHostPort(addr string) (host, port string) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return addr, "6379"
	}
	return addr[:i], addr[i+1:]
}

func firstBroker(brokers string) string {
	first, _, _ := strings.Cut(brokers, ",")
	return strings.TrimSpace(first)
}
