package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// inputGaps is row 3's floor: for each partition of topic and each window
// of it with records ending in [from, to], how long after the window's end
// the partition's first record at or past that end was stamped (its timestamp, the
// generator's clock), in seconds. With grace 0 a partition closes a window
// on that record (or by wall clock after window.idle_timeout of silence), so
// no emission delay of that (partition, window) can be shorter: the rest of
// the delay is the pipeline's (producer linger, fetch, windowing, commit).
func (e *env) inputGaps(ctx context.Context, topic string, size time.Duration, from, to time.Time) ([]float64, error) {
	cons, err := e.cluster.aggregatorLikeConsumer(uniqueName("gaps"))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	partitions, err := assignFromBeginning(cons, topic)
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
	return gaps.gaps, nil
}

// gapTracker computes inputGaps from a partition's records in offset order.
type gapTracker struct {
	size, from, to int64 // milliseconds
	// open[p] is the end of partition p's open window: the window of the
	// greatest timestamp seen (with grace 0 every earlier window is closed).
	open map[int32]int64
	gaps []float64
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
		g.gaps = append(g.gaps, float64(ts-end)/1000)
	}
	g.open[p] = ts - ts%g.size + g.size
}
