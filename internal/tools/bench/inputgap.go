package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/kafkaclient"
)

// inputGaps is row 3's floor: for each partition of topic and each window
// of it with records ending in [from, to], how long after the window's end
// the partition's first record at or past that end was stamped (its timestamp, the
// generator's clock), in seconds. With grace 0 a partition closes a window
// on that record (or by wall clock after window.idle_timeout of silence), so
// no emission delay of that (partition, window) can be shorter: the rest of
// the delay is the pipeline's (producer linger, fetch, windowing, commit).
func (e *env) inputGaps(ctx context.Context, topic string, size time.Duration, from, to time.Time) (*gapTracker, error) {
	cons, err := e.cluster.aggregatorLikeConsumer(uniqueName("gaps"))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	partitions, err := kafkaclient.AssignAll(cons, topic, kafka.OffsetBeginning)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	gaps := newGapTracker(size, from, to)
	atEnd := map[int32]bool{}
	deadline := time.Now().Add(time.Minute)
	for len(atEnd) < partitions {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("reading %s back: not at the end of every partition within a minute", topic)
		}
		switch ev := cons.Poll(100).(type) {
		case *kafka.Message:
			gaps.observe(ev.TopicPartition.Partition, ev.Timestamp.UnixMilli())
		case kafka.PartitionEOF:
			atEnd[ev.Partition] = true
		case kafka.Error:
			if ev.IsFatal() {
				return nil, ev
			}
		}
	}
	return gaps, nil
}

// gapTracker computes inputGaps from a partition's records in offset order.
type gapTracker struct {
	size, from, to int64 // milliseconds
	// open[p] is the end of partition p's open window: the window of the
	// greatest timestamp seen (with grace 0 every earlier window is closed).
	open map[int32]int64
	gaps []windowGap
}

// windowGap is the gap of one (partition, window) pair.
type windowGap struct {
	end int64   // the window's end, ms
	gap float64 // seconds
}

// perPartition returns the gaps of every (partition, window) pair: the floor
// of a partition that closes its windows on its own records.
func (g *gapTracker) perPartition() []float64 {
	out := make([]float64, len(g.gaps))
	for i, w := range g.gaps {
		out[i] = w.gap
	}
	return out
}

// perWindow returns, per window, the greatest gap of any partition: the
// floor of a window that closes only once every partition has passed it
// (input.repartition, where the partitions are the raw topic's).
func (g *gapTracker) perWindow() []float64 {
	last := map[int64]float64{}
	for _, w := range g.gaps {
		last[w.end] = max(last[w.end], w.gap)
	}
	out := make([]float64, 0, len(last))
	for _, gap := range last {
		out = append(out, gap)
	}
	return out
}

func newGapTracker(size time.Duration, from, to time.Time) *gapTracker {
	return &gapTracker{size: size.Milliseconds(), from: from.UnixMilli(), to: to.UnixMilli(), open: map[int32]int64{}}
}

// observe takes partition p's next record, stamped ts. When ts reaches the
// end of p's open window, this record closes it: the gap is ts - end.
// Windows in which p had no record are skipped, as they emit nothing.
func (g *gapTracker) observe(p int32, ts int64) {
	end, seen := g.open[p]
	if seen && ts < end {
		return
	}
	if seen && end >= g.from && end <= g.to {
		g.gaps = append(g.gaps, windowGap{end: end, gap: float64(ts-end) / 1000})
	}
	g.open[p] = ts - ts%g.size + g.size
}
