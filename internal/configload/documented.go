package configload

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// CheckDocumented returns what is wrong with a shipped config file (such as
// configs/aggregator.yaml) as the documentation of spec: it must load, list
// every key of spec, in spec's order, each at its default value and with a
// comment line right above it. The services' tests call it, so the file
// cannot drift from the one place the keys are defined.
func CheckDocumented(spec Spec, path string) []string {
	var problems []string
	if _, _, err := read(spec, []string{"--config", path}, nil); err != nil {
		problems = append(problems, err.Error())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return append(problems, err.Error())
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return append(problems, fmt.Sprintf("%s: not a YAML document: %v", path, err))
	}
	type found struct {
		key   string
		name  *yaml.Node
		value *yaml.Node
	}
	var order []found
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			name, value := n.Content[i], n.Content[i+1]
			key := name.Value
			if prefix != "" {
				key = prefix + "." + key
			}
			if _, known := spec.key(key); known {
				order = append(order, found{key, name, value})
				continue
			}
			walk(key, value)
		}
	}
	walk("", doc.Content[0])

	seen := map[string]bool{}
	for i, f := range order {
		seen[f.key] = true
		k, _ := spec.key(f.key)
		where := fmt.Sprintf("%s, line %d: %s", path, f.name.Line, f.key)
		if strings.TrimSpace(f.name.HeadComment) == "" {
			problems = append(problems, where+" has no comment line above it")
		}
		if i < len(spec.Keys) && spec.Keys[i].Name != f.key {
			problems = append(problems, fmt.Sprintf("%s comes where %s should (list the keys in the order --help does)", where, spec.Keys[i].Name))
		}
		var value any
		if err := f.value.Decode(&value); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		if def, isMap := k.Default.(map[string]string); isMap {
			entries := map[string]string{}
			if m, ok := value.(map[string]any); ok {
				for e, v := range m {
					entries[e] = fmt.Sprint(v)
				}
			}
			if !maps.Equal(entries, def) {
				problems = append(problems, fmt.Sprintf("%s is %v, not its default %v", where, entries, def))
			}
			continue
		}
		converted, err := convert(k.Default, value)
		if err != nil || !reflect.DeepEqual(converted, k.Default) {
			problems = append(problems, fmt.Sprintf("%s is %v, not its default %s", where, value, FormatDefault(k.Default)))
		}
	}
	for _, k := range spec.Keys {
		if !seen[k.Name] {
			problems = append(problems, fmt.Sprintf("%s does not document %s", path, k.Name))
		}
	}
	return problems
}
