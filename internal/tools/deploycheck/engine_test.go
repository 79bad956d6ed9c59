//go:build containers

package deploycheck

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file drives podman and podman-compose for TestContainers. What the
// engine here does not do by itself, the test does in its place, and says so
// where it does:
//   - podman 4.3 runs HEALTHCHECKs only through systemd timers, and this
//     host has no systemd: healthRunner runs each container's own health
//     check at its own interval with `podman healthcheck run`, which is what
//     the timer would do;
//   - podman-compose ignores depends_on's service_healthy with podman before
//     4.6: the test starts the services in the file's dependency order and
//     waits for each condition (see startInDependencyOrder);
//   - podman build writes OCI images by default, which have no HEALTHCHECK:
//     every command runs with BUILDAH_FORMAT=docker, Docker's image format;
//   - podman-compose 1.6.0 takes one --scale per call and does not remove
//     the containers a lower --scale leaves over: the test scales one service
//     per call and stops and removes the extra containers itself, the
//     highest-numbered first, as Docker Compose does.

// engine runs one compose project of docker-compose.yml on podman.
type engine struct {
	t        *testing.T
	root     string
	compose  string // the podman-compose executable
	project  string
	profiles []string
	health   *healthRunner
}

func newEngine(t *testing.T, project string, profiles ...string) *engine {
	t.Helper()
	compose := os.Getenv("PODMAN_COMPOSE")
	if compose == "" {
		compose = "podman-compose"
	}
	for _, tool := range []string{"podman", compose} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (make test-containers installs podman and podman-compose through scripts/ensure-podman.sh): %v", tool, err)
		}
	}
	return &engine{t: t, root: repoRoot(t), compose: compose, project: project, profiles: profiles}
}

// network is the compose project's default network.
func (e *engine) network() string { return e.project + "_default" }

// run runs a command and returns its combined output, failing with it.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "BUILDAH_FORMAT=docker")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, lastLines(string(out), 30))
	}
	return string(out), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (e *engine) podman(ctx context.Context, args ...string) (string, error) {
	return run(ctx, "podman", args...)
}

// composeCmd runs podman-compose on docker-compose.yml, unchanged, as project
// e.project with e.profiles; containers are not put in a pod (Docker Compose
// has none).
func (e *engine) composeCmd(ctx context.Context, args ...string) (string, error) {
	base := []string{"--in-pod", "false", "-p", e.project, "-f", filepath.Join(e.root, "docker-compose.yml")}
	for _, p := range e.profiles {
		base = append(base, "--profile", p)
	}
	return run(ctx, e.compose, append(base, args...)...)
}

// containers returns the names of the project's containers of service, in
// container-number order, running or not.
func (e *engine) containers(ctx context.Context, service string) ([]string, error) {
	out, err := e.podman(ctx, "ps", "-a", "--filter", "label=io.podman.compose.project="+e.project,
		"--filter", "label=com.docker.compose.service="+service,
		"--format", `{{index .Labels "com.docker.compose.container-number"}} {{.Names}}`)
	if err != nil {
		return nil, err
	}
	type numbered struct {
		n    int
		name string
	}
	var list []numbered
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		num, name, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(num)
		list = append(list, numbered{n, name})
	}
	slices.SortFunc(list, func(a, b numbered) int { return a.n - b.n })
	names := make([]string, len(list))
	for i, c := range list {
		names[i] = c.name
	}
	return names, nil
}

