package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"tickcompact/internal/opsserver"
	"tickcompact/internal/readiness"
)

// WebSocketPath is where clients connect; the page is served at "/".
const WebSocketPath = "/ws"

// Service is one gateway instance. New binds its HTTP port; Run follows
// Redis and serves clients until its context ends.
type Service struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	// ready is /readyz: the dependency "redis" (redisReader keeps it).
	ready  *readiness.State
	redis  *readiness.Condition
	hub    *hub
	http   *opsserver.Server
	client redis.UniversalClient

	// base is Run's context, which ends every connection at shutdown.
	base context.Context
	// conns counts the connections being served, for a bounded shutdown.
	conns sync.WaitGroup
}

// New validates cfg, prepares the Redis client (reading the TLS CA file) and
// binds the HTTP address, so a bad configuration or a taken port fails
// before anything connects.
func New(cfg Config, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := cfg.Redis.NewClient("tickcompact-gateway")
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	ready := readiness.New(cfg.Secrets())
	s := &Service{cfg: cfg, logger: logger, metrics: m, ready: ready, redis: ready.Dependency("redis", "not subscribed yet"),
		hub: newHub(m, cfg.WebSocket.MaxConnections), client: client}
	srv, err := opsserver.Listen(cfg.HTTP, m.registry, s.ready.Check)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	srv.Handle(WebSocketPath, http.HandlerFunc(s.serveWebSocket))
	srv.Handle("/", pageHandler())
	s.http = srv
	return s, nil
}

// HTTPAddr is the address the page, /ws, /metrics, /healthz and /readyz are
// served on.
func (s *Service) HTTPAddr() string { return s.http.Addr() }

// Run serves until ctx is done (a clean stop returns nil), then closes every
// connection with status 1001 (going away) and returns once they are
// closed. Redis outages are not fatal: the gateway keeps its clients, and
// resynchronises them when Redis is back.
func (s *Service) Run(ctx context.Context) error {
	defer s.client.Close()
	s.base = ctx
	reader := &redisReader{client: s.client, cfg: s.cfg.Redis, hub: s.hub, metrics: s.metrics,
		logger: s.logger, redis: s.redis}
	err := s.http.Run(ctx, reader.run)
	s.conns.Wait()
	return err
}

// serveWebSocket upgrades the request and serves the connection until it
// ends.
func (s *Service) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if s.base == nil || s.base.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.WebSocket.AllowedOrigins})
	if err != nil {
		// Accept has answered (403 for a foreign origin, 4xx otherwise).
		s.metrics.rejected.WithLabelValues("handshake").Inc()
		s.logger.Info("websocket handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err.Error())
		return
	}
	conn.SetReadLimit(int64(s.cfg.WebSocket.MaxMessageBytes))
	c := newClient(conn, s.cfg.WebSocket, s.metrics, s.logger.With("remote", r.RemoteAddr))
	if !s.hub.register(c) {
		s.metrics.rejected.WithLabelValues("limit").Inc()
		_ = conn.Close(websocket.StatusTryAgainLater, fmt.Sprintf("too many connections (websocket.max_connections %d)", s.cfg.WebSocket.MaxConnections))
		return
	}
	s.conns.Add(1)
	defer s.conns.Done()
	defer s.hub.unregister(c)
	s.metrics.accepted.Inc()
	c.serve(s.base, s.hub)
}
