package configload

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"tickcompact/internal/cli"
)

// Key is one configuration key: the one place where its name, its default
// and its meaning are written. The flags, the environment variables and the
// --help text are all made from it, and the shipped configs/<service>.yaml is
// tested against it.
type Key struct {
	// Name is the dotted key, as nested in the YAML file: "window.size".
	Name string
	// Default is the value without any configuration. Its type decides how
	// a value is parsed: string, bool, int, time.Duration, []string (a YAML
	// list, or comma-separated values), or map[string]string for an open map
	// whose entries are any key=value pairs (librdkafka properties, topic
	// configs).
	Default any
	// Usage says in one line what the key does, for --help.
	Usage string
}

// Spec describes one service's configuration surface.
type Spec struct {
	// Service is the service name: it picks the default file
	// configs/<Service>.yaml and, upper-cased, the environment prefix.
	Service string
	// Summary says what the service does, for the top of --help.
	Summary string
	// Keys are every key the service knows, in the order --help lists them.
	Keys []Key
}

// Defaults maps every key of s to its default value.
func (s Spec) Defaults() map[string]any {
	out := make(map[string]any, len(s.Keys))
	for _, k := range s.Keys {
		out[k.Name] = k.Default
	}
	return out
}

func (s Spec) key(name string) (Key, bool) {
	for _, k := range s.Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// mapKeys returns the names of the keys whose default is a map, sorted.
func (s Spec) mapKeys() []string {
	var out []string
	for _, k := range s.Keys {
		if _, ok := k.Default.(map[string]string); ok {
			out = append(out, k.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Command returns the service's command-line description for --help: its
// summary, and after the flag list how the same keys are set in the file
// and the environment, and the exit codes.
func (s Spec) Command() cli.Command {
	example := "window.size"
	if len(s.Keys) > 0 {
		example = s.Keys[0].Name
	}
	lines := []string{
		"Every flag but --config, --help and --version is also a key of the YAML file (--config;",
		"by default configs/" + s.Service + ".yaml when it exists) and an environment variable: " + strings.ToUpper(s.Service) + "_",
		"and the key in capitals, dots as underscores (" + EnvName(s.Service, example) + ").",
		"Flags override the environment, which overrides the file.",
	}
	if maps := s.mapKeys(); len(maps) > 0 {
		lines = append(lines,
			"Entries of "+strings.Join(maps, " and ")+" add up across the layers, one by one:",
			"  --"+maps[0]+"=name=value,name=value or "+EnvName(s.Service, maps[0])+"_<NAME>=value",
			"  (in a variable's <NAME>, underscores stand for dots).")
	}
	footer := strings.Join(lines, "\n") +
		"\n\nExit codes: 0 clean stop, 1 runtime failure, 2 bad configuration (before anything connects)."
	return cli.Command{Name: s.Service, Summary: s.Summary, Footer: footer}
}

// FormatDefault writes a default value the way the YAML file and --help
// show it: durations as 1m rather than 1m0s, maps as name=value pairs.
func FormatDefault(v any) string {
	switch d := v.(type) {
	case time.Duration:
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	case []string:
		return strings.Join(d, ",")
	case map[string]string:
		pairs := make([]string, 0, len(d))
		for k, val := range d {
			pairs = append(pairs, k+"="+val)
		}
		sort.Strings(pairs)
		return strings.Join(pairs, ",")
	}
	return fmt.Sprint(v)
}
