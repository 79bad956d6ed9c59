// Command tradegen produces a synthetic KRX trade feed to Kafka, keyed by
// ISIN, and prints a one-line JSON summary to stdout when it stops.
//
// Exit codes: 0 done (count or duration reached, or interrupted); 1 Kafka
// unreachable, topic missing, or records not delivered; 2 bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"tickcompact/internal/cli"
	"tickcompact/internal/tools/tradegen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is what the flags say.
type config struct {
	brokers        string
	topic          string
	properties     map[string]string
	createTopic    bool
	partitions     int
	replication    int
	connectTimeout time.Duration
	opts           tradegen.Options
}

// summary is the line printed to stdout at the end.
type summary struct {
	Topic          string                  `json:"topic"`
	Produced       int64                   `json:"produced"`
	Delivered      int64                   `json:"delivered"`
	Failed         int64                   `json:"failed"`
	Pending        int64                   `json:"pending"`
	Malformed      map[tradegen.Kind]int64 `json:"malformed"`
	ElapsedSeconds float64                 `json:"elapsedSeconds"`
	RatePerSecond  float64                 `json:"ratePerSecond"`
	Stop           string                  `json:"stop"`
	Error          string                  `json:"error,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if cli.Answered(err, stdout) { // --help, --version
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "tradegen:", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	producer, err := tradegen.NewProducer(cfg.brokers, cfg.properties, logger)
	if err != nil { // librdkafka rejected a --property
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer producer.Close()

	connectCtx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	created, err := tradegen.EnsureTopic(connectCtx, producer, cfg.topic, cfg.createTopic, cfg.partitions, cfg.replication)
	cancel()
	switch {
	case errors.Is(err, tradegen.ErrBrokerUnreachable):
		fmt.Fprintf(stderr, "%v (brokers %s; see --connect-timeout)\n", err, cfg.brokers)
		return 1
	case errors.Is(err, tradegen.ErrTopicMissing):
		fmt.Fprintf(stderr, "tradegen: topic %q does not exist; pass --create-topic to create it\n", cfg.topic)
		return 1
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 1
	}
	logger.Info("producing", "brokers", cfg.brokers, "topic", cfg.topic, "topicCreated", created,
		"rate", cfg.opts.Rate, "instruments", cfg.opts.Instruments, "seed", cfg.opts.Seed,
		"count", cfg.opts.Count, "duration", cfg.opts.Duration.String(), "malformed", cfg.opts.MalformedShare)

	stats, err := tradegen.Produce(ctx, producer, cfg.topic, cfg.opts)
	line := summary{
		Topic: cfg.topic, Produced: stats.Produced, Delivered: stats.Delivered, Failed: stats.Failed,
		Pending: stats.Pending, Malformed: stats.Malformed, ElapsedSeconds: stats.Elapsed.Seconds(), Stop: stats.Stop,
	}
	if stats.Elapsed > 0 {
		line.RatePerSecond = float64(stats.Delivered) / stats.Elapsed.Seconds()
	}
	if err != nil {
		line.Error = err.Error()
	}
	out, _ := json.Marshal(line)
	fmt.Fprintf(stdout, "%s\n", out)
	if err != nil {
		logger.Error("producing failed", "error", err.Error())
		return 1
	}
	return 0
}

// command is tradegen's --help.
var command = cli.Command{
	Name: "tradegen",
	Summary: `tradegen produces a synthetic KRX trade feed to Kafka, keyed by ISIN (Zipf popularity, KRX tick
sizes, an opening auction), optionally with malformed records, and prints a one-line JSON summary
to stdout when it stops.`,
	Footer: "Exit codes: 0 done (count or duration reached, or interrupted); 1 Kafka unreachable, topic missing,\nor records not delivered; 2 bad flags.",
}

// parseFlags turns the command line into a config, checking every value
// without any I/O.
func parseFlags(args []string) (config, error) {
	fs := pflag.NewFlagSet("tradegen", pflag.ContinueOnError)
	var (
		cfg        config
		properties []string
	)
	fs.StringVar(&cfg.brokers, "brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	fs.StringVar(&cfg.topic, "topic", "trades", "topic to produce to")
	fs.Float64Var(&cfg.opts.Rate, "rate", 800, "average trades per second; 0 or less = flat out")
	fs.IntVar(&cfg.opts.Instruments, "instruments", tradegen.DefaultInstruments, "number of instruments")
	fs.Int64Var(&cfg.opts.Count, "count", 0, "stop after this many records (0 = no limit)")
	fs.DurationVar(&cfg.opts.Duration, "duration", 0, "stop after this long (0 = no limit)")
	fs.Int64Var(&cfg.opts.Seed, "seed", 1, "random seed; the same seed gives the same trades")
	fs.Float64Var(&cfg.opts.MalformedShare, "malformed", 0, "fraction (0..1) of malformed records")
	fs.BoolVar(&cfg.opts.OpeningSpike, "opening-spike", true, "start with the opening auction and its burst")
	fs.StringVar(&cfg.opts.ISINField, "isin-field", "isin", "JSON field holding the ISIN")
	fs.BoolVar(&cfg.opts.Unkeyed, "unkeyed", false, "send records without a key, spread at random over the partitions (a raw topic for the aggregator's input.repartition)")
	fs.DurationVar(&cfg.opts.FlushTimeout, "flush-timeout", 10*time.Second, "how long to wait for deliveries when stopping")
	fs.StringArrayVar(&properties, "property", nil, "librdkafka property key=value, passed as-is (repeatable; e.g. security.protocol=SASL_SSL)")
	fs.BoolVar(&cfg.createTopic, "create-topic", false, "create the topic when it does not exist")
	fs.IntVar(&cfg.partitions, "partitions", 6, "partitions of a created topic")
	fs.IntVar(&cfg.replication, "replication", -1, "replication factor of a created topic (-1 = broker default)")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 10*time.Second, "give up when the brokers do not answer within this")
	if err := command.Parse(fs, args); err != nil {
		return cfg, err
	}

	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case strings.TrimSpace(cfg.brokers) == "":
		return cfg, errors.New("--brokers must not be empty")
	case cfg.topic == "":
		return cfg, errors.New("--topic must not be empty")
	case cfg.partitions < 1:
		return cfg, fmt.Errorf("--partitions must be at least 1, got %d", cfg.partitions)
	case cfg.replication < -1 || cfg.replication == 0:
		return cfg, fmt.Errorf("--replication must be -1 or at least 1, got %d", cfg.replication)
	case cfg.connectTimeout <= 0:
		return cfg, fmt.Errorf("--connect-timeout must be positive, got %s", cfg.connectTimeout)
	case cfg.opts.ISINField == "":
		return cfg, errors.New("--isin-field must not be empty")
	}
	cfg.properties = make(map[string]string, len(properties))
	for _, p := range properties {
		key, value, ok := strings.Cut(p, "=")
		if !ok || key == "" {
			return cfg, fmt.Errorf("--property %q: want key=value", p)
		}
		cfg.properties[key] = value
	}
	if err := cfg.opts.Validate(); err != nil {
		return cfg, flagError(err)
	}
	return cfg, nil
}

// flagError rewords an Options error in terms of the flags.
func flagError(err error) error {
	msg := err.Error()
	for field, flag := range map[string]string{
		"Instruments": "--instruments", "Rate": "--rate", "Count": "--count", "Duration": "--duration",
		"MalformedShare": "--malformed", "FlushTimeout": "--flush-timeout",
	} {
		if strings.Contains(msg, ": "+field+" ") {
			return errors.New(strings.Replace(msg[strings.Index(msg, ": "+field+" ")+2:], field, flag, 1))
		}
	}
	return err
}
