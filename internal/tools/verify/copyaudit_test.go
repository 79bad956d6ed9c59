package verify

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/progress"
)

// copyFindings are the copy audit's counts of a report, and its lag.
type copyFindings struct {
	missing, duplicates, mismatches, stamps, invalid, order, markers, notCopiedYet int64
}

func findings(r *Report) copyFindings {
	v := r.Violations
	return copyFindings{v.CopyMissing, v.CopyDuplicates, v.CopyMismatches, v.CopyStamps, v.CopyInvalid, v.CopyOrder, v.Markers,
		r.Repartition.NotCopiedYet}
}

// auditCopier copies two raw partitions, one with an invalid record, into a
// repartition topic of two partitions, in three transactions.
func auditCopier(t *testing.T, extraRaw ...tradeRec) *copier {
	t.Helper()
	a, b, c, d := mkISIN(t, "KR700593000"), mkISIN(t, "US037833100"), mkISIN(t, "DE000BASF11"), mkISIN(t, "GB000263494")
	trades := []tradeRec{
		{partition: 0, timestamp: t0 + 100, isin: a, seq: 1},
		{partition: 0, timestamp: t0 + 150, raw: `{"isin":`},
		{partition: 0, timestamp: t0 + 300, isin: b, seq: 2},
		{partition: 0, timestamp: t0 + 2100, isin: a, seq: 3},
		{partition: 0, timestamp: t0 + 2200, isin: b, seq: 4},
		{partition: 1, timestamp: t0 + 400, isin: c, seq: 5},
		{partition: 1, timestamp: t0 + 900, isin: d, seq: 6},
		{partition: 1, timestamp: t0 + 2500, isin: c, seq: 7},
		{partition: 1, timestamp: t0 + 2600, isin: d, seq: 8},
	}
	cp := newCopier(t, append(trades, extraRaw...), 2, 2)
	cp.partitionOf = func(isinText string) int {
		if isinText == a || isinText == c {
			return 0
		}
		return 1
	}
	cp.txn(chunk{0, 2}, chunk{1, 1})
	cp.txn(chunk{1, 3})
	cp.txn(chunk{0, 3})
	return cp
}

// find returns where the copy of raw partition raw's record at offset is.
func (c *copier) find(raw, offset int) (q, i int) {
	c.t.Helper()
	for q, records := range c.copies {
		for i, r := range records {
			if h := readCopyHeaders(r.Headers); r.Key != nil && h.partition == int64(raw) && h.offset == int64(offset) {
				return q, i
			}
		}
	}
	c.t.Fatalf("raw partition %d offset %d was not copied", raw, offset)
	return 0, 0
}

// withHeader returns headers with key set to value, or removed when value
// is nil.
func withHeader(headers []kafka.Header, key string, value []byte) []kafka.Header {
	out := slices.DeleteFunc(slices.Clone(headers), func(h kafka.Header) bool { return h.Key == key })
	if value != nil {
		out = append(out, kafka.Header{Key: key, Value: value})
	}
	return out
}

// appendCopy appends r to partition q of the repartition topic, after its
// last record.
func (c *copier) appendCopy(q int, r InputRecord) {
	r.Partition, r.Offset = int32(q), c.offset[q]
	c.offset[q]++
	c.copies[q] = append(c.copies[q], r)
}