// allContainers returns the names of every container of the project.
func (e *engine) allContainers(ctx context.Context) []string {
	out, err := e.podman(ctx, "ps", "-a", "--filter", "label=io.podman.compose.project="+e.project, "--format", "{{.Names}}")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

// containerState is what the test reads of `podman inspect`.
type containerState struct {
	Name  string
	State struct {
		Status    string
		Running   bool
		ExitCode  int
		Pid       int
		StartedAt time.Time
		Health    struct {
			Status string
		}
	}
	RestartCount int
	Config       struct {
		User        string
		Healthcheck *struct {
			Test     []string
			Interval time.Duration
		}
	}
}

func (e *engine) inspect(ctx context.Context, name string) (containerState, error) {
	out, err := e.podman(ctx, "container", "inspect", "--format", "json", name)
	if err != nil {
		return containerState{}, err
	}
	var states []containerState
	if err := json.Unmarshal([]byte(out), &states); err != nil || len(states) != 1 {
		return containerState{}, fmt.Errorf("podman inspect %s: %v (%d results)", name, err, len(states))
	}
	return states[0], nil
}

// hostPort returns the 127.0.0.1:port a container's port is published on.
func (e *engine) hostPort(ctx context.Context, name string, port int) (string, error) {
	out, err := e.podman(ctx, "port", name, fmt.Sprintf("%d/tcp", port))
	if err != nil {
		return "", err
	}
	addr := strings.TrimSpace(strings.Split(out, "\n")[0])
	if addr == "" {
		return "", fmt.Errorf("%s: port %d is not published", name, port)
	}
	return addr, nil
}

// processUID returns the real user ID of a running container's main process,
// as the host's kernel sees it (rootful podman maps no user namespace).
func processUID(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				return strconv.Atoi(fields[0])
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no Uid line", pid)
}

// logs returns the last lines of every container's log, for a failure.
func (e *engine) logs(ctx context.Context, lines int) string {
	var b strings.Builder
	for _, name := range e.allContainers(ctx) {
		out, _ := e.podman(ctx, "logs", "--tail", strconv.Itoa(lines), name)
		fmt.Fprintf(&b, "----- %s (last %d lines)\n%s\n", name, lines, strings.TrimRight(out, "\n"))
	}
	return b.String()
}

// down removes everything the project started: containers, its network and
// volumes (images stay). It is safe to call on a project that never started.
func (e *engine) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Every container first, with its anonymous volumes (the images declare
	// some: Kafka's data, Redis's and Prometheus's), which podman-compose
	// down leaves; then down for the network and the named volumes.
	for _, name := range e.allContainers(ctx) {
		_, _ = e.podman(ctx, "rm", "-f", "-v", name)
	}
	if _, err := e.composeCmd(ctx, "down", "-v"); err != nil {
		e.t.Logf("podman-compose down: %v", err)
	}
	_, _ = e.podman(ctx, "network", "rm", "-f", e.network())
	out, _ := e.podman(ctx, "volume", "ls", "-q", "--filter", "label=io.podman.compose.project="+e.project)
	for _, v := range strings.Fields(out) {
		_, _ = e.podman(ctx, "volume", "rm", "-f", v)
	}
}

// danglingImages returns the IDs of the untagged images: a build's stages
// other than its target.
func (e *engine) danglingImages(ctx context.Context) map[string]bool {
	out, _ := e.podman(ctx, "images", "-q", "--no-trunc", "--filter", "dangling=true")
	ids := map[string]bool{}
	for _, id := range strings.Fields(out) {
		ids[id] = true
	}
	return ids
}

// removeNewDangling removes the untagged images the run's builds left (the
// builder stage is most of a gigabyte each time the source changed); the
// tagged images stay. Images still in use are kept.
func (e *engine) removeNewDangling(before map[string]bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for id := range e.danglingImages(ctx) {
		if !before[id] {
			_, _ = e.podman(ctx, "rmi", id)
		}
	}
}

// healthRunner runs the health check of every running container of the
// project that has one, each at its own interval, in place of the systemd
// timers podman uses elsewhere. The check is the container's own
// (HEALTHCHECK or compose healthcheck); podman records its result, counts
// retries and honours the start period as it would with the timer.
type healthRunner struct {
	e      *engine
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	errors []string
}

func (e *engine) startHealthRunner() {
	h := &healthRunner{e: e, stop: make(chan struct{}), done: make(chan struct{})}
	e.health = h
	go h.run()
}

func (h *healthRunner) run() {
	defer close(h.done)
	next := map[string]time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := h.e.podman(ctx, "ps", "--filter", "label=io.podman.compose.project="+h.e.project, "--format", "{{.ID}}")
		if err != nil {
			cancel()
			continue
		}
		now := time.Now()
		for _, id := range strings.Fields(out) {
			if at, ok := next[id]; ok && now.Before(at) {
				continue
			}
			st, err := h.e.inspect(ctx, id)
			if err != nil || st.Config.Healthcheck == nil || len(st.Config.Healthcheck.Test) == 0 || st.Config.Healthcheck.Test[0] == "NONE" {
				next[id] = now.Add(time.Hour)
				continue
			}
			interval := st.Config.Healthcheck.Interval
			if interval <= 0 {
				interval = 30 * time.Second
			}
			next[id] = now.Add(interval)
			// A failing check exits non-zero; podman has recorded it.
			_, _ = h.e.podman(ctx, "healthcheck", "run", id)
		}
		cancel()
	}
}

func (h *healthRunner) close() {
	if h == nil {
		return
	}
	close(h.stop)
	<-h.done
}

// waitFor polls check every interval until it reports done, or fails with
// what check last said after timeout.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, check func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		done, state := check()
		if done {
			return nil
		}
		last = state
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v (last: %s)", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %s)", what, ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}
