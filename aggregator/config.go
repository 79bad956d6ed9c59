// Package aggregator is the service that compacts the raw trades topic into
// one latest record per ISIN per window, exactly once, on the output topic.
package aggregator

import (
	"fmt"
	"strings"
	"time"

	"tickcompact/aggregator/trade"
	"tickcompact/internal/configload"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/logging"
	"tickcompact/internal/opsserver"
)

// Service is the aggregator's name: its config file is configs/aggregator.yaml
// and its environment variables start with AGGREGATOR_.
const serviceName = "aggregator"

// Config is the aggregator's configuration. Keys are the contract's; Spec
// gives each one's default and meaning.
type Config struct {
	Kafka  KafkaConfig      `mapstructure:"kafka"`
	Input  InputConfig      `mapstructure:"input"`
	Window WindowConfig     `mapstructure:"window"`
	Output OutputConfig     `mapstructure:"output"`
	DLQ    DLQConfig        `mapstructure:"dlq"`
	HTTP   opsserver.Config `mapstructure:"http"`
	Log    logging.Config   `mapstructure:"log"`
}

// KafkaConfig says how to reach the cluster.
type KafkaConfig struct {
	// Brokers is the bootstrap list, comma-separated host:port.
	Brokers string `mapstructure:"brokers"`
	// Properties are passed to librdkafka as-is (security.protocol, sasl.*,
	// ssl.*, tuning), for the consumer, producer and admin client alike.
	Properties map[string]string `mapstructure:"properties"`
	// TransactionalID, when set, is this instance's transactional.id. Empty
	// derives a stable one from the group, the host name and a per-host slot.
	TransactionalID string `mapstructure:"transactional_id"`
	// TransactionTimeout bounds how long an open transaction of a dead
	// instance can hold back read_committed readers.
	TransactionTimeout time.Duration `mapstructure:"transaction_timeout"`
}

// InputConfig describes the raw trades topic.
type InputConfig struct {
	// Topic is the raw trades topic.
	Topic string `mapstructure:"topic"`
	// Group is the consumer group shared by every aggregator instance.
	Group string `mapstructure:"group"`
	// Start is where a group with no committed offsets begins: earliest or latest.
	Start string `mapstructure:"start"`
	// ISINField names the JSON field holding the ISIN.
	ISINField string `mapstructure:"isin_field"`
	// TimeField, when set, names the JSON field holding the event time (epoch
	// ms or RFC 3339); empty uses the Kafka record timestamp.
	TimeField string `mapstructure:"time_field"`
	// MaxFuture is how far ahead of the wall clock an event time may be before
	// the record goes to the DLQ as future-time.
	MaxFuture time.Duration `mapstructure:"max_future"`
	// Repartition re-keys the raw topic by ISIN through <topic>-by-isin first,
	// for raw topics not keyed by ISIN.
	Repartition bool `mapstructure:"repartition"`
	// PriceField and VolumeField, when both are set, name the JSON fields
	// holding each trade's price and volume: every output record then carries
	// the window's open, high, low, volume and VWAP headers, and a trade
	// without a usable price or volume goes to the DLQ as invalid-price.
	// Both empty (the default) leaves the feature off.
	PriceField  string `mapstructure:"price_field"`
	VolumeField string `mapstructure:"volume_field"`
}

// Fields are the parser's settings.
func (c InputConfig) Fields() trade.Fields {
	return trade.Fields{ISIN: c.ISINField, Time: c.TimeField, MaxFuture: c.MaxFuture, Price: c.PriceField, Volume: c.VolumeField}
}

// WindowConfig holds the window rules.
type WindowConfig struct {
	// Size is the tumbling window length; it must divide a day.
	Size time.Duration `mapstructure:"size"`
	// Grace is how far past a window's end the watermark must go to close it.
	Grace time.Duration `mapstructure:"grace"`
	// IdleTimeout is how long a caught-up partition must be quiet before its
	// windows close by wall clock.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
}

// OutputConfig describes the compacted output topic.
type OutputConfig struct {
	// Topic is the output topic.
	Topic string `mapstructure:"topic"`
	// Partitions is used when creating the topic; 0 copies the input's count.
	Partitions int `mapstructure:"partitions"`
	// Replication is used when creating the topic; -1 is the broker default.
	Replication int `mapstructure:"replication"`
	// Config holds topic configs used when creating the topic.
	Config map[string]string `mapstructure:"config"`
	// CommitInterval bounds how long closed windows wait in an open
	// transaction while more input is still arriving. While a partition
	// drains a backlog, transactions last ten times as long (at most a
	// quarter of the transaction timeout).
	CommitInterval time.Duration `mapstructure:"commit_interval"`
}

