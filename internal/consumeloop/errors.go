package consumeloop

import "errors"

// The sentinel errors Run wraps; check them with errors.Is. The wrapped
// cause stays reachable with errors.As (a kafka.Error, say).

// ErrFatal is wrapped, together with the client's kafka.Error, by the error
// Run returns when the consumer reported a fatal error: the consumer cannot
// go on, and the process should exit for its supervisor to restart it.
var ErrFatal = errors.New("fatal consumer error")

// ErrSubscribe is wrapped by the error Run returns when it could not
// subscribe; nothing was read, and the consumer is closed.
var ErrSubscribe = errors.New("subscribing")
