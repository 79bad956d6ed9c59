package aggregator

import (
	"errors"
	"testing"

	"tickcompact/aggregator/window"
)

func TestCheckpointRoundTrip(t *testing.T) {
	for _, cp := range []window.Checkpoint{
		{Offset: 10, ProcessedThrough: 42, ClosedThrough: 1_764_000_002_000, Watermark: 1_764_000_002_345},
		{Offset: 0, ProcessedThrough: 0, ClosedThrough: window.NoTime, Watermark: window.NoTime},
	} {
		meta := encodeCheckpoint(cp)
		if len(meta) > 64 {
			t.Errorf("metadata %q is %d bytes", meta, len(meta))
		}
		got, err := decodeCheckpoint(cp.Offset, meta)
		if err != nil || !got.Equal(cp) {
			t.Fatalf("decode(%q) = %+v, %v; want %+v", meta, got, err, cp)
		}
	}
}

func TestCheckpointRejectsForeignMetadata(t *testing.T) {
	if _, err := decodeCheckpoint(5, ""); !errors.Is(err, errNoCheckpoint) {
		t.Fatalf("empty metadata: %v", err)
	}
	for _, meta := range []string{"tc2:1:2:3", "tc1:1:2", "tc1:x:2:9", "tc1:1:2:4", "hello"} {
		if _, err := decodeCheckpoint(5, meta); err == nil || errors.Is(err, errNoCheckpoint) {
			t.Errorf("decode(%q) = %v, want a format error", meta, err)
		}
	}
}

func TestProcessedThrough(t *testing.T) {
	for _, c := range []struct {
		offset   int64
		metadata string
		want     int64
	}{
		{10, "tc1:1764000002000:1764000003999:4711", 4711},
		{10, "tc1:-:-:10", 10},
		{10, "", 10},
		{10, "other", 10},
		{10, "tc1:1:2:4", 10}, // processed-through below the offset: not a checkpoint
	} {
		if got := ProcessedThrough(c.offset, c.metadata); got != c.want {
			t.Errorf("ProcessedThrough(%d, %q) = %d, want %d", c.offset, c.metadata, got, c.want)
		}
	}
}
