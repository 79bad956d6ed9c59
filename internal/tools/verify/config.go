package verify

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"tickcompact/internal/cli"
)

// Config is what one verification needs, as given on the command line.
type Config struct {
	// Brokers is the bootstrap list, comma-separated host:port.
	Brokers string
	// Properties are librdkafka properties passed as-is (security.protocol,
	// sasl.*, ssl.*, tuning); the reading mode (read_committed, no commits,
	// partition EOF) cannot be overridden.
	Properties map[string]string
	// InputTopic is the aggregator's input.topic. With
	// Settings.Repartition it is the raw topic, and the window stage reads
	// RepartitionTopic(InputTopic).
	InputTopic string
	// OutputTopic is the aggregator's output topic.
	OutputTopic string
	// Settings are the aggregator's window and parsing rules.
	Settings Settings
	// Compacted is "auto" (read the output topic's cleanup.policy), "true" or
	// "false"; see Settings.Compacted.
	Compacted string
	// Settle, when positive, is how long to wait after the first pass before
	// reading the output again, so that windows still open close by wall clock.
	Settle time.Duration
	// Timeout bounds each wait on the brokers: metadata, offsets, and reading
	// without progress.
	Timeout time.Duration
	// JSON selects the JSON report instead of the text summary.
	JSON bool
	// Redis, when Redis.Addr is set, is the sink's Redis whose snapshot is
	// checked too.
	Redis RedisConfig
}

// RedisConfig says where the sink's snapshot is.
type RedisConfig struct {
	// Addr is host:port, or a comma-separated list of Redis Cluster seeds.
	Addr string
	// Username is the ACL user; empty is the default user.
	Username string
	// Password authenticates Username; it never appears in the output.
	Password string
	// SnapshotKey is the sink's redis.snapshot_key; the companion hash is
	// SnapshotKey + ":window-end".
	SnapshotKey string
}

// WindowEndSuffix names the companion hash of the snapshot (the sink's
// contract: <snapshot_key>:window-end).
const WindowEndSuffix = ":window-end"

// RedisPasswordEnv is read when --redis-password is not given, so the password
// need not appear in the process list.
const RedisPasswordEnv = "VERIFY_REDIS_PASSWORD"

// Command is verify's --help.
var Command = cli.Command{
	Name: "verify",
	Summary: `verify audits the aggregator: it reads the input and output topics from the beginning to their
current end (read_committed, no consumer group commits), recomputes the output the contract
prescribes, and reports duplicates, gaps, mismatches and unexpected records; with --redis it also
checks the sink's snapshot; with --repartition it also reads <input>-by-isin and checks the copy of
every raw record into it. Trades are validated with the aggregator's own parser (aggregator/trade);
the windowing is modelled independently of its engine.`,
	Footer: "Exit codes: 0 no violation, 1 violations found, 2 bad flags or the brokers (or Redis) could not\nbe read.",
}

