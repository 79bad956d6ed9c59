package opsserver

import "tickcompact/internal/configload"

// Config is a service's http.* keys.
type Config struct {
	// Addr is where the service's endpoints are served.
	Addr string `mapstructure:"addr"`
	// Pprof also serves Go's profiles under /debug/pprof/ on Addr.
	Pprof bool `mapstructure:"pprof"`
}

// Keys returns the http.* keys with their defaults and descriptions, to add
// to a service's configload.Spec: addr is the service's default address and
// serves says what it serves there.
func Keys(addr, serves string) []configload.Key {
	return []configload.Key{
		{Name: "http.addr", Default: addr, Usage: "address of " + serves},
		{Name: "http.pprof", Default: false, Usage: "also serve Go's runtime profiles under /debug/pprof/ on http.addr"},
	}
}

// Validate checks the keys without any I/O; each error names its key.
func (c Config) Validate() error {
	if c.Addr == "" {
		return configload.Invalid("http.addr", "must not be empty")
	}
	return nil
}
