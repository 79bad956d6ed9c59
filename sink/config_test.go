package sink

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"tickcompact/internal/configload"
	"tickcompact/internal/tools/testkit"
)

func TestDefaults(t *testing.T) {
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	r := cfg.Redis
	switch {
	case cfg.Input.Topic != "trades-2s", cfg.Input.Group != "tickcompact-sink", cfg.Input.Start != "earliest":
		t.Fatalf("input defaults: %+v", cfg.Input)
	case r.Addr != "127.0.0.1:6379", r.Channel != "trades:2s", r.SnapshotKey != "trades:latest", r.StreamKey != "",
		r.StreamMaxLen != 100000, r.BatchSize != 500, r.ClusterMode():
		t.Fatalf("redis defaults: %+v", r)
	case cfg.HTTP.Addr != ":9102", cfg.Log.Level != "info", cfg.Log.Format != "json":
		t.Fatalf("http/log defaults: %+v %+v", cfg.HTTP, cfg.Log)
	case r.WindowEndKey() != "trades:latest:window-end":
		t.Fatalf("companion key = %q", r.WindowEndKey())
	}
}

func TestLoadConfigLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sink.yaml")
	if err := os.WriteFile(file, []byte("redis:\n  addr: file:6379\n  db: 2\n  channel: 'px:{isin}'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig([]string{"--config", file, "--redis.db=3"},
		[]string{"SINK_REDIS_ADDR=env:6380", "SINK_REDIS_PASSWORD=pw", "SINK_KAFKA_PROPERTIES_SASL_PASSWORD=kpw"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.Addr != "env:6380" || cfg.Redis.DB != 3 || cfg.Redis.Channel != "px:{isin}" || cfg.Redis.Password != "pw" {
		t.Fatalf("layers not applied: %+v", cfg.Redis)
	}
	secrets := cfg.Secrets()
	sort.Strings(secrets)
	if strings.Join(secrets, ",") != "kpw,pw" {
		t.Fatalf("Secrets() = %v, want the Redis and SASL passwords", secrets)
	}
	if strings.Contains(cfg.String(), "pw") {
		t.Fatalf("String() reveals a password: %s", cfg.String())
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantKey string
		wantMsg string
	}{
		{"no brokers", func(c *Config) { c.Kafka.Brokers = " " }, "kafka.brokers", ""},
		{"no topic", func(c *Config) { c.Input.Topic = "" }, "input.topic", ""},
		{"bad start", func(c *Config) { c.Input.Start = "beginning" }, "input.start", "earliest or latest"},
		{"overridden isolation", func(c *Config) { c.Kafka.Properties = map[string]string{"isolation.level": "read_uncommitted"} }, "kafka.properties", "isolation.level"},
		{"overridden auto commit", func(c *Config) { c.Kafka.Properties = map[string]string{"enable.auto.commit": "true"} }, "kafka.properties", "enable.auto.commit"},
		{"overridden client id", func(c *Config) { c.Kafka.Properties = map[string]string{"client.id": "mine"} }, "kafka.properties", "client.id"},
		{"offset reset through properties", func(c *Config) { c.Kafka.Properties = map[string]string{"auto.offset.reset": "latest"} }, "kafka.properties", "use input.start"},
		{"no redis addr", func(c *Config) { c.Redis.Addr = " , " }, "redis.addr", ""},
		{"addr without port", func(c *Config) { c.Redis.Addr = "redis.local" }, "redis.addr", "host:port"},
		{"addr as a URL with credentials", func(c *Config) { c.Redis.Addr = "redis://u:hunter2@h" }, "redis.addr", "redis.password"},
		{"negative db", func(c *Config) { c.Redis.DB = -1 }, "redis.db", ""},
		{"no channel", func(c *Config) { c.Redis.Channel = "" }, "redis.channel", ""},
		{"no snapshot key", func(c *Config) { c.Redis.SnapshotKey = "" }, "redis.snapshot_key", ""},
		{"stream without maxlen", func(c *Config) { c.Redis.StreamKey = "s"; c.Redis.StreamMaxLen = 0 }, "redis.stream_maxlen", ""},
		{"stream is the companion", func(c *Config) { c.Redis.StreamKey = "trades:latest:window-end" }, "redis.stream_key", ""},
		{"unknown format", func(c *Config) { c.Redis.Format = "json" }, "redis.format", ""},
		{"batch size zero", func(c *Config) { c.Redis.BatchSize = 0 }, "redis.batch_size", ""},
		{"ca file without tls", func(c *Config) { c.Redis.TLSCAFile = "/ca.pem" }, "redis.tls", ""},
		{"cluster and sentinel", func(c *Config) { c.Redis.Cluster = true; c.Redis.MasterName = "m" }, "redis.cluster", ""},
		{"cluster without hash tag", func(c *Config) { c.Redis.Cluster = true }, "redis.snapshot_key", "hash tag"},
		{"cluster by address list", func(c *Config) { c.Redis.Addr = "a:7000,b:7001" }, "redis.snapshot_key", "hash tag"},
		{"cluster empty hash tag", func(c *Config) { c.Redis.Cluster = true; c.Redis.SnapshotKey = "{}:latest" }, "redis.snapshot_key", "hash tag"},
		{"cluster stream in another slot", func(c *Config) {
			c.Redis.Cluster = true
			c.Redis.SnapshotKey = "{trades}:latest"
			c.Redis.StreamKey = "{other}:stream"
		}, "redis.stream_key", "{trades}"},
		{"cluster db", func(c *Config) { c.Redis.Cluster = true; c.Redis.SnapshotKey = "{t}:l"; c.Redis.DB = 1 }, "redis.db", "Cluster"},
		{"bad log level", func(c *Config) { c.Log.Level = "loud" }, "log.level", ""},
		{"no http addr", func(c *Config) { c.HTTP.Addr = "" }, "http.addr", ""},
		{"zero timeout", func(c *Config) { c.Redis.Timeout = 0 }, "redis.timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			if err := loadDefaults(&cfg); err != nil {
				t.Fatal(err)
			}
			tt.edit(&cfg)
			err := cfg.Validate()
			var cerr *configload.Error
			if !errors.As(err, &cerr) || !errors.Is(err, configload.ErrInvalid) {
				t.Fatalf("err = %v, want a configload error", err)
			}
			if cerr.Key != tt.wantKey || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v (key %q), want key %q mentioning %q", err, cerr.Key, tt.wantKey, tt.wantMsg)
			}
		})
	}
}

