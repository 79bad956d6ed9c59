package deploycheck

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"tickcompact/aggregator"
	"tickcompact/gateway"
	"tickcompact/internal/configload"
	"tickcompact/sink"
)

// Service is a tickcompact service as a deployment configures it: through
// its own keys, read by its own LoadConfig from a YAML file (--config), from
// AGGREGATOR_, SINK_ or GATEWAY_ environment variables and from flags. The
// compose checks here and the Helm chart's (deploy/helmtest) hold their
// files to it.
type Service struct {
	// Name is the command, the Dockerfile target and, upper-cased, the
	// prefix of the service's environment variables.
	Name string
	// Spec is the service's own declaration of its keys and their
	// defaults, the list its LoadConfig accepts.
	Spec configload.Spec
	// load runs the service's LoadConfig and returns the configuration it
	// read (a pointer to its Config) and its http.addr.
	load func(args, environ []string) (cfg any, httpAddr string, err error)
}

// Services are the services configured through their keys.
var Services = []Service{
	{"aggregator", aggregator.Spec(), func(args, env []string) (any, string, error) {
		cfg, err := aggregator.LoadConfig(args, env)
		return &cfg, cfg.HTTP.Addr, err
	}},
	{"sink", sink.Spec(), func(args, env []string) (any, string, error) {
		cfg, err := sink.LoadConfig(args, env)
		return &cfg, cfg.HTTP.Addr, err
	}},
	{"gateway", gateway.Spec(), func(args, env []string) (any, string, error) {
		cfg, err := gateway.LoadConfig(args, env)
		return &cfg, cfg.HTTP.Addr, err
	}},
}

// ServiceNamed returns the service called name.
func ServiceNamed(name string) (Service, bool) {
	i := slices.IndexFunc(Services, func(s Service) bool { return s.Name == name })
	if i < 0 {
		return Service{}, false
	}
	return Services[i], true
}

// Job is the Prometheus job the alert rules expect the service's instances
// to be scraped under.
func (s Service) Job() string { return "tickcompact-" + s.Name }

// ConfigProblems returns why the service would not start with args (its
// command line, such as --config=FILE) and environ (NAME=value lines): a
// variable that does not start with the service's prefix, which the service
// ignores; a variable that names none of its keys; or, when every variable
// names a key, the service's own refusal of the whole configuration. Without
// --config the service reads configs/<Name>.yaml from the working directory
// when it exists, as in the images.
func (s Service) ConfigProblems(args, environ []string) []string {
	exact := map[string]bool{}
	var mapPrefixes []string
	for _, key := range s.Spec.Keys {
		name := configload.EnvName(s.Name, key.Name)
		if _, isMap := key.Default.(map[string]string); isMap {
			mapPrefixes = append(mapPrefixes, name+"_") // entries only: AGGREGATOR_KAFKA_PROPERTIES_SASL_MECHANISM
		} else {
			exact[name] = true
		}
	}
	prefix := strings.ToUpper(s.Name) + "_"
	names := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	sort.Strings(names)
	var problems []string
	for _, name := range names {
		isEntry := slices.ContainsFunc(mapPrefixes, func(p string) bool { return strings.HasPrefix(name, p) && len(name) > len(p) })
		switch {
		case !strings.HasPrefix(name, prefix):
			problems = append(problems, fmt.Sprintf("%s does not start with %s: the service ignores it", name, prefix))
		case !exact[name] && !isEntry:
			problems = append(problems, fmt.Sprintf("%s names no config key", name))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	if _, _, err := s.load(args, environ); err != nil {
		problems = append(problems, fmt.Sprintf("the service rejects this configuration: %v", err))
	}
	return problems
}

// DefaultHTTPAddr returns the default of the service's http.addr.
func (s Service) DefaultHTTPAddr() string {
	return s.Spec.Defaults()["http.addr"].(string)
}

// HTTPAddr returns the http.addr the service reads from args and environ:
// where it serves /metrics, /healthz and /readyz.
func (s Service) HTTPAddr(args, environ []string) (string, error) {
	_, addr, err := s.load(args, environ)
	return addr, err
}

// Config returns the configuration the service's own LoadConfig reads from
// args and environ: a *aggregator.Config, *sink.Config or *gateway.Config.
func (s Service) Config(args, environ []string) (any, error) {
	cfg, _, err := s.load(args, environ)
	return cfg, err
}
