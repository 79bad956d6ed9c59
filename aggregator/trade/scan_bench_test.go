package trade

import (
	"testing"
	"time"
)

var benchSample = []byte(`{"isin":"KR7005930003","name":"Samsung Electronics","market":"KOSPI","price":71200,"prevClose":70900,"volume":15,"side":"buy","tradeTime":1764081234567,"seq":123}`)

func BenchmarkScanTrade(b *testing.B) {
	b.SetBytes(int64(len(benchSample)))
	for i := 0; i < b.N; i++ {
		var isinField, timeField field
		scanTrade(benchSample, "isin", "", &isinField, &timeField)
	}
}

func BenchmarkParse(b *testing.B) {
	p := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute})
	now := time.Now()
	b.SetBytes(int64(len(benchSample)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p.Parse(benchSample, now.UnixMilli(), now)
	}
}
