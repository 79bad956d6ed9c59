// Package configload reads a service's configuration the way the contract says:
// a YAML file, then environment variables, then command-line flags, each layer
// overriding the one before it. It knows nothing of any particular service: the
// caller names its keys and their defaults, and gets back a viper instance ready
// to unmarshal. Every problem is reported as an *Error naming the key, and
// satisfies errors.Is(err, ErrInvalid), so the caller can exit with code 2
// before it connects anywhere.
package configload

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// ErrInvalid is the sentinel every configuration error wraps.
var ErrInvalid = errors.New("invalid configuration")

// Error is a configuration problem tied to one key (or to the config file
// itself when Key is empty).
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return "config: " + e.Err.Error()
	}
	return fmt.Sprintf("config: %s: %v", e.Key, e.Err)
}

// Unwrap lets errors.Is match both ErrInvalid and the underlying cause.
func (e *Error) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Invalid returns an *Error for key with a formatted cause.
func Invalid(key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// Spec describes one service's configuration surface.
type Spec struct {
	// Service is the service name: it picks the default file
	// configs/<Service>.yaml and, upper-cased, the environment prefix.
	Service string
	// Defaults maps every known dotted key to its default value. The type of
	// the default decides how flags and environment values are parsed:
	// string, bool, int, time.Duration or map[string]string. Keys whose
	// default is a map are open: any sub-key is accepted.
	Defaults map[string]any
}

// Load reads the configuration for spec from args (without the program name),
// the environment and the config file, and decodes it into out, a pointer to a
// struct with mapstructure tags. It performs no network I/O.
func Load(spec Spec, args []string, environ []string, out any) error {
	v, err := read(spec, args, environ)
	if err != nil {
		return err
	}
	return decode(v, spec, out)
}

func read(spec Spec, args []string, environ []string) (*viper.Viper, error) {
	// Map keys hold librdkafka and topic property names that contain dots
	// (security.protocol), so viper must not split keys on ".".
	v := viper.NewWithOptions(viper.KeyDelimiter(delimiter))
	keys := sortedKeys(spec.Defaults)
	for _, key := range keys {
		v.SetDefault(internal(key), spec.Defaults[key])
	}

	flags, mapFlags := newFlagSet(spec, keys)
	if err := flags.Parse(args); err != nil {
		for key := range mapFlags {
			// pflag quotes the whole value, and a map's entries hold
			// credentials (kafka.properties: sasl.password=...).
			if strings.Contains(err.Error(), `"--`+key+`"`) {
				return nil, &Error{Key: key, Err: errors.New("command line: want key=value[,key=value...] (the value is not shown: it may hold a secret)")}
			}
		}
		return nil, &Error{Err: fmt.Errorf("command line: %w", err)}
	}
	if flags.NArg() > 0 {
		return nil, &Error{Err: fmt.Errorf("command line: unexpected argument %q", flags.Arg(0))}
	}

	fileMaps, err := readFile(v, spec, flags)
	if err != nil {
		return nil, err
	}
	envValues, envMaps, err := readEnv(spec, keys, environ)
	if err != nil {
		return nil, err
	}
	// Set is viper's top layer; applying env first and flags second gives
	// file < env < flags.
	for key, value := range envValues {
		v.Set(internal(key), value)
	}
	for _, key := range keys {
		if f := flags.Lookup(key); f != nil && f.Changed && mapFlags[key] == nil {
			v.Set(internal(key), f.Value.String())
		}
	}
	// Maps merge across layers entry by entry, so an env var can add one
	// librdkafka property without repeating the file's others.
	for _, key := range keys {
		defaults, isMap := spec.Defaults[key].(map[string]string)
		if !isMap {
			continue
		}
		merged := map[string]string{}
		for _, layer := range []map[string]string{defaults, fileMaps[key], envMaps[key], *mapFlags[key]} {
			for k, val := range layer {
				merged[k] = val
			}
		}
		v.Set(internal(key), merged)
	}
	return v, nil
}

const delimiter = "::"

func internal(key string) string { return strings.ReplaceAll(key, ".", delimiter) }

// newFlagSet declares --config and one flag per key, typed by its default.
func newFlagSet(spec Spec, keys []string) (*pflag.FlagSet, map[string]*map[string]string) {
	flags := pflag.NewFlagSet(spec.Service, pflag.ContinueOnError)
	flags.SetOutput(discard{})
	flags.String("config", "", "path of the YAML config file (default configs/"+spec.Service+".yaml when it exists)")
	mapFlags := map[string]*map[string]string{}
	for _, key := range keys {
		switch d := spec.Defaults[key].(type) {
		case bool:
			flags.Bool(key, d, "")
		case map[string]string:
			mapFlags[key] = flags.StringToString(key, nil, "")
		default:
			// Parsed as strings so that a bad value is reported by decode,
			// with the key, like a bad value from the file or environment.
			flags.String(key, fmt.Sprint(d), "")
		}
	}
	return flags, mapFlags
}

// readFile reads the explicit --config file, or configs/<service>.yaml when it
// exists, into v's config layer, rejecting keys the service does not know. It
// returns the entries of map keys separately so they can be merged by entry.
func readFile(v *viper.Viper, spec Spec, flags *pflag.FlagSet) (map[string]map[string]string, error) {
	path, _ := flags.GetString("config")
	if path == "" {
		path = "configs/" + spec.Service + ".yaml"
		if _, err := os.Stat(path); err != nil {
			return nil, nil
		}
	}
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, &Error{Err: fmt.Errorf("reading %s: %w", path, err)}
	}
	maps := map[string]map[string]string{}
	for _, internalKey := range v.AllKeys() {
		if !v.InConfig(internalKey) { // AllKeys also lists defaults
			continue
		}
		key := strings.ReplaceAll(internalKey, delimiter, ".")
		if _, ok := spec.Defaults[key]; ok {
			if _, isMap := spec.Defaults[key].(map[string]string); !isMap {
				continue
			}
		}
		mapKey := ""
		for k, d := range spec.Defaults {
			if _, isMap := d.(map[string]string); isMap && strings.HasPrefix(internalKey, internal(k)+delimiter) {
				mapKey = k
			}
		}
		if mapKey == "" {
			if _, known := spec.Defaults[key]; !known {
				return nil, &Error{Key: key, Err: fmt.Errorf("unknown key in %s", path)}
			}
			continue
		}
		if maps[mapKey] == nil {
			maps[mapKey] = map[string]string{}
		}
		entry := strings.TrimPrefix(internalKey, internal(mapKey)+delimiter)
		maps[mapKey][strings.ReplaceAll(entry, delimiter, ".")] = v.GetString(internalKey)
	}
	return maps, nil
}

