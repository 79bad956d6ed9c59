package trade

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tickcompact/aggregator/decimal"
	"tickcompact/internal/tools/bigdec"
)

var now = time.UnixMilli(1_764_000_000_000)

// quotes turns the interval aggregates on.
var quotes = Fields{Price: "price", Volume: "volume"}

func TestParse(t *testing.T) {
	recordTime := now.UnixMilli() - 5
	tests := []struct {
		name     string
		fields   Fields
		value    string
		recordTS int64
		wantISIN string
		wantTime int64
		// wantPrice and wantVolume are the decimals as written at their scale.
		wantPrice, wantVolume string
		wantError             Reason
	}{
		{name: "record timestamp", value: `{"isin":"KR7005930003","price":71200}`, wantISIN: "KR7005930003", wantTime: recordTime},
		{name: "custom isin field", fields: Fields{ISIN: "isinStockCode"}, value: `{"isinStockCode":"KR7000660001"}`, wantISIN: "KR7000660001", wantTime: recordTime},
		{name: "epoch ms time field", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003","ts":1763999999000}`, wantISIN: "KR7005930003", wantTime: 1763999999000},
		{name: "rfc3339 time field", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003","ts":"2025-11-24T15:59:59.5+09:00"}`, wantISIN: "KR7005930003", wantTime: time.Date(2025, 11, 24, 6, 59, 59, 500e6, time.UTC).UnixMilli()},
		{name: "compact members, then others", fields: Fields{Time: "ts"}, value: `{"price":71200,"na\u006de":"x","isin" : "KR7005930003","ts":1.763999999e12}`, wantISIN: "KR7005930003", wantTime: 1763999999000},
		{name: "truncated", value: `{"isin":"KR7005930003"`, wantError: InvalidJSON},
		{name: "not an object", value: `["KR7005930003"]`, wantError: InvalidJSON},
		{name: "empty", value: ``, wantError: InvalidJSON},
		{name: "binary", value: "\x00\xff\x10", wantError: InvalidJSON},
		{name: "missing isin", value: `{"code":"KR7005930003"}`, wantError: MissingISIN},
		{name: "null isin", value: `{"isin":null}`, wantError: MissingISIN},
		{name: "numeric isin", value: `{"isin":5930}`, wantError: InvalidISIN},
		{name: "lower case", value: `{"isin":"kr7005930003"}`, wantError: InvalidISIN},
		{name: "bad check digit", value: `{"isin":"KR7005930004"}`, wantError: InvalidISIN},
		{name: "too long", value: `{"isin":"KR70059300033"}`, wantError: InvalidISIN},
		{name: "time field missing", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003"}`, wantError: InvalidTime},
		{name: "time field garbage", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003","ts":"yesterday"}`, wantError: InvalidTime},
		{name: "time field negative", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003","ts":-5}`, wantError: InvalidTime},
		{name: "time field fractional", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003","ts":1.5}`, wantError: InvalidTime},
		{name: "time field bool", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003","ts":true}`, wantError: InvalidTime},
		{name: "no record timestamp", value: `{"isin":"KR7005930003"}`, recordTS: -1, wantError: InvalidTime},
		{name: "future record timestamp", value: `{"isin":"KR7005930003"}`, recordTS: now.Add(61 * time.Second).UnixMilli(), wantError: FutureTime},
		{name: "future time field", fields: Fields{Time: "ts"}, value: `{"isin":"KR7005930003","ts":9999999999999}`, wantError: FutureTime},
		{name: "just inside max future", value: `{"isin":"KR7005930003"}`, recordTS: now.Add(time.Minute).UnixMilli(), wantISIN: "KR7005930003", wantTime: now.Add(time.Minute).UnixMilli()},
		{name: "aggregates off: price not read", value: `{"isin":"KR7005930003","price":"n/a"}`, wantISIN: "KR7005930003", wantTime: recordTime},
		{name: "aggregates need both fields", fields: Fields{Price: "price"}, value: `{"isin":"KR7005930003","price":"n/a"}`, wantISIN: "KR7005930003", wantTime: recordTime},
		{name: "price and volume numbers", fields: quotes, value: `{"isin":"KR7005930003","price":71200,"volume":15}`, wantISIN: "KR7005930003", wantTime: recordTime, wantPrice: "71200", wantVolume: "15"},
		{name: "numeric strings", fields: quotes, value: `{"volume":"0.5","isin":"KR7005930003","price":"10.50"}`, wantISIN: "KR7005930003", wantTime: recordTime, wantPrice: "10.50", wantVolume: "0.5"},
		{name: "escaped numeric string", fields: quotes, value: `{"isin":"KR7005930003","price":"\u0031\u0030","volume":2}`, wantISIN: "KR7005930003", wantTime: recordTime, wantPrice: "10", wantVolume: "2"},
		{name: "exponent, negative and zero price", fields: quotes, value: `{"isin":"KR7005930003","price":-1.5e-2,"volume":1e3}`, wantISIN: "KR7005930003", wantTime: recordTime, wantPrice: "-0.015", wantVolume: "1000"},
		{name: "zero price", fields: quotes, value: `{"isin":"KR7005930003","price":0,"volume":1}`, wantISIN: "KR7005930003", wantTime: recordTime, wantPrice: "0", wantVolume: "1"},
		{name: "missing price", fields: quotes, value: `{"isin":"KR7005930003","volume":15}`, wantError: InvalidPrice},
		{name: "null volume", fields: quotes, value: `{"isin":"KR7005930003","price":1,"volume":null}`, wantError: InvalidPrice},
		{name: "price with a comma", fields: quotes, value: `{"isin":"KR7005930003","price":"71,200","volume":15}`, wantError: InvalidPrice},
		{name: "price with spaces", fields: quotes, value: `{"isin":"KR7005930003","price":" 71200","volume":15}`, wantError: InvalidPrice},
		{name: "price a bool", fields: quotes, value: `{"isin":"KR7005930003","price":true,"volume":15}`, wantError: InvalidPrice},
		{name: "price an object", fields: quotes, value: `{"isin":"KR7005930003","price":{"v":1},"volume":15}`, wantError: InvalidPrice},
		{name: "huge price", fields: quotes, value: `{"isin":"KR7005930003","price":1e18,"volume":15}`, wantError: InvalidPrice},
		{name: "too many places", fields: quotes, value: `{"isin":"KR7005930003","price":1e-19,"volume":15}`, wantError: InvalidPrice},
		{name: "zero volume", fields: quotes, value: `{"isin":"KR7005930003","price":1,"volume":0}`, wantError: InvalidPrice},
		{name: "negative volume", fields: quotes, value: `{"isin":"KR7005930003","price":1,"volume":"-3"}`, wantError: InvalidPrice},
		{name: "bad isin before bad price", fields: quotes, value: `{"isin":"KR7005930004","price":"x","volume":1}`, wantError: InvalidISIN},
		{name: "bad price before future time", fields: quotes, value: `{"isin":"KR7005930003","price":"x","volume":1}`, recordTS: now.Add(time.Hour).UnixMilli(), wantError: InvalidPrice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := tt.fields
			if fields.ISIN == "" {
				fields.ISIN = "isin"
			}
			fields.MaxFuture = time.Minute
			ts := tt.recordTS
			if ts == 0 {
				ts = recordTime
			}
			tr, rej := NewParser(fields).Parse([]byte(tt.value), ts, now)
			if tt.wantError != "" {
				if rej == nil || rej.Reason != tt.wantError {
					t.Fatalf("rejection %v, want %s", rej, tt.wantError)
				}
				if rej.Err == nil || rej.Error() == "" {
					t.Fatal("rejection without an explanation")
				}
				return
			}
			if rej != nil {
				t.Fatalf("unexpected rejection: %v", rej)
			}
			if tr.ISIN.String() != tt.wantISIN || tr.EventTime != tt.wantTime {
				t.Fatalf("got (%s, %d), want (%s, %d)", tr.ISIN, tr.EventTime, tt.wantISIN, tt.wantTime)
			}
			if fields.Aggregates() && (tr.Price.String() != tt.wantPrice || tr.Volume.String() != tt.wantVolume) {
				t.Fatalf("price %s, volume %s; want %s, %s", tr.Price, tr.Volume, tt.wantPrice, tt.wantVolume)
			}
			if !fields.Aggregates() && (tr.Price != decimal.Decimal{} || tr.Volume != decimal.Decimal{}) {
				t.Fatalf("aggregates off, yet price %s and volume %s were read", tr.Price, tr.Volume)
			}
		})
	}
}

func TestParseErrorsClipHostileValues(t *testing.T) {
	long := `{"isin":"` + strings.Repeat("A", 5000) + `"}`
	_, rej := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute}).Parse([]byte(long), now.UnixMilli(), now)
	if rej == nil || len(rej.Error()) > 200 {
		t.Fatalf("rejection text is %d bytes", len(rej.Error()))
	}
	long = `{"isin":"KR7005930003","volume":1,"price":"` + strings.Repeat("9", 5000) + `"}`
	_, rej = NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute, Price: "price", Volume: "volume"}).Parse([]byte(long), now.UnixMilli(), now)
	if rej == nil || rej.Reason != InvalidPrice || len(rej.Error()) > 200 {
		t.Fatalf("rejection %.300v", rej)
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	value := []byte(`{"isin":"KR7005930003","name":"Samsung Electronics","market":"KOSPI","price":71200,"prevClose":70900,"volume":15,"side":"buy","tradeTime":1764081234567,"seq":123}`)
	for _, fields := range []Fields{{ISIN: "isin", MaxFuture: time.Minute}, {ISIN: "isin", MaxFuture: time.Minute, Price: "price", Volume: "volume"}} {
		p := NewParser(fields)
		p.Parse(value, now.UnixMilli(), now)
		if n := testing.AllocsPerRun(1000, func() { p.Parse(value, now.UnixMilli(), now) }); n != 0 {
			t.Fatalf("Parse with %+v allocates %v times per record", fields, n)
		}
	}
}

// FuzzParse: no input panics the parser, what it accepts is sane, and with
// the aggregates on, the price and volume it reads are the numbers
// encoding/json finds in those fields, valued exactly as math/big values
// their text.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"isin":"KR7005930003","ts":1763999999000}`,
		`{"isin":"KR7005930003","ts":"2025-11-24T15:59:59Z"}`,
		`{"isin":null}`, `[]`, `"x"`, `{"isin":"KR7005930003","ts":1e400}`, "\xff",
		`{"isin":"KR7005930003","price":71200,"volume":15}`,
		`{"isin":"KR7005930003","price":"10.50","volume":"1e3"}`,
		`{"isin":"KR7005930003","price":-0.5e-3,"volume":0}`,
		`{"isin":"KR7005930003","price":"\u0031","volume":2,"price":3}`,
		`{"isin":"KR7005930003","price":999999999999999999,"volume":0.000000000000000001}`,
	} {
		f.Add([]byte(seed), int64(1763999999000))
	}
	byRecord := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute})
	byField := NewParser(Fields{ISIN: "isin", Time: "ts", MaxFuture: time.Minute})
	withQuotes := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute, Price: "price", Volume: "volume"})
	f.Fuzz(func(t *testing.T, value []byte, recordTime int64) {
		for _, p := range []*Parser{byRecord, byField, withQuotes} {
			tr, rej := p.Parse(value, recordTime, now)
			if rej != nil {
				if rej.Reason == "" || rej.Err == nil {
					t.Fatalf("rejection without reason or error: %+v", rej)
				}
				if p == withQuotes && rej.Reason == InvalidPrice {
					checkInvalidQuote(t, value)
				}
				continue
			}
			if tr.EventTime <= 0 || tr.EventTime > now.Add(time.Minute).UnixMilli() {
				t.Fatalf("accepted event time %d", tr.EventTime)
			}
			if tr.ISIN == ([12]byte{}) {
				t.Fatal("accepted an empty ISIN")
			}
			if p == withQuotes {
				checkQuote(t, value, "price", tr.Price)
				checkQuote(t, value, "volume", tr.Volume)
				if tr.Volume.Sign() <= 0 {
					t.Fatalf("%q: accepted volume %s", value, tr.Volume)
				}
			}
		}
	})
}

