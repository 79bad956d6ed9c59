package trade

import (
	"encoding/json"
	"errors"
	"fmt"
)

// This file is a single-pass JSON validator that also picks out a few
// top-level fields. A general parser (fastjson, measured at 220 ns for a
// 160-byte trade) builds a value tree the aggregator never uses; the contract
// only needs to know that the record is valid JSON, that it is an object, and
// what its ISIN, time, price and volume fields hold. Validity follows
// encoding/json.Valid exactly, which FuzzScanMatchesEncodingJSON checks.
//
// Members in the compact form producers write take a fast path here; any
// other member, and everything nested, goes through the grammar in
// grammar.go. Both find the ends of strings and digit runs with the
// word-at-a-time searches of swar.go.

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
	raw     []byte
	kind    kind
	escaped bool
}

// errNotObject is returned for valid JSON that is not an object.
var errNotObject = errors.New("value is not a JSON object")

// wanted names the top-level fields scanTrade picks out. isin is always set;
// time, price and volume are looked for only when set, and price and volume
// are set together. Make one with newWanted.
type wanted struct {
	isin, time, price, volume string
	// quoteKeys has the bit keyBit gives price and volume set: most other
	// keys get other bits, and the compact loop skips them with a shift
	// instead of a call. Zero when price and volume are not set.
	quoteKeys uint64
}

// keyBit is a key's bit in wanted.quoteKeys, from its first byte and its
// length. In the generator's trades no other key shares a bit with price or
// volume; a key that does only costs a comparison.
func keyBit(first byte, length int) uint { return (uint(first) + 7*uint(length)) & 63 }

// newWanted returns the wanted fields with price and volume set only when
// both are named.
func newWanted(isin, time, price, volume string) wanted {
	w := wanted{isin: isin, time: time}
	if price != "" && volume != "" {
		w.price, w.volume = price, volume
		w.quoteKeys = 1<<keyBit(price[0], len(price)) | 1<<keyBit(volume[0], len(volume))
	}
	return w
}

// picked holds the fields scanTrade picked out; kindNone for those absent.
type picked struct {
	isin, time, price, volume field
}

// scanTrade validates data as one JSON object (surrounding white space
// allowed) and stores its top-level fields named in want (the last
// occurrence wins, as in encoding/json) in got, which the caller passes
// zeroed; after an error it holds nothing useful. The fields are passed by
// pointer because returning them and an error spills the results through the
// stack and costs more than the scan of a short field.
func scanTrade(data []byte, want *wanted, got *picked) error {
	i := skipSpace(data, 0)
	if i >= len(data) {
		return errors.New("empty value")
	}
	if data[i] != '{' {
		end, _, _, ok := scanValue(data, i, 0)
		if !ok {
			return syntaxError(data, end)
		}
		if err := endOfValue(data, end); err != nil {
			return err
		}
		return errNotObject
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return endOfValue(data, i+1)
	}
	return scanCompactMembers(data, i, &fieldPicker{want: want, got: got})
}

// scanCompactMembers scans the members of an object from data[i] as long as
// they are in the form producers write: an unescaped key, a colon, an
// unescaped string or a positive integer, then ',' or '}', with no white
// space. From the first member in any other form, valid or not, scanMembers
// takes over; it is out of line so that this loop's few variables stay in
// registers.
func scanCompactMembers(data []byte, i int, picker *fieldPicker) error {
	// The price and volume names are read from memory, and only for keys
	// whose bit in quoteKeys is set: held in registers through the loop they
	// would crowd out its other variables.
	isinKey, timeKey, quoteKeys := picker.want.isin, picker.want.time, picker.want.quoteKeys
	for i < len(data) && data[i] == '"' {
		keyEnd := indexStringStop(data, i+1)
		start := keyEnd + 2 // past the closing quote and the colon
		if start >= len(data) || data[keyEnd] != '"' || data[keyEnd+1] != ':' {
			break
		}
		var end int
		var k kind
		if c := data[start]; c == '"' {
			if end = indexStringStop(data, start+1); end >= len(data) || data[end] != '"' {
				break
			}
			end, k = end+1, kindString
		} else if c-'1' <= 8 {
			// The ',' or '}' required next also rules out a fraction or an
			// exponent.
			end, k = skipDigits(data, start+1), kindNumber
		} else {
			break
		}
		if end >= len(data) || (data[end] != ',' && data[end] != '}') {
			break
		}
		// picker.pick, inlined for a key without escapes.
		if key := data[i+1 : keyEnd]; string(key) == isinKey {
			picker.got.isin = newField(data[start:end], k, false)
		} else if timeKey != "" && string(key) == timeKey {
			picker.got.time = newField(data[start:end], k, false)
		} else if quoteKeys>>keyBit(data[i+1], len(key))&1 != 0 { // data[i+1] is the closing quote of an empty key
			if want := picker.want; string(key) == want.price {
				picker.got.price = newField(data[start:end], k, false)
			} else if string(key) == want.volume {
				picker.got.volume = newField(data[start:end], k, false)
			}
		}
		if data[end] == '}' {
			return endOfValue(data, end+1)
		}
		i = end + 1
	}
	return scanMembers(data, i, picker)
}

