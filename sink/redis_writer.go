package sink

import (
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"tickcompact/internal/redisconn"
)

// snapshotScript checks one update's window end against the stored one and,
// when newer, writes the snapshot, publishes and appends to the stream, all
// in one atomic step. See the file for its KEYS and ARGV.
//
//go:embed snapshot.lua
var snapshotScript string

// snapshotSHA is the SHA1 digest EVALSHA names the script by.
var snapshotSHA = func() string {
	sum := sha1.Sum([]byte(snapshotScript))
	return hex.EncodeToString(sum[:])
}()

// ISINPlaceholder in redis.channel is replaced by the record's ISIN.
const ISINPlaceholder = "{isin}"

// Update is one trades-2s record to apply to Redis.
type Update struct {
	// ISIN is the record key: the snapshot field and, with {isin} in the
	// channel name, the channel.
	ISIN string
	// WindowEnd is the record's window-end header, epoch milliseconds.
	WindowEnd int64
	// Value is the record value, stored and published unchanged.
	Value []byte
}

// outcome is what became of one update in a batch.
type outcome uint8

const (
	pending        outcome = iota // not acknowledged yet
	outcomeWritten                // applied: snapshot written, published
	outcomeStale                  // not newer than the stored window: nothing done
)

// RedisWriter applies batches of updates through one pipeline of EVALSHA
// calls of the snapshot script. It is safe for use by one goroutine at a time.
type RedisWriter struct {
	client  redis.UniversalClient
	channel string
	perISIN bool
	// prefix is every EVALSHA's arguments up to the keys, evalPrefix the
	// same for EVAL, and channelArg and maxLenArg their constant arguments,
	// converted to interfaces once rather than for each command (a few
	// allocations per record less).
	prefix, evalPrefix    []any
	channelArg, maxLenArg any
	// args is the arguments of a pipeline's commands, reused by the next.
	args []any
	// onReload, when set, is called each time the script is loaded again
	// because Redis answered NOSCRIPT (its script cache was emptied).
	onReload func()
}

// NewRedisWriter returns a writer for the keys, channel and stream of cfg,
// using client, which it does not close.
func NewRedisWriter(client redis.UniversalClient, cfg RedisConfig) *RedisWriter {
	keys := []any{cfg.SnapshotKey, cfg.WindowEndKey()}
	if cfg.StreamKey != "" {
		keys = append(keys, cfg.StreamKey)
	}
	return &RedisWriter{
		client:     client,
		channel:    cfg.Channel,
		perISIN:    strings.Contains(cfg.Channel, ISINPlaceholder),
		prefix:     append([]any{"evalsha", snapshotSHA, len(keys)}, keys...),
		evalPrefix: append([]any{"eval", snapshotScript, len(keys)}, keys...),
		channelArg: cfg.Channel,
		maxLenArg:  strconv.FormatInt(cfg.StreamMaxLen, 10),
	}
}

// Ping checks that Redis answers with the configured credentials.
func (w *RedisWriter) Ping(ctx context.Context) error {
	if err := w.client.Ping(ctx).Err(); err != nil {
		return redisError("ping", err)
	}
	return nil
}

// LoadScript loads the snapshot script into Redis's script cache (on every
// master, with Cluster). Writing works without it, as a NOSCRIPT answer makes
// the writer load the script and retry, but loading up front saves that
// round trip.
func (w *RedisWriter) LoadScript(ctx context.Context) error {
	sha, err := w.client.ScriptLoad(ctx, snapshotScript).Result()
	if err != nil {
		return redisError("loading the snapshot script", err)
	}
	if sha != snapshotSHA {
		return redisError("loading the snapshot script", fmt.Errorf("Redis computed its SHA1 as %s, want %s", sha, snapshotSHA))
	}
	return nil
}

// WriteBatch applies updates in order through one pipeline and returns how
// many were written and how many were stale. An error means some updates may
// not have been applied; applying the same batch again is safe, since the
// script skips what is already stored. It is the sink's write path without
// Kafka, for benchmarks.
func (w *RedisWriter) WriteBatch(ctx context.Context, updates []Update) (written, stale int, err error) {
	return w.apply(ctx, updates, make([]outcome, len(updates)))
}

// apply sends the updates whose outcome is pending in one pipeline, records
// each acknowledged one's outcome and returns how many of them were newly
// written or stale. When Redis lost its script cache, it reloads the script
// and sends what is still pending once more. It returns nil when nothing is
// left pending.
func (w *RedisWriter) apply(ctx context.Context, updates []Update, outcomes []outcome) (written, stale int, err error) {
	written, stale, noScript, err := w.pipeline(ctx, updates, outcomes)
	if noScript {
		if lerr := w.LoadScript(ctx); lerr != nil {
			return written, stale, lerr
		}
		if w.onReload != nil {
			w.onReload()
		}
		var moreWritten, moreStale int
		moreWritten, moreStale, _, err = w.pipeline(ctx, updates, outcomes)
		written, stale = written+moreWritten, stale+moreStale
	}
	return written, stale, err
}

