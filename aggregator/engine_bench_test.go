package aggregator

import (
	"fmt"
	"testing"
	"time"

	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
	"tickcompact/internal/tools/tradegen"
)

// BenchmarkRecordPath measures what the aggregator does per input record
// besides Kafka I/O: parse and validate the trade, then update its window
// (closing windows as the watermark passes them), with the interval
// aggregates off (the default) and on. Records come from the KRX generator,
// so values have the production shape.
func BenchmarkRecordPath(b *testing.B) {
	for _, aggregates := range []bool{false, true} {
		for _, isins := range []int{900, 100_000} {
			name := fmt.Sprintf("isins=%d", isins)
			if aggregates {
				name += ",aggregates=on"
			}
			b.Run(name, func(b *testing.B) { benchmarkRecordPath(b, isins, aggregates) })
		}
	}
}

func benchmarkRecordPath(b *testing.B, isins int, aggregates bool) {
	gen, err := tradegen.NewGenerator(tradegen.Options{Seed: 1, Instruments: isins, Rate: 50_000, Start: time.UnixMilli(1_764_000_000_000)})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1 << 18
	values := make([][]byte, n)
	stamps := make([]int64, n)
	for i := range values {
		r := gen.Next()
		values[i], stamps[i] = r.Value, r.Timestamp.UnixMilli()
	}
	fields := trade.Fields{ISIN: "isin", MaxFuture: time.Minute}
	if aggregates {
		fields.Price, fields.Volume = "price", "volume"
	}
	parser := trade.NewParser(fields)
	part := window.NewPartition(window.Config{Size: 2 * time.Second, IdleTimeout: time.Second, Aggregates: aggregates}, time.Now())
	now := time.Now()
	// Time moves on across passes over the sample, so windows keep closing.
	var shift int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % n
		if j == 0 && i > 0 {
			shift += stamps[n-1] - stamps[0] + 2000
		}
		t, rej := parser.Parse(values[j], stamps[j]+shift, now.Add(time.Duration(shift)*time.Millisecond))
		if rej != nil {
			b.Fatal(rej)
		}
		part.Add(window.Record{ISIN: t.ISIN, EventTime: t.EventTime, Offset: int64(i), Value: values[j], Price: t.Price, Volume: t.Volume}, now)
		if part.HasClosed() {
			part.TakeClosed()
		}
	}
}
