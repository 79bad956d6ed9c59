package aggregator

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tickcompact/aggregator/window"
)

// checkpointVersion prefixes the offset metadata so a later format can be told
// apart. The metadata is "tc1:<closedThrough>:<watermark>:<processedThrough>",
// with "-" for an unset time: a few dozen bytes, well under the broker's
// offset.metadata.max.bytes.
const checkpointVersion = "tc1"

// errNoCheckpoint means the committed offset carries no metadata of ours (a
// fresh group, or offsets committed by another tool).
var errNoCheckpoint = errors.New("no aggregator checkpoint in offset metadata")

func encodeCheckpoint(cp window.Checkpoint) string {
	return strings.Join([]string{checkpointVersion, formatTime(cp.ClosedThrough), formatTime(cp.Watermark),
		strconv.FormatInt(cp.ProcessedThrough, 10)}, ":")
}

// ProcessedThrough returns, from an aggregator group's committed offset and
// its metadata, the offset below which every record was processed and its
// output committed: at or past the committed offset, which stays behind on
// records of windows still open. It is the committed offset itself when the
// metadata is no aggregator checkpoint. For tools that watch a group drain
// a backlog (make bench, the fault suite).
func ProcessedThrough(offset int64, metadata string) int64 {
	cp, err := decodeCheckpoint(offset, metadata)
	if err != nil {
		return offset
	}
	return cp.ProcessedThrough
}

// decodeCheckpoint rebuilds the checkpoint committed at offset with metadata.
func decodeCheckpoint(offset int64, metadata string) (window.Checkpoint, error) {
	if metadata == "" {
		return window.Checkpoint{}, errNoCheckpoint
	}
	parts := strings.Split(metadata, ":")
	if parts[0] != checkpointVersion {
		return window.Checkpoint{}, fmt.Errorf("offset metadata %q: unknown checkpoint version", clipString(metadata))
	}
	if len(parts) != 4 {
		return window.Checkpoint{}, fmt.Errorf("offset metadata %q: want 4 fields", clipString(metadata))
	}
	closed, err1 := parseTime(parts[1])
	watermark, err2 := parseTime(parts[2])
	processed, err3 := strconv.ParseInt(parts[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return window.Checkpoint{}, fmt.Errorf("offset metadata %q: %w", clipString(metadata), err)
	}
	if processed < offset {
		return window.Checkpoint{}, fmt.Errorf("offset metadata %q: processed-through %d is below the committed offset %d", clipString(metadata), processed, offset)
	}
	return window.Checkpoint{Offset: offset, ProcessedThrough: processed, ClosedThrough: closed, Watermark: watermark}, nil
}

func formatTime(t int64) string {
	if t == window.NoTime {
		return "-"
	}
	return strconv.FormatInt(t, 10)
}

func parseTime(s string) (int64, error) {
	if s == "-" {
		return window.NoTime, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func clipString(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
