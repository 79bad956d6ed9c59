package trade

import (
	"testing"
	"time"
)

var benchSample = []byte(`{"isin":"KR7005930003","name":"Samsung Electronics","market":"KOSPI","price":71200,"prevClose":70900,"volume":15,"side":"buy","tradeTime":1764081234567,"seq":123}`)

func BenchmarkScanTrade(b *testing.B) {
	want := newWanted("isin", "", "", "")
	b.SetBytes(int64(len(benchSample)))
	for i := 0; i < b.N; i++ {
		var got picked
		scanTrade(benchSample, &want, &got)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct {
		name   string
		fields Fields
	}{
		{"aggregates=off", Fields{ISIN: "isin", MaxFuture: time.Minute}},
		{"aggregates=on", Fields{ISIN: "isin", MaxFuture: time.Minute, Price: "price", Volume: "volume"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := NewParser(tc.fields)
			now := time.Now()
			b.SetBytes(int64(len(benchSample)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p.Parse(benchSample, now.UnixMilli(), now)
			}
		})
	}
}
