package envelope

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestAppendIsJSONAndParses(t *testing.T) {
	tests := []struct {
		name      string
		env       Envelope
		wantTrade any
	}{
		{"json trade", Envelope{ISIN: "KR7005930003", WindowStart: 1000, WindowEnd: 3000, TradeCount: 7,
			Trade: []byte(`{"isin":"KR7005930003","price":71500}`)},
			map[string]any{"isin": "KR7005930003", "price": 71500.0}},
		{"trade not json", Envelope{ISIN: "KR7005930003", WindowEnd: 2, TradeCount: 1, Trade: []byte("a\"b\x00\xff")},
			"a\"b\x00\ufffd"},
		{"empty trade", Envelope{ISIN: "KR7005930003", WindowEnd: 2, TradeCount: 1}, ""},
		{"odd isin", Envelope{ISIN: "a\"<b>\n", WindowEnd: 2, TradeCount: 1, Trade: []byte(`1`)}, 1.0},
		{"aggregates", Envelope{ISIN: "KR7005930003", WindowEnd: 2, TradeCount: 3,
			Aggregates: []Aggregate{{"open", []byte("100")}, {"vwap", []byte("100.5")}}, Trade: []byte(`{}`)},
			map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Append([]byte("prefix"), &tt.env)
			if string(b[:6]) != "prefix" {
				t.Fatalf("dst not extended: %q", b)
			}
			b = b[6:]
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("not JSON: %s: %v", b, err)
			}
			if got["isin"] != tt.env.ISIN || got["window_end"] != float64(tt.env.WindowEnd) ||
				got["window_start"] != float64(tt.env.WindowStart) || got["trade_count"] != float64(tt.env.TradeCount) {
				t.Fatalf("fixed fields wrong: %s", b)
			}
			wantTrade, _ := json.Marshal(tt.wantTrade)
			gotTrade, _ := json.Marshal(got["trade"])
			if string(gotTrade) != string(wantTrade) {
				t.Fatalf("trade = %s, want %s", gotTrade, wantTrade)
			}
			for _, a := range tt.env.Aggregates {
				if _, ok := got[a.Name].(float64); !ok {
					t.Fatalf("aggregate %s missing or not a number: %s", a.Name, b)
				}
			}
			h, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if h != (Header{tt.env.ISIN, tt.env.WindowStart, tt.env.WindowEnd, tt.env.TradeCount}) {
				t.Fatalf("header = %+v", h)
			}
		})
	}
}

func TestParseRefusesRawValues(t *testing.T) {
	for _, raw := range []string{
		`{"isin":"KR7005930003","price":71500}`,
		`not json`,
		`[1,2]`,
		`{"isin":"","window_start":0,"window_end":2,"trade_count":1,"trade":{}}`,
		`{"isin":"KR7005930003","window_start":0,"window_end":"2","trade_count":1,"trade":{}}`,
		`{"isin":"KR7005930003","window_start":0,"window_end":2,"trade_count":1}`,
	} {
		if _, err := Parse([]byte(raw)); !errors.Is(err, ErrNotEnvelope) {
			t.Errorf("Parse(%s) = %v, want ErrNotEnvelope", raw, err)
		}
	}
}

func TestCheckNumber(t *testing.T) {
	for _, ok := range []string{"0", "-0", "71500", "100.25", "-3.5e-2", "1E9"} {
		if err := CheckNumber([]byte(ok)); err != nil {
			t.Errorf("CheckNumber(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "1e", "+1", "1 ", "NaN", "0x10", "1,5"} {
		if err := CheckNumber([]byte(bad)); err == nil {
			t.Errorf("CheckNumber(%q) accepted", bad)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	e := Envelope{ISIN: "KR7005930003", WindowStart: 1767225600000, WindowEnd: 1767225602000, TradeCount: 12,
		Trade: []byte(`{"isin":"KR7005930003","name":"Samsung Electronics","price":71500,"prevClose":71000,"qty":10,"side":"B","seq":123456}`)}
	var buf []byte
	for b.Loop() {
		buf = Append(buf[:0], &e)
	}
}
