package servicecmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"tickcompact/internal/logging"
)

// childEnv makes the test binary run a service command instead of the tests.
const childEnv = "SERVICECMD_TEST_CHILD"

type testConfig struct{}

func (testConfig) String() string          { return "test" }
func (testConfig) Logging() logging.Config { return logging.Config{Level: "info", Format: "text"} }
func (testConfig) Secrets() []string       { return nil }

// stuckService stops only when its context ends, and then never finishes
// stopping: a stop that hangs.
type stuckService struct{ out io.Writer }

func (stuckService) HTTPAddr() string { return "-" }

func (s stuckService) Run(ctx context.Context) error {
	<-ctx.Done()
	fmt.Fprintln(s.out, "stopping")
	select {}
}

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(Main("stuck", nil, nil, os.Stdout, os.Stdout,
			func([]string, []string) (testConfig, error) { return testConfig{}, nil },
			func(testConfig, *slog.Logger) (Service, error) { return stuckService{out: os.Stdout}, nil }))
	}
	os.Exit(m.Run())
}

// The first SIGTERM starts the service's bounded stop; a second one ends the
// process at once, even when the stop hangs.
func TestSecondSignalEndsTheProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(out)
	waitFor := func(text string) {
		t.Helper()
		for lines.Scan() {
			if strings.Contains(lines.Text(), text) {
				return
			}
		}
		t.Fatalf("the command ended without writing %q", text)
	}
	waitFor("stuck starting")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("stopping")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("the command ended with %v, want killed by SIGTERM", err)
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Fatalf("the command ended with %v, want killed by SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the command still runs 30 s after the second SIGTERM")
	}
}
