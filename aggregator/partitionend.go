package aggregator

// partitionEnd follows whether a consumed partition is at its end, for the
// decisions that silence drives (closing by wall clock, announcing a raw
// partition idle). Silence alone does not prove a partition caught up: while
// a rebalance is under way librdkafka may stop delivering records of the
// partitions it keeps for a second or more, records that are already in the
// log; and while the brokers are unreachable nothing arrives either. So the
// end librdkafka reported (PartitionEOF) is confirmed by asking the broker.
type partitionEnd struct {
	// seen is the offset of the last PartitionEOF, -1 before any.
	seen int64
	// unobserved is set while the partition cannot be seen (the brokers
	// were unreachable since the last answer).
	unobserved bool
}

func newPartitionEnd() partitionEnd { return partitionEnd{seen: -1} }

// endState is what partitionEnd.confirm found.
type endState int

const (
	// endUnknown: no PartitionEOF yet, or the broker did not answer.
	endUnknown endState = iota
	// endReachableAgain: the broker answers again after it could not be
	// reached. Producers that buffered records meanwhile are delivering
	// them now: the caller gives them the idle timeout again.
	endReachableAgain
	// endBehind: the partition has records beyond the end last reached,
	// which a paused fetch has not delivered yet.
	endBehind
	// endAtEnd: the partition still ends where the consumer reached it.
	endAtEnd
)

// reached notes a PartitionEOF at offset.
func (e *partitionEnd) reached(offset int64) { e.seen = offset }

// fetched notes that a record of the partition arrived: it is reachable.
func (e *partitionEnd) fetched() { e.unobserved = false }

// brokersDown notes that librdkafka reported every broker down.
func (e *partitionEnd) brokersDown() { e.unobserved = true }

// confirm asks, through endOffset (a broker round trip), whether the
// partition still ends where the consumer last reached its end.
func (e *partitionEnd) confirm(endOffset func() (int64, error)) endState {
	if e.seen < 0 {
		return endUnknown
	}
	end, err := endOffset()
	if err != nil {
		e.unobserved = true
		return endUnknown
	}
	if e.unobserved {
		e.unobserved = false
		return endReachableAgain
	}
	if end > e.seen {
		return endBehind
	}
	return endAtEnd
}
