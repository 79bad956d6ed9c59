// Package hostile makes records a trade feed must never break the aggregator
// with: bytes that are no JSON, JSON that is no trade object, ISINs of the
// wrong type or failing ISO 6166 validation, timestamps far in the future,
// negative or zero, and values near the broker's size limit. Each kind names
// the dlq-reason the aggregator gives it. The fault suite mixes them into a
// backlog and checks the DLQ record by record; make bench drains such a
// backlog against a clean one (row 6).
package hostile

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"
)

// Kind is one way of writing a record the aggregator must reject, and the
// dlq-reason it must give it.
type Kind struct {
	// Name says how the record is broken.
	Name string
	// Reason is the dlq-reason header the aggregator gives it (default
	// input settings: ISIN field "isin", the record timestamp as event time).
	Reason string
	// Count is how many of the 10,000 records of Kinds are of this kind.
	Count int
	// ZeroTimestamp records carry record timestamp 0, which librdkafka
	// replaces with the current time when producing: write them with a
	// client that keeps it (franz-go), or leave them out.
	ZeroTimestamp bool
	// Make returns the record's key, value and timestamp; isin is a valid
	// ISIN and ts a timestamp the record would have if it were a trade.
	Make func(rng *rand.Rand, isin string, ts time.Time) (key, value []byte, timestamp time.Time)
}

// trade is a well-formed trade object with isinJSON as its isin field ("" for none).
func trade(rng *rand.Rand, isinJSON string) []byte {
	fields := fmt.Sprintf(`"price":%d,"volume":%d,"side":"buy","seq":%d`, 1000+rng.Intn(90000), 1+rng.Intn(500), rng.Int63())
	if isinJSON == "" {
		return []byte("{" + fields + "}")
	}
	return []byte(`{"isin":` + isinJSON + "," + fields + "}")
}

// bigPadding makes a value of about 900 KB, near the broker's default limit
// for a record batch (message.max.bytes, about 1 MB).
const bigPadding = 900_000

// Kinds are 10,000 hostile records by kind.
var Kinds = []Kind{
	{Name: "random-bytes", Reason: "invalid-json", Count: 1475, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		junk := make([]byte, 1+rng.Intn(200))
		rng.Read(junk)
		junk[0] |= 0x80 // no JSON text starts with a byte >= 0x80
		key := make([]byte, rng.Intn(16))
		rng.Read(key)
		return key, junk, ts
	}},
	{Name: "truncated", Reason: "invalid-json", Count: 1495, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		v := trade(rng, strconv.Quote(isin))
		return []byte(isin), v[:1+rng.Intn(len(v)-1)], ts
	}},
	{Name: "not-an-object", Reason: "invalid-json", Count: 100, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		forms := []string{`"` + isin + `"`, `[` + string(trade(rng, strconv.Quote(isin))) + `]`, `12345`, `null`, `true`}
		return []byte(isin), []byte(forms[rng.Intn(len(forms))]), ts
	}},
	{Name: "empty-or-null-value", Reason: "invalid-json", Count: 60, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		forms := [][]byte{nil, {}, []byte("   \n")}
		return []byte(isin), forms[rng.Intn(len(forms))], ts
	}},
	{Name: "nested-too-deep", Reason: "invalid-json", Count: 20, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		depth := 10_001 + rng.Intn(1000) // encoding/json's limit is 10,000
		return []byte(isin), []byte(`{"isin":"` + isin + `","x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "}"), ts
	}},
	{Name: "isin-number", Reason: "invalid-isin", Count: 600, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), trade(rng, strconv.Itoa(rng.Intn(1_000_000_000))), ts
	}},
	{Name: "isin-object", Reason: "invalid-isin", Count: 600, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), trade(rng, `{"code":"`+isin+`"}`), ts
	}},
	{Name: "isin-array-or-bool", Reason: "invalid-isin", Count: 400, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		forms := []string{`["` + isin + `"]`, `true`, `false`, `[]`}
		return []byte(isin), trade(rng, forms[rng.Intn(len(forms))]), ts
	}},
	{Name: "isin-null", Reason: "missing-isin", Count: 300, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), trade(rng, "null"), ts
	}},
	{Name: "no-isin-field", Reason: "missing-isin", Count: 600, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), trade(rng, ""), ts
	}},
	{Name: "lower-case-isin", Reason: "invalid-isin", Count: 1000, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		lower := strings.ToLower(isin)
		return []byte(lower), trade(rng, strconv.Quote(lower)), ts
	}},
	{Name: "bad-check-digit", Reason: "invalid-isin", Count: 1000, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		last := isin[len(isin)-1]
		bad := isin[:len(isin)-1] + string('0'+(last-'0'+1+byte(rng.Intn(9)))%10)
		return []byte(bad), trade(rng, strconv.Quote(bad)), ts
	}},
	{Name: "bad-isin-string", Reason: "invalid-isin", Count: 200, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		forms := []string{"", isin[:11], isin + "0", " " + isin, "KR-7005930003", "US0378331005X", "12" + isin[2:]}
		bad := forms[rng.Intn(len(forms))]
		return []byte(isin), trade(rng, strconv.Quote(bad)), ts
	}},
	{Name: "duplicate-isin-last-bad", Reason: "invalid-isin", Count: 100, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		// The last occurrence wins, as in encoding/json.
		return []byte(isin), []byte(`{"isin":"` + isin + `","price":1,"isin":"` + strings.ToLower(isin) + `"}`), ts
	}},
	{Name: "future-one-day", Reason: "future-time", Count: 1000, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), trade(rng, strconv.Quote(isin)), time.Now().Add(24*time.Hour + time.Duration(rng.Int63n(int64(time.Hour))))
	}},
	{Name: "negative-timestamp", Reason: "invalid-time", Count: 500, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		ms := -1 - rng.Int63n(1_700_000_000_000)
		if rng.Intn(10) == 0 {
			ms = -1 // Kafka's "no timestamp"
		}
		return []byte(isin), trade(rng, strconv.Quote(isin)), time.UnixMilli(ms)
	}},
	{Name: "zero-timestamp", Reason: "invalid-time", Count: 500, ZeroTimestamp: true, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), trade(rng, strconv.Quote(isin)), time.UnixMilli(0)
	}},
	{Name: "900KB-no-isin", Reason: "missing-isin", Count: 25, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), []byte(`{"note":"` + strings.Repeat("x", bigPadding) + `","price":1}`), ts
	}},
	{Name: "900KB-bad-isin-at-end", Reason: "invalid-isin", Count: 25, Make: func(rng *rand.Rand, isin string, ts time.Time) ([]byte, []byte, time.Time) {
		return []byte(isin), []byte(`{"note":"` + strings.Repeat("y", bigPadding) + `","isin":"` + strings.ToLower(isin) + `"}`), ts
	}},
}
