package testkit

import (
	"testing"
	"time"
)

// WaitFor polls cond every 50 ms until it holds, failing the test with
// cond's last explanation once timeout has passed. The timeout is a bound
// on a hang, not a speed assertion: make it generous.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
