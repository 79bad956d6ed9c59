package opsserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."})
	reg.MustRegister(counter)
	counter.Add(7)
	var notReady atomic.Value
	notReady.Store("no partitions assigned")
	srv, err := Listen(Config{Addr: "127.0.0.1:0"}, reg, func() error {
		if s := notReady.Load().(string); s != "" {
			return errors.New(s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "no partitions assigned") {
		t.Fatalf("/readyz = %d %q, want 503 with the reason", code, body)
	}
	notReady.Store("")
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d after becoming ready", code)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "test_things_total 7") {
		t.Fatalf("/metrics lacks the counter: %s", body)
	}
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Fatalf("/debug/pprof/ = %d without http.pprof, want 404", code)
	}
}

func TestPprofWhenAsked(t *testing.T) {
	srv, err := Listen(Config{Addr: "127.0.0.1:0", Pprof: true}, prometheus.NewRegistry(), func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	resp, err := http.Get("http://" + srv.Addr() + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "heap profile:") {
		t.Fatalf("/debug/pprof/heap = %d %.200q, want a heap profile", resp.StatusCode, body)
	}
	cmd, err := http.Get("http://" + srv.Addr() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Body.Close()
	if cmd.StatusCode == 200 {
		t.Fatal("/debug/pprof/cmdline is served: it would show flags, passwords among them")
	}
}

func TestListenReportsTakenPort(t *testing.T) {
	first, err := Listen(Config{Addr: "127.0.0.1:0"}, prometheus.NewRegistry(), func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer first.listener.Close()
	if _, err := Listen(Config{Addr: first.Addr()}, prometheus.NewRegistry(), func() error { return nil }); err == nil || !strings.Contains(err.Error(), first.Addr()) {
		t.Fatalf("err = %v, want an error naming %s", err, first.Addr())
	}
}
