package tradegen

import "testing"

func BenchmarkNext(b *testing.B) {
	g, err := NewGenerator(Options{Seed: 1, Instruments: 100_000, MalformedShare: 0.01})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}
