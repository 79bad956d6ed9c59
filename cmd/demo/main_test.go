package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tickcompact/internal/tools/testkit"
)

// TestMakeDemoCtrlC runs `make demo` as a person does, in an 80x24 terminal
// (a pseudo-terminal whose session make leads), waits for the board to be
// redrawn, and presses Ctrl-C: make must exit 0, after the demo's summary
// line. (Without the demo taking the terminal's foreground, make gets the
// SIGINT too and re-raises it: exit 130.) It also checks that the header
// and one board fit the 24 rows, so the header stays in view.
func TestMakeDemoCtrlC(t *testing.T) {
	master, tty := openPTY(t, 24, 80)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "-C", root, "demo")
	cmd.Env = append(os.Environ(), "DEMO_BIN="+filepath.Join(t.TempDir(), "demo"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it now; reads on master end when it exits
	var screen testkit.SyncBuffer
	go func() { _, _ = io.Copy(&screen, master) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The first build of a fresh checkout takes minutes; the redraw starts
	// with a cursor move up and a clear to the end of the screen.
	const redraw = "\x1b[J"
	deadline := time.Now().Add(15 * time.Minute)
	for !strings.Contains(screen.String(), redraw) {
		select {
		case err := <-exited:
			t.Fatalf("make demo ended before the board was redrawn (%v):\n%s", err, screen.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no board redrawn within 15 minutes:\n%s", screen.String())
		}
	}
	if _, err := master.Write([]byte{3}); err != nil { // Ctrl-C, as the terminal's line discipline sees it
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Errorf("make demo exited with %v after Ctrl-C, want 0", exit.ProcessState)
		} else if err != nil {
			t.Error(err)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("make demo did not stop within a minute of Ctrl-C:\n%s", screen.String())
	}
	out := screen.String()
	if !strings.Contains(out, "stopped (interrupted)") {
		t.Errorf("no summary line after Ctrl-C:\n%s", out)
	}
	for _, want := range []string{"make demo: building", "compiles librdkafka's Go bindings"} {
		if !strings.Contains(out, want) {
			t.Errorf("the build does not say %q:\n%s", want, out)
		}
	}
	header := strings.Index(out, "tickcompact demo:")
	if header < 0 {
		t.Fatalf("no header:\n%s", out)
	}
	if rows := strings.Count(out[header:strings.Index(out, redraw)], "\n"); rows > 23 {
		t.Errorf("the header and the first board take %d rows of 24: the header scrolls away", rows)
	}
}

// openPTY opens a pseudo-terminal of rows x cols and returns its master and
// its terminal side, closed at the end of the test.
func openPTY(t *testing.T, rows, cols uint16) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	return master, tty
}
