package consumeloop

import "errors"

// The sentinel errors Run wraps; check them with errors.Is. The wrapped
// cause stays reachable with errors.As (a kafka.Error, say).

// ErrFatal is wrapped, together with the client's kafka.Error, by the error
// Run returns when the consumer reported a fatal error: the consumer cannot
// go on, and the process should exit for its supervisor to restart it.
var ErrFatal = errors.New("fatal consumer error")

// ErrCloseTimeout is wrapped by the error Run returns when closing the
// consumer did not finish within Options.CloseTimeout. The Handler was
// stopped before (what it held is committed or aborted); only leaving the
// group is left undone.
var ErrCloseTimeout = errors.New("consumer not closed")

// ErrSubscribe is wrapped by the error Run returns when it could not
// subscribe; nothing was read, and the consumer is closed.
var ErrSubscribe = errors.New("subscribing")
