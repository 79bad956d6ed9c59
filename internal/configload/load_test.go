package configload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tickcompact/internal/cli"
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
	Summary: "svc does what a test needs.",
	Keys: []Key{
		{Name: "kafka.brokers", Default: "localhost:9092", Usage: "bootstrap brokers"},
		{Name: "kafka.properties", Default: map[string]string{}, Usage: "librdkafka properties"},
		{Name: "window.size", Default: 2 * time.Second, Usage: "window size"},
		{Name: "window.grace", Default: time.Duration(0), Usage: "grace"},
		{Name: "input.repartition", Default: false, Usage: "re-key first"},
		{Name: "input.isin_field", Default: "isin", Usage: "ISIN field"},
		{Name: "redis.db", Default: 0, Usage: "database number"},
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

// validatedConfig has a Validate method, so Load adds the source of the key
// its error names.
type validatedConfig struct {
	testConfig `mapstructure:",squash"`
}

func (c validatedConfig) Validate() error {
	if c.Window.Size > time.Hour {
		return Invalid("window.size", "%v is longer than an hour", c.Window.Size)
	}
	if c.Kafka.Properties["client.id"] != "" {
		return InvalidEntry("kafka.properties", "client.id", "client.id is set by the service itself")
	}
	return nil
}

// Every error names the key and where its value came from: the file and
// line, the environment variable, the flag, or the default; and reads as a
// sentence without the parsers' own wording.
func TestLoadErrorsNameTheSource(t *testing.T) {
	file := writeFile(t, "kafka:\n  brokers: b:9092\n  properties:\n    client.id: mine\nwindow:\n  size: 2h\n  grace: soon\n")
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want []string // parts of the message
	}{
		{"bad duration in file", file, nil, nil,
			[]string{"window.grace", file + ", line 7", `"soon" is not a duration`}},
		{"bad duration in env", "", []string{"SVC_WINDOW_SIZE=abc"}, nil,
			[]string{"window.size", "environment variable SVC_WINDOW_SIZE", `"abc" is not a duration`}},
		{"bad int in env", "", []string{"SVC_REDIS_DB=abc"}, nil,
			[]string{"redis.db", "environment variable SVC_REDIS_DB", `"abc" is not a whole number`}},
		{"bad int flag", "", nil, []string{"--redis.db=1.5"},
			[]string{"redis.db", "flag --redis.db", `"1.5" is not a whole number`}},
		{"bad bool flag", "", nil, []string{"--input.repartition=maybe"},
			[]string{"input.repartition", "flag --input.repartition", `"maybe" is neither true nor false`}},
		{"bare number duration in file", writeFile(t, "window:\n  size: 2\n"), nil, nil,
			[]string{"window.size", "line 2", "2 has no unit"}},
		{"unknown key in file", writeFile(t, "window:\n  size: 2s\n  sise: 2s\n"), nil, nil,
			[]string{"window.sise", "line 3", "no such key"}},
		{"validate, value from file", file, []string{"SVC_WINDOW_GRACE=1s"}, []string{"--kafka.properties=acks=all"},
			[]string{"window.size", file + ", line 6", "longer than an hour"}},
		{"validate, value from flag", "", nil, []string{"--window.size=3h"},
			[]string{"window.size", "flag --window.size", "longer than an hour"}},
		{"validate, map entry from env", "", []string{"SVC_KAFKA_PROPERTIES_CLIENT_ID=x"}, nil,
			[]string{"kafka.properties", "environment variable SVC_KAFKA_PROPERTIES_CLIENT_ID", "client.id is set"}},
		{"validate, map entry from file", writeFile(t, "kafka:\n  properties:\n    client.id: mine\n"), nil, nil,
			[]string{"kafka.properties", "line 3", "client.id is set"}},
		{"validate, map entry from flag", "", nil, []string{"--kafka.properties=client.id=x"},
			[]string{"kafka.properties", "flag --kafka.properties", "client.id is set"}},
		{"missing flag value", "", nil, []string{"--window.size"},
			[]string{"window.size", "the value is missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", tt.file}, args...)
			}
			var cfg validatedConfig
			err := Load(testSpec, args, tt.env, &cfg)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, part := range tt.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("%q does not say %q", err, part)
				}
			}
			for _, raw := range []string{"strconv", "Parse", "invalid syntax", "mapstructure", "decoding"} {
				if strings.Contains(err.Error(), raw) {
					t.Errorf("%q shows a parser's own wording (%q)", err, raw)
				}
			}
		})
	}
}

func TestLoadBareBoolFlag(t *testing.T) {
	var cfg testConfig
	if err := Load(testSpec, []string{"--input.repartition"}, nil, &cfg); err != nil || !cfg.Input.Repartition {
		t.Fatalf("--input.repartition: repartition %v, err %v", cfg.Input.Repartition, err)
	}
}

// --help lists every key once, with its type, default and description, and
// reads nothing else (a bad environment does not matter).
func TestLoadHelp(t *testing.T) {
	var cfg testConfig
	err := Load(testSpec, []string{"--help"}, []string{"SVC_NO_SUCH_KEY=1"}, &cfg)
	var answer *cli.Answer
	if !errors.As(err, &answer) {
		t.Fatalf("err = %v, want a *cli.Answer", err)
	}
	for _, want := range []string{
		"svc does what a test needs.",
		"--kafka.brokers string", `bootstrap brokers (default "localhost:9092")`,
		"--window.size duration", "window size (default 2s)",
		"--window.grace duration", "--input.repartition[=true|false]", "re-key first\n",
		"--kafka.properties key=value,...",
		"--config string", "--help", "--version",
		"SVC_KAFKA_BROKERS", "Exit codes",
	} {
		if !strings.Contains(answer.Text, want) {
			t.Errorf("help lacks %q:\n%s", want, answer.Text)
		}
	}
	for _, k := range testSpec.Keys {
		if n := strings.Count(answer.Text, "--"+k.Name+" ") + strings.Count(answer.Text, "--"+k.Name+"["); n != 1 {
			t.Errorf("help lists --%s %d times", k.Name, n)
		}
	}
	if err := Load(testSpec, []string{"--version"}, nil, &cfg); !errors.As(err, &answer) || !strings.Contains(answer.Text, "revision") {
		t.Fatalf("--version: %v", err)
	}
}
