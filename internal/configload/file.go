package configload

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// readFile reads the config file at path (explicit says --config named it)
// into v's config layer, rejecting keys the service does not know, and notes
// the line of each value in o. It returns the entries of map keys separately
// so they can be merged entry by entry. A default file that does not exist is
// no error; an explicit one is.
func readFile(v *viper.Viper, spec Spec, path string, explicit bool, o *origins) (map[string]map[string]string, error) {
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, &Error{Err: fmt.Errorf("the config file %s (--config) does not exist", path)}
	case err != nil:
		return nil, &Error{Err: fmt.Errorf("cannot read the config file %s: %w", path, err)}
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(raw)); err != nil {
		return nil, &Error{Err: fmt.Errorf("%s is not valid YAML: %w", path, err)}
	}
	lines := keyLines(raw)
	where := func(internalKey string) string {
		if line, ok := lines[internalKey]; ok {
			return fmt.Sprintf("%s, line %d", path, line)
		}
		return path
	}
	maps := map[string]map[string]string{}
	for _, internalKey := range v.AllKeys() {
		if !v.InConfig(internalKey) { // AllKeys also lists defaults
			continue
		}
		key := strings.ReplaceAll(internalKey, delimiter, ".")
		if k, known := spec.key(key); known {
			if _, isMap := k.Default.(map[string]string); !isMap {
				o.keys[key] = where(internalKey)
				continue
			}
			// A map key itself: fine when it holds entries (or nothing).
			if val := v.Get(internalKey); val != nil {
				if _, ok := val.(map[string]any); !ok {
					return nil, &Error{Key: key, Source: where(internalKey), Err: errors.New("holds a single value; give its entries as name: value lines under it")}
				}
			}
			continue
		}
		mapKey := ""
		for _, k := range spec.mapKeys() {
			if strings.HasPrefix(internalKey, internal(k)+delimiter) {
				mapKey = k
			}
		}
		if mapKey == "" {
			return nil, &Error{Key: key, Source: where(internalKey), Err: errors.New("no such key (see --help for the keys)")}
		}
		if maps[mapKey] == nil {
			maps[mapKey] = map[string]string{}
		}
		entry := strings.ReplaceAll(strings.TrimPrefix(internalKey, internal(mapKey)+delimiter), delimiter, ".")
		maps[mapKey][entry] = v.GetString(internalKey)
		o.setEntry(mapKey, entry, where(internalKey))
	}
	return maps, nil
}

// keyLines maps the internal key of every value in a YAML document (its path
// of lower-cased mapping keys joined by the delimiter, as viper names it) to
// the line it is on. A document yaml.v3 cannot parse yields no lines: viper
// has reported it by then.
func keyLines(raw []byte) map[string]int {
	var doc yaml.Node
	lines := map[string]int{}
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return lines
	}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			name, value := n.Content[i], n.Content[i+1]
			path := strings.ToLower(name.Value)
			if prefix != "" {
				path = prefix + delimiter + path
			}
			lines[path] = name.Line
			walk(path, value)
		}
	}
	walk("", doc.Content[0])
	return lines
}
