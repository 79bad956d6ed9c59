package decimal

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"tickcompact/internal/tools/bigdec"
)

func TestParse(t *testing.T) {
	tests := []struct {
		text    string
		want    Decimal
		wantErr error
	}{
		{text: "71200", want: Decimal{71200, 0}},
		{text: "0", want: Decimal{0, 0}},
		{text: "-0", want: Decimal{0, 0}},
		{text: "-0.00", want: Decimal{0, 2}},
		{text: "10.5", want: Decimal{105, 1}},
		{text: "10.50", want: Decimal{1050, 2}},
		{text: "-3.25", want: Decimal{-325, 2}},
		{text: "1e3", want: Decimal{1000, 0}},
		{text: "1E+3", want: Decimal{1000, 0}},
		{text: "1.5e-2", want: Decimal{15, 3}},
		{text: "1.50e1", want: Decimal{150, 1}},
		{text: "12.5e1", want: Decimal{125, 0}},
		{text: "0e999999999999999999999", want: Decimal{0, 0}},
		{text: "0.0e-10", want: Decimal{0, 11}},
		{text: "999999999999999999", want: Decimal{999999999999999999, 0}},
		{text: "-999999999999999999", want: Decimal{-999999999999999999, 0}},
		{text: "0.000000000000000001", want: Decimal{1, 18}},
		{text: "0.999999999999999999", want: Decimal{999999999999999999, 18}},
		{text: "1e17", want: Decimal{1e17, 0}},
		{text: "00012", wantErr: ErrSyntax},
		{text: "01", wantErr: ErrSyntax},
		{text: "", wantErr: ErrSyntax},
		{text: "-", wantErr: ErrSyntax},
		{text: "+1", wantErr: ErrSyntax},
		{text: "1.", wantErr: ErrSyntax},
		{text: ".5", wantErr: ErrSyntax},
		{text: "1e", wantErr: ErrSyntax},
		{text: "1e+", wantErr: ErrSyntax},
		{text: "1 ", wantErr: ErrSyntax},
		{text: " 1", wantErr: ErrSyntax},
		{text: "71,200", wantErr: ErrSyntax},
		{text: "NaN", wantErr: ErrSyntax},
		{text: "Infinity", wantErr: ErrSyntax},
		{text: "0x10", wantErr: ErrSyntax},
		{text: "1/2", wantErr: ErrSyntax},
		{text: "1000000000000000000", wantErr: ErrRange},
		{text: "1e18", wantErr: ErrRange},
		{text: "1e400", wantErr: ErrRange},
		{text: "1e-400", wantErr: ErrRange},
		{text: "0.0000000000000000001", wantErr: ErrRange},
		{text: "0e-19", wantErr: ErrRange},
		{text: "1.0000000000000000000", wantErr: ErrRange},
		{text: "99999999999999999999e-2", wantErr: ErrRange},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.text))
		switch {
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
			t.Errorf("Parse(%q) = %v, %v; want error %v", tt.text, got, err, tt.wantErr)
		case tt.wantErr == nil && (err != nil || got != tt.want):
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.text, got, err, tt.want)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	text := []byte("-71200.125e-1")
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(text) }); n != 0 {
		t.Fatalf("Parse allocates %v times", n)
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		d     Decimal
		scale uint8
		want  string
	}{
		{Decimal{71200, 0}, 0, "71200"},
		{Decimal{71200, 0}, 2, "71200.00"},
		{Decimal{105, 1}, 1, "10.5"},
		{Decimal{105, 1}, 3, "10.500"},
		{Decimal{-5, 3}, 3, "-0.005"},
		{Decimal{0, 2}, 2, "0.00"},
		{Decimal{0, 0}, 4, "0.0000"},
		{Decimal{1, 18}, 18, "0.000000000000000001"},
		{Decimal{-999999999999999999, 0}, 18, "-999999999999999999.000000000000000000"},
		{Decimal{105, 1}, 0, "10.5"}, // never below its own scale
	}
	for _, tt := range tests {
		if got := string(tt.d.Append(nil, tt.scale)); got != tt.want {
			t.Errorf("%+v.Append(%d) = %q, want %q", tt.d, tt.scale, got, tt.want)
		}
	}
}