// scanMembers scans the rest of an object, in any form, from the member at
// or after data[i].
func scanMembers(data []byte, i int, picker *fieldPicker) error {
	for {
		key, keyEscaped, start, ok := scanKey(data, skipSpace(data, i))
		if !ok {
			return syntaxError(data, start)
		}
		end, k, escaped, ok := scanValue(data, start, 1)
		if !ok {
			return syntaxError(data, end)
		}
		picker.pick(key, keyEscaped, data[start:end], k, escaped)
		var closed bool
		if i, closed, ok = scanAfterItem(data, end, '}'); !ok {
			return syntaxError(data, i)
		}
		if closed {
			return endOfValue(data, i)
		}
	}
}

// endOfValue checks that only white space follows the value that ends
// before data[i].
func endOfValue(data []byte, i int) error {
	if i = skipSpace(data, i); i != len(data) {
		return syntaxError(data, i)
	}
	return nil
}

// fieldPicker keeps the top-level fields scanTrade looks for.
type fieldPicker struct {
	want *wanted
	got  *picked
}

// pick keeps the member's value if key is one the picker looks for. value
// is the value's text and k its kind; escaped says whether a string value
// holds escapes, keyEscaped whether key does.
func (p *fieldPicker) pick(key []byte, keyEscaped bool, value []byte, k kind, escaped bool) {
	if keyIs(key, keyEscaped, p.want.isin) {
		p.got.isin = newField(value, k, escaped)
	} else if p.want.time != "" && keyIs(key, keyEscaped, p.want.time) {
		p.got.time = newField(value, k, escaped)
	} else if p.want.price != "" {
		p.pickQuote(key, keyEscaped, value, k, escaped)
	}
}

// pickQuote is pick for the price and volume fields.
func (p *fieldPicker) pickQuote(key []byte, keyEscaped bool, value []byte, k kind, escaped bool) {
	if keyIs(key, keyEscaped, p.want.price) {
		p.got.price = newField(value, k, escaped)
	} else if keyIs(key, keyEscaped, p.want.volume) {
		p.got.volume = newField(value, k, escaped)
	}
}

// newField describes the value whose text is raw.
func newField(raw []byte, k kind, escaped bool) field {
	switch k {
	case kindString:
		return field{kind: k, raw: raw[1 : len(raw)-1], escaped: escaped}
	case kindNumber:
		return field{kind: k, raw: raw}
	}
	return field{kind: k}
}

// keyIs compares a raw key with name, unescaping only when it has escapes.
func keyIs(raw []byte, escaped bool, name string) bool {
	if !escaped {
		return string(raw) == name
	}
	return escapedKeyIs(raw, name)
}

// escapedKeyIs is keyIs for a key with escapes, kept out of line so that
// keyIs inlines.
func escapedKeyIs(raw []byte, name string) bool {
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

func syntaxError(data []byte, i int) error {
	if i >= len(data) {
		return errors.New("unexpected end of JSON input")
	}
	return fmt.Errorf("invalid character %q at offset %d", data[i], i)
}

// Valid reports whether data is one JSON value with optional surrounding
// white space, exactly as encoding/json.Valid does, at the speed of the
// trade scanner: the sink checks each trade it embeds in an envelope with it.
func Valid(data []byte) bool {
	end, _, _, ok := scanValue(data, skipSpace(data, 0), 0)
	return ok && endOfValue(data, end) == nil
}
