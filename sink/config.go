// Package sink is the service that applies the compacted trades-2s topic to
// Redis: a latest-value snapshot per ISIN, a Pub/Sub message per update and
// an optional stream, each update checked and applied in one atomic script so
// that Redis never goes back to an older window, with Kafka offsets committed
// only after Redis acknowledged.
package sink

import (
	"fmt"
	"strings"

	"tickcompact/internal/configload"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/logging"
	"tickcompact/internal/opsserver"
	"tickcompact/internal/redisconn"
)

// serviceName picks the config file configs/sink.yaml and the SINK_
// environment prefix.
const serviceName = "sink"

// Config is the sink's configuration. Keys are the contract's; Spec gives
// each one's default and meaning.
type Config struct {
	Kafka KafkaConfig      `mapstructure:"kafka"`
	Input InputConfig      `mapstructure:"input"`
	Redis RedisConfig      `mapstructure:"redis"`
	HTTP  opsserver.Config `mapstructure:"http"`
	Log   logging.Config   `mapstructure:"log"`
}

// KafkaConfig says how to reach the cluster.
type KafkaConfig struct {
	// Brokers is the bootstrap list, comma-separated host:port.
	Brokers string `mapstructure:"brokers"`
	// Properties are passed to librdkafka as-is (security.protocol, sasl.*,
	// ssl.*, tuning).
	Properties map[string]string `mapstructure:"properties"`
}

// InputConfig describes the compacted topic the sink reads.
type InputConfig struct {
	// Topic is the aggregator's output topic.
	Topic string `mapstructure:"topic"`
	// Group is the consumer group shared by every sink instance.
	Group string `mapstructure:"group"`
	// Start is where a group with no committed offsets begins: earliest or latest.
	Start string `mapstructure:"start"`
}

// RedisConfig says how to reach Redis and what to write there.
type RedisConfig struct {
	// Config is where Redis is and how to log in.
	redisconn.Config `mapstructure:",squash"`
	// Channel is the Pub/Sub channel each update is published to; "{isin}" in
	// it is replaced by the record's ISIN, giving one channel per instrument.
	Channel string `mapstructure:"channel"`
	// SnapshotKey is the hash holding the latest value per ISIN; the hash
	// SnapshotKey + ":window-end" holds each value's window end.
	SnapshotKey string `mapstructure:"snapshot_key"`
	// StreamKey, when set, is a stream each update is appended to.
	StreamKey string `mapstructure:"stream_key"`
	// StreamMaxLen is the approximate length the stream is trimmed to.
	StreamMaxLen int64 `mapstructure:"stream_maxlen"`
	// Format is what is stored and published for each record: FormatRaw,
	// the record value as it is, or FormatEnvelope, one JSON object with the
	// ISIN, the window's bounds and trade count and the trade.
	Format string `mapstructure:"format"`
	// BatchSize caps the records sent to Redis in one pipeline.
	BatchSize int `mapstructure:"batch_size"`
}

// The values of redis.format.
const (
	// FormatRaw stores and publishes each record's value unchanged.
	FormatRaw = "raw"
	// FormatEnvelope stores and publishes one JSON object per record (see
	// internal/envelope), which the gateway reads.
	FormatEnvelope = "envelope"
)

// WindowEndSuffix is appended to the snapshot key to name the companion hash
// of window ends.
const WindowEndSuffix = ":window-end"

// Spec lists every key with its default and a one-line description: the one
// place defaults live, from which the flags and --help are made.
func Spec() configload.Spec {
	keys := []configload.Key{
		{Name: "kafka.brokers", Default: "localhost:9092", Usage: "bootstrap brokers, comma-separated host:port"},
		{Name: "kafka.properties", Default: map[string]string{}, Usage: "librdkafka properties passed as-is (security.protocol, sasl.*, ssl.*, tuning)"},
		{Name: "input.topic", Default: "trades-2s", Usage: "topic to read: the aggregator's output (read_committed)"},
		{Name: "input.group", Default: "tickcompact-sink", Usage: "consumer group shared by every sink instance"},
		{Name: "input.start", Default: "earliest", Usage: "where a group with no committed offsets starts: earliest or latest"},
	}
	keys = append(keys, redisconn.Keys(serviceName)...)
	keys = append(keys, []configload.Key{
		{Name: "redis.channel", Default: "trades:2s", Usage: `Pub/Sub channel each newer value is published to; "{isin}" in it is replaced by the ISIN`},
		{Name: "redis.snapshot_key", Default: "trades:latest", Usage: "hash of the latest value per ISIN; <snapshot_key>:window-end holds each value's window end"},
		{Name: "redis.stream_key", Default: "", Usage: "stream each newer value is appended to; empty: no stream"},
		{Name: "redis.stream_maxlen", Default: 100000, Usage: "approximate stream length kept (XADD MAXLEN ~)"},
		{Name: "redis.format", Default: FormatRaw, Usage: "what is stored and published per record: raw (the trade as written) or envelope (JSON, for the gateway)"},
		{Name: "redis.batch_size", Default: 500, Usage: "most records sent to Redis in one pipeline"},
	}...)
	keys = append(keys, opsserver.Keys(":9102", "/metrics, /healthz and /readyz")...)
	keys = append(keys, logging.Keys()...)
	return configload.Spec{
		Service: serviceName,
		Summary: `sink applies the compacted trades-2s topic to Redis: a latest-value snapshot hash per ISIN that
never goes back to an older window, a Pub/Sub message per update and an optional stream, committing
Kafka offsets only after Redis acknowledged. It serves /metrics, /healthz and /readyz on http.addr.`,
		Keys: keys,
	}
}

