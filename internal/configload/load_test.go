package configload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Kafka struct {
		Brokers    string            `mapstructure:"brokers"`
		Properties map[string]string `mapstructure:"properties"`
	} `mapstructure:"kafka"`
	Window struct {
		Size  time.Duration `mapstructure:"size"`
		Grace time.Duration `mapstructure:"grace"`
	} `mapstructure:"window"`
	Input struct {
		Repartition bool   `mapstructure:"repartition"`
		IsinField   string `mapstructure:"isin_field"`
	} `mapstructure:"input"`
	Redis struct {
		DB int `mapstructure:"db"`
	} `mapstructure:"redis"`
}

var testSpec = Spec{
	Service: "svc",
	Defaults: map[string]any{
		"kafka.brokers":     "localhost:9092",
		"kafka.properties":  map[string]string{},
		"window.size":       2 * time.Second,
		"window.grace":      time.Duration(0),
		"input.repartition": false,
		"input.isin_field":  "isin",
		"redis.db":          0,
	},
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "svc.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	var cfg testConfig
	if err := Load(testSpec, nil, nil, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Brokers != "localhost:9092" || cfg.Window.Size != 2*time.Second || cfg.Input.IsinField != "isin" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}

func TestLoadPrecedenceFileEnvFlags(t *testing.T) {
	path := writeFile(t, `
kafka:
  brokers: file:9092
  properties:
    security.protocol: SASL_PLAINTEXT
    sasl.mechanism: SCRAM-SHA-512
window:
  size: 4s
  grace: 1s
input:
  isin_field: isinStockCode
redis:
  db: 3
`)
	env := []string{
		"SVC_WINDOW_SIZE=6s",
		"SVC_KAFKA_PROPERTIES_SASL_USERNAME=alice",
		"OTHER_WINDOW_SIZE=1h", // another service's variable is ignored
	}
	args := []string{"--config", path, "--window.grace=500ms", "--kafka.properties", "client.id=x", "--input.repartition"}
	var cfg testConfig
	if err := Load(testSpec, args, env, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Brokers != "file:9092" {
		t.Errorf("brokers = %q, want the file's", cfg.Kafka.Brokers)
	}
	if cfg.Window.Size != 6*time.Second {
		t.Errorf("size = %v, want env's 6s over file's 4s", cfg.Window.Size)
	}
	if cfg.Window.Grace != 500*time.Millisecond {
		t.Errorf("grace = %v, want flag's 500ms over file's 1s", cfg.Window.Grace)
	}
	if !cfg.Input.Repartition || cfg.Input.IsinField != "isinStockCode" || cfg.Redis.DB != 3 {
		t.Errorf("unexpected input/redis: %+v %+v", cfg.Input, cfg.Redis)
	}
	want := map[string]string{
		"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.username": "alice", "client.id": "x",
	}
	if len(cfg.Kafka.Properties) != len(want) {
		t.Errorf("properties = %v, want %v", cfg.Kafka.Properties, want)
	}
	for k, v := range want {
		if cfg.Kafka.Properties[k] != v {
			t.Errorf("properties[%q] = %q, want %q", k, cfg.Kafka.Properties[k], v)
		}
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     []string
		args    []string
		wantKey string
	}{
		{name: "unknown file key", file: "window:\n  sise: 2s\n", wantKey: "window.sise"},
		{name: "unknown top-level key", file: "windows:\n  size: 2s\n", wantKey: "windows.size"},
		{name: "bad duration in file", file: "window:\n  size: soon\n", wantKey: "window.size"},
		{name: "bare number duration", file: "window:\n  size: 2\n", wantKey: "window.size"},
		{name: "bad duration in env", env: []string{"SVC_WINDOW_GRACE=x"}, wantKey: "window.grace"},
		{name: "unknown env var", env: []string{"SVC_WINDOW_SIZES=2s"}, wantKey: "SVC_WINDOW_SIZES"},
		{name: "bad int flag", args: []string{"--redis.db=three"}, wantKey: "redis.db"},
		{name: "bad bool env", env: []string{"SVC_INPUT_REPARTITION=maybe"}, wantKey: "input.repartition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			var cfg testConfig
			err := Load(testSpec, args, tt.env, &cfg)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Key != tt.wantKey {
				t.Fatalf("err = %v (key %q), want key %q", err, keyOf(cerr), tt.wantKey)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("message %q does not name %q", err, tt.wantKey)
			}
		})
	}
}

func TestLoadBadMapFlagDoesNotShowItsValue(t *testing.T) {
	for _, arg := range []string{"--kafka.properties=sasl.password=hun=ter2,x", `--kafka.properties=sasl.password=hu"n=ter2`} {
		var cfg testConfig
		err := Load(testSpec, []string{arg}, nil, &cfg)
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Key != "kafka.properties" {
			t.Fatalf("%s: err = %v, want an invalid-config error for kafka.properties", arg, err)
		}
		if strings.Contains(err.Error(), "ter2") {
			t.Fatalf("%s: the error shows the value: %v", arg, err)
		}
	}
}

func TestLoadUnknownFlag(t *testing.T) {
	var cfg testConfig
	err := Load(testSpec, []string{"--window.sise=1s"}, nil, &cfg)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "window.sise") {
		t.Fatalf("err = %v, want an invalid-config error naming window.sise", err)
	}
}

func TestLoadMissingExplicitFile(t *testing.T) {
	var cfg testConfig
	err := Load(testSpec, []string{"--config", "/nonexistent/x.yaml"}, nil, &cfg)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func keyOf(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Key
}
