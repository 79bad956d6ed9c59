package aggregator

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tickcompact/aggregator/window"
)

// The checkpoint versions prefix the offset metadata so that formats can be
// told apart. A partition of a topic keyed by ISIN stores
// "tc1:<closedThrough>:<watermark>:<processedThrough>", with "-" for an
// unset time: a few dozen bytes. A partition of the repartition topic also
// stores what it knows of each source (window.SourceCheckpoint):
// "tc2:<closedThrough>:<watermark>:<processedThrough>:<base>:<source0>,<source1>,..."
// where base is the greatest source watermark and each source is "?" when
// unknown, else its watermark as base minus it ("-" for none), followed by
// "@<offset>" when idle. Six sources take some 30 bytes more; the broker's
// offset.metadata.max.bytes (4096 by default) allows a few hundred.
const (
	checkpointVersion         = "tc1"
	upstreamCheckpointVersion = "tc2"
)

func encodeCheckpoint(cp window.Checkpoint) string {
	fields := []string{checkpointVersion, formatTime(cp.ClosedThrough), formatTime(cp.Watermark),
		strconv.FormatInt(cp.ProcessedThrough, 10)}
	if cp.Sources != nil {
		fields[0] = upstreamCheckpointVersion
		fields = append(fields, encodeSources(cp.Sources)...)
	}
	return strings.Join(fields, ":")
}

// encodeSources returns the base and source fields of a tc2 checkpoint.
func encodeSources(sources []window.SourceCheckpoint) []string {
	base := window.NoTime
	for _, s := range sources {
		if s.Known {
			base = max(base, s.Watermark)
		}
	}
	var b strings.Builder
	for i, s := range sources {
		if i > 0 {
			b.WriteByte(',')
		}
		switch {
		case !s.Known:
			b.WriteByte('?')
		case s.Watermark == window.NoTime:
			b.WriteByte('-')
		default:
			b.WriteString(strconv.FormatInt(base-s.Watermark, 10))
		}
		if s.Known && s.Idle {
			b.WriteByte('@')
			b.WriteString(strconv.FormatInt(s.Offset, 10))
		}
	}
	return []string{formatTime(base), b.String()}
}

// decodeSources parses the base and source fields of a tc2 checkpoint.
func decodeSources(baseField, list string) ([]window.SourceCheckpoint, error) {
	base, err := parseTime(baseField)
	if err != nil {
		return nil, err
	}
	sources := []window.SourceCheckpoint{}
	if list == "" {
		return sources, nil
	}
	for i, entry := range strings.Split(list, ",") {
		s := window.SourceCheckpoint{Progress: window.Progress{Source: int32(i), Watermark: window.NoTime, Offset: -1}}
		if entry != "?" {
			s.Known = true
			watermark, offset, idle := strings.Cut(entry, "@")
			if idle {
				s.Idle = true
				if s.Offset, err = strconv.ParseInt(offset, 10, 64); err != nil {
					return nil, fmt.Errorf("source %d: %w", i, err)
				}
			}
			if watermark != "-" {
				delta, err := strconv.ParseInt(watermark, 10, 64)
				if err != nil || base == window.NoTime {
					return nil, fmt.Errorf("source %d: bad watermark %q", i, watermark)
				}
				s.Watermark = base - delta
			}
		}
		sources = append(sources, s)
	}
	return sources, nil
}

// ProcessedThrough returns, from an aggregator group's committed offset and
// its metadata, the offset below which every record was processed and its
// output committed: at or past the committed offset, which stays behind on
// records of windows still open. It is the committed offset itself when the
// metadata is no aggregator checkpoint. For tools that watch a group drain
// a backlog (cmd/bench, the fault suite).
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
	var sources []window.SourceCheckpoint
	switch {
	case parts[0] != checkpointVersion && parts[0] != upstreamCheckpointVersion:
		return window.Checkpoint{}, fmt.Errorf("offset metadata %q: unknown checkpoint version", clipString(metadata))
	case parts[0] == checkpointVersion && len(parts) != 4:
		return window.Checkpoint{}, fmt.Errorf("offset metadata %q: want 4 fields", clipString(metadata))
	case parts[0] == upstreamCheckpointVersion && len(parts) != 6:
		return window.Checkpoint{}, fmt.Errorf("offset metadata %q: want 6 fields", clipString(metadata))
	case parts[0] == upstreamCheckpointVersion:
		var err error
		if sources, err = decodeSources(parts[4], parts[5]); err != nil {
			return window.Checkpoint{}, fmt.Errorf("offset metadata %q: %w", clipString(metadata), err)
		}
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
	return window.Checkpoint{Offset: offset, ProcessedThrough: processed, ClosedThrough: closed, Watermark: watermark, Sources: sources}, nil
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