func TestCmp(t *testing.T) {
	values := []string{"-999999999999999999", "-10.5", "-10.05", "-1e-18", "0", "0.000", "1e-18", "10", "10.00", "10.05", "10.5", "999999999999999999", "0.999999999999999999"}
	for _, a := range values {
		for _, b := range values {
			da, db := mustParse(t, a), mustParse(t, b)
			want := reference(t, a).Value.Cmp(reference(t, b).Value)
			if got := da.Cmp(db); got != want {
				t.Errorf("Cmp(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func reference(t *testing.T, text string) bigdec.Number {
	t.Helper()
	n, ok := bigdec.Parse(text)
	if !ok {
		t.Fatalf("%q is not a JSON number", text)
	}
	return n
}

func mustParse(t *testing.T, text string) Decimal {
	t.Helper()
	d, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return d
}

func ratOf(d Decimal) *big.Rat { return bigdec.Rat(d.Unscaled, int(d.Scale)) }

// checkAgainstReference fails when Parse and the math/big reference
// disagree on text: on whether it is a number, whether it fits, its value
// or its scale.
func checkAgainstReference(t *testing.T, text []byte) {
	t.Helper()
	got, err := Parse(text)
	ref, isNumber := bigdec.Parse(string(text))
	switch {
	case !isNumber:
		if !errors.Is(err, ErrSyntax) {
			t.Fatalf("Parse(%q) = %+v, %v; the reference says it is no JSON number", text, got, err)
		}
	case !ref.Fits(MaxDigits, MaxScale):
		if !errors.Is(err, ErrRange) {
			t.Fatalf("Parse(%q) = %+v, %v; the reference says it is out of range", text, got, err)
		}
	case err != nil:
		t.Fatalf("Parse(%q): %v; the reference reads %s at scale %d", text, err, ref.Value.RatString(), ref.Scale)
	case ratOf(got).Cmp(ref.Value) != 0 || int64(got.Scale) != ref.Scale:
		t.Fatalf("Parse(%q) = %+v; the reference reads %s at scale %d", text, got, ref.Value.RatString(), ref.Scale)
	}
	if err == nil {
		// Append at the number's own scale reads back as the same number.
		back, err := Parse(got.Append(nil, got.Scale))
		if err != nil || back != got {
			t.Fatalf("Parse(%q) = %+v, written %q, read back as %+v, %v", text, got, got.Append(nil, got.Scale), back, err)
		}
	}
}

// FuzzParse: no input panics Parse, and its result matches the math/big
// reference: the same verdict (number, out of range, not a number) and, for
// a number, the same value and scale.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"71200", "-0", "10.50", "1e3", "1.5e-2", "0e99999", "1e400", "-1e-400", "999999999999999999",
		"1000000000000000000", "0.000000000000000001", "0.0000000000000000001", "12.5e1", "1.", ".5",
		"+1", "01", "1e+", "-", "", "71,200", "1e-18", "123456789.123456789", "-9.99999999999999999e17",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(checkAgainstReference)
}

// Numbers built at random from the grammar's parts, which random bytes
// rarely form, agree with the reference too.
func TestParseMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	digits := func(n int, leading bool) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		if leading && n > 1 && b[0] == '0' {
			b[0] = '1'
		}
		return string(b)
	}
	for range 200_000 {
		s := ""
		if rng.IntN(3) == 0 {
			s = "-"
		}
		s += digits(1+rng.IntN(20), true)
		if rng.IntN(2) == 0 {
			s += "." + digits(1+rng.IntN(20), false)
		}
		if rng.IntN(3) == 0 {
			s += []string{"e", "E", "e+", "e-", "E-"}[rng.IntN(5)] + strconv.Itoa(rng.IntN(40))
		}
		checkAgainstReference(t, []byte(s))
	}
}

func TestSumMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randomDecimal := func(maxDigits int) Decimal {
		n := int64(rng.Uint64N(pow10[1+rng.IntN(maxDigits)]))
		if rng.IntN(4) == 0 {
			n = -n
		}
		return Decimal{Unscaled: n, Scale: uint8(rng.IntN(MaxScale + 1))}
	}
	for round := range 2000 {
		var sum, products Sum
		want, wantProducts := new(big.Rat), new(big.Rat)
		maxDigits := []int{4, 9, MaxDigits}[round%3]
		wantScale, wantProductScale := uint8(0), uint8(0)
		for range 1 + rng.IntN(30) {
			a, b := randomDecimal(maxDigits), randomDecimal(maxDigits)
			if round%5 == 0 { // one scale throughout, as most feeds have
				a.Scale, b.Scale = 2, 0
			}
			sum.Add(a)
			products.AddProduct(a, b)
			want.Add(want, ratOf(a))
			wantProducts.Add(wantProducts, new(big.Rat).Mul(ratOf(a), ratOf(b)))
			wantScale = max(wantScale, a.Scale)
			wantProductScale = max(wantProductScale, a.Scale+b.Scale)
		}
		checkSum(t, &sum, want, wantScale)
		checkSum(t, &products, wantProducts, wantProductScale)
	}
}

func checkSum(t *testing.T, s *Sum, want *big.Rat, scale uint8) {
	t.Helper()
	text := s.Append(nil)
	got, ok := new(big.Rat).SetString(string(text))
	if !ok || got.Cmp(want) != 0 || s.Scale() != scale || s.Sign() != want.Sign() {
		t.Fatalf("sum %q (scale %d, sign %d), want %s (scale %d)", text, s.Scale(), s.Sign(), want.FloatString(int(scale)), scale)
	}
	if wantText := want.FloatString(int(scale)); string(text) != wantText && !(want.Sign() == 0 && string(text) == zeroText(scale)) {
		t.Fatalf("sum written %q, want %q", text, wantText)
	}
}

func zeroText(scale uint8) string { return new(big.Rat).FloatString(int(scale)) }