func TestValidateAcceptsClusterWithSharedHashTag(t *testing.T) {
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Redis.Addr = "10.0.0.1:7000, 10.0.0.2:7000"
	cfg.Redis.SnapshotKey = "{trades}:latest"
	cfg.Redis.StreamKey = "{trades}:stream"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.Redis.ClusterMode() {
		t.Fatal("two addresses are not Cluster mode")
	}
	cfg.Redis.MasterName = "mymaster"
	if cfg.Redis.ClusterMode() {
		t.Fatal("Sentinel addresses taken for Cluster")
	}
}

func TestHashTag(t *testing.T) {
	for key, want := range map[string]string{
		"{trades}:latest": "trades", "a{b}c{d}": "b", "trades:latest": "", "{}x": "", "x{": "", "}{a}": "a", "{a": "",
	} {
		if got := HashTag(key); got != want {
			t.Errorf("HashTag(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestBadCAFileIsConfigError(t *testing.T) {
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Redis.TLS = true
	cfg.Redis.TLSCAFile = filepath.Join(t.TempDir(), "missing.pem")
	_, err := New(cfg, nil)
	var cerr *configload.Error
	if !errors.As(err, &cerr) || cerr.Key != "redis.tls_ca_file" {
		t.Fatalf("err = %v, want a config error naming redis.tls_ca_file", err)
	}
}

// TestConfigFileDocumentsEveryKey checks configs/sink.yaml: it loads, holds
// every key with its default, in Spec's order, and comments each one.
func TestConfigFileDocumentsEveryKey(t *testing.T) {
	for _, p := range configload.CheckDocumented(Spec(), filepath.Join("..", "configs", "sink.yaml")) {
		t.Error(p)
	}
}

// TestBinaryExitsTwoOnBadConfig runs the built command: a bad configuration
// ends it with code 2 and a message naming the key, before it connects.
func TestBinaryExitsTwoOnBadConfig(t *testing.T) {
	bin := testkit.Binary(t, "sink")
	tests := []struct {
		name    string
		args    []string
		env     []string
		wantKey string
	}{
		{"cluster without hash tag", []string{"--redis.addr=127.0.0.1:1,127.0.0.1:2"}, nil, "redis.snapshot_key"},
		{"unknown flag", []string{"--redis.adress=x:1"}, nil, "redis.adress"},
		{"unknown env", nil, []string{"SINK_REDIS_ADRESS=x:1"}, "SINK_REDIS_ADRESS"},
		{"bad duration", []string{"--redis.timeout=3"}, nil, "redis.timeout"},
		{"bad start", []string{"--input.start=middle"}, nil, "input.start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(tt.args, "--redis.password=hunter2-secret", "--http.addr=127.0.0.1:0")...)
			cmd.Dir = t.TempDir() // no configs/sink.yaml here
			cmd.Env = append(os.Environ(), tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 2 {
					t.Fatalf("exit = %v, want code 2; stderr: %s", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("the sink did not exit on a bad configuration")
			}
			if !strings.Contains(stderr.String(), tt.wantKey) {
				t.Fatalf("stderr does not name %s: %s", tt.wantKey, stderr.String())
			}
			if strings.Contains(stderr.String(), "hunter2-secret") {
				t.Fatalf("stderr reveals the password: %s", stderr.String())
			}
		})
	}
}

func TestValidateDoesNotEchoCredentialsInRedisAddr(t *testing.T) {
	var cfg Config
	if err := loadDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"redis://alice:hunter2@redis.local:6379", "redis://u:hun,ter2@h:6379", "redis://h:6379/0?password=hunter2", "hunter2@h:6379"} {
		cfg.Redis.Addr = addr
		err := cfg.Validate()
		if err == nil {
			t.Fatalf("%s was accepted", addr)
		}
		if strings.Contains(err.Error(), "hun") || strings.Contains(err.Error(), "ter2") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}
