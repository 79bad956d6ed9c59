package tradegen

import "testing"

func TestTickSize(t *testing.T) {
	tests := []struct{ price, tick int64 }{
		{1, 1}, {1_999, 1}, {2_000, 5}, {4_995, 5}, {5_000, 10}, {19_990, 10}, {20_000, 50},
		{49_950, 50}, {50_000, 100}, {199_900, 100}, {200_000, 500}, {499_500, 500},
		{500_000, 1_000}, {3_000_000, 1_000},
	}
	for _, tt := range tests {
		if got := TickSize(tt.price); got != tt.tick {
			t.Errorf("TickSize(%d) = %d, want %d", tt.price, got, tt.tick)
		}
	}
}

func TestTickStepsStayOnGrid(t *testing.T) {
	for p := int64(1); p <= 1_200_000; p++ {
		if !OnTickGrid(p) {
			continue
		}
		if up := tickUp(p); !OnTickGrid(up) || up <= p {
			t.Fatalf("tickUp(%d) = %d", p, up)
		}
		if down := tickDown(p); p > 1 && (!OnTickGrid(down) || down >= p || tickUp(down) != p) {
			t.Fatalf("tickDown(%d) = %d", p, down)
		}
		if floorToTick(p) != p || ceilToTick(p) != p {
			t.Fatalf("rounding moved grid price %d", p)
		}
	}
	for _, p := range []int64{1_999, 2_001, 4_999, 5_001, 19_999, 49_999, 199_999, 499_999, 500_001} {
		if !OnTickGrid(floorToTick(p)) || !OnTickGrid(ceilToTick(p)) {
			t.Errorf("rounding %d left the grid: %d, %d", p, floorToTick(p), ceilToTick(p))
		}
	}
}

func TestEmittedPricesOnGridWithinLimits(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		g := mustGenerator(t, Options{Seed: seed, Instruments: 2_000, OpeningSpike: true, Start: testStart})
		moved := 0
		for range 200_000 {
			rec := g.Next()
			if !OnTickGrid(rec.Price) {
				t.Fatalf("seed %d seq %d: price %d off the grid (tick %d)", seed, rec.Seq, rec.Price, TickSize(rec.Price))
			}
			lower, upper := priceLimits(rec.PrevClose)
			if rec.Price < lower || rec.Price > upper {
				t.Fatalf("seed %d seq %d: price %d outside limits [%d, %d]", seed, rec.Seq, rec.Price, lower, upper)
			}
			if rec.Price != rec.PrevClose {
				moved++
			}
		}
		if moved == 0 {
			t.Fatalf("seed %d: no price ever moved", seed)
		}
	}
}