func TestSumOverflowsIntoBig(t *testing.T) {
	var s Sum
	big18 := Decimal{Unscaled: 999999999999999999}
	for range 100 {
		s.Add(big18)
	}
	s.Add(Decimal{Unscaled: 5, Scale: 18}) // rescales 10^20 by 10^18
	if got, want := string(s.Append(nil)), "99999999999999999900.000000000000000005"; got != want {
		t.Fatalf("sum %s, want %s", got, want)
	}
	var p Sum
	p.AddProduct(big18, big18)
	p.AddProduct(Decimal{Unscaled: math.MinInt64 + 1}, Decimal{Unscaled: 1})
	want := new(big.Int).Mul(big.NewInt(999999999999999999), big.NewInt(999999999999999999))
	want.Add(want, big.NewInt(math.MinInt64+1))
	if got := string(p.Append(nil)); got != want.String() {
		t.Fatalf("products %s, want %s", got, want)
	}
}

func TestSumDoesNotAllocate(t *testing.T) {
	var s Sum
	price, volume := Decimal{Unscaled: 71200}, Decimal{Unscaled: 15}
	if n := testing.AllocsPerRun(1000, func() {
		s.Add(volume)
		s.AddProduct(price, volume)
	}); n != 0 {
		t.Fatalf("Sum allocates %v times per term", n)
	}
}

func TestAppendQuotient(t *testing.T) {
	sumOf := func(ds ...Decimal) *Sum {
		var s Sum
		for _, d := range ds {
			s.Add(d)
		}
		return &s
	}
	tests := []struct {
		num, den *Sum
		scale    uint8
		want     string
	}{
		{sumOf(Decimal{Unscaled: 1}), sumOf(Decimal{Unscaled: 3}), 4, "0.3333"},
		{sumOf(Decimal{Unscaled: 2}), sumOf(Decimal{Unscaled: 3}), 4, "0.6667"},
		{sumOf(Decimal{Unscaled: 5}), sumOf(Decimal{Unscaled: 100000}), 4, "0.0000"},    // 0.00005: tie, to even 0
		{sumOf(Decimal{Unscaled: 15}), sumOf(Decimal{Unscaled: 100000}), 4, "0.0002"},   // 0.00015: tie, to even 2
		{sumOf(Decimal{Unscaled: -15}), sumOf(Decimal{Unscaled: 100000}), 4, "-0.0002"}, // symmetric
		{sumOf(Decimal{Unscaled: -5}), sumOf(Decimal{Unscaled: 100000}), 4, "0.0000"},   // no negative zero
		{sumOf(Decimal{Unscaled: 1075, Scale: 1}), sumOf(Decimal{Unscaled: 10}), 5, "10.75000"},
	}
	for _, tt := range tests {
		if got := string(AppendQuotient(nil, tt.num, tt.den, tt.scale)); got != tt.want {
			t.Errorf("%s / %s to %d places = %s, want %s", tt.num.Append(nil), tt.den.Append(nil), tt.scale, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50_000 {
		var num, den Sum
		for range 1 + rng.IntN(5) {
			num.AddProduct(Decimal{Unscaled: int64(rng.Uint64N(pow10[1+rng.IntN(MaxDigits)])) - 1000, Scale: uint8(rng.IntN(8))},
				Decimal{Unscaled: 1 + int64(rng.Uint64N(pow10[1+rng.IntN(MaxDigits)])), Scale: uint8(rng.IntN(8))})
			den.Add(Decimal{Unscaled: 1 + int64(rng.Uint64N(pow10[1+rng.IntN(MaxDigits)])), Scale: uint8(rng.IntN(8))})
		}
		scale := uint8(rng.IntN(23))
		want := bigdec.RoundHalfEven(new(big.Rat).Quo(num.rat(), den.rat()), int(scale))
		if got := string(AppendQuotient(nil, &num, &den, scale)); got != want {
			t.Fatalf("%s / %s to %d places = %s, want %s", num.Append(nil), den.Append(nil), scale, got, want)
		}
	}
}

// rat returns the sum's value.
func (s *Sum) rat() *big.Rat {
	return new(big.Rat).SetFrac(s.bigInt(), bigPow10(int(s.scale)))
}

// parseShortWhole agrees with strconv on every string of up to eight bytes
// drawn from digits and their neighbours, whatever follows it.
func TestParseShortWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte("0123456789/:.-e ,}\\x00")
	for range 1_000_000 {
		n := rng.IntN(9)
		buf := make([]byte, 8+rng.IntN(3))
		for i := range buf {
			buf[i] = alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(3) > 0 {
				buf[i] = byte('0' + rng.IntN(10))
			}
		}
		text := buf[:n]
		got, ok := parseShortWhole(text)
		v, err := strconv.ParseUint(string(text), 10, 64)
		want := err == nil && n > 0 && text[0] != '0'
		if ok != want || ok && got != (Decimal{Unscaled: int64(v)}) {
			t.Fatalf("parseShortWhole(%q) = %+v, %v; strconv: %d, %v", text, got, ok, v, err)
		}
	}
	if _, ok := parseShortWhole([]byte("12")); ok {
		t.Fatal("read past a short slice's capacity")
	}
}
