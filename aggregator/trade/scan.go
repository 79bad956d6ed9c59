package trade

import (
	"encoding/json"
	"errors"
	"fmt"
)

// This file is a single-pass JSON validator that also picks out two
// top-level fields. A general parser (fastjson, measured at 220 ns for a
// 160-byte trade) builds a value tree the aggregator never uses; the contract
// only needs to know that the record is valid JSON, that it is an object, and
// what its ISIN and time fields hold. Validity follows encoding/json.Valid
// exactly, which FuzzScanMatchesEncodingJSON checks.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// kind is the JSON type of a field the scanner picked out.
type kind uint8

const (
	kindNone kind = iota
	kindString
	kindNumber
	kindOther // object, array, true, false
	kindNull
)

func (k kind) String() string {
	return [...]string{"absent", "string", "number", "object, array or boolean", "null"}[k]
}

// field is a picked-out top-level field: its kind and raw bytes (for a string,
// the bytes between the quotes, still escaped when escaped is true).
type field struct {
	kind    kind
	raw     []byte
	escaped bool
}

// errNotObject is returned for valid JSON that is not an object.
var errNotObject = errors.New("value is not a JSON object")

// stringSafe marks bytes that may appear unescaped inside a JSON string and
// need no further look: not a quote, not a backslash, not a control character.
var stringSafe = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return t
}()

type scanner struct {
	data []byte
	pos  int
}

// scanTrade validates data as one JSON object (surrounding white space
// allowed) and returns its top-level fields named isinKey and timeKey (the
// last occurrence wins, as in encoding/json). timeKey may be empty.
func scanTrade(data []byte, isinKey, timeKey string) (isinField, timeField field, err error) {
	s := scanner{data: data}
	s.skipWS()
	if s.pos >= len(data) {
		return field{}, field{}, errors.New("empty value")
	}
	if data[s.pos] != '{' {
		if !s.value(0) || !s.end() {
			return field{}, field{}, s.syntaxError()
		}
		return field{}, field{}, errNotObject
	}
	s.pos++
	s.skipWS()
	if s.pos < len(data) && data[s.pos] == '}' {
		s.pos++
		if !s.end() {
			return field{}, field{}, s.syntaxError()
		}
		return field{}, field{}, nil
	}
	for {
		if s.pos >= len(data) || data[s.pos] != '"' {
			return field{}, field{}, s.syntaxError()
		}
		keyStart := s.pos + 1
		escaped, ok := s.str()
		if !ok {
			return field{}, field{}, s.syntaxError()
		}
		key := data[keyStart : s.pos-1]
		s.skipWS()
		if s.pos >= len(data) || data[s.pos] != ':' {
			return field{}, field{}, s.syntaxError()
		}
		s.pos++
		s.skipWS()
		if s.pos >= len(data) {
			return field{}, field{}, s.syntaxError()
		}
		f, ok := s.field()
		if !ok {
			return field{}, field{}, s.syntaxError()
		}
		if keyIs(key, escaped, isinKey) {
			isinField = f
		} else if timeKey != "" && keyIs(key, escaped, timeKey) {
			timeField = f
		}
		s.skipWS()
		if s.pos >= len(data) {
			return field{}, field{}, s.syntaxError()
		}
		switch data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			if !s.end() {
				return field{}, field{}, s.syntaxError()
			}
			return isinField, timeField, nil
		default:
			return field{}, field{}, s.syntaxError()
		}
	}
}

// keyIs compares a raw key with name, unescaping only when it has escapes.
func keyIs(raw []byte, escaped bool, name string) bool {
	if !escaped {
		return string(raw) == name
	}
	if len(raw) < len(name) { // escapes only make the raw form longer
		return false
	}
	s, err := unescape(raw)
	return err == nil && s == name
}

// unescape decodes the escaped contents of a valid JSON string.
func unescape(raw []byte) (string, error) {
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	var s string
	err := json.Unmarshal(quoted, &s)
	return s, err
}

// end reports whether only white space follows.
func (s *scanner) end() bool {
	s.skipWS()
	return s.pos == len(s.data)
}

func (s *scanner) syntaxError() error {
	if s.pos >= len(s.data) {
		return errors.New("unexpected end of JSON input")
	}
	return fmt.Errorf("invalid character %q at offset %d", s.data[s.pos], s.pos)
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// field scans one value and describes it.
func (s *scanner) field() (field, bool) {
	start := s.pos
	switch s.data[s.pos] {
	case '"':
		escaped, ok := s.str()
		if !ok {
			return field{}, false
		}
		return field{kind: kindString, raw: s.data[start+1 : s.pos-1], escaped: escaped}, true
	case 'n':
		return field{kind: kindNull}, s.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		ok := s.number()
		return field{kind: kindNumber, raw: s.data[start:s.pos]}, ok
	default:
		return field{kind: kindOther}, s.value(1)
	}
}

// value scans any JSON value at nesting depth.
func (s *scanner) value(depth int) bool {
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	default:
		return false
	}
}

func (s *scanner) object(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.pos++ // '{'
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return true
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return false
		}
		if _, ok := s.str(); !ok {
			return false
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return false
		}
		s.pos++
		s.skipWS()
		if !s.value(depth) {
			return false
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) array(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.pos++ // '['
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case ']':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// str scans a string starting at its opening quote and leaves pos after the
// closing one.
func (s *scanner) str() (escaped bool, ok bool) {
	data := s.data
	i := s.pos + 1
	for {
		for i < len(data) && stringSafe[data[i]] {
			i++
		}
		if i >= len(data) {
			s.pos = i
			return escaped, false
		}
		switch data[i] {
		case '"':
			s.pos = i + 1
			return escaped, true
		case '\\':
			escaped = true
			if i+1 >= len(data) {
				s.pos = i + 1
				return escaped, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					s.pos = i + 1
					return escaped, false
				}
				i += 6
			default:
				s.pos = i + 1
				return escaped, false
			}
		default: // a control character
			s.pos = i
			return escaped, false
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	data, i := s.data, s.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return false
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			s.pos = i
			return false
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return true
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}