// Defaults returns every key with its default (Spec's).
func Defaults() map[string]any { return Spec().Defaults() }

// LoadConfig reads the configuration from args (without the program name) and
// environ, and validates it. Errors satisfy errors.Is(err, configload.ErrInvalid);
// --help and --version return a *cli.Answer.
func LoadConfig(args, environ []string) (Config, error) {
	var cfg Config
	err := configload.Load(Spec(), args, environ, &cfg)
	return cfg, err
}

// Validate checks the configuration without any I/O; each error names its key.
func (c Config) Validate() error {
	invalid := configload.Invalid
	switch {
	case strings.TrimSpace(c.Kafka.Brokers) == "":
		return invalid("kafka.brokers", "must not be empty")
	case c.Input.Topic == "":
		return invalid("input.topic", "must not be empty")
	case c.Input.Group == "":
		return invalid("input.group", "must not be empty")
	case c.Input.Start != "earliest" && c.Input.Start != "latest":
		return invalid("input.start", "%q: want earliest or latest", c.Input.Start)
	}
	if err := kafkaclient.CheckReserved(serviceName, c.Kafka.Properties, consumerRequired("", "")); err != nil {
		return err
	}
	if err := c.Redis.validate(); err != nil {
		return err
	}
	if err := c.HTTP.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

func (r RedisConfig) validate() error {
	if err := r.Config.Validate(); err != nil {
		return err
	}
	invalid := configload.Invalid
	switch {
	case r.Channel == "":
		return invalid("redis.channel", "must not be empty")
	case r.SnapshotKey == "":
		return invalid("redis.snapshot_key", "must not be empty")
	case r.StreamKey != "" && r.StreamMaxLen <= 0:
		return invalid("redis.stream_maxlen", "must be positive when redis.stream_key is set")
	case r.StreamKey != "" && (r.StreamKey == r.SnapshotKey || r.StreamKey == r.WindowEndKey()):
		return invalid("redis.stream_key", "must differ from redis.snapshot_key and its %s companion", WindowEndSuffix)
	case r.Format != FormatRaw && r.Format != FormatEnvelope:
		return invalid("redis.format", "%q: want %s or %s", r.Format, FormatRaw, FormatEnvelope)
	case r.BatchSize < 1 || r.BatchSize > 100000:
		return invalid("redis.batch_size", "%d: want 1 to 100000", r.BatchSize)
	}
	if r.ClusterMode() {
		return r.validateHashTags()
	}
	return nil
}

// validateHashTags checks that every key the script touches hashes to one
// Cluster slot: a script may only touch keys of the slot it runs on.
func (r RedisConfig) validateHashTags() error {
	tag := HashTag(r.SnapshotKey)
	if tag == "" {
		return configload.Invalid("redis.snapshot_key",
			"%q has no hash tag: with Redis Cluster the snapshot key, its %s companion and the stream key must share one, e.g. {trades}:latest",
			r.SnapshotKey, WindowEndSuffix)
	}
	if r.StreamKey != "" && HashTag(r.StreamKey) != tag {
		return configload.Invalid("redis.stream_key",
			"%q must have the hash tag {%s} of redis.snapshot_key with Redis Cluster, e.g. {%s}:stream", r.StreamKey, tag, tag)
	}
	return nil
}

// HashTag returns the part of key Redis Cluster hashes when it has a hash tag:
// the text between the first '{' and the next '}', when not empty. It returns
// "" when key has no (non-empty) hash tag.
func HashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return ""
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return ""
	}
	return key[open+1 : open+1+end]
}

// WindowEndKey is the companion hash holding each snapshot value's window end.
func (r RedisConfig) WindowEndKey() string { return r.SnapshotKey + WindowEndSuffix }

// Secrets returns the configured credentials, for log redaction.
func (c Config) Secrets() []string {
	secrets := kafkaclient.Secrets(c.Kafka.Properties)
	if c.Redis.Password != "" {
		secrets = append(secrets, c.Redis.Password)
	}
	return secrets
}

// String describes the configuration for a start-up log line, without secrets.
func (c Config) String() string {
	return fmt.Sprintf("input=%s group=%s %s channel=%s snapshot=%s stream=%q maxlen=%d format=%s batch=%d",
		c.Input.Topic, c.Input.Group, c.Redis.Config, c.Redis.Channel,
		c.Redis.SnapshotKey, c.Redis.StreamKey, c.Redis.StreamMaxLen, c.Redis.Format, c.Redis.BatchSize)
}

// Logging is the log.* keys (servicecmd.Config).
func (c Config) Logging() logging.Config { return c.Log }
