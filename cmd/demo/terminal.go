package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeTerminal puts the demo in a process group of its own and makes that
// group the terminal's foreground group, so that Ctrl-C reaches the demo
// alone. Run as `make demo`, the demo shares make's process group; the
// terminal would send SIGINT to make too, and make, after the demo's clean
// stop, kills itself with the same signal: the shell would see 130 instead of
// the demo's 0. It returns restore, which hands the terminal back to the group
// it took it from; call it before exiting.
//
// It does nothing, and restore is a no-op, when standard input is not a
// terminal, when the demo is not in its foreground group (started in the
// background), or when the demo leads its session (started by a terminal
// emulator or a pseudo-terminal directly, where nobody else gets the signal).
//
// While the demo holds the terminal, SIGTSTP (Ctrl-Z) is ignored: the shell
// waits on make, which would not know the demo stopped, and the terminal would
// stay with a stopped group. SIGTTOU is ignored for good, as a process outside
// the foreground group must ignore it to change the foreground group.
func takeTerminal() (restore func()) {
	noop := func() {}
	tty := int(os.Stdin.Fd())
	foreground, err := unix.IoctlGetInt(tty, unix.TIOCGPGRP)
	if sid, serr := unix.Getsid(0); err != nil || serr != nil || foreground != syscall.Getpgrp() || sid == syscall.Getpid() {
		return noop
	}
	signal.Ignore(syscall.SIGTTOU, syscall.SIGTSTP)
	if err := syscall.Setpgid(0, 0); err != nil {
		signal.Reset(syscall.SIGTSTP)
		return noop
	}
	if err := unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, syscall.Getpgrp()); err != nil {
		_ = syscall.Setpgid(0, foreground)
		signal.Reset(syscall.SIGTSTP)
		return noop
	}
	return func() {
		_ = unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, foreground)
		signal.Reset(syscall.SIGTSTP)
	}
}
