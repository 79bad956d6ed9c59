package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process started like internal/tools/testkit's:
// a free loopback port, no persistence, in a directory of its own.
type redisServer struct {
	Addr string
	// Version is the server's redis_version.
	Version string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (make deps-redis installs it): %w", err)
	}
	runDir, err := os.MkdirTemp(dir, "redis-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", runDir, "--daemonize", "no", "--logfile", "", "--protected-mode", "no")
	cmd.Dir = runDir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	r := &redisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.exited) }()
	client := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for client.Ping(ctx).Err() != nil {
		select {
		case <-r.exited:
			return nil, fmt.Errorf("redis-server exited at start")
		default:
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer within 10s", r.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Version = "?"
	if info, err := client.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				r.Version = v
			}
		}
	}
	return r, nil
}

// Flush empties every database, so the next side starts cold.
func (r *redisServer) Flush(ctx context.Context) error {
	client := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer client.Close()
	return client.FlushAll(ctx).Err()
}

func (r *redisServer) Stop() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}