// pipeline runs one pipeline over the pending updates. It returns the counts
// of newly written and stale updates, whether any failed with NOSCRIPT, and
// the first error.
func (w *RedisWriter) pipeline(ctx context.Context, updates []Update, outcomes []outcome) (written, stale int, noScript bool, err error) {
	pipe := w.client.Pipeline()
	cmds := make([]*redis.Cmd, len(updates))
	perCommand := len(w.prefix) + 5 // as long as evalPrefix
	if cap(w.args) < perCommand*len(updates) {
		w.args = make([]any, 0, perCommand*len(updates))
	}
	args := w.args[:0]
	defer func() { clear(args) }() // do not hold the values until the next pipeline
	sent := 0
	for i, u := range updates {
		if outcomes[i] != pending {
			continue
		}
		channel := w.channelArg
		if w.perISIN {
			channel = strings.ReplaceAll(w.channel, ISINPlaceholder, u.ISIN)
		}
		// EVALSHA sha numkeys keys... ISIN window-end value channel maxlen
		// (snapshot.lua), like Pipeline.EvalSha with the shared prefix. The
		// first command is an EVAL, which caches the script: a Redis that
		// lost its script cache (a restart, a failover) has it again before
		// the EVALSHAs after it on this connection. Else the head of a
		// pipeline could fail with NOSCRIPT while its tail ran after another
		// writer reloaded the script, applying an ISIN's later window before
		// its earlier one, which the retry then finds stale: never published.
		prefix := w.prefix
		if sent == 0 {
			prefix = w.evalPrefix
		}
		start := len(args)
		args = append(args, prefix...)
		args = append(args, u.ISIN, u.WindowEnd, u.Value, channel, w.maxLenArg)
		cmd := redis.NewCmd(ctx, args[start:len(args):len(args)]...)
		cmd.SetFirstKeyPos(3)
		_ = pipe.Process(ctx, cmd)
		cmds[i] = cmd
		sent++
	}
	if sent == 0 {
		return 0, 0, false, nil
	}
	// Exec's error is the first failed command's, or one from before any
	// command ran (a refused AUTH): each command is checked below, and one
	// left without reply nor error takes Exec's.
	_, execErr := pipe.Exec(ctx)
	var firstErr error
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		applied, cerr := cmd.Int64()
		if cmd.Err() == nil && cmd.Val() == nil {
			cerr = execErr
			if cerr == nil {
				cerr = errors.New("no reply to EVALSHA")
			}
		}
		switch {
		case cerr == nil && applied == 1:
			outcomes[i] = outcomeWritten
			written++
		case cerr == nil && applied == 0:
			outcomes[i] = outcomeStale
			stale++
		case cerr == nil:
			if firstErr == nil {
				firstErr = fmt.Errorf("unexpected script result %d", applied)
			}
		case redis.HasErrorPrefix(cerr, "NOSCRIPT"):
			noScript = true
		case firstErr == nil:
			firstErr = cerr
		}
	}
	switch {
	case firstErr != nil:
		return written, stale, noScript, redisError("applying batch", firstErr)
	case noScript:
		return written, stale, true, redisError("applying batch", errors.New("NOSCRIPT: script cache empty"))
	}
	return written, stale, false, nil
}

// ErrRedisAuth is wrapped by errors that Redis refused the credentials or the
// user's permissions: waiting does not fix those, the configuration must.
var ErrRedisAuth = errors.New("redis refused the credentials or permissions (check redis.username and redis.password and the user's ACL)")

func redisError(op string, err error) error {
	if isAuthError(err) {
		err = fmt.Errorf("%w: %w", ErrRedisAuth, err)
	}
	return &redisconn.Error{Service: "sink", Op: op, Err: err}
}

func isAuthError(err error) bool {
	for _, prefix := range []string{"WRONGPASS", "NOAUTH", "NOPERM"} {
		if redis.HasErrorPrefix(err, prefix) || strings.Contains(err.Error(), prefix) {
			return true
		}
	}
	return false
}

// redisOptions translates cfg into go-redis options for the sink.
func redisOptions(cfg RedisConfig) (*redis.UniversalOptions, error) {
	return cfg.Options("tickcompact-sink")
}

// NewRedisClient returns a go-redis client for cfg: single node, Sentinel
// (redis.master_name) or Cluster (several addresses or redis.cluster). It
// performs no network I/O; connections are made on first use.
func NewRedisClient(cfg RedisConfig) (redis.UniversalClient, error) {
	return cfg.NewClient("tickcompact-sink")
}
