package helmtest

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"tickcompact/internal/opsserver"
)

// The paths the probes must use: checkEndpoints holds them to the services'
// server.
const (
	healthPath = "/healthz"
	readyPath  = "/readyz"
)

// checkEndpoints asks the services' own operational server
// (internal/opsserver, which all three run on http.addr) what the
// container's probe paths answer while the service is not ready and once it
// is: the liveness path must answer 200 either way (Kubernetes restarts a
// container whose liveness probe fails, and a sink waiting for Redis must not
// be restarted for it), the readiness path 503, then 200.
func checkEndpoints(t *testing.T, deployment string, c corev1.Container) {
	t.Helper()
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil {
		return // reported by checkProbe
	}
	var ready atomic.Bool
	srv, err := opsserver.Listen(opsserver.Config{Addr: "127.0.0.1:0"}, prometheus.NewRegistry(), func() error {
		if ready.Load() {
			return nil
		}
		return errors.New("no partition assigned")
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	status := func(path string) int {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	liveness, readiness := c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path
	if got := status(liveness); got != http.StatusOK {
		t.Errorf("Deployment %s: liveness probe %s answers %d while the service is alive but not ready, want 200", deployment, liveness, got)
	}
	if got := status(readiness); got != http.StatusServiceUnavailable {
		t.Errorf("Deployment %s: readiness probe %s answers %d while the service is not ready, want 503", deployment, readiness, got)
	}
	ready.Store(true)
	if got := status(readiness); got != http.StatusOK {
		t.Errorf("Deployment %s: readiness probe %s answers %d once the service is ready, want 200", deployment, readiness, got)
	}
}
