package sink

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/envelope"
	"tickcompact/internal/tools/testkit"
)

func TestEnvelopeEncode(t *testing.T) {
	base := trade(testISIN(1), windowEnd(3), "t")
	withHeaders := func(edit func([]kafka.Header) []kafka.Header) *kafka.Message {
		headers := append([]kafka.Header(nil), base.Headers...)
		return &kafka.Message{Key: base.Key, Value: base.Value, Headers: edit(headers)}
	}
	tests := []struct {
		name       string
		msg        *kafka.Message
		wantReason string
		wantFields map[string]any
	}{
		{"plain", withHeaders(func(h []kafka.Header) []kafka.Header { return h }), "",
			map[string]any{"window_start": float64(windowEnd(3) - 2000), "trade_count": 3.0}},
		{"aggregates", withHeaders(func(h []kafka.Header) []kafka.Header {
			return append(h, kafka.Header{Key: "window-open", Value: []byte("70100")},
				kafka.Header{Key: "window-vwap", Value: []byte("70150.25")}, kafka.Header{Key: "other", Value: []byte("x")})
		}), "", map[string]any{"open": 70100.0, "vwap": 70150.25}},
		{"no window-start", withHeaders(func(h []kafka.Header) []kafka.Header { return h[1:] }), reasonBadEnvelopeHeader, nil},
		{"no trade-count", withHeaders(func(h []kafka.Header) []kafka.Header { return h[:2] }), reasonBadEnvelopeHeader, nil},
		{"bad trade-count", withHeaders(func(h []kafka.Header) []kafka.Header { h[2].Value = []byte("0"); return h }), reasonBadEnvelopeHeader, nil},
		{"start after end", withHeaders(func(h []kafka.Header) []kafka.Header { h[0].Value = []byte("9999999999999"); return h }), reasonBadEnvelopeHeader, nil},
		{"bad aggregate", withHeaders(func(h []kafka.Header) []kafka.Header {
			return append(h, kafka.Header{Key: "window-high", Value: []byte("1,5")})
		}), reasonBadEnvelopeHeader, nil},
	}
	var enc envelopeEncoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, reason, _ := parseRecord(tt.msg)
			if reason != "" {
				t.Fatal(reason)
			}
			value, reason, detail := enc.encode(tt.msg, u)
			if reason != tt.wantReason {
				t.Fatalf("reason = %q (%s), want %q", reason, detail, tt.wantReason)
			}
			if reason != "" {
				if detail == "" {
					t.Fatal("no detail for the log line")
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(value, &got); err != nil {
				t.Fatalf("%s: %v", value, err)
			}
			var trade map[string]any
			_ = json.Unmarshal(base.Value, &trade)
			wantTrade, _ := json.Marshal(trade)
			gotTrade, _ := json.Marshal(got["trade"])
			if got["isin"] != testISIN(1) || got["window_end"] != float64(windowEnd(3)) || string(gotTrade) != string(wantTrade) {
				t.Fatalf("envelope %s", value)
			}
			for k, v := range tt.wantFields {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, got[k], v, value)
				}
			}
		})
	}
}

