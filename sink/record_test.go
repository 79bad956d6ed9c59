package sink

import (
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestParseRecord(t *testing.T) {
	header := func(v string) []kafka.Header {
		return []kafka.Header{{Key: "window-start", Value: []byte("0")}, {Key: WindowEndHeader, Value: []byte(v)}}
	}
	tests := []struct {
		name       string
		key        string
		headers    []kafka.Header
		wantReason string
		wantEnd    int64
	}{
		{"valid", "KR7005930003", header("1767225602000"), "", 1767225602000},
		{"zero", "KR7005930003", header("0"), "", 0},
		{"empty key", "", header("2000"), reasonEmptyKey, 0},
		{"no headers", "KR7005930003", nil, reasonMissingWindowEnd, 0},
		{"other headers only", "KR7005930003", []kafka.Header{{Key: "window-start", Value: []byte("0")}}, reasonMissingWindowEnd, 0},
		{"empty value", "KR7005930003", header(""), reasonBadWindowEnd, 0},
		{"signed", "KR7005930003", header("+2000"), reasonBadWindowEnd, 0},
		{"negative", "KR7005930003", header("-2000"), reasonBadWindowEnd, 0},
		{"spaces", "KR7005930003", header(" 2000"), reasonBadWindowEnd, 0},
		{"fraction", "KR7005930003", header("2000.5"), reasonBadWindowEnd, 0},
		{"beyond exact doubles", "KR7005930003", header("9007199254740993"), reasonBadWindowEnd, 0},
		{"too long", "KR7005930003", header("12345678901234567890"), reasonBadWindowEnd, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := &kafka.Message{Key: []byte(tt.key), Value: []byte("v"), Headers: tt.headers}
			u, reason, detail := parseRecord(msg)
			if reason != tt.wantReason {
				t.Fatalf("reason = %q (%s), want %q", reason, detail, tt.wantReason)
			}
			if reason == "" && (u.ISIN != tt.key || u.WindowEnd != tt.wantEnd || string(u.Value) != "v") {
				t.Fatalf("update = %+v", u)
			}
			if reason != "" && detail == "" {
				t.Fatal("an invalid record without a detail for the log line")
			}
		})
	}
}