// quoteText returns the text of the number in the top-level field name as
// encoding/json decodes value: a JSON number's text, or a string's contents.
func quoteText(t *testing.T, value []byte, name string) (string, bool) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("%q: accepted, yet encoding/json fails: %v", value, err)
	}
	switch v := obj[name].(type) {
	case json.Number:
		return string(v), true
	case string:
		return v, true
	}
	return "", false
}

// checkQuote checks the decimal read from field name against the text
// encoding/json finds there: a JSON number whose value and scale, as math/big
// reads them, are the decimal's.
func checkQuote(t *testing.T, value []byte, name string, got decimal.Decimal) {
	t.Helper()
	text, ok := quoteText(t, value, name)
	if !ok {
		t.Fatalf("%q: accepted %s %s, but encoding/json finds no number or string there", value, name, got)
	}
	want, ok := bigdec.Parse(text)
	switch {
	case !ok:
		t.Fatalf("%q: accepted %s %s from %q, which is no JSON number", value, name, got, text)
	case want.Value == nil || bigdec.Rat(got.Unscaled, int(got.Scale)).Cmp(want.Value) != 0 || int64(got.Scale) != want.Scale:
		t.Fatalf("%q: %s read as %+v, the reference says %v at scale %d", value, name, got, want.Value, want.Scale)
	}
}

