package progress

import (
	"errors"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/window"
)

func TestProgressMarkerRoundTrip(t *testing.T) {
	topic := "trades-by-isin"
	progress := []window.Progress{
		{Source: 0, Watermark: 1_764_000_002_345, Offset: 100},
		{Source: 2, Watermark: window.NoTime, Offset: 0, Idle: true},
	}
	msgs, err := Markers(&topic, 3, 6, progress)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d markers for 3 partitions", len(msgs))
	}
	for p, m := range msgs {
		if m.TopicPartition.Partition != int32(p) || !IsMarker(m) {
			t.Fatalf("marker %d: %+v", p, m)
		}
		sources, got, err := DecodeMarker(m)
		if err != nil || sources != 6 || len(got) != 2 || got[0] != progress[0] || got[1] != progress[1] {
			t.Fatalf("decoded %d %+v %v, want 6 %+v", sources, got, err, progress)
		}
	}
}

func TestProgressMarkerRecognition(t *testing.T) {
	marker := []kafka.Header{{Key: HeaderProgress, Value: []byte("1")}}
	for _, c := range []struct {
		name  string
		msg   kafka.Message
		is    bool
		error bool
	}{
		{"a copied trade", kafka.Message{Key: []byte("KR7005930003"), Value: []byte(`{}`)}, false, false},
		{"a trade with the header", kafka.Message{Key: []byte("KR7005930003"), Headers: marker}, false, false},
		{"a marker", kafka.Message{Headers: marker, Value: []byte(`{"sources":1,"progress":[{"partition":0,"offset":3,"idle":true}]}`)}, true, false},
		{"not JSON", kafka.Message{Headers: marker, Value: []byte(`x`)}, true, true},
		{"a source beyond the count", kafka.Message{Headers: marker, Value: []byte(`{"sources":1,"progress":[{"partition":1,"offset":3}]}`)}, true, true},
		{"another version", kafka.Message{Headers: []kafka.Header{{Key: HeaderProgress, Value: []byte("2")}}, Value: []byte(`{}`)}, true, true},
	} {
		if got := IsMarker(&c.msg); got != c.is {
			t.Errorf("%s: IsProgressMarker = %v", c.name, got)
			continue
		}
		if !c.is {
			continue
		}
		if _, _, err := DecodeMarker(&c.msg); (err != nil) != c.error || (err != nil && !errors.Is(err, ErrMarker)) {
			t.Errorf("%s: DecodeProgressMarker error %v", c.name, err)
		}
	}
}

func TestCopiedFrom(t *testing.T) {
	h := func(kv ...string) []kafka.Header {
		var out []kafka.Header
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kafka.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	for _, c := range []struct {
		headers []kafka.Header
		source  int32
		stamp   int64
	}{
		{nil, -1, window.NoTime},
		{h(HeaderRawPartition, "4"), 4, window.NoTime},
		{h(HeaderRawPartition, "4", HeaderRawWatermark, "1764000002345"), 4, 1_764_000_002_345},
		// The raw record's own headers come first; the stage's are last.
		{h(HeaderRawPartition, "9", "x", "y", HeaderRawPartition, "2"), 2, window.NoTime},
		{h(HeaderRawPartition, "x", HeaderRawWatermark, "y"), -1, window.NoTime},
	} {
		if source, stamp := CopiedFrom(c.headers); source != c.source || stamp != c.stamp {
			t.Errorf("CopiedFrom(%v) = %d, %d; want %d, %d", c.headers, source, stamp, c.source, c.stamp)
		}
	}
}
