// Package decimal is the exact arithmetic of the interval aggregates: prices
// and volumes read from JSON number text into scaled integers (never binary
// floats), sums that move to math/big rather than overflow, and the VWAP's
// half-even rounding.
//
// A Decimal is Unscaled / 10^Scale. Its scale is the number of digits after
// the point as written, less the exponent, and never below 0: "10" and "1e1"
// have scale 0, "10.50" scale 2, "1.5e-2" scale 3. A value fits when its
// scale is at most MaxScale and its unscaled value has at most MaxDigits
// digits; everything an input field can hold beyond that is rejected rather
// than rounded. Within those bounds a sum of int64 terms stays an int64 until
// it would overflow, and only then uses math/big: trades of ordinary sizes
// never allocate.
package decimal

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// The bounds of a Decimal.
const (
	// MaxDigits is the most digits an unscaled value may have: it stays
	// below 10^18, so a product of two fits in 128 bits.
	MaxDigits = 18
	// MaxScale is the most digits after the point.
	MaxScale = 18
)

// Decimal is an exact decimal number: Unscaled / 10^Scale, with
// |Unscaled| < 10^MaxDigits and Scale <= MaxScale.
type Decimal struct {
	Unscaled int64
	Scale    uint8
}

// The errors of Parse.
var (
	// ErrSyntax: the text is not a JSON number.
	ErrSyntax = errors.New("not a JSON number")
	// ErrRange: the number has more than MaxDigits digits, or more than
	// MaxScale digits after the point, once its exponent is applied.
	ErrRange = errors.New("out of range: more than 18 digits, or more than 18 after the point")
)

// exponentLimit saturates exponents while they are read: no number can have
// that many digits, so every exponent beyond it decides the same way.
const exponentLimit = 1 << 40

// Parse reads text as a JSON number (RFC 8259: an optional minus, no leading
// zeros, an optional fraction and exponent, nothing else). A negative zero is
// zero.
func Parse(text []byte) (Decimal, error) {
	if d, ok := parseShortWhole(text); ok {
		return d, nil
	}
	// Longer whole numbers take a loop of their own.
	if n := len(text); n > 0 && n <= MaxDigits && text[0]-'1' <= 8 {
		var v int64
		for _, c := range text {
			if c-'0' > 9 {
				return parse(text)
			}
			v = v*10 + int64(c-'0')
		}
		return Decimal{Unscaled: v}, nil
	}
	return parse(text)
}

// parseShortWhole reads a positive whole number of one to eight digits, the
// form most prices and volumes take, all eight bytes at once: a loop over a
// price's digits mispredicts its exit whenever the length changes. It needs
// eight bytes of capacity from text's start (a field inside a trade has
// them); the bytes past len(text) are read and ignored.
func parseShortWhole(text []byte) (Decimal, bool) {
	n := len(text)
	if n == 0 || n > 8 || cap(text) < 8 || text[0] == '0' {
		return Decimal{}, false
	}
	const (
		zeros  = 0x3030303030303030 // '0' in every byte
		nibble = 0xf0f0f0f0f0f0f0f0
		sixes  = 0x0606060606060606
	)
	keep := ^uint64(0) >> (64 - 8*n) // the n bytes of the number
	w := binary.LittleEndian.Uint64(text[:8]) & keep
	// A digit is 0x30-0x39: its high nibble is 3, and adding 6 leaves it 3.
	if w&nibble != zeros&keep || (w+sixes&keep)&nibble != zeros&keep {
		return Decimal{}, false
	}
	// Digit values, the first in the lowest byte, with 8-n leading zeros.
	v := (w - zeros&keep) << (64 - 8*n)
	// Pairs, then fours, then all eight (two steps in one multiplication).
	v = v*10 + v>>8
	v = ((v&0x000000ff000000ff)*(100+1000000<<32) + (v>>16&0x000000ff000000ff)*(1+10000<<32)) >> 32
	return Decimal{Unscaled: int64(v)}, true
}