// checkInvalidQuote checks an invalid-price rejection: the price or volume
// is absent, not a number, out of decimal's range, or the volume is not
// positive.
func checkInvalidQuote(t *testing.T, value []byte) {
	t.Helper()
	var quotes [2]decimal.Decimal
	for i, name := range []string{"price", "volume"} {
		text, ok := quoteText(t, value, name)
		if !ok {
			return
		}
		d, err := decimal.Parse([]byte(text))
		if err != nil {
			return
		}
		quotes[i] = d
	}
	if quotes[1].Sign() > 0 {
		t.Fatalf("%q: rejected as %s with price %s and volume %s", value, InvalidPrice, quotes[0], quotes[1])
	}
}

// FuzzScanMatchesEncodingJSON checks the scanner's notion of valid JSON
// against encoding/json's, and the fields it picks out against a decode.
func FuzzScanMatchesEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"isin":"KR7005930003","ts":1763999999000}`, `{"a":[1,2,{"b":null}],"isin":"x\u0041"}`,
		`{"isin":1e5}`, `{"is\u0069n":"KR7005930003"}`, `[]`, `{}`, ` {"a":-0.5e-3} `, `{"a":01}`,
		`{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":1,}`, `{"a" 1}`, `"x"`, `{"isin":"a","isin":"b"}`,
		`{"a":tru}`, `{"a":[1 2]}`, `{"a":"\x"}`, "{\"a\":\"\t\"}",
		// The generator's shape, which the scanner's fast path takes, and
		// members that make it hand over to the general path part-way.
		`{"isin":"KR7005930003","name":"Samsung Electronics","market":"KOSPI","price":71200,"prevClose":70900,"volume":15,"side":"buy","tradeTime":1764081234567,"seq":123}`,
		`{"isin":"KR7005930003","price":71.5,"ts":1763999999000}`, `{"price":7e3,"isin":"KR7005930003"}`,
		`{"isin":"KR7005930003","price":"71200","volume":15,"price":71300}`, `{"volume":"\u0031","price":-0.5}`,
		`{"isin":"KR7005930003","name":"Samsung \"SEC\"","ts":"2025-11-24T15:59:59Z"}`,
		`{"isin":"KR7005930003", "ts":0}`, `{"ts":-1,"isin":"KR7005930003"}`, `{"isin":"KR7005930003","seq":12}x`,
	} {
		f.Add([]byte(seed))
	}
	want := newWanted("isin", "ts", "price", "volume")
	f.Fuzz(func(t *testing.T, data []byte) {
		var got picked
		err := scanTrade(data, &want, &got)
		valid := json.Valid(data)
		if Valid(data) != valid {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, !valid, valid)
		}
		var obj map[string]json.RawMessage
		isObject := valid && json.Unmarshal(data, &obj) == nil
		switch {
		case err == nil && !isObject:
			t.Fatalf("scanner accepted %q; encoding/json: valid=%v object=%v", data, valid, isObject)
		case errors.Is(err, errNotObject) && (!valid || isObject):
			t.Fatalf("scanner says valid non-object for %q; encoding/json: valid=%v object=%v", data, valid, isObject)
		case err != nil && !errors.Is(err, errNotObject) && valid:
			t.Fatalf("scanner rejected valid JSON %q: %v", data, err)
		}
		if err != nil {
			return
		}
		checkField(t, data, "isin", obj["isin"], got.isin)
		checkField(t, data, "ts", obj["ts"], got.time)
		checkField(t, data, "price", obj["price"], got.price)
		checkField(t, data, "volume", obj["volume"], got.volume)
	})
}

