package testkit

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Outage is what a service binary wrote and answered while a dependency was
// unreachable for the whole of a RunOutage.
type Outage struct {
	// Lines are the JSON log lines it wrote, decoded, in order.
	Lines []map[string]any
	// Started is when the process was started, for reading the lines'
	// times against.
	Started time.Time
	// Readyz is the body /readyz answered at the end, before the stop.
	ReadyzCode int
	Readyz     string
}

// OutageFor is how long RunOutage runs a service: long enough for several
// backoff and folding steps.
const OutageFor = 30 * time.Second

// RunOutage runs the binary of service (Binary) with args, JSON logs and an
// HTTP address of its own, in an empty directory, for OutageFor; reads
// /readyz; then stops it with SIGTERM: it must exit 0. The caller points the
// service at brokers and Redis that are not there, and bounds what it wrote.
func RunOutage(t testing.TB, service string, args ...string) Outage {
	t.Helper()
	bin := Binary(t, service)
	httpAddr := FreeAddr(t)
	cmd := exec.Command(bin, append(args, "--http.addr="+httpAddr, "--log.format=json")...)
	cmd.Dir = t.TempDir() // no configs/ here
	var stderr SyncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	out := Outage{Started: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("%s exited during the outage (%v): it must keep retrying:\n%s", bin, err, stderr.String())
	case <-time.After(OutageFor):
	}
	out.ReadyzCode, out.Readyz = Readyz(httpAddr)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s stopped with %v after SIGTERM, want exit 0", bin, err)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("%s did not stop within a minute of SIGTERM", bin)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a line that is not JSON: %q", line)
		}
		out.Lines = append(out.Lines, m)
	}
	return out
}

// First returns the first line whose message is msg, and how long after the
// start it was written; ok is false when there is none.
func (o Outage) First(msg string) (line map[string]any, after time.Duration, ok bool) {
	for _, l := range o.Lines {
		if l["msg"] != msg {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, l["time"].(string))
		if err != nil {
			return l, 0, true
		}
		return l, at.Sub(o.Started), true
	}
	return nil, 0, false
}

// Summary is the lines' messages with their counts, for a failure message.
func (o Outage) Summary() string {
	counts := map[string]int{}
	var order []string
	for _, l := range o.Lines {
		msg, _ := l["msg"].(string)
		if len(msg) > 100 {
			msg = msg[:100] + "..."
		}
		if counts[msg] == 0 {
			order = append(order, msg)
		}
		counts[msg]++
	}
	var b strings.Builder
	for _, msg := range order {
		fmt.Fprintf(&b, "  %4d x %s\n", counts[msg], msg)
	}
	return b.String()
}
