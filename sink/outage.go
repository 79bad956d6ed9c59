package sink

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// retry is one attempt to write what is pending while Redis is failing:
// Redis must answer a PING first.
func (c *consumerLoop) retry(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), attemptTimeout)
	err := c.redis.Ping(pingCtx)
	cancel()
	records, _ := c.pendingSummary()
	switch {
	case err != nil:
		c.redisFailed(err)
	case records == 0:
		c.redisOK()
	default:
		c.writeNow(attemptTimeout)
	}
}

// checkRedis PINGs an idle Redis so that an outage shows on /readyz and
// pauses consumption before the next record arrives.
func (c *consumerLoop) checkRedis(ctx context.Context) {
	pingCtx, cancel := context.WithTimeout(ctx, c.cfg.Redis.Timeout)
	defer cancel()
	if err := c.redis.Ping(pingCtx); err != nil {
		if ctx.Err() != nil {
			return
		}
		c.redisFailed(err)
		return
	}
	c.redisOK()
}

// redisFailed pauses every assigned partition, marks the sink not ready and
// schedules the next attempt with capped exponential backoff.
func (c *consumerLoop) redisFailed(err error) {
	c.metrics.redisErrors.Inc()
	c.ready.setRedisError(err)
	level := slog.LevelWarn
	if errors.Is(err, ErrRedisAuth) {
		level = slog.LevelError
	}
	records, partitions := c.pendingSummary()
	if c.closing {
		c.failing = true
		c.logger.Log(context.Background(), level, "redis failing while shutting down; pending records are abandoned uncommitted",
			"err", err, "pending_records", records, "pending_partitions", partitions)
		return
	}
	if c.backoff == 0 {
		c.backoff = backoffMin
	} else {
		c.backoff = min(2*c.backoff, backoffMax)
	}
	// Up to 20% jitter keeps many instances from retrying in lockstep.
	wait := c.backoff + time.Duration(rand.Int64N(int64(c.backoff)/5+1))
	c.nextAttempt = time.Now().Add(wait)
	c.logger.Log(context.Background(), level, "redis failing; consumption paused, retrying",
		"err", err, "pending_records", records, "pending_partitions", partitions,
		"retry_in", wait.Round(time.Millisecond).String())
	if !c.failing {
		c.failing = true
		c.setPaused(true)
	}
}

// redisOK records a successful exchange with Redis and resumes consumption
// when it was paused.
func (c *consumerLoop) redisOK() {
	c.lastRedisOK = time.Now()
	c.ready.setRedisError(nil)
	c.backoff = 0
	if c.failing {
		c.failing = false
		c.setPaused(false)
		c.logger.Info("redis is back; consumption resumed")
	}
}

// setPaused pauses or resumes every assigned partition, and those assigned
// meanwhile. Fetching stops, but Poll still serves rebalances and keeps the
// member in the group.
func (c *consumerLoop) setPaused(paused bool) {
	if paused {
		c.metrics.paused.Set(1)
	} else {
		c.metrics.paused.Set(0)
	}
	var err error
	if paused {
		err = c.loop.Pause()
	} else {
		err = c.loop.Resume()
	}
	if err != nil {
		c.logger.Warn("pausing or resuming partitions failed", "paused", paused, "err", err)
	}
}
