package configload

import (
	"errors"
	"fmt"
)

// ErrInvalid is the sentinel every configuration error wraps.
var ErrInvalid = errors.New("invalid configuration")

// Error is a configuration problem tied to one key (or to the config file or
// the command line as a whole when Key is empty), and to where the value at
// fault came from.
type Error struct {
	// Key is the dotted key ("window.size"), or an environment variable's
	// name when the variable names no key.
	Key string
	// Entry, for a map key, is the entry at fault ("sasl.password"); it
	// picks the entry's source.
	Entry string
	// Source says where the value came from: "flag --window.size",
	// "environment variable AGGREGATOR_WINDOW_SIZE", "configs/aggregator.yaml,
	// line 12" or "the default". Load fills it in for the errors of
	// Validate.
	Source string
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Key == "":
		return "config: " + e.Err.Error()
	case e.Source == "":
		return fmt.Sprintf("config: %s: %v", e.Key, e.Err)
	case e.Source == sourceDefault:
		return fmt.Sprintf("config: %s (%s): %v", e.Key, e.Source, e.Err)
	}
	return fmt.Sprintf("config: %s (from %s): %v", e.Key, e.Source, e.Err)
}

// Unwrap lets errors.Is match both ErrInvalid and the underlying cause.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Invalid returns an *Error for key with a formatted cause. Validate methods
// use it; Load adds where the key's value came from.
func Invalid(key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// InvalidEntry is Invalid for one entry of a map key (a kafka.properties
// property), so that the source named is that entry's.
func InvalidEntry(key, entry, format string, args ...any) error {
	return &Error{Key: key, Entry: entry, Err: fmt.Errorf(format, args...)}
}

// sourceDefault is the Source of a value nobody set.
const sourceDefault = "the default"

// origins records where each key's value, and each map entry, came from.
type origins struct {
	keys    map[string]string
	entries map[string]map[string]string
}

func newOrigins() *origins {
	return &origins{keys: map[string]string{}, entries: map[string]map[string]string{}}
}

func (o *origins) setEntry(key, entry, source string) {
	if o.entries[key] == nil {
		o.entries[key] = map[string]string{}
	}
	o.entries[key][entry] = source
}

// of returns where key (or its entry) got its value.
func (o *origins) of(key, entry string) string {
	if entry != "" {
		if s := o.entries[key][entry]; s != "" {
			return s
		}
		return sourceDefault
	}
	if s := o.keys[key]; s != "" {
		return s
	}
	return sourceDefault
}

// explain fills in the source of a configuration error that names a key but
// not where its value came from (the errors of a Validate method).
func (o *origins) explain(err error) error {
	var cerr *Error
	if err == nil || !errors.As(err, &cerr) || cerr.Source != "" || cerr.Key == "" {
		return err
	}
	cerr.Source = o.of(cerr.Key, cerr.Entry)
	return err
}
