package aggregator

import (
	"errors"
	"strings"
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

// A partition of the repartition topic keeps what it knows of its sources:
// unknown, no valid record yet, busy at a watermark, idle at an offset.
func TestUpstreamCheckpointRoundTrip(t *testing.T) {
	source := func(i int32, known, idle bool, watermark, offset int64) window.SourceCheckpoint {
		return window.SourceCheckpoint{Progress: window.Progress{Source: i, Watermark: watermark, Offset: offset, Idle: idle}, Known: known}
	}
	base := int64(1_764_000_002_345)
	for _, cp := range []window.Checkpoint{
		{Offset: 10, ProcessedThrough: 42, ClosedThrough: 1_764_000_002_000, Watermark: base, Sources: []window.SourceCheckpoint{
			source(0, true, false, base, -1),
			source(1, false, false, window.NoTime, -1),
			source(2, true, true, base-1_500, 1234),
			source(3, true, true, window.NoTime, 0),
			source(4, true, false, window.NoTime, -1),
			source(5, true, false, base-7, -1),
		}},
		{Offset: 3, ProcessedThrough: 3, ClosedThrough: window.NoTime, Watermark: window.NoTime, Sources: []window.SourceCheckpoint{}},
	} {
		meta := encodeCheckpoint(cp)
		if !strings.HasPrefix(meta, "tc2:") || len(meta) > 96 {
			t.Errorf("metadata %q (%d bytes)", meta, len(meta))
		}
		got, err := decodeCheckpoint(cp.Offset, meta)
		if err != nil || !got.Equal(cp) {
			t.Fatalf("decode(%q) = %+v, %v; want %+v", meta, got, err, cp)
		}
	}
}

func TestSourceCheckpoint(t *testing.T) {
	for _, c := range []struct {
		metadata string
		want     int64
		bad      bool
	}{
		{encodeSourceCheckpoint(1_764_000_002_345), 1_764_000_002_345, false},
		{encodeSourceCheckpoint(window.NoTime), window.NoTime, false},
		{"", window.NoTime, false},          // committed by an earlier version
		{"tc1:1:2:3", window.NoTime, false}, // not ours
		{"tr1:x", 0, true},
	} {
		got, err := decodeSourceCheckpoint(c.metadata)
		if (err != nil) != c.bad || (!c.bad && got != c.want) {
			t.Errorf("decodeSourceCheckpoint(%q) = %d, %v; want %d (error %v)", c.metadata, got, err, c.want, c.bad)
		}
	}
}

func TestCheckpointRejectsForeignMetadata(t *testing.T) {
	if _, err := decodeCheckpoint(5, ""); !errors.Is(err, errNoCheckpoint) {
		t.Fatalf("empty metadata: %v", err)
	}
	for _, meta := range []string{"tc2:1:2:3", "tc2:1:2:3:-:x", "tc2:1:2:3:-:5", "tc2:1:2:3:9:1@x", "tc3:1:2:3", "tc1:1:2", "tc1:x:2:9", "tc1:1:2:4", "hello"} {
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
