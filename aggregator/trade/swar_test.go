package trade

import "testing"

// The word-at-a-time searches must find exactly what a byte-by-byte search
// finds: every byte value, at every offset within and across words, in
// inputs shorter than a word and in the partial word at the end, and with
// the bytes after it stop bytes or not (the carries between bytes).
func TestSearchesMatchByteByByte(t *testing.T) {
	isStringStop := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	isNonDigit := func(c byte) bool { return c < '0' || c > '9' }
	searches := []struct {
		name   string
		search func([]byte, int) int
		stop   func(byte) bool
		filler byte // a byte that does not stop the search
	}{
		{"indexStringStop", indexStringStop, isStringStop, 'a'},
		{"skipDigits", skipDigits, isNonDigit, '7'},
	}
	for _, s := range searches {
		for n := 0; n <= 20; n++ {
			for from := 0; from <= n; from++ {
				for at := from; at < n; at++ {
					for c := 0; c < 256; c++ {
						for _, after := range []byte{s.filler, 0, 0xff, '"', '/'} {
							data := make([]byte, n)
							for k := range data {
								data[k] = s.filler
							}
							data[at] = byte(c)
							for k := at + 1; k < n; k++ {
								data[k] = after
							}
							want := from
							for want < n && !s.stop(data[want]) {
								want++
							}
							if got := s.search(data, from); got != want {
								t.Fatalf("%s(%q, %d) = %d, want %d", s.name, data, from, got, want)
							}
						}
					}
				}
			}
		}
	}
}
