// Package bigdec is decimal text done the slow, obvious way with math/big: a
// reference that the aggregator's own decimals (aggregator/decimal, scaled
// int64s) are checked against, by its tests and fuzz targets, and by
// cmd/verify's model of the interval aggregates. It shares no code with
// aggregator/decimal.
package bigdec

import (
	"math"
	"math/big"
	"regexp"
	"strings"
)

// Number is a JSON number as math/big reads it.
type Number struct {
	// Value is the number's exact value; nil when it is not zero and its
	// exponent is so far out (beyond ±ExponentLimit) that computing it is
	// pointless: such a number fits no bound worth having.
	Value *big.Rat
	// Scale is the digits after the point less the exponent, at least 0;
	// math.MaxInt64 stands for beyond what an int64 holds.
	Scale int64
}

// ExponentLimit bounds the exponents Parse computes with.
const ExponentLimit = 10_000

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?(?:[eE]([+-]?[0-9]+))?$`)

// Parse reads text as a JSON number (RFC 8259); ok is false for anything
// else.
func Parse(text string) (n Number, ok bool) {
	m := jsonNumber.FindStringSubmatch(text)
	if m == nil {
		return Number{}, false
	}
	fraction := int64(0)
	if m[2] != "" {
		fraction = int64(len(m[2]) - 1)
	}
	exponent := new(big.Int)
	if m[3] != "" {
		exponent.SetString(m[3], 10)
	}
	zero := strings.Trim(m[1]+m[2], "0.") == ""
	if new(big.Int).Abs(exponent).Cmp(big.NewInt(ExponentLimit)) > 0 {
		scale := int64(0)
		if exponent.Sign() < 0 {
			scale = math.MaxInt64
		}
		if zero {
			return Number{Value: new(big.Rat), Scale: scale}, true
		}
		return Number{Scale: scale}, true
	}
	value, ok := new(big.Rat).SetString(text)
	if !ok {
		panic("bigdec: big.Rat rejects the JSON number " + text)
	}
	return Number{Value: value, Scale: max(fraction-exponent.Int64(), 0)}, true
}

// Fits reports whether n has at most maxScale digits after the point and,
// at its scale, an unscaled value of at most maxDigits digits.
func (n Number) Fits(maxDigits, maxScale int) bool {
	if n.Value == nil || n.Scale > int64(maxScale) {
		return false
	}
	unscaled := new(big.Rat).Mul(n.Value, new(big.Rat).SetInt(Pow10(int(n.Scale))))
	if !unscaled.IsInt() {
		panic("bigdec: the unscaled value is not an integer")
	}
	return new(big.Int).Abs(unscaled.Num()).Cmp(Pow10(maxDigits)) < 0
}

// Pow10 returns 10^k.
func Pow10(k int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
}

// Scaled returns the Number unscaled / 10^scale.
func Scaled(unscaled int64, scale int) Number {
	return Number{Value: Rat(unscaled, scale), Scale: int64(scale)}
}

// Rat returns unscaled / 10^scale.
func Rat(unscaled int64, scale int) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(unscaled), Pow10(scale))
}

// RoundHalfEven writes x with scale digits after the point (none, and no
// point, for 0), rounded to the nearest such number, ties to the one whose
// last digit is even; zero is written without a minus.
func RoundHalfEven(x *big.Rat, scale int) string {
	shift := new(big.Rat).SetInt(Pow10(scale))
	y := new(big.Rat).Mul(new(big.Rat).Abs(x), shift)
	q := new(big.Int).Quo(y.Num(), y.Denom())
	rest := new(big.Rat).Sub(y, new(big.Rat).SetInt(q))
	switch c := rest.Cmp(big.NewRat(1, 2)); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	r := new(big.Rat).SetFrac(q, Pow10(scale))
	if x.Sign() < 0 {
		r.Neg(r)
	}
	return r.FloatString(scale)
}
