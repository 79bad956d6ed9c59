package verify

import (
	"fmt"
	"strings"
	"testing"
)

// withAggregates sets the interval aggregate headers of o.
func withAggregates(o OutputRecord, open, high, low, volume, vwap string) OutputRecord {
	o.Aggregates = AggregateHeaders{Open: []byte(open), High: []byte(high), Low: []byte(low), Volume: []byte(volume), VWAP: []byte(vwap)}
	return o
}

func TestAggregates(t *testing.T) {
	a := mkISIN(t, "KR700593000")
	quote := func(ts int64, seq int, price, volume string) tradeRec {
		return tradeRec{timestamp: ts, isin: a, raw: fmt.Sprintf(`{"isin":%q,"price":%s,"volume":%s,"seq":%d}`, a, price, volume, seq)}
	}
	// Window 0: the open is the earliest trade (seq 2), the emitted trade
	// the latest (seq 1); one trade is invalid-price; the record in window 1
	// closes window 0. 10*3 + 10.5*1.5 + 9.75*2 = 65.25 over 6.5.
	trades := []tradeRec{
		quote(t0+500, 1, "10", "3"),
		quote(t0+100, 2, `"10.5"`, "1.5"),
		quote(t0+300, 3, "9.75", "2"),
		quote(t0+400, 4, `"n/a"`, "2"),
		quote(t0+2100, 5, "11", "1"),
	}
	right := withAggregates(outFor(trades[0], 3), "10.50", "10.50", "9.75", "6.5", "10.038462")
	on := func(s *Settings) { s.PriceField, s.VolumeField = "price", "volume" }
	tests := []struct {
		name   string
		edit   func(*Settings)
		output OutputRecord
		want   ViolationReport
		note   string
	}{
		{name: "exact", edit: on, output: right},
		{name: "wrong vwap", edit: on, output: withAggregates(right, "10.50", "10.50", "9.75", "6.5", "10.038461"),
			want: ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{Aggregates: 1}}},
		{name: "prices not at the window's scale", edit: on, output: withAggregates(right, "10.5", "10.5", "9.75", "6.5", "10.038462"),
			want: ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{Aggregates: 1}}},
		{name: "headers missing", edit: on, output: outFor(trades[0], 3),
			want: ViolationReport{Mismatches: 1, MismatchFields: MismatchCount{Aggregates: 1}}},
		{name: "off: headers not checked", output: withAggregates(outFor(trades[0], 4), "1", "2", "3", "4", "5"),
			note: "1 output records carry interval aggregate headers, not checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings()
			if tt.edit != nil {
				tt.edit(&s)
			}
			r := verifyAll(t, s, trades, []OutputRecord{tt.output})
			tt.want.Total = tt.want.Mismatches
			if r.Violations != tt.want {
				t.Fatalf("violations %+v, want %+v; examples %+v", r.Violations, tt.want, r.Examples)
			}
			if tt.edit != nil && r.Input.Rejected["invalid-price"] != 1 {
				t.Errorf("rejected %v, want one invalid-price", r.Input.Rejected)
			}
			if tt.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tt.note) {
				t.Errorf("notes %q, want one saying %q", r.Notes, tt.note)
			}
		})
	}
}

func TestAggregateFlagsGoTogether(t *testing.T) {
	s := DefaultSettings()
	s.PriceField = "price"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--price-field") {
		t.Fatalf("Validate with only --price-field: %v", err)
	}
}
