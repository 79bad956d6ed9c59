package configload

import (
	"fmt"
	"strings"
)

// EnvName returns the environment variable that sets key for service:
// AGGREGATOR_WINDOW_SIZE for window.size.
func EnvName(service, key string) string {
	return strings.ToUpper(service + "_" + strings.ReplaceAll(key, ".", "_"))
}

// readEnv collects the values of the environment variables that name known
// keys and rejects any variable with the service's prefix that names none.
// Variables under a map key (AGGREGATOR_KAFKA_PROPERTIES_SASL_PASSWORD) become
// entries of that map, with '_' read as '.' (sasl.password), since librdkafka
// property names use dots and never underscores. Each value's variable is
// noted in o.
func readEnv(spec Spec, environ []string, o *origins) (map[string]string, map[string]map[string]string, error) {
	prefix := strings.ToUpper(spec.Service) + "_"
	byEnv := map[string]Key{}
	for _, k := range spec.Keys {
		byEnv[EnvName(spec.Service, k.Name)] = k
	}
	mapKeys := spec.mapKeys()
	values := map[string]string{}
	maps := map[string]map[string]string{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		source := "environment variable " + name
		if k, ok := byEnv[name]; ok {
			if _, isMap := k.Default.(map[string]string); isMap {
				return nil, nil, &Error{Key: k.Name, Source: source, Err: fmt.Errorf("set its entries one by one instead, as %s_<NAME>=value", name)}
			}
			values[k.Name] = value
			o.keys[k.Name] = source
			continue
		}
		matched := false
		for _, mapKey := range mapKeys {
			mapPrefix := EnvName(spec.Service, mapKey) + "_"
			if strings.HasPrefix(name, mapPrefix) && len(name) > len(mapPrefix) {
				entry := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, mapPrefix), "_", "."))
				if maps[mapKey] == nil {
					maps[mapKey] = map[string]string{}
				}
				maps[mapKey][entry] = value
				o.setEntry(mapKey, entry, source)
				matched = true
				break
			}
		}
		if !matched {
			return nil, nil, &Error{Key: name, Err: fmt.Errorf("no configuration key goes by this name (every %s variable must name one; see --help for the keys)", prefix)}
		}
	}
	return values, maps, nil
}
