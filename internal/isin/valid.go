package isin

// Valid reports whether s is a well-formed ISIN whose check digit is correct.
// It does not allocate. It is on the aggregator's per-record path, so it is
// table-driven and has no branches in the check digit loop (a per-character
// switch cost about as much as scanning two JSON fields);
// TestValidMatchesCheckDigit and FuzzValid hold it to CheckDigit.
//
// The check digit is the Luhn digit over the first 11 characters with letters
// expanded to two digits (A=10 ... Z=35). Going from the right, expanded
// digits are doubled and not doubled in turn, the rightmost doubled. A letter
// adds two expanded digits, so it leaves the turn as it was; a digit flips it.
func Valid(s []byte) bool {
	if len(s) != Length {
		return false
	}
	// shift selects the sum in a table entry: 0 while the next expanded
	// digit is doubled, sumBits while it is not.
	var sum, shift uint32
	letters := luhnTable[s[0]] & luhnTable[s[1]] & luhnLetterFlag // the country code
	valid := uint32(luhnValidFlag)
	for i := Length - 2; i >= 0; i-- {
		entry := luhnTable[s[i]]
		valid &= entry
		sum += (entry >> (shift & 31)) & sumMask // & 31 spares Go's check for shifts past 31
		shift ^= (entry >> luhnTurnShift) & 0xff
	}
	check := s[Length-1] - '0'
	return letters != 0 && valid != 0 && check <= 9 && uint32(check) == (10-sum%10)%10
}

const (
	sumBits        = 5 // wide enough for the largest sum, 12
	sumMask        = 1<<sumBits - 1
	luhnTurnShift  = 16 // bits 16-23 hold what a character XORs into shift
	luhnValidFlag  = 1 << 24
	luhnLetterFlag = 1 << 25
)

// luhnTable holds, for each upper-case letter and digit, its contribution to
// the Luhn sum when its rightmost expanded digit is doubled (bits 0-4) and
// when it is not (bits 5-9), how it changes the turn (a digit flips it, so
// its entry XORs sumBits into shift), luhnLetterFlag for a letter, and
// luhnValidFlag. Any other byte's entry is zero.
var luhnTable = func() (t [256]uint32) {
	double := func(d uint32) uint32 {
		if d *= 2; d > 9 {
			d -= 9
		}
		return d
	}
	for c := '0'; c <= '9'; c++ {
		d := uint32(c - '0')
		t[c] = double(d) | d<<sumBits | sumBits<<luhnTurnShift | luhnValidFlag
	}
	for c := 'A'; c <= 'Z'; c++ {
		v := uint32(c-'A') + 10
		right, left := v%10, v/10
		t[c] = double(right) + left | (right+double(left))<<sumBits | luhnLetterFlag | luhnValidFlag
	}
	return t
}()
