package verify

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/window"
	"tickcompact/internal/isin"
)

// RepartitionTopic returns the topic the aggregator re-keys the raw topic raw
// into with input.repartition (the aggregator's Config.RepartitionTopic).
func RepartitionTopic(raw string) string { return raw + "-by-isin" }

// The copy audit (Settings.Repartition) checks the repartition topic against
// the raw topic, which is read first (Raw):
//   - every valid raw record is copied exactly once, keyed by its ISIN, with
//     its value bytes and timestamp, its raw position (raw-partition,
//     raw-offset) and its stamp (raw-watermark: the greatest event time of
//     the valid records before it in its raw partition, absent when none);
//   - no invalid raw record is copied;
//   - within each partition of the repartition topic, the copies of one raw
//     partition come in raw order;
//   - each progress marker's watermark for a raw partition is the greatest
//     event time of its valid records below the marker's offset.
//
// Raw records beyond what the repartition stage had copied are lag, not
// missing. What was copied is known per partition q of the repartition topic:
// a marker read in q says every record of raw partition r below its offset
// was copied, in the marker's transaction or an earlier one, so the copies
// among them that went to q come before it in q; a copy of r read in q says
// the same of the copies before it that went to q. A valid raw record with no
// copy is therefore missing when its offset is below that point in every
// partition of the repartition topic. That holds however the ends of the
// partitions were read, and since every transaction that moves a raw
// partition ends with a marker to every partition, a stopped or caught-up
// aggregator leaves no doubt below the last marker.

// The state of one offset of a raw partition.
const (
	// rawNone: no record was read there (a transaction marker, an aborted
	// record, or beyond what was read).
	rawNone uint8 = iota
	// rawRejected: an invalid record, which the DLQ takes: never copied.
	rawRejected
	// rawValid: a valid record whose copy has not been read.
	rawValid
	// rawCopied: a valid record whose copy has been read.
	rawCopied
)

// rawPartition is what the copy audit keeps of one raw partition: per offset
// from the first record read, its state and what the copy of a valid record
// must carry, about 25 bytes a record. Every raw record is kept until the
// end of the repartition topic: copies arrive in no particular order across
// its partitions.
type rawPartition struct {
	id int32
	// base is the offset of the first record read (index 0); end is where
	// reading stopped.
	base, end int64
	state     []uint8
	hash      []uint64 // of the value
	timestamp []int64
	// stamp is, per offset, the greatest event time of the valid records
	// below it, or noTime: what a copy's raw-watermark header must say.
	stamp []int64
	// watermark is the greatest event time of every valid record read;
	// clock the greatest record timestamp.
	watermark, clock int64
	// marked and nextCopy are, per partition of the repartition topic, the
	// greatest offset its markers said this raw partition was copied
	// through, and the raw offset after the last copy read there.
	marked, nextCopy []int64
}

// copyAudit is the state of the copy audit.
type copyAudit struct {
	raw []*rawPartition // indexed by raw partition; nil where there is none
	// copyPartitions is the partition count of the repartition topic.
	copyPartitions int
}

// Topics declares, before any record, the raw topic, its partitions with
// their end offsets (where Raw stops reading each) and the partition count of
// its repartition topic. It is needed with Settings.Repartition only.
func (v *Verifier) Topics(rawTopic string, rawEnds map[int32]int64, copyPartitions int) {
	a := v.copies
	if a == nil {
		return
	}
	v.report.Repartition.RawTopic, v.report.Repartition.Topic = rawTopic, RepartitionTopic(rawTopic)
	a.copyPartitions = copyPartitions
	for p, end := range rawEnds {
		for int(p) >= len(a.raw) {
			a.raw = append(a.raw, nil)
		}
		a.raw[p] = &rawPartition{id: p, base: -1, end: end, watermark: noTime, clock: noTime,
			marked: make([]int64, copyPartitions), nextCopy: make([]int64, copyPartitions)}
	}
}

// rawPartition returns the audit's state of raw partition p, or nil when
// Topics did not declare it.
func (a *copyAudit) rawPartition(p int32) *rawPartition {
	if p < 0 || int(p) >= len(a.raw) {
		return nil
	}
	return a.raw[p]
}

// Raw feeds one record of the raw topic (Settings.Repartition), before any
// record of the repartition topic. Records of a partition must come in offset
// order, from the partition's first.
func (v *Verifier) Raw(r InputRecord) {
	rs := v.report.Repartition
	rp := v.copies.rawPartition(r.Partition)
	if rs == nil || rp == nil {
		return
	}
	rs.RawRecords++
	i := rp.slot(r.Offset)
	if i < 0 {
		return // out of order: not from a topic reader
	}
	t, rej := v.parse(r)
	if rej != nil {
		rs.RawRejected[string(rej.Reason)]++
		rp.state[i] = rawRejected
		return
	}
	eventTime := t.EventTime
	rs.RawValid++
	rp.state[i], rp.hash[i], rp.timestamp[i] = rawValid, v.hash(r.Value), r.Timestamp
	// Late in its own raw partition's order: the least lateness any
	// interleaving of the raw partitions allows.
	if v.windowStart(eventTime)+v.size+v.grace <= rp.watermark {
		rs.Late.OwnPartition++
	}
	if rp.clock != noTime && eventTime > rp.clock+v.settings.MaxFuture.Milliseconds() {
		v.report.Input.FutureAmbiguous++
	}
	rp.clock = max(rp.clock, r.Timestamp)
	rp.watermark = max(rp.watermark, eventTime)
}

