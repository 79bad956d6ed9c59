package sink

import (
	"slices"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestBatchDropKeepsOtherPartitions(t *testing.T) {
	var b batch
	for i, p := range []int32{0, 1, 0, 2, 1} {
		b.handled(p, kafka.Offset(10+i))
		b.add(p, Update{ISIN: string(rune('A' + i)), WindowEnd: int64(i)})
	}
	b.handled(1, 20) // an invalid record: an offset, no update
	b.outcomes[0] = outcomeWritten
	if dropped := b.drop(map[int32]bool{1: true, 5: true}); dropped != 2 {
		t.Fatalf("dropped = %d, want 2", dropped)
	}
	if b.total != 3 || len(b.updates) != 3 || b.next[1] != 0 || b.next[0] != 13 || b.next[2] != 14 {
		t.Fatalf("after drop: total %d, updates %+v, next %v", b.total, b.updates, b.next)
	}
	if b.updates[0].ISIN != "A" || b.outcomes[0] != outcomeWritten || b.updates[1].ISIN != "C" || b.updates[2].ISIN != "D" {
		t.Fatalf("kept the wrong updates or outcomes: %+v %v", b.updates, b.outcomes)
	}
	b.drop(map[int32]bool{0: true, 2: true})
	if !b.empty() || len(b.updates) != 0 {
		t.Fatalf("batch not empty after dropping every partition: %+v", b)
	}
}

func TestBatchAppendKeepsOrderAndLaterOffsets(t *testing.T) {
	var failed, later batch
	failed.handled(0, 10)
	failed.add(0, Update{ISIN: "A"})
	failed.handled(1, 20)
	failed.add(1, Update{ISIN: "B"})
	failed.outcomes[0] = outcomeWritten // acknowledged before the batch failed
	later.handled(1, 21)
	later.add(1, Update{ISIN: "C"})
	later.handled(2, 30) // an invalid record: an offset, no update
	failed.appendBatch(&later)

	var isins []string
	for _, u := range failed.updates {
		isins = append(isins, u.ISIN)
	}
	if !slices.Equal(isins, []string{"A", "B", "C"}) {
		t.Fatalf("updates = %v, want the failed batch's then the later one's", isins)
	}
	if failed.outcomes[0] != outcomeWritten || failed.outcomes[1] != pending || failed.outcomes[2] != pending {
		t.Errorf("outcomes = %v", failed.outcomes)
	}
	if failed.next[0] != 11 || failed.next[1] != 22 || failed.next[2] != 31 {
		t.Errorf("next = %v, want the later batch's offsets where it has any", failed.next)
	}
	if failed.total != 4 || failed.records[1] != 2 {
		t.Errorf("total %d, records %v", failed.total, failed.records)
	}
}
