package hostile_test

import (
	"math/rand"
	"testing"
	"time"

	"tickcompact/aggregator/trade"
	"tickcompact/internal/tools/hostile"
)

// validISINs are what the kinds are made from.
var validISINs = []string{"KR7005930003", "US0378331005", "KR7000660001"}

// Every kind's records are rejected by the aggregator's parser, with the
// aggregator's default input settings, for the reason the kind names: what
// the fault suite and row 6 of make bench count on.
func TestEveryKindIsRejectedForItsReason(t *testing.T) {
	parser := trade.NewParser(trade.Fields{ISIN: "isin", MaxFuture: time.Minute})
	rng := rand.New(rand.NewSource(1))
	now := time.Now()
	total := 0
	for _, k := range hostile.Kinds {
		total += k.Count
		for i := range 50 {
			ts := now.Add(-time.Duration(rng.Intn(3600)) * time.Second)
			key, value, stamp := k.Make(rng, validISINs[i%len(validISINs)], ts)
			_, rej := parser.Parse(value, stamp.UnixMilli(), now)
			switch {
			case rej == nil:
				t.Fatalf("%s: accepted (key %q, value %.80q, timestamp %d)", k.Name, key, value, stamp.UnixMilli())
			case string(rej.Reason) != k.Reason:
				t.Fatalf("%s: rejected as %s (%v), want %s", k.Name, rej.Reason, rej.Err, k.Reason)
			}
		}
	}
	if total != 10_000 {
		t.Errorf("the kinds add up to %d records, want 10,000", total)
	}
}

// A well-formed trade of each ISIN, stamped an hour ago, is accepted: the
// rejections above come from what each kind breaks, not from its inputs.
func TestTheInputsOfMakeAreValid(t *testing.T) {
	parser := trade.NewParser(trade.Fields{ISIN: "isin", MaxFuture: time.Minute})
	now := time.Now()
	for _, id := range validISINs {
		value := []byte(`{"isin":"` + id + `","price":71000,"volume":3}`)
		if _, rej := parser.Parse(value, now.Add(-time.Hour).UnixMilli(), now); rej != nil {
			t.Errorf("a valid trade of %s was rejected: %v", id, rej)
		}
	}
}
