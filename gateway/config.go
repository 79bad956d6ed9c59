// Package gateway is the optional third service: it reads the sink's Redis
// (the Pub/Sub channel and the snapshot hash, in envelope format) and serves
// browsers over WebSocket and a live web page. Each client subscribes to a
// set of ISINs or to all of them, gets the snapshot of those first and then
// updates, never an older window of an ISIN than one it was already sent; a
// slow client's updates are conflated per ISIN, and a client that stays
// behind is disconnected with a close reason. After any reconnection to
// Redis the gateway re-reads the snapshot and sends each client what
// changed meanwhile.
package gateway

import (
	"fmt"
	"strings"
	"time"

	"tickcompact/internal/configload"
	"tickcompact/internal/logging"
	"tickcompact/internal/opsserver"
	"tickcompact/internal/redisconn"
)

// serviceName picks the config file configs/gateway.yaml and the GATEWAY_
// environment prefix.
const serviceName = "gateway"

// Config is the gateway's configuration; Spec gives each key's default and
// meaning.
type Config struct {
	Redis     RedisConfig      `mapstructure:"redis"`
	HTTP      opsserver.Config `mapstructure:"http"`
	WebSocket WebSocketConfig  `mapstructure:"websocket"`
	Log       logging.Config   `mapstructure:"log"`
}

// RedisConfig says how to reach the sink's Redis and what to read there.
type RedisConfig struct {
	// Config is where Redis is and how to log in.
	redisconn.Config `mapstructure:",squash"`
	// Channel is the sink's redis.channel; with "{isin}" in it, the gateway
	// subscribes to the pattern of every instrument's channel.
	Channel string `mapstructure:"channel"`
	// SnapshotKey is the sink's redis.snapshot_key, read at start-up and
	// after every reconnection.
	SnapshotKey string `mapstructure:"snapshot_key"`
}

// WebSocketConfig bounds what clients may do and how long they may lag.
type WebSocketConfig struct {
	// AllowedOrigins are the host patterns (path.Match, e.g.
	// "*.example.com", or "https://app.example.com" to match the scheme
	// too) of the pages allowed to connect from another origin. The
	// gateway's own host is always allowed; empty allows no other.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// MaxConnections caps the open WebSocket connections; one more is
	// accepted and closed at once with status 1013 (try again later).
	MaxConnections int `mapstructure:"max_connections"`
	// MaxISINs caps the ISINs of one subscription ("all" counts as none).
	MaxISINs int `mapstructure:"max_isins"`
	// MaxMessageBytes caps an inbound message; a larger one closes the
	// connection with status 1009 (message too big).
	MaxMessageBytes int `mapstructure:"max_message_bytes"`
	// PingInterval is how often each client is pinged; a client that has
	// not answered by the next ping is disconnected.
	PingInterval time.Duration `mapstructure:"ping_interval"`
	// WriteTimeout bounds each write to a client; a write that takes
	// longer disconnects it.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// MaxLag is how long an update may wait for a client: a client whose
	// oldest unsent update is older is disconnected with status 4008.
	MaxLag time.Duration `mapstructure:"max_lag"`
}

// Spec lists every key with its default and a one-line description: the one
// place defaults live, from which the flags and --help are made.
func Spec() configload.Spec {
	keys := redisconn.Keys(serviceName)
	keys = append(keys, []configload.Key{
		{Name: "redis.channel", Default: "trades:2s", Usage: `the sink's redis.channel; "{isin}" in it subscribes to every instrument's channel`},
		{Name: "redis.snapshot_key", Default: "trades:latest", Usage: "the sink's redis.snapshot_key, read at start-up and after every reconnection to Redis"},
	}...)
	keys = append(keys, opsserver.Keys(":8080", "the page (/), the WebSocket endpoint (/ws), /metrics, /healthz and /readyz")...)
	keys = append(keys, []configload.Key{
		{Name: "websocket.allowed_origins", Default: []string{}, Usage: `host patterns of other origins whose pages may connect (path.Match, e.g. "*.example.com")`},
		{Name: "websocket.max_connections", Default: 10000, Usage: "open connections at most; one more is closed at once with status 1013"},
		{Name: "websocket.max_isins", Default: 1000, Usage: "ISINs in one subscription at most (a subscription to all has no such limit)"},
		{Name: "websocket.max_message_bytes", Default: 32768, Usage: "largest message a client may send; a larger one closes its connection with status 1009"},
		{Name: "websocket.ping_interval", Default: 20 * time.Second, Usage: "each client is pinged this often; one that has not answered by the next ping is closed"},
		{Name: "websocket.write_timeout", Default: 10 * time.Second, Usage: "longest a write to one client may take; a slower client is disconnected"},
		{Name: "websocket.max_lag", Default: 10 * time.Second, Usage: "longest an update may wait for a client; one that stays further behind is closed (4008)"},
	}...)
	keys = append(keys, logging.Keys()...)
	return configload.Spec{
		Service: serviceName,
		Summary: `gateway serves the sink's Redis (redis.format envelope) to browsers: a WebSocket feed of the latest
trade per ISIN per window, never an older window, and a live page, on http.addr with /metrics,
/healthz and /readyz.`,
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
	if err := c.Redis.Config.Validate(); err != nil {
		return err
	}
	ws := c.WebSocket
	switch {
	case c.Redis.Channel == "":
		return invalid("redis.channel", "must not be empty")
	case c.Redis.SnapshotKey == "":
		return invalid("redis.snapshot_key", "must not be empty")
	case ws.MaxConnections < 1:
		return invalid("websocket.max_connections", "%d: must be at least 1", ws.MaxConnections)
	case ws.MaxISINs < 1:
		return invalid("websocket.max_isins", "%d: must be at least 1", ws.MaxISINs)
	case ws.MaxMessageBytes < 256:
		return invalid("websocket.max_message_bytes", "%d: must be at least 256", ws.MaxMessageBytes)
	case ws.PingInterval <= 0:
		return invalid("websocket.ping_interval", "must be positive")
	case ws.WriteTimeout <= 0:
		return invalid("websocket.write_timeout", "must be positive")
	case ws.MaxLag <= 0:
		return invalid("websocket.max_lag", "must be positive")
	}
	for _, origin := range ws.AllowedOrigins {
		if strings.TrimSpace(origin) == "" {
			return invalid("websocket.allowed_origins", "holds an empty pattern")
		}
		if origin == "*" {
			return invalid("websocket.allowed_origins", `"*" would let any web site's scripts read the feed with its visitors' browsers: list the origins`)
		}
	}
	if err := c.HTTP.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

// Secrets returns the configured credentials, for log redaction.
func (c Config) Secrets() []string {
	if c.Redis.Password != "" {
		return []string{c.Redis.Password}
	}
	return nil
}

// String describes the configuration for a start-up log line, without secrets.
func (c Config) String() string {
	return fmt.Sprintf("%s channel=%s snapshot=%s origins=%q max_connections=%d max_isins=%d max_lag=%s",
		c.Redis.Config, c.Redis.Channel, c.Redis.SnapshotKey, c.WebSocket.AllowedOrigins,
		c.WebSocket.MaxConnections, c.WebSocket.MaxISINs, c.WebSocket.MaxLag)
}

// Logging is the log.* keys (servicecmd.Config).
func (c Config) Logging() logging.Config { return c.Log }