func checkField(t *testing.T, data []byte, name string, want json.RawMessage, got field) {
	t.Helper()
	if want == nil {
		if got.kind != kindNone {
			t.Fatalf("%q: scanner found %s field %q that encoding/json does not", data, name, got.raw)
		}
		return
	}
	switch got.kind {
	case kindString:
		var ws string
		if json.Unmarshal(want, &ws) != nil {
			t.Fatalf("%q: %s is a string to the scanner, not to encoding/json (%s)", data, name, want)
		}
		gs := string(got.raw)
		if got.escaped {
			gs, _ = unescape(got.raw)
		}
		// encoding/json decodes invalid UTF-8 to U+FFFD; either way such a
		// value is no ISIN and no RFC 3339 time.
		if gs != ws && utf8.ValidString(gs) {
			t.Fatalf("%q: %s = %q, encoding/json says %q", data, name, gs, ws)
		}
	case kindNumber:
		if string(got.raw) != strings.TrimSpace(string(want)) {
			t.Fatalf("%q: %s number %q, encoding/json says %s", data, name, got.raw, want)
		}
	case kindNull:
		if strings.TrimSpace(string(want)) != "null" {
			t.Fatalf("%q: %s null, encoding/json says %s", data, name, want)
		}
	}
}

// Field names of any length are found, those too long for the length mask
// included, and keys of a price or volume name's length are told apart.
func TestQuoteFieldNamesOfAnyLength(t *testing.T) {
	for _, names := range [][2]string{{"p", "v"}, {"price", "market"}, {strings.Repeat("p", 63), "v"}, {strings.Repeat("p", 64), strings.Repeat("v", 200)}} {
		value := fmt.Sprintf(`{"isin":"KR7005930003","%s":"1.5","market":"KOSPI","%s":2,"%sx":9}`, names[0], names[1], names[0])
		if names[1] == "market" {
			value = `{"isin":"KR7005930003","price":"1.5","volume":7,"market":2}`
		}
		tr, rej := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute, Price: names[0], Volume: names[1]}).Parse([]byte(value), now.UnixMilli(), now)
		if rej != nil || tr.Price.String() != "1.5" || tr.Volume.String() != "2" {
			t.Errorf("names %.10q...: price %s, volume %s, %v", names, tr.Price, tr.Volume, rej)
		}
	}
}

func TestFutureLimitIsAddUnixMilli(t *testing.T) {
	for _, clock := range []time.Time{now, time.Unix(0, 0), time.Unix(1, 999_999_999), time.Unix(6_999_999_999, 123_456_789),
		time.Unix(7e9, 0), time.Unix(1<<40, 5), time.Unix(-5, 1), time.Now()} {
		for _, maxFuture := range []time.Duration{0, time.Millisecond - 1, time.Minute, 1500 * time.Microsecond, 2e18, 2e18 + 1, 1<<63 - 1} {
			p := NewParser(Fields{ISIN: "isin", MaxFuture: maxFuture})
			if got, want := p.futureLimit(clock), clock.Add(maxFuture).UnixMilli(); got != want {
				t.Errorf("clock %v, max future %v: %d, want %d", clock, maxFuture, got, want)
			}
		}
	}
}
