package verify

import (
	"errors"
	"fmt"
	"time"
)

// ErrUsage is wrapped by every error about the tool's settings or flags: the
// caller exits with code 2 before anything connects.
var ErrUsage = errors.New("invalid usage")

func usageError(flag, format string, args ...any) error {
	return fmt.Errorf("verify: %w: --%s: %s", ErrUsage, flag, fmt.Sprintf(format, args...))
}

// Settings are the aggregator's window and parsing rules the expected output
// is recomputed with. They must be the aggregator's own, or every window is
// reported.
type Settings struct {
	// WindowSize is window.size: a whole number of milliseconds dividing a day.
	WindowSize time.Duration
	// Grace is window.grace.
	Grace time.Duration
	// IdleTimeout is window.idle_timeout, used by the live model.
	IdleTimeout time.Duration
	// ISINField is input.isin_field.
	ISINField string
	// TimeField is input.time_field; empty means the record timestamp is the
	// event time.
	TimeField string
	// MaxFuture is input.max_future.
	MaxFuture time.Duration
	// PriceField and VolumeField are input.price_field and
	// input.volume_field: both set, the interval aggregates are on, and the
	// aggregate headers of every output record are checked.
	PriceField, VolumeField string
	// LiveLag bounds how long after its record timestamp a record reached the
	// aggregator when it ran live. The live model assumes the aggregator's
	// wall clock may have been this far ahead of the record timestamps it
	// read; 0 assumes records arrive the moment they are stamped.
	LiveLag time.Duration
	// Now is when the topics were read. With record-timestamp event times, a
	// record stamped more than MaxFuture after Now is counted as future-time:
	// the aggregator, whose clock was at or before Now when it read it, must
	// have rejected it.
	Now time.Time
	// Compacted says the output topic is compacted: a missing (ISIN, window)
	// is not a gap when the output holds a later window of that ISIN, since
	// compaction keeps only the latest record of each key.
	Compacted bool
	// Examples caps the examples listed per kind of finding.
	Examples int
	// Repartition is input.repartition: the input topic is the raw topic,
	// which the aggregator re-keys by ISIN through RepartitionTopic(input)
	// before windowing it. The models then read the repartition topic (its
	// progress markers and copied trades' stamps; see upstream.go), and the
	// copy into it is audited against the raw topic (see copyaudit.go).
	Repartition bool
}

// DefaultSettings are the aggregator's defaults.
func DefaultSettings() Settings {
	return Settings{
		WindowSize:  2 * time.Second,
		IdleTimeout: time.Second,
		ISINField:   "isin",
		MaxFuture:   time.Minute,
		LiveLag:     500 * time.Millisecond,
		Examples:    10,
	}
}

const day = 24 * time.Hour

// Validate checks the settings without any I/O; errors name the flag.
func (s Settings) Validate() error {
	switch {
	case s.WindowSize <= 0 || s.WindowSize%time.Millisecond != 0 || day%s.WindowSize != 0:
		return usageError("window-size", "%v: want a positive whole number of milliseconds that divides 24h", s.WindowSize)
	case s.Grace < 0 || s.Grace%time.Millisecond != 0:
		return usageError("grace", "%v: want a non-negative whole number of milliseconds", s.Grace)
	case s.IdleTimeout <= 0:
		return usageError("idle-timeout", "must be positive")
	case s.ISINField == "":
		return usageError("isin-field", "must not be empty")
	case s.MaxFuture < 0:
		return usageError("max-future", "must not be negative")
	case (s.PriceField == "") != (s.VolumeField == ""):
		return usageError("price-field", "--price-field and --volume-field go together (the aggregator's input.price_field and input.volume_field)")
	case s.LiveLag < 0:
		return usageError("live-lag", "must not be negative")
	case s.Examples < 0:
		return usageError("examples", "must not be negative")
	}
	return nil
}
