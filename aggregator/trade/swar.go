package trade

import (
	"encoding/binary"
	"math/bits"
)

// This file finds the end of a run of plain string content or of digits eight
// bytes at a time ("SIMD within a register"): a byte test is done on every
// byte of a 64-bit word at once, each byte's answer landing in its high bit.
//
// The tests subtract or add per byte without masking carries, so a borrow or
// carry can flag bytes above a flagged one wrongly; it never crosses a byte
// that is not flagged. Only the lowest flag is reliable, and it is the only
// one used.

const (
	lowBits  = 0x0101010101010101 // the low bit of every byte
	highBits = 0x8080808080808080 // the high bit of every byte
)

// word returns data[i:i+8] as a little-endian word, with zero bytes in place
// of those past the end. Zero is both a control character and not a digit, so
// a search runs into the end of data as into a stop byte and reports
// len(data). i must not exceed len(data).
func word(data []byte, i int) uint64 {
	if i+8 <= len(data) {
		return binary.LittleEndian.Uint64(data[i:])
	}
	return tailWord(data, i)
}

// tailWord is word for the last bytes of data.
func tailWord(data []byte, i int) uint64 {
	if len(data) >= 8 {
		// The last eight bytes, shifted down so data[i] is the lowest; the
		// shift brings in zeros (all 64 of them when i == len(data)).
		return binary.LittleEndian.Uint64(data[len(data)-8:]) >> (8 * (i + 8 - len(data)))
	}
	var w uint64
	for k := len(data) - 1; k >= i; k-- {
		w = w<<8 | uint64(data[k])
	}
	return w
}

// firstFlagged returns the position of the lowest byte whose high bit is set
// in m, which must not be zero.
func firstFlagged(m uint64) int { return bits.TrailingZeros64(m) >> 3 }

// bytesBelow flags the bytes of w below n, for n <= 0x80: b - n has its high
// bit set when b < n (it wraps) and otherwise only when b has it too, which
// &^ w clears.
func bytesBelow(w uint64, n byte) uint64 { return (w - lowBits*uint64(n)) &^ w & highBits }

// bytesEqual flags the bytes of w equal to c: those that XOR c to zero.
func bytesEqual(w uint64, c byte) uint64 { return bytesBelow(w^(lowBits*uint64(c)), 1) }

// stringStops flags the bytes that end plain string content: a quote, a
// backslash or a control character.
func stringStops(w uint64) uint64 {
	return bytesEqual(w, '"') | bytesEqual(w, '\\') | bytesBelow(w, 0x20)
}

// nonDigits flags the bytes that are not '0'..'9': those below '0', those
// that reach the high bit when 0x80-':' is added (':' and above), and those
// that have the high bit already.
func nonDigits(w uint64) uint64 {
	return bytesBelow(w, '0') | (w+lowBits*(0x80-':')|w)&highBits
}

// indexStringStop returns the index of the first quote, backslash or control
// character at or after data[i], or len(data).
func indexStringStop(data []byte, i int) int {
	for {
		if m := stringStops(word(data, i)); m != 0 {
			return i + firstFlagged(m)
		}
		i += 8
	}
}

// skipDigits returns the index of the first byte at or after data[i] that is
// not a digit, or len(data).
func skipDigits(data []byte, i int) int {
	for {
		if m := nonDigits(word(data, i)); m != 0 {
			return i + firstFlagged(m)
		}
		i += 8
	}
}
