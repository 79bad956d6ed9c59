// Package isin validates International Securities Identification Numbers (ISO 6166)
// and computes their check digits.
//
// An ISIN is 12 characters: a 2-letter country code, a 9-character alphanumeric
// national security identifier, and one check digit. The check digit is the Luhn
// digit over the first 11 characters with every letter expanded to two digits
// (A=10 ... Z=35). Only upper-case letters are valid.
package isin

// Length is the number of characters in an ISIN.
const Length = 12

// ValidString is Valid for a string.
func ValidString(s string) bool {
	if len(s) != Length {
		return false
	}
	var b [Length]byte
	copy(b[:], s)
	return Valid(b[:])
}

// CheckDigit returns the check digit ('0'..'9') for the first 11 characters of an
// ISIN, or false when body is not 11 upper-case letters and digits.
func CheckDigit(body string) (byte, bool) {
	if len(body) != Length-1 {
		return 0, false
	}
	var b [Length - 1]byte
	copy(b[:], body)
	return checkDigit(b[:])
}

// checkDigit computes the Luhn check digit over body with letters expanded to two
// digits. Digits are processed right to left; the rightmost expanded digit is
// doubled, as the check digit will be appended to its right.
func checkDigit(body []byte) (byte, bool) {
	sum := 0
	double := true
	addDigit := func(d int) {
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	for i := len(body) - 1; i >= 0; i-- {
		c := body[i]
		switch {
		case isDigit(c):
			addDigit(int(c - '0'))
		case isUpper(c):
			v := int(c-'A') + 10
			addDigit(v % 10) // the expanded value's last digit is the rightmost
			addDigit(v / 10)
		default:
			return 0, false
		}
	}
	return byte('0' + (10-sum%10)%10), true
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
