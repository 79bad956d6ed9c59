package verify

import (
	"strconv"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
)

// copier writes, for the tests, the repartition topic that the aggregator's
// repartition stage writes for a raw topic: transactions that copy chunks of
// raw partitions (each valid record keyed by its ISIN, with its raw position
// and stamp) and end with a progress marker to every partition. Offsets leave
// a gap after each transaction, where Kafka puts its commit marker.
type copier struct {
	t *testing.T
	// raw holds each raw partition's records in offset order.
	raw [][]tradeRec
	// copies holds each partition of the repartition topic.
	copies [][]InputRecord
	// partitionOf says which partition of the repartition topic an ISIN's
	// copies go to.
	partitionOf func(isinText string) int
	next        []int   // per raw partition, the next record to copy
	watermark   []int64 // per raw partition, of the valid records copied
	offset      []int64 // per partition of the repartition topic, the next offset
}

// newCopier splits trades into raw partitions by their partition field, for
// a repartition topic of n partitions.
func newCopier(t *testing.T, trades []tradeRec, rawPartitions, n int) *copier {
	t.Helper()
	c := &copier{t: t, raw: make([][]tradeRec, rawPartitions), copies: make([][]InputRecord, n),
		next: make([]int, rawPartitions), watermark: make([]int64, rawPartitions), offset: make([]int64, n)}
	for i := range c.watermark {
		c.watermark[i] = noTime
	}
	for _, tr := range trades {
		c.raw[tr.partition] = append(c.raw[tr.partition], tr)
	}
	c.partitionOf = func(isinText string) int {
		sum := 0
		for _, b := range []byte(isinText) {
			sum += int(b)
		}
		return sum % n
	}
	return c
}

// copierParser tells the valid raw records, which are copied, from the
// others, which the DLQ takes.
var copierParser = trade.NewParser(trade.Fields{ISIN: "isin", MaxFuture: time.Minute})

// chunk is part of a transaction: the next n records of raw partition raw.
type chunk struct{ raw, n int }

// txn copies chunks in one transaction. Invalid records are skipped (the DLQ
// takes them) but still move the partition's progress.
func (c *copier) txn(chunks ...chunk) {
	c.t.Helper()
	var changed []window.Progress
	for _, ch := range chunks {
		for range ch.n {
			i := c.next[ch.raw]
			if i >= len(c.raw[ch.raw]) {
				break
			}
			c.next[ch.raw]++
			tr := c.raw[ch.raw][i]
			parsed, rej := copierParser.Parse(tr.value(), tr.timestamp, time.Now())
			if rej != nil {
				continue
			}
			headers := []kafka.Header{
				{Key: progress.HeaderRawPartition, Value: []byte(strconv.Itoa(ch.raw))},
				{Key: progress.HeaderRawOffset, Value: []byte(strconv.Itoa(i))},
			}
			if w := c.watermark[ch.raw]; w != noTime {
				headers = append(headers, kafka.Header{Key: progress.HeaderRawWatermark, Value: []byte(strconv.FormatInt(w, 10))})
			}
			c.watermark[ch.raw] = max(c.watermark[ch.raw], tr.timestamp)
			c.append(c.partitionOf(parsed.ISIN.String()), InputRecord{Key: parsed.ISIN[:], Value: tr.value(), Timestamp: tr.timestamp, Headers: headers})
		}
		changed = append(changed, window.Progress{Source: int32(ch.raw), Offset: int64(c.next[ch.raw]), Watermark: c.watermark[ch.raw]})
	}
	c.markers(changed)
}

// idle announces raw partitions caught up and quiet, at their ends.
func (c *copier) idle(raw ...int) {
	c.t.Helper()
	var changed []window.Progress
	for _, p := range raw {
		changed = append(changed, window.Progress{Source: int32(p), Offset: int64(c.next[p]), Watermark: c.watermark[p], Idle: true})
	}
	c.markers(changed)
}

// drain copies every raw partition to its end, one transaction each, and
// announces them idle.
func (c *copier) drain() {
	var all []int
	for p := range c.raw {
		c.txn(chunk{p, len(c.raw[p])})
		all = append(all, p)
	}
	c.idle(all...)
}

func (c *copier) markers(changed []window.Progress) {
	c.t.Helper()
	topic := "trades-by-isin"
	msgs, err := progress.Markers(&topic, len(c.copies), len(c.raw), changed)
	if err != nil {
		c.t.Fatal(err)
	}
	for q, m := range msgs {
		c.append(q, InputRecord{Key: m.Key, Value: m.Value, Headers: m.Headers})
		c.offset[q]++ // the transaction's commit marker
	}
}

func (c *copier) append(q int, r InputRecord) {
	r.Partition, r.Offset = int32(q), c.offset[q]
	c.offset[q]++
	c.copies[q] = append(c.copies[q], r)
}

// copyOf returns the copy of the record at offset of raw partition raw.
func (c *copier) copyOf(raw, offset int) InputRecord {
	c.t.Helper()
	for _, records := range c.copies {
		for _, r := range records {
			if h := readCopyHeaders(r.Headers); r.Key != nil && h.partition == int64(raw) && h.offset == int64(offset) {
				return r
			}
		}
	}
	c.t.Fatalf("raw partition %d offset %d was not copied", raw, offset)
	return InputRecord{}
}

// lastMarker returns the offset of the last marker of partition q.
func (c *copier) lastMarker(q int) int64 {
	for i := len(c.copies[q]) - 1; i >= 0; i-- {
		if c.copies[q][i].Key == nil {
			return c.copies[q][i].Offset
		}
	}
	c.t.Fatalf("no marker in partition %d", q)
	return 0
}

// verify runs the verifier as cmd/verify does with --repartition: the
// output's closing headers (with declare), the raw topic, the repartition
// topic (its partitions interleaved record by record), then the output.
func (c *copier) verify(s Settings, outputs []OutputRecord, declare bool) *Report {
	c.t.Helper()
	s.Repartition = true
	v, err := New(s)
	if err != nil {
		c.t.Fatal(err)
	}
	ends := map[int32]int64{}
	for p, records := range c.raw {
		ends[int32(p)] = int64(len(records))
	}
	v.Topics("trades", ends, len(c.copies))
	if declare {
		for _, o := range outputs {
			v.Declare(o)
		}
	}
	for p, records := range c.raw {
		for i, tr := range records {
			v.Raw(InputRecord{Partition: int32(p), Offset: int64(i), Timestamp: tr.timestamp, Value: tr.value()})
		}
	}
	for i := 0; ; i++ {
		fed := false
		for _, records := range c.copies {
			if i < len(records) {
				v.Input(records[i])
				fed = true
			}
		}
		if !fed {
			break
		}
	}
	v.EndInput()
	for i, o := range outputs {
		o.Offset = int64(i)
		v.Output(o)
	}
	return v.Report()
}
