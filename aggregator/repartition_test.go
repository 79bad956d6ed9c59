package aggregator

import (
	"slices"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/window"
)

// The repartition stage copies each valid raw record keyed by its ISIN with
// its raw position and its partition's watermark before it, ends each
// transaction with a progress marker to every partition of the repartition
// topic, announces a quiet partition idle, and keeps each raw partition's
// watermark with its committed offset.
func TestRepartitionStageCopiesWithProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newStageHarness(t)
		base := time.Now().Truncate(2 * time.Second).Add(-time.Minute)
		raw := func(isin string, at time.Duration, name string) *kafka.Message {
			m := tradeRecord(isin, base.Add(at), name)
			m.Key = []byte("order-" + name) // not keyed by ISIN
			return m
		}
		h.consumer.Append("in", 0, raw(samsung, 100*time.Millisecond, "a"), raw(hynix, 2100*time.Millisecond, "b"))
		h.consumer.Append("in", 1, &kafka.Message{Value: []byte("not json")})
		rs := h.repartitionStage()
		stop := h.run(rs.run)
		h.consumer.Assign("in", 0, 1)
		time.Sleep(2 * time.Second) // longer than the idle timeout
		if err := stop(); err != nil {
			t.Fatal(err)
		}

		copied := h.producer.output("in-by-isin")
		var trades, idle []string
		markers := map[int32]int{}
		for _, m := range copied {
			if progress.IsMarker(m) {
				markers[m.TopicPartition.Partition]++
				_, ps, err := progress.DecodeMarker(m)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ps {
					if p.Idle {
						idle = append(idle, strconv.Itoa(int(p.Source))+"@"+strconv.FormatInt(p.Offset, 10))
					}
				}
				continue
			}
			source, stamp := progress.CopiedFrom(m.Headers)
			stampText := "-"
			if stamp != window.NoTime {
				stampText = strconv.FormatInt(stamp-base.UnixMilli(), 10)
			}
			trades = append(trades, string(m.Key)+" from "+strconv.Itoa(int(source))+" stamped "+stampText)
		}
		if want := []string{samsung + " from 0 stamped -", hynix + " from 0 stamped 100"}; !slices.Equal(trades, want) {
			t.Fatalf("copied %v, want %v", trades, want)
		}
		if markers[0] == 0 || markers[0] != markers[1] {
			t.Fatalf("markers per partition of the repartition topic: %v, want the same on each", markers)
		}
		slices.Sort(idle)
		idle = slices.Compact(idle)
		if want := []string{"0@2", "1@1"}; !slices.Equal(idle, want) {
			t.Fatalf("idle announcements %v, want both raw partitions at their ends %v", idle, want)
		}
		if dlq := h.producer.output("dlq"); len(dlq) != 1 {
			t.Fatalf("%d DLQ records, want the invalid one", len(dlq))
		}
		c, _ := h.consumer.Committed(list("in", 0), 0)
		if c[0].Offset != 2 || c[0].Metadata == nil || *c[0].Metadata != encodeSourceCheckpoint(base.Add(2100*time.Millisecond).UnixMilli()) {
			t.Fatalf("raw partition 0 committed %v %v, want offset 2 with its watermark", c[0].Offset, c[0].Metadata)
		}
	})
}
