package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// service is a running aggregator, sink or gateway binary.
type service struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	perf    *exec.Cmd
	// BaseURL is http://host:port of its /metrics, /readyz.
	BaseURL string
}

// startService runs bin with args from an empty working directory (so no
// configs/*.yaml is picked up: defaults, then the flags), logging to a file in
// dir, and returns once the service has logged its HTTP address. With
// profileDir, perf records the process's CPU profile (call graphs through
// frame pointers) into profileDir/<name>-<pid>.perf.data until it exits.
func startService(ctx context.Context, name, bin, dir, profileDir string, extraEnv, args []string) (*service, error) {
	runDir, err := os.MkdirTemp(dir, name+"-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(runDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = runDir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(serviceEnv(), extraEnv...)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &service{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(s.exited) }()
	if profileDir != "" {
		out := filepath.Join(profileDir, fmt.Sprintf("%s-%d.perf.data", name, cmd.Process.Pid))
		perf := exec.Command("perf", "record", "-q", "-F", "499", "-g", "-p", strconv.Itoa(cmd.Process.Pid), "-o", out)
		perf.Stdout, perf.Stderr = logFile, logFile
		if err := perf.Start(); err == nil {
			s.perf = perf
		}
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		if addr := s.httpAddrFromLog(); addr != "" {
			s.BaseURL = "http://" + addr
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited at start; log %s:\n%s", name, logPath, s.logTail())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s logged no HTTP address within 30s; log %s", name, logPath)
		}
	}
}

// serviceEnv is this process's environment without AGGREGATOR_, SINK_ and
// GATEWAY_ variables, which would otherwise configure the services behind the
// benchmark's back (or stop them: unknown keys are errors).
func serviceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AGGREGATOR_") || strings.HasPrefix(kv, "SINK_") || strings.HasPrefix(kv, "GATEWAY_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// httpAddrFromLog finds the "http" field of the start-up log line.
func (s *service) httpAddrFromLog() string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var line struct {
			HTTP string `json:"http"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.HTTP != "" {
			return line.HTTP
		}
	}
	return ""
}

func (s *service) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// Pid is the process id.
func (s *service) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (s *service) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Metrics scrapes the service's /metrics.
func (s *service) Metrics(ctx context.Context) (Scrape, error) {
	return ScrapeMetrics(ctx, s.BaseURL+"/metrics")
}

// SaveProfile writes the service's /debug/pprof/<name> (served with
// --http.pprof=true) to path.
func (s *service) SaveProfile(ctx context.Context, name, path string) error {
	resp, err := getOK(ctx, s.BaseURL+"/debug/pprof/"+name, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, body, 0o644)
}

// WaitReady polls /readyz until it answers 200.
func (s *service) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL+"/readyz", nil)
		resp, err := scrapeClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if s.Exited() {
			return fmt.Errorf("%s exited; log %s:\n%s", s.name, s.logPath, s.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v; log %s", s.name, timeout, s.logPath)
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// Stop sends SIGTERM and waits up to 30 s, then kills the process; it
// then stops perf, when it records the process.
func (s *service) Stop() {
	if !s.Exited() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.perf != nil {
		_ = s.perf.Process.Signal(syscall.SIGINT)
		_ = s.perf.Wait()
		s.perf = nil
	}
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes.
func (s *service) PeakRSS() (int64, error) { return procStatusBytes(s.Pid(), "VmHWM") }

// RSS returns the process's current resident set size (VmRSS) in bytes.
func (s *service) RSS() (int64, error) { return procStatusBytes(s.Pid(), "VmRSS") }

func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return statusField(string(b), field)
}

// statusField parses "<field>:   123456 kB" from /proc/<pid>/status text.
func statusField(status, field string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected %s line %q", field, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		return kb * 1024, err
	}
	return 0, errors.New("no " + field + " in /proc status")
}
