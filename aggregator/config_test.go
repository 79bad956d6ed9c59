package aggregator

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"tickcompact/internal/configload"
)

// The shipped configs/aggregator.yaml must list every key with its default,
// so that it documents exactly what the service does with no file at all.
func TestShippedConfigMatchesDefaults(t *testing.T) {
	path := filepath.Join("..", "configs", "aggregator.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	flat := map[string]any{}
	flatten("", doc, flat, Defaults())
	for key := range Defaults() {
		if _, ok := flat[key]; !ok {
			t.Errorf("configs/aggregator.yaml does not document %s", key)
		}
	}
	fromFile, err := LoadConfig([]string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The test runs in aggregator/, where no configs/aggregator.yaml exists,
	// so no arguments means defaults only.
	fromDefaults, err := LoadConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, fromDefaults) {
		t.Fatalf("file and defaults differ:\nfile     %+v\ndefaults %+v", fromFile, fromDefaults)
	}
}

func flatten(prefix string, m map[string]any, out map[string]any, defaults map[string]any) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			if _, isMap := defaults[key].(map[string]string); !isMap {
				flatten(key, sub, out, defaults)
				continue
			}
		}
		out[key] = v
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		args []string
		key  string
	}{
		{[]string{"--window.size=7s"}, "window.size"},
		{[]string{"--window.size=1500us"}, "window.size"},
		{[]string{"--window.size=0s"}, "window.size"},
		{[]string{"--window.grace=-1s"}, "window.grace"},
		{[]string{"--window.idle_timeout=0s"}, "window.idle_timeout"},
		{[]string{"--input.start=middle"}, "input.start"},
		{[]string{"--input.topic=x", "--output.topic=x"}, "output.topic"},
		{[]string{"--output.replication=0"}, "output.replication"},
		{[]string{"--kafka.brokers="}, "kafka.brokers"},
		{[]string{"--kafka.properties=isolation.level=read_uncommitted"}, "kafka.properties"},
		{[]string{"--kafka.properties=client.id=mine"}, "kafka.properties"},
		{[]string{"--kafka.properties=partitioner=consistent"}, "kafka.properties"},
		{[]string{"--kafka.properties=enable.partition.eof=false"}, "kafka.properties"},
		{[]string{"--kafka.properties=transaction.timeout.ms=60000"}, "kafka.properties"},
		{[]string{"--log.level=loud"}, "log.level"},
		{[]string{"--output.commit_interval=20s"}, "output.commit_interval"},
	}
	for _, tt := range tests {
		_, err := LoadConfig(tt.args, nil)
		var cerr *configload.Error
		if !errors.As(err, &cerr) || cerr.Key != tt.key || !errors.Is(err, configload.ErrInvalid) {
			t.Errorf("%v: err = %v, want an invalid-config error for %s", tt.args, err, tt.key)
		}
	}
	good, err := LoadConfig([]string{"--window.size=500ms", "--window.grace=250ms"}, []string{"AGGREGATOR_WINDOW_IDLE_TIMEOUT=3s"})
	if err != nil || good.Window.Size != 500*time.Millisecond || good.Window.IdleTimeout != 3*time.Second {
		t.Fatalf("valid config rejected or misread: %+v, %v", good.Window, err)
	}
}

func TestConfigStringHasNoSecrets(t *testing.T) {
	cfg, err := LoadConfig([]string{"--kafka.properties=sasl.password=hunter2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cfg.String(), "hunter2") {
		t.Fatal("String() leaks a secret")
	}
}
