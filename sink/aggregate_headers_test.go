package sink

import (
	"testing"

	"tickcompact/aggregator"
)

// The sink reads the interval aggregate headers by the names the aggregator
// writes them under, in the order of the contract.
func TestAggregateHeadersAreTheAggregators(t *testing.T) {
	want := []string{aggregator.HeaderWindowOpen, aggregator.HeaderWindowHigh, aggregator.HeaderWindowLow,
		aggregator.HeaderWindowVolume, aggregator.HeaderWindowVWAP}
	if len(aggregateHeaders) != len(want) {
		t.Fatalf("%d aggregate headers, the aggregator writes %d", len(aggregateHeaders), len(want))
	}
	for i, a := range aggregateHeaders {
		if a.header != want[i] {
			t.Errorf("header %d is %q, the aggregator writes %q", i, a.header, want[i])
		}
	}
	if got := []string{WindowStartHeader, TradeCountHeader, WindowEndHeader}; got[0] != aggregator.HeaderWindowStart ||
		got[1] != aggregator.HeaderTradeCount || got[2] != aggregator.HeaderWindowEnd {
		t.Errorf("window headers %q", got)
	}
}
