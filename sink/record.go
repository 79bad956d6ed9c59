package sink

import (
	"fmt"
	"strconv"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/headers"
)

// WindowEndHeader is the trades-2s header holding the window end, epoch
// milliseconds in decimal ASCII.
const WindowEndHeader = headers.WindowEnd

// maxWindowEnd is the largest window end the script compares exactly: Lua
// numbers are doubles.
const maxWindowEnd = 1 << 53

// parseRecord turns a trades-2s record into an Update, or says why it cannot:
// reason is one of the invalid_records_total labels, empty when valid.
func parseRecord(msg *kafka.Message) (u Update, reason, detail string) {
	if len(msg.Key) == 0 {
		return u, reasonEmptyKey, "record key (the ISIN) is empty"
	}
	var raw []byte
	found := false
	for _, h := range msg.Headers {
		if h.Key == WindowEndHeader {
			raw, found = h.Value, true
			break
		}
	}
	if !found {
		return u, reasonMissingWindowEnd, "no " + WindowEndHeader + " header"
	}
	end, err := parseEpochMillis(raw)
	if err != nil {
		return u, reasonBadWindowEnd, err.Error()
	}
	return Update{ISIN: string(msg.Key), WindowEnd: end, Value: msg.Value}, "", ""
}

// parseEpochMillis parses decimal ASCII digits (no sign, no spaces) within the
// range the script compares exactly.
func parseEpochMillis(raw []byte) (int64, error) {
	if len(raw) == 0 || len(raw) > 16 {
		return 0, fmt.Errorf("%s header %q is not epoch milliseconds", WindowEndHeader, truncate(raw))
	}
	for _, b := range raw {
		if b < '0' || b > '9' {
			return 0, fmt.Errorf("%s header %q is not epoch milliseconds", WindowEndHeader, truncate(raw))
		}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v > maxWindowEnd {
		return 0, fmt.Errorf("%s header %q is out of range", WindowEndHeader, truncate(raw))
	}
	return v, nil
}

func truncate(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}
