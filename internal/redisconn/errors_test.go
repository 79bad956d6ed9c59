package redisconn

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorReason(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:2: connect: connection refused")
	err := fmt.Errorf("while starting: %w", &Error{Service: "sink", Op: "ping", Err: cause})
	if got, want := err.Error(), "while starting: sink: redis: ping: "+cause.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := Reason(err), "ping failed: "+cause.Error(); got != want {
		t.Errorf("Reason = %q, want %q (said once, without the service's prefix)", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is lost")
	}
	if got := Reason(cause); got != cause.Error() {
		t.Errorf("Reason of another error = %q", got)
	}
}