// slot makes room for the record at offset and returns its index, or -1
// when offset is not after the last record's. Offsets skipped (transaction
// markers) get state rawNone; every new offset gets the watermark so far as
// its stamp.
func (rp *rawPartition) slot(offset int64) int {
	if rp.base < 0 {
		rp.base = offset
		if n := rp.end - offset; n > 0 && n < 1<<31 {
			rp.state, rp.hash = make([]uint8, 0, n), make([]uint64, 0, n)
			rp.timestamp, rp.stamp = make([]int64, 0, n), make([]int64, 0, n)
		}
	}
	i := offset - rp.base
	if i < int64(len(rp.state)) {
		return -1
	}
	for int64(len(rp.state)) <= i {
		rp.state = append(rp.state, rawNone)
		rp.hash = append(rp.hash, 0)
		rp.timestamp = append(rp.timestamp, 0)
		rp.stamp = append(rp.stamp, rp.watermark)
	}
	return int(i)
}

// watermarkBelow returns the greatest event time of the valid records below
// offset (noTime when none), and false when offset is beyond the end read.
// Offsets before the first record read have none below them: the raw topic's
// history is read from its start.
func (rp *rawPartition) watermarkBelow(offset int64) (int64, bool) {
	i := offset - rp.base
	switch {
	case offset > rp.end:
		return noTime, false
	case rp.base < 0 || i <= 0:
		return noTime, true
	case i < int64(len(rp.stamp)):
		return rp.stamp[i], true
	}
	return rp.watermark, true
}

// copyHeaders are the strictly read repartition headers of a copied trade.
type copyHeaders struct {
	partition, offset int64
	positionOK        bool
	// stamp is raw-watermark's value, text its text (nil when absent).
	stamp     int64
	stampText []byte
	stampOK   bool
}

func readCopyHeaders(headers []kafka.Header) copyHeaders {
	var partition, offset []byte
	h := copyHeaders{stamp: noTime, stampOK: true}
	for _, kv := range headers { // the last of a name counts, as for the aggregator
		value := kv.Value
		if value == nil {
			value = []byte{}
		}
		switch kv.Key {
		case progress.HeaderRawPartition:
			partition = value
		case progress.HeaderRawOffset:
			offset = value
		case progress.HeaderRawWatermark:
			h.stampText = value
		}
	}
	p, err1 := strconv.ParseInt(string(partition), 10, 32)
	o, err2 := strconv.ParseInt(string(offset), 10, 64)
	h.partition, h.offset, h.positionOK = p, o, partition != nil && offset != nil && err1 == nil && err2 == nil && p >= 0 && o >= 0
	if h.stampText != nil {
		s, err := strconv.ParseInt(string(h.stampText), 10, 64)
		h.stamp, h.stampOK = s, err == nil
	}
	return h
}

// copyRead audits one copied trade of the repartition topic. valueHash is its
// value's hash; id the ISIN its value holds, when it is a valid trade.
func (v *Verifier) copyRead(r InputRecord, valueHash uint64, id [isin.Length]byte, valid bool) {
	a, rs := v.copies, v.report.Repartition
	keyText := ""
	if isin.Valid(r.Key) {
		keyText = string(r.Key)
	}
	at := fmt.Sprintf("%s partition %d offset %d", rs.Topic, r.Partition, r.Offset)
	h := readCopyHeaders(r.Headers)
	if !h.positionOK {
		v.copyViolation(KindCopyInvalid, keyText, at+": no readable raw-partition and raw-offset headers")
		return
	}
	rp := a.rawPartition(int32(h.partition))
	if rp == nil {
		v.copyViolation(KindCopyInvalid, keyText, fmt.Sprintf("%s names raw partition %d, which %s does not have", at, h.partition, rs.RawTopic))
		return
	}
	raw := fmt.Sprintf("%s partition %d offset %d", rs.RawTopic, h.partition, h.offset)
	i := h.offset - rp.base
	state := rawNone
	if rp.base >= 0 && i >= 0 && i < int64(len(rp.state)) {
		state = rp.state[i]
	}
	switch state {
	case rawNone:
		v.copyViolation(KindCopyInvalid, keyText, fmt.Sprintf("%s names %s, where there is no record", at, raw))
		return
	case rawRejected:
		v.copyViolation(KindCopyInvalid, keyText, fmt.Sprintf("%s is a copy of %s, an invalid record (the DLQ's)", at, raw))
		return
	case rawCopied:
		v.copyViolation(KindCopyDuplicate, keyText, fmt.Sprintf("%s is a second copy of %s", at, raw))
		return
	}
	rp.state[i] = rawCopied
	rs.Copied++
	q := int(r.Partition)
	if q < len(rp.nextCopy) {
		if h.offset < rp.nextCopy[q] {
			v.copyViolation(KindCopyOrder, keyText, fmt.Sprintf("%s is a copy of %s, after the copy of offset %d", at, raw, rp.nextCopy[q]-1))
		}
		rp.nextCopy[q] = max(rp.nextCopy[q], h.offset+1)
	}
	var differs []string
	switch {
	case valueHash != rp.hash[i]:
		differs = append(differs, "value bytes differ")
	case valid && string(r.Key) != string(id[:]):
		differs = append(differs, fmt.Sprintf("key %q is not the trade's ISIN", clip(r.Key)))
	}
	if r.Timestamp != rp.timestamp[i] {
		differs = append(differs, fmt.Sprintf("timestamp %d, want %d", r.Timestamp, rp.timestamp[i]))
	}
	if len(differs) > 0 {
		v.copyViolation(KindCopyMismatch, keyText, fmt.Sprintf("%s, the copy of %s: %s", at, raw, strings.Join(differs, "; ")))
	}
	if want := rp.stamp[i]; !h.stampOK || h.stamp != want || (h.stampText == nil) != (want == noTime) {
		v.copyViolation(KindCopyStamp, keyText, fmt.Sprintf("%s, the copy of %s: %s %s, want %s",
			at, raw, progress.HeaderRawWatermark, headerText(h.stampText), timeText(want)))
	}
}

