// Package envelope is the JSON object the sink stores and publishes in
// envelope format (redis.format: envelope) and the gateway reads: one
// window's latest trade of one ISIN with the window's bounds, its trade count
// and, when the aggregator computes them, its interval aggregates. Append
// builds it without reflection, as the sink does it once per record; Parse
// reads it back.
package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"tickcompact/aggregator/trade"
)

// The envelope's field names, as they appear in the JSON object.
const (
	FieldISIN        = "isin"
	FieldWindowStart = "window_start"
	FieldWindowEnd   = "window_end"
	FieldTradeCount  = "trade_count"
	FieldTrade       = "trade"
)

// Envelope is one window's record of one ISIN.
type Envelope struct {
	// ISIN is the record key.
	ISIN string
	// WindowStart and WindowEnd bound the window, epoch milliseconds.
	WindowStart, WindowEnd int64
	// TradeCount is the number of valid trades of this ISIN in the window.
	TradeCount int64
	// Aggregates are optional further fields of the window (open, high, low,
	// volume, vwap), written in order between trade_count and trade.
	Aggregates []Aggregate
	// Trade is the latest trade of the window as published: embedded as
	// JSON when it is valid JSON, as a JSON string of its bytes otherwise.
	Trade []byte
}

// Aggregate is one optional number of the window.
type Aggregate struct {
	// Name is the JSON field name; it must not be one of the fixed fields.
	Name string
	// Number is a JSON number in decimal text ("71500", "-0.25", "1e3").
	Number []byte
}

// ErrNotNumber is returned by CheckNumber for text that is not a JSON number.
var ErrNotNumber = errors.New("not a JSON number")

// CheckNumber reports whether b is a JSON number, so that it can be embedded
// in an envelope as it is.
func CheckNumber(b []byte) error {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return ErrNotNumber
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return ErrNotNumber
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return ErrNotNumber
		}
	}
	if i != len(b) {
		return ErrNotNumber
	}
	return nil
}

// Append appends e as one JSON object to dst and returns the extended slice.
// The aggregates' numbers are written as given: check them with CheckNumber.
func Append(dst []byte, e *Envelope) []byte {
	dst = append(dst, `{"`+FieldISIN+`":`...)
	dst = appendString(dst, e.ISIN)
	dst = append(dst, `,"`+FieldWindowStart+`":`...)
	dst = strconv.AppendInt(dst, e.WindowStart, 10)
	dst = append(dst, `,"`+FieldWindowEnd+`":`...)
	dst = strconv.AppendInt(dst, e.WindowEnd, 10)
	dst = append(dst, `,"`+FieldTradeCount+`":`...)
	dst = strconv.AppendInt(dst, e.TradeCount, 10)
	for _, a := range e.Aggregates {
		dst = append(dst, ',')
		dst = appendString(dst, a.Name)
		dst = append(dst, ':')
		dst = append(dst, a.Number...)
	}
	dst = append(dst, `,"`+FieldTrade+`":`...)
	if trade.Valid(e.Trade) {
		dst = append(dst, e.Trade...)
	} else {
		dst = appendString(dst, string(e.Trade))
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string. Plain ASCII, by far the common
// case (ISINs, field names), is copied as it is; anything else goes through
// encoding/json, which also replaces invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			quoted, _ := json.Marshal(s) // a string always marshals
			return append(dst, quoted...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// Header is the part of an envelope a reader routes and orders by.
type Header struct {
	ISIN                   string
	WindowStart, WindowEnd int64
	TradeCount             int64
}

// ErrNotEnvelope is wrapped by Parse's errors: the value is not an envelope,
// typically a raw trade stored by a sink with redis.format: raw.
var ErrNotEnvelope = errors.New("not an envelope (is the sink's redis.format envelope?)")

// Parse checks that b is an envelope, a JSON object with at least the fixed
// fields, and returns its header.
func Parse(b []byte) (Header, error) {
	var v struct {
		ISIN        *string         `json:"isin"`
		WindowStart *int64          `json:"window_start"`
		WindowEnd   *int64          `json:"window_end"`
		TradeCount  *int64          `json:"trade_count"`
		Trade       json.RawMessage `json:"trade"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Header{}, fmt.Errorf("%w: %w", ErrNotEnvelope, err)
	}
	switch {
	case v.ISIN == nil || *v.ISIN == "":
		return Header{}, fmt.Errorf("%w: no %s", ErrNotEnvelope, FieldISIN)
	case v.WindowEnd == nil:
		return Header{}, fmt.Errorf("%w: no %s", ErrNotEnvelope, FieldWindowEnd)
	case v.WindowStart == nil:
		return Header{}, fmt.Errorf("%w: no %s", ErrNotEnvelope, FieldWindowStart)
	case v.TradeCount == nil:
		return Header{}, fmt.Errorf("%w: no %s", ErrNotEnvelope, FieldTradeCount)
	case len(v.Trade) == 0:
		return Header{}, fmt.Errorf("%w: no %s", ErrNotEnvelope, FieldTrade)
	}
	return Header{ISIN: *v.ISIN, WindowStart: *v.WindowStart, WindowEnd: *v.WindowEnd, TradeCount: *v.TradeCount}, nil
}
