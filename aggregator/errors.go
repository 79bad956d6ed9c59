package aggregator

import "errors"

// The aggregator's sentinel errors. Errors that wrap them keep the cause's
// chain too (%w twice), so callers can still errors.As the client's
// kafka.Error.

// errAborted means the transaction was aborted after an abortable error; the
// caller must rewind its partitions to their committed offsets and rebuild.
var errAborted = errors.New("transaction aborted")

// errFatal wraps errors after which the producer cannot continue (fenced by a
// newer instance with the same transactional.id, or a fatal librdkafka
// error). The service exits non-zero and its supervisor restarts it.
var errFatal = errors.New("fatal transactional producer error")

// errNoCheckpoint means the committed offset carries no metadata of ours (a
// fresh group, or offsets committed by another tool).
var errNoCheckpoint = errors.New("no aggregator checkpoint in offset metadata")
