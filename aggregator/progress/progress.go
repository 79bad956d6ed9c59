// Package progress is the format of the records of the repartition topic
// (<input>-by-isin, written and read by the aggregator with
// input.repartition): each copied trade carries where in the raw topic it
// came from and how far event time had got there, and progress markers say
// how far each raw partition has been copied. The window stage and
// cmd/verify read it; see window.Progress for what the window stage does
// with it.
package progress

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/aggregator/window"
)

// The headers the repartition stage adds to each record it copies into the
// repartition topic, after the raw record's own: where in the raw topic it
// came from, and how far event time had got there (see window.Progress).
const (
	// HeaderRawPartition is the raw partition (the record's source).
	HeaderRawPartition = "raw-partition"
	// HeaderRawOffset is the record's offset in the raw partition.
	HeaderRawOffset = "raw-offset"
	// HeaderRawWatermark is the greatest event time of the valid records of
	// the raw partition before this one (epoch ms); absent when there are
	// none. The window stage counts the record late when its window ended,
	// plus grace, at or before it: lateness is decided by the raw
	// partition's own order, as in a topic keyed by ISIN.
	HeaderRawWatermark = "raw-watermark"
	// HeaderProgress marks a progress marker: a record of the repartition
	// topic with no key whose value (Marker, JSON) says how far the
	// raw partitions have been copied. The repartition stage writes one to
	// every partition of the repartition topic in each transaction that
	// changed a raw partition's progress, after that transaction's records.
	// Its value is the marker format's version.
	HeaderProgress = "progress-marker"
)

// progressMarkerVersion is the value of HeaderProgress.
const progressMarkerVersion = "1"

// Marker is the value of a progress marker record.
type Marker struct {
	// Sources is the raw topic's partition count: the window stage waits
	// for progress from every one of them.
	Sources int `json:"sources"`
	// Progress is the progress of the raw partitions the writing instance
	// owns whose progress changed.
	Progress []MarkerProgress `json:"progress"`
}

// MarkerProgress is one raw partition's progress in a marker.
type MarkerProgress struct {
	Partition int32 `json:"partition"`
	// Offset: every record of the partition below it has been copied.
	Offset int64 `json:"offset"`
	// Watermark is the greatest event time of its valid records below
	// Offset (epoch ms); absent when there are none.
	Watermark *int64 `json:"watermark,omitempty"`
	// Idle: the partition was caught up at Offset and had no record for
	// window.idle_timeout.
	Idle bool `json:"idle"`
}

// Markers returns the marker records announcing progress to each of a
// repartition topic's partitions.
func Markers(topic *string, partitions int, sources int, progress []window.Progress) ([]*kafka.Message, error) {
	marker := Marker{Sources: sources, Progress: make([]MarkerProgress, len(progress))}
	for i, p := range progress {
		marker.Progress[i] = MarkerProgress{Partition: p.Source, Offset: p.Offset, Idle: p.Idle}
		if p.Watermark != window.NoTime {
			w := p.Watermark
			marker.Progress[i].Watermark = &w
		}
	}
	value, err := json.Marshal(marker)
	if err != nil {
		return nil, err
	}
	headers := []kafka.Header{{Key: HeaderProgress, Value: []byte(progressMarkerVersion)}}
	msgs := make([]*kafka.Message, partitions)
	for p := range msgs {
		msgs[p] = &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: topic, Partition: int32(p)},
			Value:          value,
			Headers:        headers,
		}
	}
	return msgs, nil
}

// IsMarker reports whether a record of the repartition topic is a progress
// marker.
func IsMarker(msg *kafka.Message) bool {
	return msg.Key == nil && lastHeader(msg.Headers, HeaderProgress) != nil
}

// ErrMarker wraps the error of a progress marker that cannot be read.
var ErrMarker = errors.New("unreadable progress marker")

// DecodeMarker reads a progress marker's value.
func DecodeMarker(msg *kafka.Message) (sources int, progress []window.Progress, err error) {
	if v := string(lastHeader(msg.Headers, HeaderProgress)); v != progressMarkerVersion {
		return 0, nil, fmt.Errorf("%w: version %q", ErrMarker, v)
	}
	var marker Marker
	if err := json.Unmarshal(msg.Value, &marker); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrMarker, err)
	}
	progress = make([]window.Progress, len(marker.Progress))
	for i, p := range marker.Progress {
		if p.Partition < 0 || int(p.Partition) >= marker.Sources {
			return 0, nil, fmt.Errorf("%w: partition %d of %d", ErrMarker, p.Partition, marker.Sources)
		}
		progress[i] = window.Progress{Source: p.Partition, Offset: p.Offset, Idle: p.Idle, Watermark: window.NoTime}
		if p.Watermark != nil {
			progress[i].Watermark = *p.Watermark
		}
	}
	return marker.Sources, progress, nil
}

// CopiedFrom returns where a record of the repartition topic came from: its
// raw partition and that partition's watermark when it was copied, or -1 and
// window.NoTime for a record without those headers.
func CopiedFrom(headers []kafka.Header) (source int32, stamp int64) {
	source, stamp = -1, window.NoTime
	if v := lastHeader(headers, HeaderRawPartition); v != nil {
		if p, err := strconv.ParseInt(string(v), 10, 32); err == nil {
			source = int32(p)
		}
	}
	if v := lastHeader(headers, HeaderRawWatermark); v != nil {
		if w, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			stamp = w
		}
	}
	return source, stamp
}

// lastHeader returns the value of the last header named key, or nil. The
// stages append their headers after the ones a record already had.
func lastHeader(headers []kafka.Header, key string) []byte {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == key {
			if headers[i].Value == nil {
				return []byte{}
			}
			return headers[i].Value
		}
	}
	return nil
}