// ParseArgs parses the command line (without the program name). getenv
// supplies RedisPasswordEnv. --help and --version return a *cli.Answer.
// Errors wrap ErrUsage.
func ParseArgs(args []string, getenv func(string) string) (Config, error) {
	cfg := Config{Settings: DefaultSettings()}
	s := &cfg.Settings
	fs := pflag.NewFlagSet("verify", pflag.ContinueOnError)
	fs.StringVar(&cfg.Brokers, "brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated host:port")
	properties := fs.StringArray("property", nil, "librdkafka property k=v, repeatable (security.protocol, sasl.*, ssl.*)")
	fs.StringVar(&cfg.InputTopic, "input", "trades", "input.topic of the aggregator")
	fs.StringVar(&cfg.OutputTopic, "output", "trades-2s", "the aggregator's output topic")
	fs.DurationVar(&s.WindowSize, "window-size", s.WindowSize, "window.size of the aggregator")
	fs.DurationVar(&s.Grace, "grace", s.Grace, "window.grace of the aggregator")
	fs.DurationVar(&s.IdleTimeout, "idle-timeout", s.IdleTimeout, "window.idle_timeout of the aggregator")
	fs.StringVar(&s.ISINField, "isin-field", s.ISINField, "input.isin_field of the aggregator")
	fs.StringVar(&s.TimeField, "time-field", s.TimeField, "input.time_field of the aggregator (empty: the record timestamp)")
	fs.DurationVar(&s.MaxFuture, "max-future", s.MaxFuture, "input.max_future of the aggregator")
	fs.BoolVar(&s.Repartition, "repartition", s.Repartition,
		"input.repartition of the aggregator: read --input and its copy <input>-by-isin too, and audit the copy")
	fs.StringVar(&s.PriceField, "price-field", s.PriceField, "input.price_field of the aggregator: with --volume-field, check the interval aggregate headers")
	fs.StringVar(&s.VolumeField, "volume-field", s.VolumeField, "input.volume_field of the aggregator")
	fs.DurationVar(&s.LiveLag, "live-lag", s.LiveLag,
		"live model: how long after its record timestamp a record may have reached the aggregator")
	fs.StringVar(&cfg.Compacted, "compacted", "auto",
		"auto, true or false: on a compacted output, a window superseded by a later one of its ISIN is no gap")
	fs.DurationVar(&cfg.Settle, "settle", 0, "wait this long after the first pass, then read the output again")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "give up when the brokers do not answer or reading stalls this long")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as one JSON object")
	fs.IntVar(&s.Examples, "examples", s.Examples, "list at most this many examples of each kind of finding")
	fs.StringVar(&cfg.Redis.Addr, "redis", "", "the sink's Redis (host:port, or Cluster seeds comma-separated): check its snapshot too")
	fs.StringVar(&cfg.Redis.Username, "redis-username", "", "Redis ACL user")
	fs.StringVar(&cfg.Redis.Password, "redis-password", "", "Redis password (default $"+RedisPasswordEnv+")")
	fs.StringVar(&cfg.Redis.SnapshotKey, "snapshot-key", "trades:latest", "the sink's redis.snapshot_key")
	if err := Command.Parse(fs, args); err != nil {
		var answer *cli.Answer
		if errors.As(err, &answer) {
			return cfg, err
		}
		return cfg, fmt.Errorf("verify: %w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("verify: %w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	cfg.Properties = map[string]string{}
	for _, kv := range *properties {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return cfg, usageError("property", "%q: want key=value", kv)
		}
		cfg.Properties[strings.TrimSpace(k)] = v
	}
	if cfg.Redis.Password == "" && getenv != nil {
		cfg.Redis.Password = getenv(RedisPasswordEnv)
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration without any I/O; errors name the flag
// and wrap ErrUsage.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Brokers) == "":
		return usageError("brokers", "must not be empty")
	case c.InputTopic == "":
		return usageError("input", "must not be empty")
	case c.OutputTopic == "":
		return usageError("output", "must not be empty")
	case c.InputTopic == c.OutputTopic:
		return usageError("output", "must differ from --input")
	case c.Settings.Repartition && c.OutputTopic == RepartitionTopic(c.InputTopic):
		return usageError("output", "must differ from the repartition topic %s", RepartitionTopic(c.InputTopic))
	case c.Compacted != "auto" && c.Compacted != "true" && c.Compacted != "false":
		return usageError("compacted", "%q: want auto, true or false", c.Compacted)
	case c.Settle < 0:
		return usageError("settle", "must not be negative")
	case c.Timeout <= 0:
		return usageError("timeout", "must be positive")
	case c.Redis.Addr != "" && c.Redis.SnapshotKey == "":
		return usageError("snapshot-key", "must not be empty")
	}
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	if _, err := consumerConfig(c); err != nil {
		return usageError("property", "%v", err)
	}
	return nil
}
