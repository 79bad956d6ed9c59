package trade

// This file checks the JSON grammar, as encoding/json.Valid does, one value
// at a time. Every scan function takes the input and an index into it and returns
// the index after what it scanned; on failure it returns false and the index
// of the offending byte, len(data) for an unexpected end. Passing indexes
// rather than a scanner struct keeps the position in a register.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// spaces has bit c set for each JSON white-space character c.
const spaces = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'

// skipSpace returns the index of the first byte at or after data[i] that is
// not white space, or len(data).
func skipSpace(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' && spaces>>data[i]&1 != 0 {
		i++
	}
	return i
}

// scanValue scans the value at data[i], nested depth containers deep, and
// says what kind it is and, for a string, whether it holds escapes.
func scanValue(data []byte, i, depth int) (end int, k kind, escaped, ok bool) {
	if i >= len(data) {
		return i, kindNone, false, false
	}
	switch c := data[i]; {
	case c == '"':
		end, escaped, ok = scanString(data, i)
		return end, kindString, escaped, ok
	case c == '-' || c-'0' <= 9:
		end, ok = scanNumber(data, i)
		return end, kindNumber, false, ok
	case c == 'n':
		end, ok = scanLiteral(data, i, "null")
		return end, kindNull, false, ok
	case c == 't':
		end, ok = scanLiteral(data, i, "true")
	case c == 'f':
		end, ok = scanLiteral(data, i, "false")
	case c == '{':
		end, ok = scanObject(data, i, depth+1)
	case c == '[':
		end, ok = scanArray(data, i, depth+1)
	default:
		return i, kindNone, false, false
	}
	return end, kindOther, false, ok
}

// scanObject scans the object whose '{' is at data[i].
func scanObject(data []byte, i, depth int) (int, bool) {
	i, closed, ok := scanOpening(data, i, depth, '}')
	for ok && !closed {
		if _, _, i, ok = scanKey(data, i); ok {
			if i, _, _, ok = scanValue(data, i, depth); ok {
				i, closed, ok = scanAfterItem(data, i, '}')
			}
		}
	}
	return i, ok
}

// scanArray scans the array whose '[' is at data[i].
func scanArray(data []byte, i, depth int) (int, bool) {
	i, closed, ok := scanOpening(data, i, depth, ']')
	for ok && !closed {
		if i, _, _, ok = scanValue(data, i, depth); ok {
			i, closed, ok = scanAfterItem(data, i, ']')
		}
	}
	return i, ok
}

// scanOpening scans the '{' or '[' at data[i] of a container nested depth
// deep and the white space after it, and reports whether the closing
// bracket follows at once.
func scanOpening(data []byte, i, depth int, closing byte) (next int, closed, ok bool) {
	if depth > maxDepth {
		return i, false, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == closing {
		return i + 1, true, true
	}
	return i, false, true
}

// scanKey scans an object member's key, which must start at data[i], and the
// colon after it, and returns the key's raw contents and where its value
// starts.
func scanKey(data []byte, i int) (key []byte, escaped bool, value int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, false, i, false
	}
	end, escaped, ok := scanString(data, i)
	if !ok {
		return nil, escaped, end, false
	}
	key = data[i+1 : end-1]
	if end < len(data) && data[end] == ':' { // compact JSON: no white space to skip
		return key, escaped, skipSpace(data, end+1), true
	}
	if end = skipSpace(data, end); end >= len(data) || data[end] != ':' {
		return nil, escaped, end, false
	}
	return key, escaped, skipSpace(data, end+1), true
}

// scanAfterItem scans what follows a member or element: a comma (and the
// white space after it) or the closing bracket, reporting which.
func scanAfterItem(data []byte, i int, closing byte) (next int, closed, ok bool) {
	i = skipSpace(data, i)
	if i >= len(data) {
		return i, false, false
	}
	switch data[i] {
	case ',':
		return skipSpace(data, i+1), false, true
	case closing:
		return i + 1, true, true
	}
	return i, false, false
}

// scanString scans the string whose opening quote is at data[i].
func scanString(data []byte, i int) (end int, escaped, ok bool) {
	i = indexStringStop(data, i+1)
	for i < len(data) {
		switch data[i] {
		case '"':
			return i + 1, escaped, true
		case '\\':
			escaped = true
			n := escapeLen(data, i)
			if n == 0 {
				return i + 1, true, false
			}
			i = indexStringStop(data, i+n)
		default: // a control character
			return i, escaped, false
		}
	}
	return i, escaped, false
}

// escapeLen returns the length of the valid escape sequence whose backslash
// is at data[i], or 0.
func escapeLen(data []byte, i int) int {
	if i+1 >= len(data) {
		return 0
	}
	switch data[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if i+6 <= len(data) && isHex(data[i+2]) && isHex(data[i+3]) && isHex(data[i+4]) && isHex(data[i+5]) {
			return 6
		}
	}
	return 0
}

func isHex(c byte) bool {
	return c-'0' <= 9 || (c|0x20)-'a' <= 'f'-'a' // |0x20 lower-cases letters
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at data[i].
func scanNumber(data []byte, i int) (int, bool) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i]-'1' <= 8:
		i = skipDigits(data, i+1)
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		var ok bool
		if i, ok = digitsAfter(data, i+1); !ok {
			return i, false
		}
	}
	if i < len(data) && data[i]|0x20 == 'e' { // 'e' or 'E'
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		return digitsAfter(data, i)
	}
	return i, true
}

// digitsAfter skips the one or more digits a fraction or exponent must have
// at data[i].
func digitsAfter(data []byte, i int) (int, bool) {
	if i >= len(data) || data[i]-'0' > 9 {
		return i, false
	}
	return skipDigits(data, i+1), true
}

// scanLiteral scans lit (true, false or null) at data[i].
func scanLiteral(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}
