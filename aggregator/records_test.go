package aggregator

import (
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/trade"
	"tickcompact/aggregator/window"
)

// The examples of docs/consumers.md, through the parser, the engine and the
// output record.
func TestAggregateHeadersOfTheDocsExamples(t *testing.T) {
	start := int64(1764053360000)
	tests := []struct {
		name   string
		trades []string
		at     []int64 // event times, ms after start
		want   map[string]string
	}{
		{
			name: "whole won",
			trades: []string{
				`{"isin":"KR7005930003","price":71200,"volume":15}`,
				`{"isin":"KR7005930003","price":71300,"volume":4}`,
				`{"isin":"KR7005930003","price":71100,"volume":10}`,
				`{"isin":"KR7005930003","price":71200,"volume":2}`,
			},
			at: []int64{100, 480, 1030, 1950},
			want: map[string]string{HeaderTradeCount: "4", HeaderWindowOpen: "71200", HeaderWindowHigh: "71300",
				HeaderWindowLow: "71100", HeaderWindowVolume: "31", HeaderWindowVWAP: "71180.6452"},
		},
		{
			name: "mixed scales",
			trades: []string{
				`{"isin":"KR7005930003","price":10,"volume":3}`,
				`{"isin":"KR7005930003","price":"10.5","volume":1.5}`,
				`{"isin":"KR7005930003","price":9.75,"volume":"2"}`,
			},
			at: []int64{500, 100, 300},
			want: map[string]string{HeaderTradeCount: "3", HeaderWindowOpen: "10.50", HeaderWindowHigh: "10.50",
				HeaderWindowLow: "9.75", HeaderWindowVolume: "6.5", HeaderWindowVWAP: "10.038462"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Input: InputConfig{ISINField: "isin", MaxFuture: time.Minute, PriceField: "price", VolumeField: "volume"}}
			parser := trade.NewParser(cfg.Input.Fields())
			part := window.NewPartition(window.Config{Size: 2 * time.Second, Aggregates: cfg.Input.Fields().Aggregates()}, time.Now())
			for i, value := range append(tt.trades, `{"isin":"KR7005930003","price":1,"volume":1}`) {
				at := start + 2100 // the last one closes the window
				if i < len(tt.at) {
					at = start + tt.at[i]
				}
				tr, rej := parser.Parse([]byte(value), at, time.Now())
				if rej != nil {
					t.Fatal(rej)
				}
				part.Add(window.Record{ISIN: tr.ISIN, EventTime: tr.EventTime, Offset: int64(i), Value: []byte(value), Price: tr.Price, Volume: tr.Volume}, time.Now())
			}
			closed := part.TakeClosed()
			if len(closed) != 1 || len(closed[0].Entries) != 1 {
				t.Fatalf("closed %+v", closed)
			}
			topic := "trades-2s"
			m := outputMessage(&topic, newClosedHeaders(3, closed[0]), closed[0].Entries[0])
			for name, want := range tt.want {
				if got := header(m, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func header(m *kafka.Message, name string) string {
	for _, h := range m.Headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}
