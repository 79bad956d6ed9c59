package testkit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process a test owns: started on a free loopback
// port in the test's temporary directory and stopped when the test ends.
type Redis struct {
	// Addr is host:port of the server.
	Addr string
	// Username and Password are the credentials of the ACL user made with
	// WithRedisUser, empty otherwise (the default user, no password).
	Username, Password string

	t       testing.TB
	bin     string
	dir     string
	args    []string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	output  *lockedWriter
	clients []*redis.Client
}

// RedisOption configures StartRedis.
type RedisOption func(*redisOptions)

type redisOptions struct {
	user, password string
	persistent     bool
}

// WithRedisUser creates an ACL user with every permission and turns the
// default user off, so that only name with password can connect.
func WithRedisUser(name, password string) RedisOption {
	return func(o *redisOptions) { o.user, o.password = name, password }
}

// WithRedisPersistence turns on the append-only file with fsync on every
// write, so that what Redis acknowledged survives Kill and Restart.
func WithRedisPersistence() RedisOption {
	return func(o *redisOptions) { o.persistent = true }
}

// StartRedis starts a redis-server on a free loopback port, installing
// Debian's redis-server package first when the binary is missing, and
// returns once the server answers PING. The server is killed when the test
// ends.
func StartRedis(t testing.TB, opts ...RedisOption) *Redis {
	t.Helper()
	var o redisOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := redisServerBinary(t)
	dir := t.TempDir()
	args := []string{"--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--logfile", "", "--protected-mode", "no"}
	if o.persistent {
		args = []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--bind", "127.0.0.1", "--dir", dir,
			"--daemonize", "no", "--logfile", "", "--protected-mode", "no"}
	}
	if o.user != "" {
		// Through a config file: ACL rules begin with characters ('>', '~')
		// that are awkward on a command line, and the file keeps the password
		// out of the process list.
		conf := filepath.Join(dir, "users.conf")
		body := fmt.Sprintf("user default off\nuser %s on >%s ~* &* +@all\n", o.user, o.password)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{conf}, args...)
	}
	r := &Redis{Username: o.user, Password: o.password, t: t, bin: bin, dir: dir, args: args}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = r.start(); lastErr == nil {
			t.Cleanup(r.stop)
			return r
		}
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

// Client returns a go-redis client for the server, with the ACL user's
// credentials when there is one, closed when the test ends.
func (r *Redis) Client() *redis.Client {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: r.Username, Password: r.Password,
		MaxRetries: -1, DialTimeout: time.Second})
	r.mu.Lock()
	r.clients = append(r.clients, c)
	r.mu.Unlock()
	return c
}

// Kill stops the server with SIGKILL, as a crash would, and waits until it
// has exited.
func (r *Redis) Kill() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.cmd = nil
}

// Restart kills the server when it runs and starts it again on the same
// port: its script cache is empty afterwards, and its data is gone unless
// WithRedisPersistence was given.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	var err error
	// The port was ours a moment ago; a brief retry covers a slow release.
	for attempt := 0; attempt < 20; attempt++ {
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("restarting redis-server on %s: %v", r.Addr, err)
}

// start runs redis-server on r.Addr and waits until it answers PING.
func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, port, _ := net.SplitHostPort(r.Addr)
	cmd := exec.Command(r.bin, append(append([]string{}, r.args...), "--port", port)...)
	cmd.Dir = r.dir
	out := &lockedWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited at start:\n%s", out)
		default:
		}
		err := ping(r.Addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within 10s: %v\n%s", r.Addr, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.cmd, r.exited, r.output = cmd, exited, out
	return nil
}

// ping sends an inline PING and accepts any reply: +PONG, or -NOAUTH when
// the default user is off. Either means the server is serving.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	reply := make([]byte, 64)
	n, err := conn.Read(reply)
	if err != nil {
		return err
	}
	if n == 0 || (reply[0] != '+' && reply[0] != '-') {
		return fmt.Errorf("unexpected reply %q", reply[:n])
	}
	return nil
}

func (r *Redis) stop() {
	r.mu.Lock()
	clients := r.clients
	r.clients = nil
	r.mu.Unlock()
	for _, c := range clients {
		_ = c.Close()
	}
	r.Kill()
}

// redisInstall makes sure one test process runs apt-get at most once.
var redisInstall struct {
	once sync.Once
	path string
	err  error
}

// redisServerBinary finds redis-server, installing Debian's package when it
// is missing.
func redisServerBinary(t testing.TB) string {
	t.Helper()
	redisInstall.once.Do(func() {
		redisInstall.path, redisInstall.err = findOrInstallRedis()
	})
	if redisInstall.err != nil {
		t.Fatalf("redis-server is needed by this test and could not be installed: %v", redisInstall.err)
	}
	return redisInstall.path
}

func findOrInstallRedis() (string, error) {
	if path, err := lookRedis(); err == nil {
		return path, nil
	}
	// Test binaries of several packages run at once; a file lock keeps their
	// apt-get runs from tripping over dpkg's own lock.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "tickcompact-apt.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if path, err := lookRedis(); err == nil {
		return path, nil
	}
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120", "redis-server")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err != nil {
		upd, uerr := exec.Command("apt-get", "update").CombinedOutput()
		if uerr != nil {
			return "", fmt.Errorf("apt-get install redis-server: %v\n%s\napt-get update: %v\n%s", err, tail(out), uerr, tail(upd))
		}
		if out, err = install(); err != nil {
			return "", fmt.Errorf("apt-get install redis-server (after apt-get update): %v\n%s", err, tail(out))
		}
	}
	path, err := lookRedis()
	if err != nil {
		return "", fmt.Errorf("apt-get installed redis-server, yet it is not found: %w", err)
	}
	return path, nil
}

func lookRedis() (string, error) {
	if path, err := exec.LookPath("redis-server"); err == nil {
		return path, nil
	}
	const debianPath = "/usr/bin/redis-server"
	if _, err := os.Stat(debianPath); err != nil {
		return "", fmt.Errorf("redis-server not in PATH nor at %s", debianPath)
	}
	return debianPath, nil
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lockedWriter collects the server's stdout and stderr in one buffer.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