// markerRead audits one progress marker read at offset of partition q of the
// repartition topic, decoded as sources, changed and err.
func (v *Verifier) markerRead(q int32, offset int64, sources int, changed []window.Progress, err error) {
	a, rs := v.copies, v.report.Repartition
	rs.Markers++
	at := fmt.Sprintf("marker at %s partition %d offset %d", rs.Topic, q, offset)
	if err != nil {
		v.copyViolation(KindMarker, "", fmt.Sprintf("%s: %v", at, err))
		return
	}
	if sources > len(a.raw) {
		v.copyViolation(KindMarker, "", fmt.Sprintf("%s announces %d raw partitions; %s has %d", at, sources, rs.RawTopic, len(a.raw)))
	}
	for _, pr := range changed {
		rp := a.rawPartition(pr.Source)
		if rp == nil {
			continue // reported above
		}
		want, ok := rp.watermarkBelow(pr.Offset)
		switch {
		case !ok:
			v.copyViolation(KindMarker, "", fmt.Sprintf("%s says raw partition %d was copied through offset %d, beyond its end %d",
				at, pr.Source, pr.Offset, rp.end))
			continue
		case pr.Watermark != want:
			v.copyViolation(KindMarker, "", fmt.Sprintf("%s says the watermark of raw partition %d below offset %d is %s; its valid records say %s",
				at, pr.Source, pr.Offset, timeText(pr.Watermark), timeText(want)))
		}
		if int(q) < len(rp.marked) {
			rp.marked[q] = max(rp.marked[q], pr.Offset)
		}
	}
}

// endCopies finds the valid raw records with no copy: missing below the
// point every partition of the repartition topic says was copied, lag beyond
// it. It frees the raw partitions' state.
func (v *Verifier) endCopies() {
	a, rs := v.copies, v.report.Repartition
	for _, rp := range a.raw {
		if rp == nil {
			continue
		}
		rs.RawPartitions++
		copiedThrough := int64(0)
		for q := range a.copyPartitions {
			reached := max(rp.marked[q], rp.nextCopy[q])
			if q == 0 || reached < copiedThrough {
				copiedThrough = reached
			}
		}
		for i, state := range rp.state {
			if state != rawValid {
				continue
			}
			offset := rp.base + int64(i)
			if offset >= copiedThrough {
				rs.NotCopiedYet++
				continue
			}
			v.copyViolation(KindCopyMissing, "", fmt.Sprintf("%s partition %d offset %d (timestamp %d) has no copy, though every partition of %s says that raw partition was copied through offset %d",
				rs.RawTopic, rp.id, offset, rp.timestamp[i], rs.Topic, copiedThrough))
		}
		*rp = rawPartition{id: rp.id}
	}
}

// copyViolation counts a finding of the copy audit and lists it while its
// kind has fewer than Settings.Examples examples.
func (v *Verifier) copyViolation(kind, isinText, detail string) {
	if v.count(kind) {
		v.report.Examples = append(v.report.Examples, Example{Kind: kind, ISIN: isinText, Detail: detail})
	}
}

// timeText formats an event time, or says there is none.
func timeText(ms int64) string {
	if ms == noTime {
		return "none"
	}
	return strconv.FormatInt(ms, 10)
}

// headerText formats a header's value, or says it is absent.
func headerText(b []byte) string {
	if b == nil {
		return "absent"
	}
	return strconv.Quote(clip(b))
}
