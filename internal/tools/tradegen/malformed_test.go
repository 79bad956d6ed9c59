package tradegen

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tickcompact/internal/isin"
)

func TestMalformedCounts(t *testing.T) {
	for _, tt := range []struct {
		n     int64
		share float64
	}{{10_000, 0.1}, {10_000, 0.013}, {997, 0.5}, {100, 1}, {5_000, 0}} {
		g := mustGenerator(t, Options{Seed: 3, MalformedShare: tt.share, Start: testStart})
		got := make(map[Kind]int64)
		for range tt.n {
			rec := g.Next()
			if rec.Malformed != "" {
				got[rec.Malformed]++
			}
			checkMalformed(t, rec)
		}
		want := ExpectedMalformed(tt.n, tt.share)
		if len(got) != len(want) {
			t.Fatalf("n=%d share=%v: kinds %v, want %v", tt.n, tt.share, got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("n=%d share=%v: %s = %d, want %d (all: %v)", tt.n, tt.share, k, got[k], w, got)
			}
		}
		t.Logf("n=%d share=%v: %v", tt.n, tt.share, got)
	}
	if want := (map[Kind]int64{KindInvalidJSON: 223, KindMissingISIN: 111, KindInvalidISIN: 333, KindInvalidTime: 111, KindFutureTime: 111, KindInvalidPrice: 111}); !equalCounts(ExpectedMalformed(10_000, 0.1), want) {
		t.Errorf("ExpectedMalformed(10000, 0.1) = %v, want %v", ExpectedMalformed(10_000, 0.1), want)
	}
}

func equalCounts(a, b map[Kind]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkMalformed asserts that rec is broken the way it says, or not at all.
func checkMalformed(t *testing.T, rec Record) {
	t.Helper()
	scheduled := testStart.Add(rec.Due).Truncate(time.Millisecond)
	if rec.Malformed == KindInvalidJSON {
		if json.Valid(rec.Value) {
			t.Fatalf("seq %d (%s): valid JSON %q", rec.Seq, rec.MalformedDetail, rec.Value)
		}
		return
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Value, &m); err != nil {
		t.Fatalf("seq %d (%q): %v: %s", rec.Seq, rec.Malformed, err, rec.Value)
	}
	value, hasISIN := m["isin"].(string)
	switch rec.Malformed {
	case KindMissingISIN:
		if _, ok := m["isin"]; ok {
			t.Fatalf("seq %d: missing-isin has one: %s", rec.Seq, rec.Value)
		}
	case KindInvalidISIN:
		if !hasISIN || isin.ValidString(value) || string(rec.Key) != value {
			t.Fatalf("seq %d: invalid-isin %q with key %q", rec.Seq, value, rec.Key)
		}
	case KindInvalidTime:
		s, ok := m["tradeTime"].(string)
		if !ok {
			t.Fatalf("seq %d: invalid-time tradeTime %v", rec.Seq, m["tradeTime"])
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t.Fatalf("seq %d: invalid-time %q parses as RFC 3339", rec.Seq, s)
		}
		if !rec.Timestamp.Equal(scheduled) {
			t.Fatalf("seq %d: invalid-time moved the timestamp", rec.Seq)
		}
	case KindInvalidPrice:
		s, ok := m["price"].(string)
		if !ok || !strings.HasSuffix(s, " KRW") || !rec.Timestamp.Equal(scheduled) {
			t.Fatalf("seq %d: invalid-price price %v", rec.Seq, m["price"])
		}
	case KindFutureTime:
		if !rec.Timestamp.Equal(scheduled.Add(FutureSkew)) || m["tradeTime"] != float64(rec.Timestamp.UnixMilli()) {
			t.Fatalf("seq %d: future-time timestamp %s, tradeTime %v, scheduled %s", rec.Seq, rec.Timestamp, m["tradeTime"], scheduled)
		}
	case "":
		if !hasISIN || !isin.ValidString(value) || !bytes.Equal(rec.Key, []byte(value)) || !rec.Timestamp.Equal(scheduled) {
			t.Fatalf("seq %d: valid record is not: key %q %s", rec.Seq, rec.Key, rec.Value)
		}
	default:
		t.Fatalf("seq %d: unknown kind %q", rec.Seq, rec.Malformed)
	}
	if rec.Malformed != KindInvalidISIN && string(rec.Key) != rec.ISIN {
		t.Fatalf("seq %d (%q): key %q, want %q", rec.Seq, rec.Malformed, rec.Key, rec.ISIN)
	}
}

// TestMalformedShareKeepsTheTrades: breaking records must not change the
// trades underneath, so runs with and without malformed records compare.
func TestMalformedShareKeepsTheTrades(t *testing.T) {
	clean := mustGenerator(t, Options{Seed: 9, Start: testStart})
	dirty := mustGenerator(t, Options{Seed: 9, Start: testStart, MalformedShare: 0.3})
	for range 20_000 {
		a, b := clean.Next(), dirty.Next()
		if a.ISIN != b.ISIN || a.Price != b.Price || a.Volume != b.Volume || a.Side != b.Side || a.Seq != b.Seq || a.Due != b.Due {
			t.Fatalf("seq %d: %+v vs %+v", a.Seq, tupleOf(a), tupleOf(b))
		}
	}
}
