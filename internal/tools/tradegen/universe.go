package tradegen

import (
	"fmt"
	"math"

	"tickcompact/internal/isin"
)

// DefaultInstruments is the size of the universe when Options.Instruments is zero.
const DefaultInstruments = 900

// MaxInstruments is the largest universe Universe builds. Beyond the
// 1,000,000 six-digit short codes it uses KRX-style alphanumeric codes (four
// digits, a letter, a digit: "0009K0"), of which there are 2,600,000.
const MaxInstruments = 2_000_000

// Markets an instrument can be listed on.
const (
	MarketKOSPI  = "KOSPI"
	MarketKOSDAQ = "KOSDAQ"
	MarketKONEX  = "KONEX"
)

// Instrument is one listed stock of the universe.
type Instrument struct {
	// ISIN is "KR7" + Code + "00" + the ISO 6166 check digit.
	ISIN string
	// Code is the exchange's six-character short code, e.g. "005930".
	Code string
	// Name is an ASCII English name.
	Name string
	// Market is MarketKOSPI, MarketKOSDAQ or MarketKONEX.
	Market string
	// PrevClose is the previous trading day's closing price in won, on the tick grid.
	// The day's price limits are ±30% of it.
	PrevClose int64
}

// realListing is a real KRX listing with a plausible recent closing price.
type realListing struct {
	code, name, market string
	prevClose          int64
}

// realListings are the best-known KRX names, most traded first: their order is
// their popularity rank.
var realListings = []realListing{
	{"005930", "Samsung Electronics", MarketKOSPI, 70_900},
	{"000660", "SK hynix", MarketKOSPI, 198_500},
	{"373220", "LG Energy Solution", MarketKOSPI, 381_000},
	{"207940", "Samsung Biologics", MarketKOSPI, 985_000},
	{"005380", "Hyundai Motor", MarketKOSPI, 214_500},
	{"035420", "NAVER", MarketKOSPI, 189_900},
	{"035720", "Kakao", MarketKOSPI, 41_850},
	{"000270", "Kia", MarketKOSPI, 97_800},
	{"051910", "LG Chem", MarketKOSPI, 312_000},
	{"068270", "Celltrion", MarketKOSPI, 179_600},
	{"247540", "EcoPro BM", MarketKOSDAQ, 121_300},
	{"086520", "EcoPro", MarketKOSDAQ, 61_200},
	{"005490", "POSCO Holdings", MarketKOSPI, 318_500},
	{"105560", "KB Financial Group", MarketKOSPI, 84_700},
	{"055550", "Shinhan Financial Group", MarketKOSPI, 51_900},
	{"012330", "Hyundai Mobis", MarketKOSPI, 244_000},
	{"028260", "Samsung C&T", MarketKOSPI, 139_800},
	{"006400", "Samsung SDI", MarketKOSPI, 259_500},
	{"066570", "LG Electronics", MarketKOSPI, 91_700},
	{"196170", "Alteogen", MarketKOSDAQ, 348_500},
	{"012450", "Hanwha Aerospace", MarketKOSPI, 872_000},
	{"329180", "HD Hyundai Heavy Industries", MarketKOSPI, 402_500},
	{"003550", "LG Corp", MarketKOSPI, 74_600},
	{"017670", "SK Telecom", MarketKOSPI, 55_800},
	{"030200", "KT Corp", MarketKOSPI, 42_350},
	{"015760", "Korea Electric Power", MarketKOSPI, 23_150},
	{"034730", "SK Inc", MarketKOSPI, 158_700},
	{"096770", "SK Innovation", MarketKOSPI, 108_900},
	{"032830", "Samsung Life Insurance", MarketKOSPI, 85_300},
	{"009150", "Samsung Electro-Mechanics", MarketKOSPI, 149_200},
	{"086790", "Hana Financial Group", MarketKOSPI, 60_400},
	{"316140", "Woori Financial Group", MarketKOSPI, 15_980},
	{"033780", "KT&G", MarketKOSPI, 110_200},
	{"010130", "Korea Zinc", MarketKOSPI, 798_000},
	{"011200", "HMM", MarketKOSPI, 17_840},
	{"352820", "HYBE", MarketKOSPI, 201_500},
	{"036570", "NCSOFT", MarketKOSPI, 198_300},
	{"251270", "Netmarble", MarketKOSPI, 49_750},
	{"323410", "KakaoBank", MarketKOSPI, 21_950},
	{"028300", "HLB", MarketKOSDAQ, 59_800},
	{"293490", "Kakao Games", MarketKOSDAQ, 17_620},
	{"263750", "Pearl Abyss", MarketKOSDAQ, 34_850},
	{"041510", "SM Entertainment", MarketKOSDAQ, 80_100},
	{"035900", "JYP Entertainment", MarketKOSDAQ, 59_400},
	{"058470", "Leeno Industrial", MarketKOSDAQ, 187_400},
}

// Universe returns the first n instruments of the fixed universe: the real
// listings above, then synthetic ones with unique codes. The universe does not
// depend on any seed: instrument i is the same in every run and for every n.
// n <= 0 means DefaultInstruments; n is capped at MaxInstruments.
func Universe(n int) []Instrument {
	if n <= 0 {
		n = DefaultInstruments
	}
	n = min(n, MaxInstruments)
	out := make([]Instrument, 0, n)
	taken := make(map[string]bool, len(realListings))
	for _, l := range realListings {
		if len(out) == n {
			return out
		}
		out = append(out, newInstrument(l.code, l.name, l.market, l.prevClose))
		taken[l.code] = true
	}
	for candidate := 0; len(out) < n; candidate++ {
		code := syntheticCode(candidate)
		if taken[code] {
			continue
		}
		mix := splitmix64(uint64(candidate))
		market := MarketKOSDAQ
		switch r := mix % 100; {
		case r < 40:
			market = MarketKOSPI
		case r >= 97:
			market = MarketKONEX
		}
		out = append(out, newInstrument(code, market+" Co "+code, market, syntheticPrice(mix)))
	}
	return out
}

func newInstrument(code, name, market string, prevClose int64) Instrument {
	body := "KR7" + code + "00"
	check, ok := isin.CheckDigit(body)
	if !ok {
		panic(fmt.Sprintf("tradegen: short code %q does not make an ISIN", code))
	}
	return Instrument{ISIN: body + string(check), Code: code, Name: name, Market: market, PrevClose: floorToTick(prevClose)}
}

const (
	numericCodes = 1_000_000
	// codeStride is coprime with numericCodes, so candidate*codeStride spreads the
	// synthetic codes over the whole six-digit space without repeating one.
	codeStride = 370_451
	codeOffset = 104_729
)

// syntheticCode returns the short code of the candidate-th synthetic instrument:
// a permutation of the six-digit codes first, then "DDDDLD" codes, which
// contain a letter and so never collide with a numeric one.
func syntheticCode(candidate int) string {
	if candidate < numericCodes {
		code := (uint64(candidate)*codeStride + codeOffset) % numericCodes
		return fmt.Sprintf("%06d", code)
	}
	alpha := candidate - numericCodes
	digits, rest := alpha%10_000, alpha/10_000
	letter, last := rest%26, (rest/26)%10
	return fmt.Sprintf("%04d%c%d", digits, 'A'+letter, last)
}

// syntheticPrice draws a log-uniform previous close between 1,000 and 500,000 won.
func syntheticPrice(mix uint64) int64 {
	u := float64(splitmix64(mix)>>11) / (1 << 53)
	return floorToTick(int64(1000 * math.Pow(500, u)))
}

// splitmix64 is a fixed integer hash, used so the universe needs no RNG state.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
