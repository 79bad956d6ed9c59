package decimal

import (
	"math"
	"math/big"
	"math/bits"
)

// Sum is an exact sum of decimals, kept at the greatest scale of its terms.
// The zero value is an empty sum: 0 at scale 0. It is an int64 while the sum
// fits in one and a big.Int from the first term that would overflow it, so
// it never wraps and, for ordinary trades, never allocates.
type Sum struct {
	small int64
	// large holds the sum once it outgrew small; small is unused then.
	large *big.Int
	scale uint8
}

// NewSum returns the sum holding unscaled / 10^scale.
func NewSum(unscaled int64, scale uint8) Sum { return Sum{small: unscaled, scale: scale} }

// Add adds d.
func (s *Sum) Add(d Decimal) {
	if s.large == nil {
		if sum, scale, ok := AddSmall(s.small, s.scale, d); ok {
			s.small, s.scale = sum, scale
			return
		}
	}
	s.addBig(d.Unscaled < 0, 0, abs(d.Unscaled), d.Scale)
}

// AddProduct adds a × b, exactly, at scale a.Scale + b.Scale.
func (s *Sum) AddProduct(a, b Decimal) {
	if s.large == nil {
		if sum, scale, ok := AddProductSmall(s.small, s.scale, a, b); ok {
			s.small, s.scale = sum, scale
			return
		}
	}
	hi, lo := bits.Mul64(abs(a.Unscaled), abs(b.Unscaled))
	s.addBig((a.Unscaled < 0) != (b.Unscaled < 0), hi, lo, a.Scale+b.Scale)
}

// AddSmall returns sum + d, where sum is an unscaled value at scale, in int64
// arithmetic at the greater of the two scales, and whether the result fits
// in an int64. It is the step of Sum for callers that keep a sum's int64 and
// scale themselves; terms at the sum's scale take an inlined path.
func AddSmall(sum int64, scale uint8, d Decimal) (int64, uint8, bool) {
	// Without overflow, adding a non-negative term never lowers the sum and
	// adding a negative one always does.
	if s := sum + d.Unscaled; d.Scale == scale && (s >= sum) == (d.Unscaled >= 0) {
		return s, scale, true
	}
	return addScaled(sum, scale, d.Unscaled, d.Scale)
}

// AddProductSmall returns sum + a × b like AddSmall, the product being at
// scale a.Scale + b.Scale.
func AddProductSmall(sum int64, scale uint8, a, b Decimal) (int64, uint8, bool) {
	// Factors within ±2^31 multiply without overflow.
	if uint64(a.Unscaled+1<<31)|uint64(b.Unscaled+1<<31) < 1<<32 {
		return AddSmall(sum, scale, Decimal{Unscaled: a.Unscaled * b.Unscaled, Scale: a.Scale + b.Scale})
	}
	return addProductScaled(sum, scale, a, b)
}

// addProductScaled is AddProductSmall for factors of any size.
func addProductScaled(sum int64, scale uint8, a, b Decimal) (int64, uint8, bool) {
	hi, lo := bits.Mul64(abs(a.Unscaled), abs(b.Unscaled))
	product, ok := fromAbs((a.Unscaled < 0) != (b.Unscaled < 0), lo)
	if hi != 0 || !ok {
		return 0, 0, false
	}
	return addScaled(sum, scale, product, a.Scale+b.Scale)
}

// addScaled adds term at termScale to sum at scale, at the greater scale.
func addScaled(sum int64, scale uint8, term int64, termScale uint8) (int64, uint8, bool) {
	target := max(scale, termScale)
	cur, ok1 := scaleInt64(sum, target-scale)
	t, ok2 := scaleInt64(term, target-termScale)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	s, ok := addInt64(cur, t)
	return s, target, ok
}

