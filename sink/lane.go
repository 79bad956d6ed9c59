package sink

import (
	"slices"
	"time"
)

// writerLanes is how many batches may be in Redis at once: Redis executes
// one while the others' commands are built and sent or their replies read,
// instead of idling between round trips. Each lane serves its own
// partitions, so a partition's records still reach Redis in the order read,
// one batch at a time; with up to writerLanes partitions assigned, each has
// a lane of its own, and a run of one partition's records (librdkafka hands
// them over a fetch at a time) never waits for another partition's batch.
const writerLanes = 8

// lane is one writer and the batches of the partitions it serves.
type lane struct {
	writer *asyncWriter
	// pending holds the records read but not handed to the writer yet; while
	// Redis is failing, those of the failed batch come first.
	pending *batch
	// inflight is the batch the writer holds, nil when it is idle; spare is
	// the other batch, for reuse, while the writer is idle.
	inflight, spare *batch
	// partitions counts the assigned partitions the lane serves.
	partitions int
}

func newLane(writer *asyncWriter) *lane {
	return &lane{writer: writer, pending: &batch{}, spare: &batch{}}
}

// submit hands l's pending batch to its idle writer, to be applied within
// timeout, and starts a new one.
func (c *consumerLoop) submit(l *lane, timeout time.Duration) {
	l.inflight, l.pending, l.spare = l.pending, l.spare, nil
	if l.pending == nil {
		l.pending = &batch{}
	}
	l.writer.submit(l.inflight, timeout)
	c.inflight++
}

// route gives each newly assigned partition the lane serving the fewest; it
// keeps that lane until revoked.
func (c *consumerLoop) route(partitions []int32) {
	for _, p := range partitions {
		least := c.lanes[0]
		for _, l := range c.lanes[1:] {
			if l.partitions < least.partitions {
				least = l
			}
		}
		c.laneOf[p] = least
		least.partitions++
	}
}

// unroute releases the lanes of revoked partitions.
func (c *consumerLoop) unroute(partitions map[int32]bool) {
	for p := range partitions {
		if l, ok := c.laneOf[p]; ok {
			l.partitions--
			delete(c.laneOf, p)
		}
	}
}

// submitIdle hands each idle lane's pending records, if any, to its writer.
func (c *consumerLoop) submitIdle() {
	for _, l := range c.lanes {
		if l.inflight == nil && !l.pending.empty() {
			c.submit(l, attemptTimeout)
		}
	}
}

// anyPending reports whether a lane has records not handed to its writer.
func (c *consumerLoop) anyPending() bool {
	for _, l := range c.lanes {
		if !l.pending.empty() {
			return true
		}
	}
	return false
}

// full reports whether a lane's pending batch has reached the batch size,
// and whether that lane's writer is busy, so that only Redis's answer
// lets reading go on.
func (c *consumerLoop) full() (full, blocked bool) {
	for _, l := range c.lanes {
		if l.pending.total >= c.cfg.Redis.BatchSize {
			full = true
			blocked = blocked || l.inflight != nil
		}
	}
	return full, blocked
}

// holding returns the lane whose writer holds b.
func (c *consumerLoop) holding(b *batch) *lane {
	for _, l := range c.lanes {
		if l.inflight == b {
			return l
		}
	}
	panic("sink: a writer returned a batch no lane submitted")
}

// pendingSummary counts the records read and not yet stored, and lists
// their partitions, for log lines.
func (c *consumerLoop) pendingSummary() (records int, partitions []int32) {
	for _, l := range c.lanes {
		records += l.pending.total
		partitions = append(partitions, l.pending.partitionList()...)
	}
	slices.Sort(partitions)
	return records, partitions
}
