package redisconn

import "errors"

// Error is a failed exchange with Redis: the service, what it was doing and
// why it failed. Its text is "<service>: redis: <op>: <cause>".
type Error struct {
	Service string
	Op      string
	Err     error
}

func (e *Error) Error() string { return e.Service + ": redis: " + e.Op + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Reason is err as /readyz gives it under "redis": what failed and why, once
// ("ping failed: dial tcp ..."), for an *Error; the error's text otherwise.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Op + " failed: " + e.Err.Error()
	}
	return err.Error()
}