// parse is Parse for any JSON number.
func parse(text []byte) (Decimal, error) {
	i, n := 0, len(text)
	neg := i < n && text[i] == '-'
	if neg {
		i++
	}
	var mantissa uint64
	significant := 0 // digits from the first non-zero one on
	digit := func(c byte) {
		if mantissa == 0 && c == '0' {
			return
		}
		significant++
		if significant <= MaxDigits {
			mantissa = mantissa*10 + uint64(c-'0')
		}
	}
	switch {
	case i < n && text[i] == '0':
		i++
	case i < n && text[i]-'1' <= 8:
		for ; i < n && text[i]-'0' <= 9; i++ {
			digit(text[i])
		}
	default:
		return Decimal{}, ErrSyntax
	}
	fraction := 0
	if i < n && text[i] == '.' {
		i++
		for ; i < n && text[i]-'0' <= 9; i++ {
			digit(text[i])
			fraction++
		}
		if fraction == 0 {
			return Decimal{}, ErrSyntax
		}
	}
	exponent := int64(0)
	if i < n && text[i]|0x20 == 'e' {
		i++
		negExp := false
		if i < n && (text[i] == '+' || text[i] == '-') {
			negExp = text[i] == '-'
			i++
		}
		start := i
		for ; i < n && text[i]-'0' <= 9; i++ {
			if exponent < exponentLimit {
				exponent = exponent*10 + int64(text[i]-'0')
			}
		}
		if i == start {
			return Decimal{}, ErrSyntax
		}
		if negExp {
			exponent = -exponent
		}
	}
	if i != n {
		return Decimal{}, ErrSyntax
	}
	if significant > MaxDigits {
		return Decimal{}, ErrRange
	}
	scale := int64(fraction) - exponent
	switch {
	case mantissa == 0:
		if scale > MaxScale {
			return Decimal{}, ErrRange
		}
		return Decimal{Scale: uint8(max(scale, 0))}, nil
	case scale > MaxScale:
		return Decimal{}, ErrRange
	case scale < 0:
		// Whole digits beyond the mantissa's: 1e3 is 1000 at scale 0.
		if -scale >= MaxDigits {
			return Decimal{}, ErrRange
		}
		hi, lo := bits.Mul64(mantissa, pow10[-scale])
		if hi != 0 || lo >= pow10[MaxDigits] {
			return Decimal{}, ErrRange
		}
		mantissa, scale = lo, 0
	}
	d := Decimal{Unscaled: int64(mantissa), Scale: uint8(scale)}
	if neg {
		d.Unscaled = -d.Unscaled
	}
	return d, nil
}

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.Unscaled < 0:
		return -1
	case d.Unscaled > 0:
		return 1
	}
	return 0
}

// Cmp compares the values of d and e, whatever their scales: -1 when d < e,
// 0 when equal, +1 when d > e.
func (d Decimal) Cmp(e Decimal) int {
	if d.Scale == e.Scale {
		return cmpInt(d.Unscaled, e.Unscaled)
	}
	return d.cmpScales(e)
}

// Less reports whether d < e, whatever their scales.
func (d Decimal) Less(e Decimal) bool {
	if d.Scale == e.Scale {
		return d.Unscaled < e.Unscaled
	}
	return d.cmpScales(e) < 0
}

// cmpScales is Cmp for decimals of different scales.
func (d Decimal) cmpScales(e Decimal) int {
	if s1, s2 := d.Sign(), e.Sign(); s1 != s2 || s1 == 0 {
		return cmpInt(int64(s1), int64(s2))
	}
	// Same sign, both non-zero: compare magnitudes at the greater scale,
	// each below 10^36 (128 bits).
	scale := max(d.Scale, e.Scale)
	dh, dl := bits.Mul64(abs(d.Unscaled), pow10[scale-d.Scale])
	eh, el := bits.Mul64(abs(e.Unscaled), pow10[scale-e.Scale])
	c := cmpUint128(dh, dl, eh, el)
	if d.Unscaled < 0 {
		return -c
	}
	return c
}

// Append appends d as decimal text with scale digits after the point (no
// point when scale is 0). A scale below d.Scale is taken as d.Scale.
func (d Decimal) Append(dst []byte, scale uint8) []byte {
	scale = max(scale, d.Scale)
	var buf [2 * MaxDigits]byte
	digits := appendUint(buf[:0], abs(d.Unscaled))
	for range scale - d.Scale {
		digits = append(digits, '0')
	}
	return appendScaled(dst, d.Unscaled < 0, digits, int(scale))
}

// String is d as written by Append at its own scale.
func (d Decimal) String() string { return string(d.Append(nil, d.Scale)) }

// appendScaled appends the number whose magnitude has the decimal digits
// digits (no leading zeros; empty or "0" for zero) and scale digits after
// the point, with a minus when neg and the number is not zero.
func appendScaled(dst []byte, neg bool, digits []byte, scale int) []byte {
	zero := true
	for _, c := range digits {
		if c != '0' {
			zero = false
			break
		}
	}
	if neg && !zero {
		dst = append(dst, '-')
	}
	whole := len(digits) - scale
	if whole <= 0 {
		dst = append(dst, '0')
	} else {
		dst = append(dst, digits[:whole]...)
	}
	if scale == 0 {
		return dst
	}
	dst = append(dst, '.')
	for ; whole < 0; whole++ {
		dst = append(dst, '0')
	}
	return append(dst, digits[whole:]...)
}

func appendUint(dst []byte, u uint64) []byte {
	if u == 0 {
		return append(dst, '0')
	}
	var buf [20]byte
	i := len(buf)
	for u > 0 {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	return append(dst, buf[i:]...)
}

// pow10[k] is 10^k for k <= 19, the powers a uint64 holds.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for k := 1; k < len(p); k++ {
		p[k] = p[k-1] * 10
	}
	return p
}()

// abs returns |v| as a uint64, which holds it even for math.MinInt64.
func abs(v int64) uint64 {
	if v < 0 {
		return uint64(-v) // wraps to 1<<63 for math.MinInt64, which is right
	}
	return uint64(v)
}

// fromAbs returns the int64 of sign neg and magnitude u, and whether it fits.
func fromAbs(neg bool, u uint64) (int64, bool) {
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true // -(1<<63) wraps to math.MinInt64
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpUint128(ah, al, bh, bl uint64) int {
	switch {
	case ah != bh:
		if ah < bh {
			return -1
		}
		return 1
	case al < bl:
		return -1
	case al > bl:
		return 1
	}
	return 0
}
