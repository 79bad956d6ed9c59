// Package redisconn is how the services reach Redis: the redis.* keys that
// say where Redis is and how to log in (single node, Sentinel or Cluster,
// ACL user, TLS), their validation, and the go-redis client options made
// from them. The sink and the gateway embed Config in their own redis
// section.
package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"tickcompact/internal/configload"
)

// Config is the connection part of a service's redis section. Embed it
// with `mapstructure:",squash"` so its keys sit directly under redis.
type Config struct {
	// Addr is one host:port, or a comma-separated seed list for Cluster (more
	// than one address) or Sentinel (with MasterName).
	Addr string `mapstructure:"addr"`
	// MasterName, when set, makes Addr a list of Sentinels serving this master.
	MasterName string `mapstructure:"master_name"`
	// Cluster forces Redis Cluster mode even with a single seed address.
	Cluster bool `mapstructure:"cluster"`
	// Username is the ACL user; empty is the default user.
	Username string `mapstructure:"username"`
	// Password authenticates Username. It never appears in logs or errors.
	Password string `mapstructure:"password"`
	// DB is the database number (single node and Sentinel only).
	DB int `mapstructure:"db"`
	// TLS turns on TLS to Redis.
	TLS bool `mapstructure:"tls"`
	// TLSInsecureSkipVerify accepts any server certificate (tests only).
	TLSInsecureSkipVerify bool `mapstructure:"tls_insecure_skip_verify"`
	// TLSCAFile is a PEM file of CAs to verify the server with; empty uses the
	// system's.
	TLSCAFile string `mapstructure:"tls_ca_file"`
	// Timeout bounds each dial, read and write to Redis.
	Timeout time.Duration `mapstructure:"timeout"`
}

// Keys returns the connection keys with their defaults and descriptions, to
// add to a service's configload.Spec (service names its environment
// variables).
func Keys(service string) []configload.Key {
	return []configload.Key{
		{Name: "redis.addr", Default: "127.0.0.1:6379", Usage: "one host:port; several, comma-separated, mean Redis Cluster (or Sentinels with redis.master_name)"},
		{Name: "redis.master_name", Default: "", Usage: "Sentinel master name; when set, redis.addr lists the Sentinels"},
		{Name: "redis.cluster", Default: false, Usage: "Redis Cluster mode even with a single seed address"},
		{Name: "redis.username", Default: "", Usage: "ACL user name; empty is the default user"},
		{Name: "redis.password", Default: "", Usage: "password of the user; never logged (prefer " + configload.EnvName(service, "redis.password") + ")"},
		{Name: "redis.db", Default: 0, Usage: "database number (single node and Sentinel; 0 with Cluster)"},
		{Name: "redis.tls", Default: false, Usage: "connect to Redis with TLS"},
		{Name: "redis.tls_insecure_skip_verify", Default: false, Usage: "accept any server certificate (testing only; needs redis.tls)"},
		{Name: "redis.tls_ca_file", Default: "", Usage: "PEM file of CAs to verify the server with; empty: the system's (needs redis.tls)"},
		{Name: "redis.timeout", Default: 3 * time.Second, Usage: "bound of each dial, read and write to Redis"},
	}
}

// Validate checks the keys without any I/O; each error names its key.
func (c Config) Validate() error {
	invalid := configload.Invalid
	// A URL (redis://user:password@host/0?...) may hold credentials: it is
	// refused without being shown, here and in the start-up log line.
	if strings.ContainsAny(c.Addr, "@?") || strings.Contains(c.Addr, "://") {
		return invalid("redis.addr", "looks like a URL (the value is not shown: it may hold a password): give host:port[,host:port...] and set redis.username, redis.password and redis.db")
	}
	addrs := c.Addrs()
	if len(addrs) == 0 {
		return invalid("redis.addr", "must not be empty")
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return invalid("redis.addr", "%q is not host:port", a)
		}
	}
	switch {
	case c.MasterName != "" && c.Cluster:
		return invalid("redis.cluster", "cannot be combined with redis.master_name (Sentinel)")
	case c.DB < 0:
		return invalid("redis.db", "must not be negative")
	case c.ClusterMode() && c.DB != 0:
		return invalid("redis.db", "must be 0 with Redis Cluster (%d addresses in redis.addr)", len(addrs))
	case !c.TLS && (c.TLSInsecureSkipVerify || c.TLSCAFile != ""):
		return invalid("redis.tls", "must be true when redis.tls_insecure_skip_verify or redis.tls_ca_file is set")
	case c.Timeout <= 0:
		return invalid("redis.timeout", "must be positive")
	}
	return nil
}

// Addrs returns the addresses of redis.addr.
func (c Config) Addrs() []string {
	var out []string
	for _, a := range strings.Split(c.Addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// ClusterMode reports whether the client talks to a Redis Cluster.
func (c Config) ClusterMode() bool {
	return c.MasterName == "" && (c.Cluster || len(c.Addrs()) > 1)
}

// Mode names the deployment for start-up log lines: single, sentinel or
// cluster.
func (c Config) Mode() string {
	switch {
	case c.MasterName != "":
		return "sentinel"
	case c.ClusterMode():
		return "cluster"
	}
	return "single"
}

// Options translates c into go-redis options for a client named clientName
// (CLIENT LIST shows it), reading the CA file when one is named. A CA file
// that cannot be used is a configuration error. The client's own retries
// are kept short: the services retry with their own capped backoff, so a
// dead server is reported quickly.
func (c Config) Options(clientName string) (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Addrs:                 c.Addrs(),
		MasterName:            c.MasterName,
		IsClusterMode:         c.ClusterMode(),
		ClientName:            clientName,
		Username:              c.Username,
		Password:              c.Password,
		DB:                    c.DB,
		DialTimeout:           c.Timeout,
		ReadTimeout:           c.Timeout,
		WriteTimeout:          c.Timeout,
		MaxRetries:            1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
		// Protocol 2: RESP3 push handling adds nothing here.
		Protocol: 2,
	}
	if c.TLS {
		tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLSInsecureSkipVerify} //nolint:gosec // opt-in for tests
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, configload.Invalid("redis.tls_ca_file", "%v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, configload.Invalid("redis.tls_ca_file", "%s holds no PEM certificate", c.TLSCAFile)
			}
			tlsConfig.RootCAs = pool
		}
		opts.TLSConfig = tlsConfig
	}
	return opts, nil
}

// NewClient returns a go-redis client for c: single node, Sentinel or
// Cluster. It performs no network I/O; connections are made on first use.
func (c Config) NewClient(clientName string) (redis.UniversalClient, error) {
	opts, err := c.Options(clientName)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

// String describes the connection for a start-up log line, without secrets.
func (c Config) String() string {
	return fmt.Sprintf("redis=%s mode=%s user=%q tls=%v", c.Addr, c.Mode(), c.Username, c.TLS)
}
