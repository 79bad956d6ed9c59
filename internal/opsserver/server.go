// Package opsserver serves a service's operational HTTP endpoints: /metrics
// (Prometheus), /healthz (the process is alive), /readyz (200 only when the
// service says it can make progress, 503 with the reason otherwise) and, when
// asked for, /debug/pprof/.
package opsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadinessFunc returns nil when the service is ready, or the reason it is not.
type ReadinessFunc func() error

// Server is the operational HTTP server of one service instance.
type Server struct {
	listener net.Listener
	server   *http.Server
	mux      *http.ServeMux
}

// Listen binds addr (":9101", "127.0.0.1:0") so that a taken port is reported
// before the service connects to anything. With pprof, Go's runtime profiles
// (net/http/pprof) are served under /debug/pprof/ as well.
func Listen(cfg Config, registry *prometheus.Registry, ready ReadinessFunc) (*Server, error) {
	addr, pprof := cfg.Addr, cfg.Pprof
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: listening on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintln(w, "not ready:", err)
			return
		}
		_, _ = fmt.Fprintln(w, "ready")
	})
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		// Not /debug/pprof/cmdline: flags may carry passwords.
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	return &Server{
		listener: ln,
		server:   &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		mux:      mux,
	}, nil
}

// Handle serves handler for pattern (http.ServeMux's patterns) beside the
// operational endpoints, for a service that serves more than those on the
// same address. Call it before Serve.
func (s *Server) Handle(pattern string, handler http.Handler) { s.mux.Handle(pattern, handler) }

// ReadyGauge returns the gauge <namespace>_ready: 1 while ready reports the
// service ready (/readyz answers 200), else 0, read at each scrape.
func ReadyGauge(namespace string, ready ReadinessFunc) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "ready",
		Help: "1 while /readyz answers 200, else 0."}, func() float64 {
		if ready() != nil {
			return 0
		}
		return 1
	})
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Run serves beside work, a service's own work, until ctx is done or either
// fails; work's context ends when either does. A clean stop (ctx done,
// context.Canceled) returns nil.
func (s *Server) Run(ctx context.Context, work func(context.Context) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Serve(gctx) })
	g.Go(func() error { return work(gctx) })
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Serve serves until ctx is done, then shuts down within five seconds.
// It returns nil on a clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.server.Serve(s.listener) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.server.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: shutdown: %w", err)
	}
	return nil
}
