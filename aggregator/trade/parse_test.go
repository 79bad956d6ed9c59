package trade

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var now = time.UnixMilli(1_764_000_000_000)

func TestParse(t *testing.T) {
	recordTime := now.UnixMilli() - 5
	tests := []struct {
		name      string
		fields    Fields
		value     string
		recordTS  int64
		wantISIN  string
		wantTime  int64
		wantError Reason
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
			id, eventTime, rej := NewParser(fields).Parse([]byte(tt.value), ts, now)
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
			if id.String() != tt.wantISIN || eventTime != tt.wantTime {
				t.Fatalf("got (%s, %d), want (%s, %d)", id, eventTime, tt.wantISIN, tt.wantTime)
			}
		})
	}
}

func TestParseErrorsClipHostileValues(t *testing.T) {
	long := `{"isin":"` + strings.Repeat("A", 5000) + `"}`
	_, _, rej := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute}).Parse([]byte(long), now.UnixMilli(), now)
	if rej == nil || len(rej.Error()) > 200 {
		t.Fatalf("rejection text is %d bytes", len(rej.Error()))
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	p := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute})
	value := []byte(`{"isin":"KR7005930003","name":"Samsung Electronics","market":"KOSPI","price":71200,"prevClose":70900,"volume":15,"side":"buy","tradeTime":1764081234567,"seq":123}`)
	p.Parse(value, now.UnixMilli(), now)
	if n := testing.AllocsPerRun(1000, func() { p.Parse(value, now.UnixMilli(), now) }); n != 0 {
		t.Fatalf("Parse allocates %v times per record", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"isin":"KR7005930003","ts":1763999999000}`,
		`{"isin":"KR7005930003","ts":"2025-11-24T15:59:59Z"}`,
		`{"isin":null}`, `[]`, `"x"`, `{"isin":"KR7005930003","ts":1e400}`, "\xff",
	} {
		f.Add([]byte(seed), int64(1763999999000))
	}
	byRecord := NewParser(Fields{ISIN: "isin", MaxFuture: time.Minute})
	byField := NewParser(Fields{ISIN: "isin", Time: "ts", MaxFuture: time.Minute})
	f.Fuzz(func(t *testing.T, value []byte, recordTime int64) {
		for _, p := range []*Parser{byRecord, byField} {
			id, eventTime, rej := p.Parse(value, recordTime, now)
			if rej != nil {
				if rej.Reason == "" || rej.Err == nil {
					t.Fatalf("rejection without reason or error: %+v", rej)
				}
				continue
			}
			if eventTime <= 0 || eventTime > now.Add(time.Minute).UnixMilli() {
				t.Fatalf("accepted event time %d", eventTime)
			}
			if id == ([12]byte{}) {
				t.Fatal("accepted an empty ISIN")
			}
		}
	})
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
		`{"isin":"KR7005930003","name":"Samsung \"SEC\"","ts":"2025-11-24T15:59:59Z"}`,
		`{"isin":"KR7005930003", "ts":0}`, `{"ts":-1,"isin":"KR7005930003"}`, `{"isin":"KR7005930003","seq":12}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var isinField, timeField field
		err := scanTrade(data, "isin", "ts", &isinField, &timeField)
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
		checkField(t, data, "isin", obj["isin"], isinField)
		checkField(t, data, "ts", obj["ts"], timeField)
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
