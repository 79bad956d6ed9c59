package tradegen

import (
	"testing"

	"tickcompact/internal/isin"
)

func TestUniverseKnownISINs(t *testing.T) {
	u := Universe(0)
	if len(u) != DefaultInstruments {
		t.Fatalf("Universe(0) has %d instruments, want %d", len(u), DefaultInstruments)
	}
	known := map[string]string{ // code -> ISIN as listed by KRX
		"005930": "KR7005930003",
		"000660": "KR7000660001",
		"035420": "KR7035420009",
	}
	for _, in := range u {
		if want, ok := known[in.Code]; ok && in.ISIN != want {
			t.Errorf("%s (%s): ISIN %s, want %s", in.Name, in.Code, in.ISIN, want)
		}
	}
	if u[0].Name != "Samsung Electronics" || u[0].Market != MarketKOSPI {
		t.Errorf("first instrument = %+v, want Samsung Electronics on KOSPI", u[0])
	}
}

func TestUniverseValidAndUnique(t *testing.T) {
	for _, n := range []int{1, 30, 900, 100_000} {
		u := Universe(n)
		if len(u) != n {
			t.Fatalf("Universe(%d) has %d instruments", n, len(u))
		}
		checkInstruments(t, u)
	}
}

// TestUniverseAlphanumericCodes covers the codes past the six-digit space.
func TestUniverseAlphanumericCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1,050,000-instrument universe")
	}
	const n = 1_050_000
	u := Universe(n)
	if len(u) != n {
		t.Fatalf("Universe(%d) has %d instruments", n, len(u))
	}
	letters := 0
	for _, in := range u {
		for _, c := range []byte(in.Code) {
			if c >= 'A' && c <= 'Z' {
				letters++
				break
			}
		}
	}
	if letters == 0 {
		t.Error("no alphanumeric code in the full universe")
	}
	if letters != n-numericCodes {
		t.Errorf("%d alphanumeric codes, want %d", letters, n-numericCodes)
	}
	checkInstruments(t, u)
	t.Logf("%d of %d codes are alphanumeric, e.g. %s", letters, len(u), u[len(u)-1].ISIN)
}

func checkInstruments(t *testing.T, u []Instrument) {
	t.Helper()
	codes := make(map[string]bool, len(u))
	isins := make(map[string]bool, len(u))
	for _, in := range u {
		if !isin.Valid([]byte(in.ISIN)) {
			t.Fatalf("%s: ISIN %q invalid", in.Name, in.ISIN)
		}
		if len(in.Code) != 6 || in.ISIN != "KR7"+in.Code+"00"+in.ISIN[11:] {
			t.Fatalf("%s: ISIN %q does not match code %q", in.Name, in.ISIN, in.Code)
		}
		if codes[in.Code] || isins[in.ISIN] {
			t.Fatalf("duplicate code %s / ISIN %s", in.Code, in.ISIN)
		}
		codes[in.Code], isins[in.ISIN] = true, true
		if !OnTickGrid(in.PrevClose) {
			t.Fatalf("%s: previous close %d off the tick grid", in.ISIN, in.PrevClose)
		}
		switch in.Market {
		case MarketKOSPI, MarketKOSDAQ, MarketKONEX:
		default:
			t.Fatalf("%s: market %q", in.ISIN, in.Market)
		}
	}
}
