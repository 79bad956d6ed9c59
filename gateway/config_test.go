package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tickcompact/internal/configload"
)

func TestConfigDefaultsAndLayers(t *testing.T) {
	cfg, err := LoadConfig([]string{"--config=" + os.DevNull}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.Redis.Channel != "trades:2s" || cfg.Redis.SnapshotKey != "trades:latest" ||
		cfg.WebSocket.MaxLag != 10*time.Second || len(cfg.WebSocket.AllowedOrigins) != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	yaml := "websocket:\n  allowed_origins: [\"app.example.com\", \"https://*.example.org\"]\n  max_isins: 50\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig([]string{"--config=" + file, "--websocket.max_lag=3s"},
		[]string{"GATEWAY_REDIS_ADDR=10.0.0.1:6380", "GATEWAY_WEBSOCKET_MAX_ISINS=60"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.WebSocket.AllowedOrigins, []string{"app.example.com", "https://*.example.org"}) ||
		cfg.WebSocket.MaxISINs != 60 || cfg.Redis.Addr != "10.0.0.1:6380" || cfg.WebSocket.MaxLag != 3*time.Second {
		t.Fatalf("layers: %+v", cfg)
	}
	cfg, err = LoadConfig([]string{"--config=" + os.DevNull, "--websocket.allowed_origins=a.example.com,b.example.com"}, nil)
	if err != nil || !slices.Equal(cfg.WebSocket.AllowedOrigins, []string{"a.example.com", "b.example.com"}) {
		t.Fatalf("origins from a flag: %v %v", cfg.WebSocket.AllowedOrigins, err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		environ []string
		key     string
	}{
		{[]string{"--websocket.allowed_origins=*"}, nil, "websocket.allowed_origins"},
		{[]string{"--websocket.max_connections=0"}, nil, "websocket.max_connections"},
		{[]string{"--websocket.max_message_bytes=10"}, nil, "websocket.max_message_bytes"},
		{[]string{"--websocket.ping_interval=20"}, nil, "websocket.ping_interval"},
		{[]string{"--websocket.max_lag=0s"}, nil, "websocket.max_lag"},
		{[]string{"--redis.addr=redis://u:secret@host:6379"}, nil, "redis.addr"},
		{[]string{"--redis.snapshot_key="}, nil, "redis.snapshot_key"},
		{nil, []string{"GATEWAY_WEBSOCKET_MAXLAG=1s"}, "GATEWAY_WEBSOCKET_MAXLAG"},
	} {
		_, err := LoadConfig(append([]string{"--config=" + os.DevNull}, tc.args...), tc.environ)
		var cerr *configload.Error
		if !errors.As(err, &cerr) || cerr.Key != tc.key || !errors.Is(err, configload.ErrInvalid) {
			t.Errorf("%v %v: err %v, want one naming %s", tc.args, tc.environ, err, tc.key)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
}

func TestChannelPattern(t *testing.T) {
	for channel, want := range map[string]string{
		"trades:2s:{isin}":   "trades:2s:*",
		"{isin}":             "*",
		"a*b?[c]:{isin}:end": `a\*b\?\[c\]:*:end`,
	} {
		if got := channelPattern(channel); got != want {
			t.Errorf("channelPattern(%q) = %q, want %q", channel, got, want)
		}
	}
}

// The shipped configs/gateway.yaml lists every key with its default and a
// comment, in Spec's order, so that it documents exactly what the gateway
// does with no file at all.
func TestShippedConfigMatchesDefaults(t *testing.T) {
	for _, p := range configload.CheckDocumented(Spec(), filepath.Join("..", "configs", "gateway.yaml")) {
		t.Error(p)
	}
}