// DLQConfig describes the dead-letter topic.
type DLQConfig struct {
	// Topic receives rejected input; empty drops rejected records and only counts them.
	Topic string `mapstructure:"topic"`
}

// Spec lists every key with its default and a one-line description: the one
// place defaults live, from which the flags and --help are made.
func Spec() configload.Spec {
	keys := []configload.Key{
		{Name: "kafka.brokers", Default: "localhost:9092", Usage: "bootstrap brokers, comma-separated host:port"},
		{Name: "kafka.properties", Default: map[string]string{}, Usage: "librdkafka properties passed as-is to every client (security.protocol, sasl.*, ssl.*, tuning)"},
		{Name: "kafka.transactional_id", Default: "", Usage: "this instance's transactional.id; empty derives a stable one per host: <input.group>-<hostname>-<slot>"},
		{Name: "kafka.transaction_timeout", Default: 10 * time.Second, Usage: "transaction.timeout.ms: how long a dead instance's open transaction can hold back read_committed readers"},
		{Name: "input.topic", Default: "trades", Usage: "the raw trades topic"},
		{Name: "input.group", Default: "tickcompact-aggregator", Usage: "consumer group shared by every aggregator instance"},
		{Name: "input.start", Default: "earliest", Usage: "where a group with no committed offsets starts: earliest or latest"},
		{Name: "input.isin_field", Default: "isin", Usage: "JSON field holding the ISIN"},
		{Name: "input.time_field", Default: "", Usage: "JSON field holding the event time (epoch ms or RFC 3339); empty: the Kafka record timestamp"},
		{Name: "input.max_future", Default: time.Minute, Usage: "records whose event time is further ahead of the wall clock go to the DLQ as future-time"},
		{Name: "input.repartition", Default: false, Usage: "re-key a raw topic not keyed by ISIN through <input.topic>-by-isin first"},
		{Name: "input.price_field", Default: "", Usage: "JSON field holding each trade's price; with input.volume_field, the interval aggregate headers are on"},
		{Name: "input.volume_field", Default: "", Usage: "JSON field holding each trade's volume; with input.price_field, the interval aggregate headers are on"},
		{Name: "window.size", Default: 2 * time.Second, Usage: "tumbling window size, aligned to the Unix epoch; must divide 24h"},
		{Name: "window.grace", Default: time.Duration(0), Usage: "a window closes when its partition's watermark reaches its end plus grace"},
		{Name: "window.idle_timeout", Default: time.Second, Usage: "a caught-up partition quiet for this long closes its windows by wall clock"},
		{Name: "output.topic", Default: "trades-2s", Usage: "the compacted output topic: one record per ISIN per window"},
		{Name: "output.partitions", Default: 0, Usage: "partitions when creating the output topic; 0: as many as the input"},
		{Name: "output.replication", Default: -1, Usage: "replication factor when creating topics; -1: the broker's default"},
		{Name: "output.config", Default: map[string]string{"cleanup.policy": "compact"}, Usage: "topic configs when creating the output topic"},
		{Name: "output.commit_interval", Default: 50 * time.Millisecond, Usage: "longest time closed windows wait in an open transaction while input keeps arriving"},
		{Name: "dlq.topic", Default: "trades.dlq", Usage: "dead-letter topic for rejected input; empty drops rejected records and only counts them"},
	}
	keys = append(keys, opsserver.Keys(":9101", "/metrics, /healthz and /readyz")...)
	keys = append(keys, logging.Keys()...)
	return configload.Spec{
		Service: serviceName,
		Summary: `aggregator compacts the raw trades topic into one latest trade per ISIN per window on the
output topic (trades-2s), exactly once with Kafka transactions. It serves /metrics, /healthz and
/readyz on http.addr.`,
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

const day = 24 * time.Hour

// Validate checks the configuration without any I/O; each error names its key.
func (c Config) Validate() error {
	invalid := configload.Invalid
	switch {
	case strings.TrimSpace(c.Kafka.Brokers) == "":
		return invalid("kafka.brokers", "must not be empty")
	case c.Kafka.TransactionTimeout < time.Second:
		return invalid("kafka.transaction_timeout", "%v is below 1s", c.Kafka.TransactionTimeout)
	case c.Input.Topic == "":
		return invalid("input.topic", "must not be empty")
	case c.Input.Group == "":
		return invalid("input.group", "must not be empty")
	case c.Input.Start != "earliest" && c.Input.Start != "latest":
		return invalid("input.start", "%q: want earliest or latest", c.Input.Start)
	case c.Input.ISINField == "":
		return invalid("input.isin_field", "must not be empty")
	case c.Input.MaxFuture < 0:
		return invalid("input.max_future", "must not be negative")
	case c.Input.PriceField == "" && c.Input.VolumeField != "":
		return invalid("input.price_field", "must be set with input.volume_field (the interval aggregates need both)")
	case c.Input.VolumeField == "" && c.Input.PriceField != "":
		return invalid("input.volume_field", "must be set with input.price_field (the interval aggregates need both)")
	case c.Input.PriceField != "" && (c.Input.PriceField == c.Input.ISINField || c.Input.PriceField == c.Input.TimeField):
		return invalid("input.price_field", "%q is already input.isin_field or input.time_field", c.Input.PriceField)
	case c.Input.VolumeField != "" && (c.Input.VolumeField == c.Input.ISINField || c.Input.VolumeField == c.Input.TimeField || c.Input.VolumeField == c.Input.PriceField):
		return invalid("input.volume_field", "%q is already input.isin_field, input.time_field or input.price_field", c.Input.VolumeField)
	case c.Window.Size <= 0:
		return invalid("window.size", "must be positive")
	case c.Window.Size%time.Millisecond != 0:
		return invalid("window.size", "%v is not a whole number of milliseconds", c.Window.Size)
	case day%c.Window.Size != 0:
		return invalid("window.size", "%v does not divide a day (24h) evenly", c.Window.Size)
	case c.Window.Grace < 0:
		return invalid("window.grace", "must not be negative")
	case c.Window.Grace%time.Millisecond != 0:
		return invalid("window.grace", "%v is not a whole number of milliseconds", c.Window.Grace)
	case c.Window.IdleTimeout <= 0:
		return invalid("window.idle_timeout", "must be positive")
	case c.Output.Topic == "":
		return invalid("output.topic", "must not be empty")
	case c.Output.Topic == c.Input.Topic:
		return invalid("output.topic", "must differ from input.topic")
	case c.Output.Partitions < 0:
		return invalid("output.partitions", "must be 0 (same as input) or positive")
	case c.Output.Replication == 0 || c.Output.Replication < -1:
		return invalid("output.replication", "must be -1 (broker default) or positive")
	case c.Output.CommitInterval <= 0:
		return invalid("output.commit_interval", "must be positive")
	case c.Output.CommitInterval >= c.Kafka.TransactionTimeout:
		return invalid("output.commit_interval", "must be shorter than kafka.transaction_timeout")
	case c.DLQ.Topic != "" && (c.DLQ.Topic == c.Input.Topic || c.DLQ.Topic == c.Output.Topic):
		return invalid("dlq.topic", "must differ from input.topic and output.topic")
	}
	if err := kafkaclient.CheckReserved(serviceName, c.Kafka.Properties, ConsumerRequired("", "", ""), ProducerRequired("", 0)); err != nil {
		return err
	}
	if err := c.HTTP.Validate(); err != nil {
		return err
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	return nil
}

// RepartitionTopic is the internal topic the raw input is re-keyed into.
func (c Config) RepartitionTopic() string { return c.Input.Topic + "-by-isin" }

// String describes the configuration for a start-up log line, without secrets.
func (c Config) String() string {
	return fmt.Sprintf("input=%s group=%s output=%s dlq=%q window=%v grace=%v idle=%v repartition=%v aggregates=%v",
		c.Input.Topic, c.Input.Group, c.Output.Topic, c.DLQ.Topic, c.Window.Size, c.Window.Grace, c.Window.IdleTimeout, c.Input.Repartition,
		c.Input.Fields().Aggregates())
}

// Logging is the log.* keys (servicecmd.Config).
func (c Config) Logging() logging.Config { return c.Log }

// Secrets are the values every log line masks: the secret kafka.properties.
func (c Config) Secrets() []string { return kafkaclient.Secrets(c.Kafka.Properties) }