// The copy audit finds each way a repartition topic can differ from its raw
// topic, and nothing in an exact copy or in a copy that lags behind.
func TestCopyAudit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  []tradeRec // raw records appended after the copying
		tamper func(c *copier)
		want   copyFindings
	}{
		{name: "exact copy"},
		{name: "lag: raw records not copied yet", extra: []tradeRec{
			{partition: 0, timestamp: t0 + 4100, isin: mkISIN(t, "KR700593000"), seq: 9},
			{partition: 1, timestamp: t0 + 4100, raw: `{}`},
			{partition: 1, timestamp: t0 + 4200, isin: mkISIN(t, "DE000BASF11"), seq: 10},
		}, want: copyFindings{notCopiedYet: 2}},
		{name: "missing copy", tamper: func(c *copier) {
			q, i := c.find(0, 0)
			c.copies[q] = slices.Delete(c.copies[q], i, i+1)
		}, want: copyFindings{missing: 1}},
		{name: "the last transaction read in one partition only: lag, not missing", tamper: func(c *copier) {
			q, i := c.find(0, 2) // the last transaction's first copy in partition 1
			c.copies[q] = c.copies[q][:i]
		}, want: copyFindings{notCopiedYet: 2}},
		{name: "duplicate copy", tamper: func(c *copier) {
			q, i := c.find(1, 2)
			c.appendCopy(q, c.copies[q][i])
		}, want: copyFindings{duplicates: 1}},
		{name: "duplicate copy in another partition", tamper: func(c *copier) {
			q, i := c.find(1, 2)
			c.appendCopy(1-q, c.copies[q][i])
		}, want: copyFindings{duplicates: 1}},
		{name: "wrong stamp", tamper: func(c *copier) {
			q, i := c.find(0, 3)
			c.copies[q][i].Headers = withHeader(c.copies[q][i].Headers, progress.HeaderRawWatermark, []byte(strconv.FormatInt(t0+2000, 10)))
		}, want: copyFindings{stamps: 1}},
		{name: "stamp missing", tamper: func(c *copier) {
			q, i := c.find(0, 2)
			c.copies[q][i].Headers = withHeader(c.copies[q][i].Headers, progress.HeaderRawWatermark, nil)
		}, want: copyFindings{stamps: 1}},
		{name: "stamp where the raw partition had no valid record yet", tamper: func(c *copier) {
			q, i := c.find(1, 0)
			c.copies[q][i].Headers = withHeader(c.copies[q][i].Headers, progress.HeaderRawWatermark, []byte("0"))
		}, want: copyFindings{stamps: 1}},
		{name: "other value bytes", tamper: func(c *copier) {
			q, i := c.find(0, 0)
			c.copies[q][i].Value = append(slices.Clone(c.copies[q][i].Value), ' ')
		}, want: copyFindings{mismatches: 1}},
		{name: "key not the ISIN", tamper: func(c *copier) {
			q, i := c.find(0, 0)
			c.copies[q][i].Key = []byte(mkISIN(t, "US037833100"))
		}, want: copyFindings{mismatches: 1}},
		{name: "other timestamp", tamper: func(c *copier) {
			q, i := c.find(0, 0)
			c.copies[q][i].Timestamp++
		}, want: copyFindings{mismatches: 1}},
		{name: "an invalid raw record copied", tamper: func(c *copier) {
			q, i := c.find(0, 0)
			r := c.copies[q][i]
			r.Value, r.Headers = []byte(`{"isin":`), withHeader(r.Headers, progress.HeaderRawOffset, []byte("1"))
			c.appendCopy(q, r)
		}, want: copyFindings{invalid: 1}},
		{name: "a raw offset beyond the raw partition", tamper: func(c *copier) {
			q, i := c.find(0, 0)
			r := c.copies[q][i]
			r.Headers = withHeader(r.Headers, progress.HeaderRawOffset, []byte("99"))
			c.appendCopy(q, r)
		}, want: copyFindings{invalid: 1}},
		{name: "no raw position", tamper: func(c *copier) {
			q, i := c.find(0, 2)
			c.copies[q][i].Headers = withHeader(c.copies[q][i].Headers, progress.HeaderRawOffset, nil)
		}, want: copyFindings{invalid: 1, missing: 1}},
		{name: "copies out of raw order", tamper: func(c *copier) {
			q, i := c.find(0, 0)
			_, j := c.find(0, 3) // the next copy of raw partition 0 in partition q
			c.copies[q][i].Headers, c.copies[q][j].Headers = c.copies[q][j].Headers, c.copies[q][i].Headers
			c.copies[q][i].Value, c.copies[q][j].Value = c.copies[q][j].Value, c.copies[q][i].Value
			c.copies[q][i].Timestamp, c.copies[q][j].Timestamp = c.copies[q][j].Timestamp, c.copies[q][i].Timestamp
		}, want: copyFindings{order: 1}},
		{name: "marker with a wrong watermark", tamper: func(c *copier) {
			i := slices.IndexFunc(c.copies[1], func(r InputRecord) bool { return r.Key == nil })
			c.copies[1][i].Value = []byte(`{"sources":2,"progress":[{"partition":0,"offset":2,"watermark":1700000000300,"idle":false}]}`)
		}, want: copyFindings{markers: 1}},
		{name: "marker beyond the raw partition's end", tamper: func(c *copier) {
			i := slices.IndexFunc(c.copies[1], func(r InputRecord) bool { return r.Key == nil })
			c.copies[1][i].Value = []byte(`{"sources":2,"progress":[{"partition":1,"offset":5,"watermark":1700000002600,"idle":true}]}`)
		}, want: copyFindings{markers: 1}},
		{name: "marker announcing too many raw partitions", tamper: func(c *copier) {
			i := slices.IndexFunc(c.copies[0], func(r InputRecord) bool { return r.Key == nil })
			c.copies[0][i].Value = []byte(`{"sources":3,"progress":[]}`)
		}, want: copyFindings{markers: 1}},
		{name: "unreadable marker", tamper: func(c *copier) {
			i := slices.IndexFunc(c.copies[0], func(r InputRecord) bool { return r.Key == nil })
			c.copies[0][i].Value = []byte(`not json`)
		}, want: copyFindings{markers: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := auditCopier(t, tc.extra...)
			if tc.tamper != nil {
				tc.tamper(c)
			}
			r := c.verify(testSettings(), nil, false)
			if got := findings(r); got != tc.want {
				t.Fatalf("copy audit %+v, want %+v; examples %+v", got, tc.want, r.Examples)
			}
			if r.Violations.Total != r.Violations.copies()+r.Violations.Gaps || (r.Violations.copies() == 0) != (r.Violations.Total == r.Violations.Gaps) {
				t.Fatalf("violations %+v", r.Violations)
			}
			for _, e := range r.Examples {
				if e.Kind != KindGap {
					t.Logf("%s: %s", e.Kind, e.Detail)
				}
			}
			if tc.want == (copyFindings{}) && r.Repartition.Copied != 8 {
				t.Fatalf("copied %d of the 8 valid raw records", r.Repartition.Copied)
			}
		})
	}
}

// The text report names the copy audit's findings.
func TestCopyAuditText(t *testing.T) {
	c := auditCopier(t)
	q, i := c.find(1, 2)
	c.appendCopy(q, c.copies[q][i])
	r := c.verify(testSettings(), nil, false)
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw      trades: 9 records in 2 partitions: 8 valid, 1 rejected (invalid-json 1); 8 copied, 0 not copied yet; 6 progress markers",
		"copies: missing 0, duplicates 1,", "copy-duplicate", "is a second copy of trades partition 1 offset 2"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}