// EnvName returns the environment variable that sets key for service:
// AGGREGATOR_WINDOW_SIZE for window.size.
func EnvName(service, key string) string {
	return strings.ToUpper(service + "_" + strings.ReplaceAll(key, ".", "_"))
}

// readEnv collects the values of the environment variables that name known
// keys and rejects any variable with the service's prefix that names none.
// Variables under a map key (AGGREGATOR_KAFKA_PROPERTIES_SASL_PASSWORD) become
// entries of that map, with '_' read as '.' (sasl.password), since librdkafka
// property names use dots and never underscores.
func readEnv(spec Spec, keys []string, environ []string) (map[string]string, map[string]map[string]string, error) {
	prefix := strings.ToUpper(spec.Service) + "_"
	byEnv := map[string]string{}
	var mapKeys []string
	for _, key := range keys {
		byEnv[EnvName(spec.Service, key)] = key
		if _, isMap := spec.Defaults[key].(map[string]string); isMap {
			mapKeys = append(mapKeys, key)
		}
	}
	values := map[string]string{}
	maps := map[string]map[string]string{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if key, ok := byEnv[name]; ok {
			if _, isMap := spec.Defaults[key].(map[string]string); isMap {
				return nil, nil, &Error{Key: key, Err: fmt.Errorf("environment variable %s: set entries as %s_<NAME> instead", name, name)}
			}
			values[key] = value
			continue
		}
		matched := false
		for _, mapKey := range mapKeys {
			mapPrefix := EnvName(spec.Service, mapKey) + "_"
			if strings.HasPrefix(name, mapPrefix) && len(name) > len(mapPrefix) {
				sub := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, mapPrefix), "_", "."))
				if maps[mapKey] == nil {
					maps[mapKey] = map[string]string{}
				}
				maps[mapKey][sub] = value
				matched = true
				break
			}
		}
		if !matched {
			return nil, nil, &Error{Key: name, Err: errors.New("unknown environment variable: no such config key")}
		}
	}
	return values, maps, nil
}

// decode unmarshals v into out, turning decoding failures into errors that name
// the key.
func decode(v *viper.Viper, spec Spec, out any) error {
	settings := map[string]any{}
	for key := range spec.Defaults {
		setNested(settings, key, v.Get(internal(key)))
	}
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           out,
		Metadata:         &md,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		),
	})
	if err != nil {
		return &Error{Err: err}
	}
	if err := dec.Decode(settings); err != nil {
		return decodeError(err)
	}
	return nil
}

// durationHook parses durations from strings ("2s") and rejects bare numbers,
// which would otherwise silently mean nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	switch d := data.(type) {
	case time.Duration:
		return d, nil
	case string:
		parsed, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q (want e.g. 500ms, 2s, 1m)", d)
		}
		return parsed, nil
	default:
		if from.Kind() >= reflect.Int && from.Kind() <= reflect.Float64 {
			return nil, fmt.Errorf("invalid duration %v: give a unit, e.g. %vs or %vms", d, d, d)
		}
		return data, nil
	}
}

// decodeError extracts the key from mapstructure's error text, which quotes the
// field path ("'window.size' invalid duration ...").
func decodeError(err error) error {
	var errs []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed") || strings.HasSuffix(line, "error(s) decoding:") {
			continue
		}
		errs = append(errs, line)
	}
	if len(errs) == 0 {
		return &Error{Err: err}
	}
	first := errs[0]
	if strings.HasPrefix(first, "error decoding ") {
		first = strings.TrimPrefix(first, "error decoding ")
	}
	if strings.HasPrefix(first, "'") {
		if end := strings.Index(first[1:], "'"); end > 0 {
			key := first[1 : end+1]
			rest := strings.TrimLeft(first[end+2:], ": ")
			return &Error{Key: key, Err: errors.New(rest)}
		}
	}
	return &Error{Err: errors.New(first)}
}

func setNested(m map[string]any, key string, value any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