// TestE2ESinkEnvelope runs the sink with redis.format envelope: the
// snapshot hash and every published message are envelopes, the interval
// aggregate headers of a record reach both digit for digit (and a record
// without them has none), a record without the headers an envelope needs is
// skipped and counted, and the never-backwards guard still refuses older
// windows.
func TestE2ESinkEnvelope(t *testing.T) {
	const isins, windows = 10, 3
	h := newE2E(t, 2)
	h.envelopes = &envelopeEncoder{}
	cfg := h.config(func(c *Config) { c.Redis.Format = FormatEnvelope })

	sub := h.redis.Client().Subscribe(context.Background(), cfg.Redis.Channel)
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var published []string
	go func() {
		for msg := range sub.Channel() {
			mu.Lock()
			published = append(published, msg.Payload)
			mu.Unlock()
		}
	}()

	// The last window's records of the even ISINs carry the interval
	// aggregates, as an aggregator with them on writes them.
	aggregates := []kafka.Header{{Key: "window-open", Value: []byte("70100")}, {Key: "window-high", Value: []byte("70250.50")},
		{Key: "window-low", Value: []byte("69990.00")}, {Key: "window-volume", Value: []byte("418.125")},
		{Key: "window-vwap", Value: []byte("70120.123456")}}
	wantAggregates := map[string]string{"open": "70100", "high": "70250.50", "low": "69990.00", "volume": "418.125", "vwap": "70120.123456"}
	aggregated := map[string]bool{} // ISINs whose last window has them
	var records []testkit.Record
	for w := 1; w <= windows; w++ {
		for i := range isins {
			r := trade(testISIN(i), windowEnd(w), "live")
			if w == windows && i%2 == 0 {
				r.Headers = append(r.Headers, aggregates...)
				aggregated[testISIN(i)] = true
			}
			records = append(records, r)
		}
	}
	for i := range isins { // redelivered older windows: stale
		records = append(records, trade(testISIN(i), windowEnd(1), "replay"))
	}
	noCount := trade(testISIN(0), windowEnd(9), "invalid")
	noCount.Headers = noCount.Headers[:2]
	notJSON := trade(testISIN(1), windowEnd(windows+1), "x")
	notJSON.Value = []byte("not json \"at all\"")
	records = append(records, noCount, notJSON)
	h.produce(records)

	in := h.start(cfg, nil)
	h.waitSnapshot(30 * time.Second)
	testkit.WaitFor(t, 10*time.Second, "the invalid record counted", func() (bool, string) {
		n := testkit.MetricValue(func() string { _, b := in.get("/metrics"); return b }(),
			`tickcompact_sink_invalid_records_total{reason="invalid-envelope-header"}`)
		return n == 1, "invalid-envelope-header count"
	})
	want := isins*windows + 1
	testkit.WaitFor(t, 10*time.Second, "every update published", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(published) >= want, ""
	})
	mu.Lock()
	defer mu.Unlock()
	if len(published) != want {
		t.Fatalf("published %d messages, want %d (stale replays must not be published)", len(published), want)
	}
	lastEnd := map[string]int64{}
	for _, p := range published {
		head, err := envelope.Parse([]byte(p))
		if err != nil {
			t.Fatalf("published %s: %v", p, err)
		}
		if head.WindowEnd <= lastEnd[head.ISIN] {
			t.Fatalf("%s went back from window %d to %d", head.ISIN, lastEnd[head.ISIN], head.WindowEnd)
		}
		lastEnd[head.ISIN] = head.WindowEnd
		if head.WindowStart != head.WindowEnd-2000 || head.TradeCount != 3 {
			t.Fatalf("header %+v", head)
		}
		if head.WindowEnd == windowEnd(windows) && aggregated[head.ISIN] {
			checkAggregates(t, "published", p, wantAggregates)
		} else {
			checkAggregates(t, "published", p, nil)
		}
	}
	snapshot, err := h.redis.Client().HGetAll(context.Background(), cfg.Redis.SnapshotKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	for id := range aggregated {
		checkAggregates(t, "snapshot", snapshot[id], wantAggregates)
	}
	checkAggregates(t, "snapshot", snapshot[testISIN(3)], nil)
	found := false
	for _, p := range published {
		found = found || strings.Contains(p, `"trade":"not json \"at all\""`)
	}
	if !found {
		t.Fatalf("no message embeds the trade that is not JSON as a string: %q", published)
	}
}

// checkAggregates fails unless the envelope's interval aggregate fields are
// exactly want, as JSON number text (none at all for an empty want).
func checkAggregates(t *testing.T, where, value string, want map[string]string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(value))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil {
		t.Fatalf("%s envelope %q: %v", where, value, err)
	}
	for _, name := range []string{"open", "high", "low", "volume", "vwap"} {
		got, present := fields[name].(json.Number)
		switch w, wanted := want[name]; {
		case wanted && (!present || string(got) != w):
			t.Errorf("%s envelope: %s = %v, want %s (%s)", where, name, fields[name], w, value)
		case !wanted && fields[name] != nil:
			t.Errorf("%s envelope: %s = %v, want none (%s)", where, name, fields[name], value)
		}
	}
}
