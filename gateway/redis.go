package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"tickcompact/internal/envelope"
	"tickcompact/internal/readiness"
	"tickcompact/internal/redisconn"
)

const (
	// redisIdlePing is how long the Pub/Sub connection may be silent before
	// the gateway pings Redis; no answer by the next one ends the session.
	redisIdlePing = 5 * time.Second
	// retryMin and retryMax bound the wait before a new session after a
	// failed one.
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// isinPlaceholder in redis.channel stands for the ISIN (one channel per
// instrument, the sink's convention).
const isinPlaceholder = "{isin}"

// redisReader follows the sink's Redis: it subscribes to the channel and,
// once each subscription is confirmed, reads the snapshot hash, so that
// nothing published while it was away is missed; then it applies every
// published envelope. Sessions end on any error or an unanswered ping and
// are started again with capped backoff.
type redisReader struct {
	client  redis.UniversalClient
	cfg     RedisConfig
	hub     *hub
	metrics *metrics
	logger  *slog.Logger
	// redis is the readiness dependency: met while subscribed with the
	// snapshot read.
	redis *readiness.Condition
	// warnedRaw is set once the loud start-up message about raw values has
	// been logged; later ones are warnings.
	warnedRaw atomic.Bool
}

// subscribe starts a Pub/Sub session on the channel, or on the pattern of
// every instrument's channel when the name holds {isin}.
func (r *redisReader) subscribe(ctx context.Context) *redis.PubSub {
	if strings.Contains(r.cfg.Channel, isinPlaceholder) {
		return r.client.PSubscribe(ctx, channelPattern(r.cfg.Channel))
	}
	return r.client.Subscribe(ctx, r.cfg.Channel)
}

// channelPattern turns a channel name with {isin} into a PSUBSCRIBE
// pattern, the rest of the name matched literally.
func channelPattern(channel string) string {
	escape := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	parts := strings.Split(channel, isinPlaceholder)
	for i := range parts {
		parts[i] = escape.Replace(parts[i])
	}
	return strings.Join(parts, "*")
}

// run follows Redis until ctx is done.
func (r *redisReader) run(ctx context.Context) error {
	backoff := retryMin
	for ctx.Err() == nil {
		synced, err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.metrics.redisErrors.Inc()
		r.redis.Fail(redisconn.Reason(err))
		if synced {
			backoff = retryMin
		}
		r.logger.Warn("redis session ended; reconnecting", "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, retryMax)
	}
	return nil
}

// session runs one Pub/Sub session until it fails. It reports whether the
// snapshot was read in it.
func (r *redisReader) session(ctx context.Context) (synced bool, err error) {
	pubsub := r.subscribe(ctx)
	defer pubsub.Close()
	// A blocked receive does not watch ctx; closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { _ = pubsub.Close() })
	defer stop()
	pingPending := false
	warnedRaw := false
	for {
		msg, err := pubsub.ReceiveTimeout(ctx, redisIdlePing)
		if err != nil {
			if ctx.Err() != nil {
				return synced, ctx.Err()
			}
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() {
				return synced, &redisconn.Error{Service: "gateway", Op: "pub/sub", Err: err}
			}
			if pingPending {
				return synced, &redisconn.Error{Service: "gateway", Op: "pub/sub", Err: fmt.Errorf("no answer to a ping within %s", redisIdlePing)}
			}
			if err := pubsub.Ping(ctx); err != nil {
				return synced, &redisconn.Error{Service: "gateway", Op: "pub/sub ping", Err: err}
			}
			pingPending = true
			continue
		}
		pingPending = false
		switch m := msg.(type) {
		case *redis.Subscription:
			// The subscription is confirmed: what is published from now on
			// arrives here, so the snapshot read now leaves no gap.
			if err := r.resync(ctx); err != nil {
				return synced, err
			}
			synced = true
			r.redis.Met()
		case *redis.Message:
			r.metrics.redisMessages.Inc()
			head, err := envelope.Parse([]byte(m.Payload))
			if err != nil {
				r.metrics.notEnvelopes.WithLabelValues("pubsub").Inc()
				if !warnedRaw {
					warnedRaw = true
					r.logger.Warn("a message on the sink's channel is not an envelope; it is not served: run the sink with redis.format: envelope",
						"channel", m.Channel, "err", err.Error())
				}
				continue
			}
			r.hub.apply(&item{isin: head.ISIN, windowEnd: head.WindowEnd, envelope: []byte(m.Payload)})
		}
	}
}

// resync reads the snapshot hash and applies every envelope newer than the
// stored one, which sends each client what changed while the gateway was
// not subscribed.
func (r *redisReader) resync(ctx context.Context) error {
	readCtx, cancel := context.WithTimeout(ctx, 4*r.cfg.Timeout)
	defer cancel()
	values, err := r.client.HGetAll(readCtx, r.cfg.SnapshotKey).Result()
	if err != nil {
		return &redisconn.Error{Service: "gateway", Op: "reading the snapshot hash " + r.cfg.SnapshotKey, Err: err}
	}
	r.metrics.resyncs.Inc()
	changed, raw := 0, 0
	var firstErr error
	for _, value := range values {
		head, err := envelope.Parse([]byte(value))
		if err != nil {
			raw++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if r.hub.apply(&item{isin: head.ISIN, windowEnd: head.WindowEnd, envelope: []byte(value)}) {
			changed++
		}
	}
	r.metrics.notEnvelopes.WithLabelValues("snapshot").Add(float64(raw))
	r.logger.Info("snapshot read", "key", r.cfg.SnapshotKey, "values", len(values), "changed", changed, "not_envelopes", raw)
	if raw > 0 {
		level := slog.LevelWarn
		if !r.warnedRaw.Swap(true) {
			level = slog.LevelError
		}
		r.logger.Log(ctx, level, fmt.Sprintf("the snapshot hash %s holds %d of %d values that are not envelopes (raw trades?): run the sink with redis.format: envelope (SINK_REDIS_FORMAT=envelope); those instruments are not served until then",
			r.cfg.SnapshotKey, raw, len(values)), "example_err", firstErr.Error())
	}
	return nil
}
