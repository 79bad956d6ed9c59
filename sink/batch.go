package sink

import (
	"slices"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// batch is records read but whose offsets are not stored yet: the updates to
// apply, in the order read, and per partition the offset after the last
// record handled (including invalid records, which have nothing to apply).
type batch struct {
	updates    []Update
	partitions []int32
	outcomes   []outcome
	next       map[int32]kafka.Offset
	// records counts the records handled per partition, invalid ones included.
	records map[int32]int
	total   int
}

func (b *batch) add(partition int32, u Update) {
	b.updates = append(b.updates, u)
	b.partitions = append(b.partitions, partition)
	b.outcomes = append(b.outcomes, pending)
}

func (b *batch) reset() {
	clear(b.updates) // let the values be collected while the batch waits for reuse
	b.updates, b.partitions, b.outcomes = b.updates[:0], b.partitions[:0], b.outcomes[:0]
	clear(b.next)
	clear(b.records)
	b.total = 0
}

func (b *batch) empty() bool { return b.total == 0 }

// handled notes that the record at offset of partition was dealt with.
func (b *batch) handled(partition int32, offset kafka.Offset) {
	b.makeMaps()
	b.next[partition] = offset + 1
	b.records[partition]++
	b.total++
}

func (b *batch) makeMaps() {
	if b.next == nil {
		b.next, b.records = map[int32]kafka.Offset{}, map[int32]int{}
	}
}

// appendBatch appends the records of later, which were read after b's: b
// then stands for both, in order, with later's offsets.
func (b *batch) appendBatch(later *batch) {
	b.updates = append(b.updates, later.updates...)
	b.partitions = append(b.partitions, later.partitions...)
	b.outcomes = append(b.outcomes, later.outcomes...)
	b.makeMaps()
	for p, next := range later.next {
		b.next[p] = next
		b.records[p] += later.records[p]
	}
	b.total += later.total
}

// partitionList returns the partitions with records in the batch, sorted.
func (b *batch) partitionList() []int32 {
	out := make([]int32, 0, len(b.next))
	for p := range b.next {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// holds reports whether the batch has records of any of partitions.
func (b *batch) holds(partitions map[int32]bool) bool {
	for p := range b.next {
		if partitions[p] {
			return true
		}
	}
	return false
}

// drop forgets the records of partitions; their offsets are not stored, so
// their next owner reads them again.
func (b *batch) drop(partitions map[int32]bool) (dropped int) {
	keep := 0
	for i, p := range b.partitions {
		if partitions[p] {
			dropped++
			continue
		}
		b.updates[keep], b.partitions[keep], b.outcomes[keep] = b.updates[i], p, b.outcomes[i]
		keep++
	}
	clear(b.updates[keep:])
	b.updates, b.partitions, b.outcomes = b.updates[:keep], b.partitions[:keep], b.outcomes[:keep]
	for p := range partitions {
		b.total -= b.records[p]
		delete(b.next, p)
		delete(b.records, p)
	}
	return dropped
}
