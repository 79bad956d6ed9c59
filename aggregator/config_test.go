package aggregator

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tickcompact/internal/configload"
)

// The shipped configs/aggregator.yaml must list every key with its default
// and a comment, in Spec's order, so that it documents exactly what the
// service does with no file at all.
func TestShippedConfigMatchesDefaults(t *testing.T) {
	for _, p := range configload.CheckDocumented(Spec(), filepath.Join("..", "configs", "aggregator.yaml")) {
		t.Error(p)
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
		{[]string{"--input.price_field=price"}, "input.volume_field"},
		{[]string{"--input.volume_field=volume"}, "input.price_field"},
		{[]string{"--input.price_field=isin", "--input.volume_field=volume"}, "input.price_field"},
		{[]string{"--input.price_field=price", "--input.volume_field=price"}, "input.volume_field"},
		{[]string{"--input.time_field=ts", "--input.price_field=price", "--input.volume_field=ts"}, "input.volume_field"},
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
	if good.Input.Fields().Aggregates() {
		t.Fatal("interval aggregates on by default")
	}
	on, err := LoadConfig(nil, []string{"AGGREGATOR_INPUT_PRICE_FIELD=px", "AGGREGATOR_INPUT_VOLUME_FIELD=qty"})
	if f := on.Input.Fields(); err != nil || !f.Aggregates() || f.Price != "px" || f.Volume != "qty" {
		t.Fatalf("aggregates from the environment: %+v, %v", f, err)
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