// addBig adds the term of magnitude hi·2^64 + lo, negative when neg, at
// scale, in math/big from now on, at the greater of the two scales.
func (s *Sum) addBig(neg bool, hi, lo uint64, scale uint8) {
	target := max(s.scale, scale)
	if s.large == nil {
		s.large = big.NewInt(s.small)
		s.small = 0
	}
	t := new(big.Int).SetUint64(hi)
	t.Lsh(t, 64).Or(t, new(big.Int).SetUint64(lo))
	if neg {
		t.Neg(t)
	}
	s.large.Mul(s.large, bigPow10(int(target-s.scale)))
	t.Mul(t, bigPow10(int(target-scale)))
	s.large.Add(s.large, t)
	s.scale = target
}

// Scale is the number of digits after the point the sum is kept at: the
// greatest of its terms'.
func (s *Sum) Scale() uint8 { return s.scale }

// Sign returns -1, 0 or +1.
func (s *Sum) Sign() int {
	if s.large != nil {
		return s.large.Sign()
	}
	return Decimal{Unscaled: s.small}.Sign()
}

// Append appends the sum as decimal text at its scale.
func (s *Sum) Append(dst []byte) []byte {
	if s.large != nil {
		return appendScaled(dst, s.large.Sign() < 0, new(big.Int).Abs(s.large).Append(nil, 10), int(s.scale))
	}
	var buf [20]byte
	return appendScaled(dst, s.small < 0, appendUint(buf[:0], abs(s.small)), int(s.scale))
}

// AppendQuotient appends num / den rounded half-even (to the nearest, ties to
// the even last digit) to scale digits after the point. den must not be zero.
func AppendQuotient(dst []byte, num, den *Sum, scale uint8) []byte {
	// num/10^a ÷ den/10^b × 10^scale = num × 10^(scale+b-a) / den.
	k := int(scale) + int(den.scale) - int(num.scale)
	if num.large == nil && den.large == nil && k >= 0 && k < len(pow10) && den.small != 0 {
		hi, lo := bits.Mul64(abs(num.small), pow10[k])
		d := abs(den.small)
		if hi < d { // the quotient fits in 64 bits
			q, r := bits.Div64(hi, lo, d)
			// Round half-even: up when the remainder is above half of d, or
			// exactly half and q is odd. (q+1 must fit too.)
			if q < math.MaxUint64 {
				if half := d - r; r > half || (r == half && q&1 == 1) {
					q++
				}
				var buf [20]byte
				return appendScaled(dst, (num.small < 0) != (den.small < 0), appendUint(buf[:0], q), int(scale))
			}
		}
	}
	n, d := num.bigInt(), den.bigInt()
	if k >= 0 {
		n.Mul(n, bigPow10(k))
	} else {
		d.Mul(d, bigPow10(-k))
	}
	neg := n.Sign()*d.Sign() < 0
	n.Abs(n)
	d.Abs(d)
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	r.Lsh(r, 1)
	if c := r.Cmp(d); c > 0 || (c == 0 && q.Bit(0) == 1) {
		q.Add(q, big.NewInt(1))
	}
	return appendScaled(dst, neg, q.Append(nil, 10), int(scale))
}

// bigInt returns the sum's unscaled value as a new big.Int.
func (s *Sum) bigInt() *big.Int {
	if s.large != nil {
		return new(big.Int).Set(s.large)
	}
	return big.NewInt(s.small)
}

// addInt64 returns a + b and whether it did not overflow.
func addInt64(a, b int64) (int64, bool) {
	sum := a + b
	// Overflow only when both have the same sign and the sum has the other.
	return sum, (a >= 0) != (b >= 0) || (sum >= 0) == (a >= 0)
}

// scaleInt64 returns v × 10^k and whether it fits in an int64.
func scaleInt64(v int64, k uint8) (int64, bool) {
	if k == 0 || v == 0 {
		return v, true
	}
	if int(k) >= len(pow10) {
		return 0, false
	}
	hi, lo := bits.Mul64(abs(v), pow10[k])
	if hi != 0 {
		return 0, false
	}
	return fromAbs(v < 0, lo)
}

// bigPow10 returns 10^k as a new big.Int.
func bigPow10(k int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
}
