// Package logging builds the services' slog loggers: JSON by default, one line
// per event, with every configured secret masked wherever it would appear.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"tickcompact/internal/configload"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("json" or "text"). Every non-empty string in secrets is
// replaced by "[REDACTED]" in messages and string attributes, so a password
// that leaks into an error text from a client library never reaches the log.
func New(w io.Writer, level, format string, secrets []string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch format {
	case "json", "":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want json or text", format)
	}
	return slog.New(NewRedactor(h, secrets)), nil
}

// Redactor is a slog.Handler that masks secret strings before passing records on.
type Redactor struct {
	next     slog.Handler
	replacer *strings.Replacer
}

// NewRedactor wraps next so that every secret is masked. Empty secrets are ignored.
func NewRedactor(next slog.Handler, secrets []string) slog.Handler {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "[REDACTED]")
		}
	}
	if len(pairs) == 0 {
		return next
	}
	return &Redactor{next: next, replacer: strings.NewReplacer(pairs...)}
}

// Enabled implements slog.Handler.
func (r *Redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (r *Redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.replacer.Replace(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.redact(a))
		return true
	})
	return r.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (r *Redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = r.redact(a)
	}
	return &Redactor{next: r.next.WithAttrs(clean), replacer: r.replacer}
}

// WithGroup implements slog.Handler.
func (r *Redactor) WithGroup(name string) slog.Handler {
	return &Redactor{next: r.next.WithGroup(name), replacer: r.replacer}
}

func (r *Redactor) redact(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.replacer.Replace(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = r.redact(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, r.replacer.Replace(err.Error()))
		}
		return slog.String(a.Key, r.replacer.Replace(fmt.Sprint(v.Any())))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// Config is the log section both services share (keys log.level, log.format).
type Config struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is json (one object per line) or text.
	Format string `mapstructure:"format"`
}

// Validate checks c without I/O; errors name the key.
func (c Config) Validate() error {
	switch strings.ToLower(c.Level) {
	case "debug", "info", "warn", "error":
	default:
		return configload.Invalid("log.level", "%q: want debug, info, warn or error", c.Level)
	}
	if c.Format != "json" && c.Format != "text" {
		return configload.Invalid("log.format", "%q: want json or text", c.Format)
	}
	return nil
}

// Keys returns the log.* keys with their defaults and descriptions, to add
// to a service's configload.Spec.
func Keys() []configload.Key {
	return []configload.Key{
		{Name: "log.level", Default: "info", Usage: "debug, info, warn or error"},
		{Name: "log.format", Default: "json", Usage: "json (one object per line) or text"},
	}
}
