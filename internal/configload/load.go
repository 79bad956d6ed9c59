// Package configload reads a service's configuration the way the contract says:
// a YAML file, then environment variables, then command-line flags, each layer
// overriding the one before it. It knows nothing of any particular service: the
// caller lists its keys with their defaults and one-line descriptions (Spec),
// from which the flags, the environment variables and the --help text are all
// made, and gets back its config struct filled in. Every problem is reported
// as an *Error naming the key and where its value came from (the file and
// line, the environment variable or the flag), and satisfies
// errors.Is(err, ErrInvalid), so the caller can exit with code 2 before it
// connects anywhere.
package configload

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"tickcompact/internal/cli"
)

// Load reads the configuration for spec from args (without the program name),
// the environment and the config file, and decodes it into out, a pointer to a
// struct with mapstructure tags. When out has a Validate() error method, Load
// calls it and adds to its *Error the source of the key it names. It performs
// no network I/O.
//
// When args ask for --help or --version, Load returns a *cli.Answer holding
// the text to print (cli.Answered), and reads nothing else.
func Load(spec Spec, args []string, environ []string, out any) error {
	v, o, err := read(spec, args, environ)
	if err != nil {
		return err
	}
	if err := decode(v, spec, o, out); err != nil {
		return err
	}
	if validator, ok := out.(interface{ Validate() error }); ok {
		return o.explain(validator.Validate())
	}
	return nil
}

func read(spec Spec, args []string, environ []string) (*viper.Viper, *origins, error) {
	// Map keys hold librdkafka and topic property names that contain dots
	// (security.protocol), so viper must not split keys on ".".
	v := viper.NewWithOptions(viper.KeyDelimiter(delimiter))
	for _, k := range spec.Keys {
		v.SetDefault(internal(k.Name), k.Default)
	}
	o := newOrigins()

	flags, mapFlags := newFlagSet(spec)
	if err := spec.Command().Parse(flags, args); err != nil {
		var usage *cli.UsageError
		if errors.As(err, &usage) && usage.Flag != "" {
			if _, known := spec.key(usage.Flag); known {
				return nil, nil, &Error{Key: usage.Flag, Source: flagSource(usage.Flag), Err: errors.New(usage.Problem)}
			}
		}
		var answer *cli.Answer
		if errors.As(err, &answer) {
			return nil, nil, err
		}
		return nil, nil, &Error{Err: err}
	}
	if flags.NArg() > 0 {
		return nil, nil, &Error{Err: fmt.Errorf("unexpected argument %q: every setting is a flag --key=value (see --help)", flags.Arg(0))}
	}

	path, _ := flags.GetString("config")
	explicit := path != ""
	if !explicit {
		path = "configs/" + spec.Service + ".yaml"
	}
	fileMaps, err := readFile(v, spec, path, explicit, o)
	if err != nil {
		return nil, nil, err
	}
	envValues, envMaps, err := readEnv(spec, environ, o)
	if err != nil {
		return nil, nil, err
	}
	// Set is viper's top layer; applying env first and flags second gives
	// file < env < flags.
	for key, value := range envValues {
		v.Set(internal(key), value)
	}
	for _, k := range spec.Keys {
		if f := flags.Lookup(k.Name); f.Changed && mapFlags[k.Name] == nil {
			v.Set(internal(k.Name), f.Value.String())
			o.keys[k.Name] = flagSource(k.Name)
		}
	}
	// Maps merge across layers entry by entry, so an env var can add one
	// librdkafka property without repeating the file's others.
	for _, key := range spec.mapKeys() {
		k, _ := spec.key(key)
		merged := map[string]string{}
		for entry, val := range k.Default.(map[string]string) {
			merged[entry] = val
		}
		for entry, val := range fileMaps[key] {
			merged[entry] = val
		}
		for entry, val := range envMaps[key] {
			merged[entry] = val
		}
		for entry, val := range *mapFlags[key] {
			merged[entry] = val
			o.setEntry(key, entry, flagSource(key))
		}
		v.Set(internal(key), merged)
	}
	return v, o, nil
}

const delimiter = "::"

func internal(key string) string { return strings.ReplaceAll(key, ".", delimiter) }

// decode converts every key's value to the type of its default, naming the
// key and the value's source when it does not parse, and decodes the result
// into out.
func decode(v *viper.Viper, spec Spec, o *origins, out any) error {
	settings := map[string]any{}
	for _, k := range spec.Keys {
		var value any
		if _, isMap := k.Default.(map[string]string); isMap {
			value = v.Get(internal(k.Name))
		} else {
			converted, err := convert(k.Default, v.Get(internal(k.Name)))
			if err != nil {
				return &Error{Key: k.Name, Source: o.of(k.Name, ""), Err: err}
			}
			value = converted
		}
		setNested(settings, k.Name, value)
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: out, ErrorUnused: true})
	if err != nil {
		return fmt.Errorf("configload: %w", err)
	}
	if err := dec.Decode(settings); err != nil {
		// The keys and the struct disagree: a mistake in the service, not
		// in its configuration.
		return fmt.Errorf("configload: the keys of %s do not match its config struct: %w", spec.Service, err)
	}
	return nil
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
