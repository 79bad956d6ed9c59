package deploycheck

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"tickcompact/aggregator"
	"tickcompact/gateway"
	"tickcompact/internal/configload"
	"tickcompact/sink"
)

const (
	healthy   = types.ServiceConditionHealthy
	completed = types.ServiceConditionCompletedSuccessfully
)

// loadProject loads docker-compose.yml the way `docker compose` does, with
// the given profiles and without the caller's environment, so that the
// result is the file's alone.
func loadProject(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.yml (profiles %q): %v", profiles, err)
	}
	return project
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	svc, err := p.GetService(name)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// allProfiles turns on every optional service.
var allProfiles = []string{"demo", "gateway", "monitoring"}

func TestComposeServicesAndProfiles(t *testing.T) {
	base := []string{"aggregator", "kafka", "redis", "sink", "topics"}
	for _, tc := range []struct {
		profiles []string
		want     []string
	}{
		{nil, base},
		{[]string{"demo"}, append(slices.Clone(base), "tradegen")},
		{[]string{"gateway"}, append(slices.Clone(base), "gateway")},
		{[]string{"monitoring"}, append(slices.Clone(base), "prometheus")},
	} {
		p := loadProject(t, tc.profiles...)
		if got := slices.Sorted(maps.Keys(p.Services)); !slices.Equal(got, slices.Sorted(slices.Values(tc.want))) {
			t.Errorf("profiles %q: services %q, want %q", tc.profiles, got, tc.want)
		}
	}
	p := loadProject(t, allProfiles...)
	for name, svc := range p.Services {
		want := []string(nil)
		switch name {
		case "tradegen":
			want = []string{"demo"}
		case "gateway":
			want = []string{"gateway"}
		case "prometheus":
			want = []string{"monitoring"}
		}
		if !slices.Equal(svc.Profiles, want) {
			t.Errorf("%s: profiles %q, want %q", name, svc.Profiles, want)
		}
	}
}

func TestComposeImagesAndBuilds(t *testing.T) {
	root := repoRoot(t)
	df := readDockerfile(t)
	p := loadProject(t, allProfiles...)
	for name, svc := range p.Services {
		if svc.Build == nil {
			if why := pinned(svc.Image); svc.Image == "" || why != "" {
				t.Errorf("%s: image %q %s", name, svc.Image, why)
			}
			continue
		}
		if !contains(services, name) {
			t.Errorf("%s: built from the Dockerfile, which has images for %q only", name, services)
		}
		if svc.Build.Context != root || svc.Build.Dockerfile != "Dockerfile" || svc.Build.Target != name {
			t.Errorf("%s: build context %q, dockerfile %q, target %q; want %q, Dockerfile, %q",
				name, svc.Build.Context, svc.Build.Dockerfile, svc.Build.Target, root, name)
		}
		if _, err := df.Resolve(svc.Build.Target); err != nil {
			t.Errorf("%s: build target: %v", name, err)
		}
	}
	for _, name := range services {
		if svc := service(t, p, name); svc.Build == nil {
			t.Errorf("%s: not built from the Dockerfile", name)
		}
	}
	if kafka, topics := service(t, p, "kafka"), service(t, p, "topics"); kafka.Image != topics.Image {
		t.Errorf("topics runs %s against a %s broker: use one image", topics.Image, kafka.Image)
	}
}

// scalable names the services `docker compose up --scale` must be able to
// multiply: nothing in them may be fixed per container. The gateway is one
// instance on a fixed loopback port, for a browser.
var scalable = map[string]bool{"aggregator": true, "sink": true}

// environ returns the service's environment as sorted NAME=value lines.
func environ(svc types.ServiceConfig) []string {
	var env []string
	for name, value := range svc.Environment {
		if value != nil {
			env = append(env, name+"="+*value)
		}
	}
	sort.Strings(env)
	return env
}

// envProblems checks that none of a service's variables relies on the
// caller's shell, that every one names one of its config keys, and that the
// service loads its configuration from them (over configs/<service>.yaml when
// run from the repository root, as in the image's WORKDIR).
func envProblems(cs Service, svc types.ServiceConfig) []string {
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(svc.Environment)) {
		if svc.Environment[name] == nil {
			problems = append(problems, fmt.Sprintf("%s has no value: compose would take it from the shell", name))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	return cs.ConfigProblems(nil, environ(svc))
}

func TestComposeEnvironmentIsConfig(t *testing.T) {
	t.Chdir(repoRoot(t)) // so that configs/<service>.yaml is read, as in the image
	p := loadProject(t, allProfiles...)
	for _, cs := range Services {
		svc := service(t, p, cs.Name)
		if len(svc.Environment) == 0 {
			t.Errorf("%s: no environment; it would talk to localhost", cs.Name)
		}
		for _, problem := range envProblems(cs, svc) {
			t.Errorf("%s: %s", cs.Name, problem)
		}
	}
}

// TestComposeEnvironmentProblems makes sure envProblems catches what it is for.
func TestComposeEnvironmentProblems(t *testing.T) {
	t.Chdir(repoRoot(t))
	p := loadProject(t)
	value := func(s string) *string { return &s }
	for _, tc := range []struct {
		service, name string
		value         *string
		want          string
	}{
		{"aggregator", "AGGREGATOR_WINDOW_SIZ", value("2s"), "names no config key"},
		{"aggregator", "KAFKA_BROKERS", value("kafka:9092"), "does not start with AGGREGATOR_"},
		{"aggregator", "AGGREGATOR_WINDOW_SIZE", value("7s"), "window.size"},
		{"aggregator", "AGGREGATOR_KAFKA_PROPERTIES", value("x"), "names no config key"},
		{"sink", "SINK_REDIS_ADDR", value("redis"), "redis.addr"},
		{"sink", "SINK_REDIS_PASSWORD", nil, "no value"},
	} {
		for _, cs := range Services {
			if cs.Name != tc.service {
				continue
			}
			svc := service(t, p, cs.Name)
			svc.Environment = maps.Clone(svc.Environment)
			svc.Environment[tc.name] = tc.value
			problems := envProblems(cs, svc)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("%s with %s: no problem mentions %q; got %q", cs.Name, tc.name, tc.want, problems)
			}
		}
	}
	if got := envProblems(Services[0], types.ServiceConfig{}); len(got) != 0 {
		t.Errorf("an empty environment: %q", got)
	}
}

// listener is one entry of a Kafka listener list: NAME://host:port.
type listener struct{ host, port string }

func parseListeners(list string) (map[string]listener, error) {
	out := map[string]listener{}
	for _, entry := range strings.Split(list, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(entry), "://")
		if !ok {
			return nil, fmt.Errorf("%q: want NAME://host:port", entry)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", entry, err)
		}
		out[name] = listener{host, port}
	}
	return out, nil
}

func env(svc types.ServiceConfig, name string) string {
	if v := svc.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// kafkaAddress checks the broker's listener settings and returns the address
// other containers must use: the advertised listener named after the service.
func kafkaAddress(t *testing.T, p *types.Project) string {
	t.Helper()
	kafka := service(t, p, "kafka")
	for name, want := range map[string]string{
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
	} {
		if got := env(kafka, name); got != want {
			t.Errorf("kafka: %s=%q, want %q", name, got, want)
		}
	}
	if roles := strings.Split(env(kafka, "KAFKA_PROCESS_ROLES"), ","); !contains(roles, "broker") || !contains(roles, "controller") {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES=%q, want broker,controller (one KRaft node)", env(kafka, "KAFKA_PROCESS_ROLES"))
	}
	if env(kafka, "CLUSTER_ID") == "" || env(kafka, "KAFKA_NODE_ID") == "" {
		t.Error("kafka: set CLUSTER_ID and KAFKA_NODE_ID")
	}

	listeners, err := parseListeners(env(kafka, "KAFKA_LISTENERS"))
	if err != nil {
		t.Fatalf("kafka: KAFKA_LISTENERS: %v", err)
	}
	advertised, err := parseListeners(env(kafka, "KAFKA_ADVERTISED_LISTENERS"))
	if err != nil {
		t.Fatalf("kafka: KAFKA_ADVERTISED_LISTENERS: %v", err)
	}
	protocols := map[string]string{}
	for _, pair := range strings.Split(env(kafka, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"), ",") {
		name, protocol, _ := strings.Cut(pair, ":")
		protocols[name] = protocol
	}
	for name := range listeners {
		if protocols[name] == "" {
			t.Errorf("kafka: listener %s has no KAFKA_LISTENER_SECURITY_PROTOCOL_MAP entry", name)
		}
	}
	for name := range advertised {
		if _, ok := listeners[name]; !ok {
			t.Errorf("kafka: advertised listener %s is not in KAFKA_LISTENERS", name)
		}
	}
	controller := env(kafka, "KAFKA_CONTROLLER_LISTENER_NAMES")
	if _, ok := listeners[controller]; !ok {
		t.Errorf("kafka: controller listener %q is not in KAFKA_LISTENERS", controller)
	}
	if _, ok := advertised[controller]; ok {
		t.Errorf("kafka: the controller listener %s must not be advertised", controller)
	}
	if inter := env(kafka, "KAFKA_INTER_BROKER_LISTENER_NAME"); advertised[inter] == (listener{}) {
		t.Errorf("kafka: inter-broker listener %q is not advertised", inter)
	}
	voterID, voterAddr, _ := strings.Cut(env(kafka, "KAFKA_CONTROLLER_QUORUM_VOTERS"), "@")
	if _, port, _ := net.SplitHostPort(voterAddr); voterID != env(kafka, "KAFKA_NODE_ID") || port != listeners[controller].port {
		t.Errorf("kafka: KAFKA_CONTROLLER_QUORUM_VOTERS=%q: want %s@<host>:%s (this node, its controller listener)",
			env(kafka, "KAFKA_CONTROLLER_QUORUM_VOTERS"), env(kafka, "KAFKA_NODE_ID"), listeners[controller].port)
	}

	// In the compose network: advertised as <service>:<port>, listening on that port.
	var internal []string
	for name, a := range advertised {
		if a.host == "kafka" {
			if listeners[name].port != a.port {
				t.Errorf("kafka: listener %s advertises kafka:%s but listens on %s", name, a.port, listeners[name].port)
			}
			internal = append(internal, net.JoinHostPort(a.host, a.port))
		}
	}
	if len(internal) != 1 {
		t.Fatalf("kafka: want one listener advertised as kafka:<port> for the other containers, have %q", internal)
	}
	// From the host: each published port reaches a listener advertised as localhost:<published>.
	if len(kafka.Ports) == 0 {
		t.Error("kafka: no port published for clients on the host")
	}
	for _, port := range kafka.Ports {
		ok := false
		for name, a := range advertised {
			if (a.host == "localhost" || a.host == "127.0.0.1") && a.port == port.Published &&
				listeners[name].port == strconv.Itoa(int(port.Target)) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("kafka: host port %s -> %d: no listener on %d advertised as localhost:%s", port.Published, port.Target, port.Target, port.Published)
		}
		if port.HostIP != "127.0.0.1" {
			t.Errorf("kafka: port %s published on %q; the listener advertises localhost, publish on 127.0.0.1", port.Published, port.HostIP)
		}
	}
	return internal[0]
}

// flagValue returns the value of --name in args (--name value or --name=value).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// createdTopic is one kafka-topics.sh --create of the topics service.
type createdTopic struct {
	bootstrap, partitions, replication string
	configs                            map[string]string
	idempotent                         bool // --if-not-exists
}

// createdTopics reads the topics service's script.
func createdTopics(t *testing.T, svc types.ServiceConfig) map[string]createdTopic {
	t.Helper()
	script := strings.Join(append(slices.Clone([]string(svc.Entrypoint)), svc.Command...), "\n")
	commands, err := shellCommands(script)
	if err != nil {
		t.Fatalf("topics: %v", err)
	}
	topics := map[string]createdTopic{}
	for _, words := range commands {
		if !strings.HasSuffix(words[0], "/kafka-topics.sh") || !contains(words, "--create") {
			continue
		}
		var c createdTopic
		c.bootstrap, _ = flagValue(words, "--bootstrap-server")
		c.partitions, _ = flagValue(words, "--partitions")
		c.replication, _ = flagValue(words, "--replication-factor")
		c.idempotent = contains(words, "--if-not-exists")
		c.configs = map[string]string{}
		for i, w := range words {
			if w == "--config" && i+1 < len(words) {
				k, v, _ := strings.Cut(words[i+1], "=")
				c.configs[k] = v
			}
		}
		name, _ := flagValue(words, "--topic")
		topics[name] = c
	}
	return topics
}

// TestComposeWiring checks that the services agree with each other: brokers,
// topics, partitions, Redis.
func TestComposeWiring(t *testing.T) {
	root := repoRoot(t)
	t.Chdir(root)
	p := loadProject(t, allProfiles...)
	broker := kafkaAddress(t, p)
	agg, err := aggregator.LoadConfig(nil, environ(service(t, p, "aggregator")))
	if err != nil {
		t.Fatal(err)
	}
	snk, err := sink.LoadConfig(nil, environ(service(t, p, "sink")))
	if err != nil {
		t.Fatal(err)
	}
	tradegen := service(t, p, "tradegen")
	genBrokers, _ := flagValue(tradegen.Command, "--brokers")
	genTopic, _ := flagValue(tradegen.Command, "--topic")
	if rate, _ := flagValue(tradegen.Command, "--rate"); rate == "" {
		t.Errorf("tradegen: command %q has no --rate", tradegen.Command)
	}

	for who, brokers := range map[string]string{"aggregator": agg.Kafka.Brokers, "sink": snk.Kafka.Brokers, "tradegen": genBrokers} {
		if brokers != broker {
			t.Errorf("%s: brokers %q, want the in-network listener %s", who, brokers, broker)
		}
	}

	topics := createdTopics(t, service(t, p, "topics"))
	input, output := topics[agg.Input.Topic], topics[agg.Output.Topic]
	for name, c := range map[string]createdTopic{agg.Input.Topic: input, agg.Output.Topic: output} {
		switch {
		case c.partitions == "":
			t.Errorf("topics: does not create %s", name)
		case c.bootstrap != broker:
			t.Errorf("topics: creates %s through %q, want %s", name, c.bootstrap, broker)
		case !c.idempotent:
			t.Errorf("topics: creating %s fails on the second `up`: add --if-not-exists", name)
		case c.replication != "1":
			t.Errorf("topics: %s with replication factor %q on one broker", name, c.replication)
		}
	}
	if input.partitions != output.partitions {
		t.Errorf("topics: %s has %s partitions, %s has %s: the aggregator creates its output like its input; keep them equal",
			agg.Input.Topic, input.partitions, agg.Output.Topic, output.partitions)
	}
	if got, want := output.configs["cleanup.policy"], agg.Output.Config["cleanup.policy"]; got != want {
		t.Errorf("topics: %s cleanup.policy=%q, the aggregator's output.config says %q", agg.Output.Topic, got, want)
	}
	if agg.Output.Replication != 1 && agg.Output.Replication != -1 {
		t.Errorf("aggregator: output.replication %d on one broker", agg.Output.Replication)
	}
	if snk.Input.Topic != agg.Output.Topic {
		t.Errorf("sink reads %s, the aggregator writes %s", snk.Input.Topic, agg.Output.Topic)
	}
	if genTopic != agg.Input.Topic {
		t.Errorf("tradegen writes %q, the aggregator reads %s", genTopic, agg.Input.Topic)
	}
	if host, port, _ := net.SplitHostPort(snk.Redis.Addr); host != "redis" || port != "6379" {
		t.Errorf("sink: redis.addr %q, want the redis service, redis:6379", snk.Redis.Addr)
	}
	gw, err := gateway.LoadConfig(nil, environ(service(t, p, "gateway")))
	if err != nil {
		t.Fatal(err)
	}
	if gw.Redis.Addr != snk.Redis.Addr || gw.Redis.Channel != snk.Redis.Channel || gw.Redis.SnapshotKey != snk.Redis.SnapshotKey {
		t.Errorf("gateway reads redis %s channel %s snapshot %s, the sink writes redis %s channel %s snapshot %s",
			gw.Redis.Addr, gw.Redis.Channel, gw.Redis.SnapshotKey, snk.Redis.Addr, snk.Redis.Channel, snk.Redis.SnapshotKey)
	}
	if snk.Redis.Format != sink.FormatRaw {
		t.Errorf("sink: redis.format %q by default, want the contract's raw (envelope only when asked for)", snk.Redis.Format)
	}
}

// TestComposeGatewayPort: the gateway's page is published on the host's
// loopback only, at the port of its http.addr.
func TestComposeGatewayPort(t *testing.T) {
	p := loadProject(t, "gateway")
	svc := service(t, p, "gateway")
	gw, _ := ServiceNamed("gateway")
	port := httpPortOf(t, gw, svc)
	if len(svc.Ports) != 1 {
		t.Fatalf("gateway: ports %+v, want one", svc.Ports)
	}
	got := svc.Ports[0]
	if got.HostIP != "127.0.0.1" || strconv.Itoa(int(got.Target)) != port || got.Published != port {
		t.Errorf("gateway: publishes %s:%s -> %d, want 127.0.0.1:%s -> %s", got.HostIP, got.Published, got.Target, port, port)
	}
}

func TestComposeHealthChecksAndDependencies(t *testing.T) {
	t.Chdir(repoRoot(t))
	p := loadProject(t, allProfiles...)
	df := readDockerfile(t)

	for _, name := range []string{"kafka", "redis", "aggregator", "sink", "gateway"} {
		hc := service(t, p, name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || (hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL") {
			t.Errorf("%s: health check %+v, want test: [CMD, ...] or [CMD-SHELL, ...]", name, hc)
		}
	}
	for _, cs := range Services {
		svc := service(t, p, cs.Name)
		img, err := df.Resolve(svc.Build.Target)
		if err != nil {
			t.Fatal(err)
		}
		if svc.HealthCheck == nil || img.Healthcheck == nil {
			continue // reported above and by TestDockerfile
		}
		if want := append([]string{"CMD"}, img.Healthcheck.Test...); !slices.Equal(svc.HealthCheck.Test, want) {
			t.Errorf("%s: health check %q differs from the image's %q", cs.Name, svc.HealthCheck.Test, want)
		}
		port := httpPortOf(t, cs, svc)
		if want := "http://127.0.0.1:" + port + "/healthz"; !contains(svc.HealthCheck.Test, want) {
			t.Errorf("%s: health check %q does not probe %s (http.addr)", cs.Name, svc.HealthCheck.Test, want)
		}
	}

	want := map[string]map[string]string{
		"kafka":      {},
		"redis":      {},
		"topics":     {"kafka": healthy},
		"aggregator": {"kafka": healthy, "topics": completed},
		"sink":       {"kafka": healthy, "topics": completed, "redis": healthy},
		"tradegen":   {"kafka": healthy, "topics": completed},
		"gateway":    {"redis": healthy},
	}
	for name, svc := range p.Services {
		got := map[string]string{}
		for dep, d := range svc.DependsOn {
			got[dep] = d.Condition
			switch d.Condition {
			case healthy:
				if hc := service(t, p, dep).HealthCheck; hc == nil || hc.Disable {
					t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
				}
			case completed:
				if r := service(t, p, dep).Restart; r != "" && r != types.RestartPolicyNo {
					t.Errorf("%s waits for %s to complete, which restarts (%s)", name, dep, r)
				}
			}
		}
		if !maps.Equal(got, want[name]) {
			t.Errorf("%s: depends_on %v, want %v", name, got, want[name])
		}
	}
}

// httpPortOf returns the port of the service's http.addr as configured.
func httpPortOf(t *testing.T, cs Service, svc types.ServiceConfig) string {
	t.Helper()
	addr := cs.DefaultHTTPAddr()
	if v := svc.Environment[configload.EnvName(cs.Name, "http.addr")]; v != nil {
		addr = *v
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: http.addr %q: %v", cs.Name, addr, err)
	}
	return port
}

// scalingProblems returns what would stop `docker compose up --scale
// <service>=N` from running N working instances.
func scalingProblems(svc types.ServiceConfig, httpPort string) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if svc.ContainerName != "" {
		report("container_name %q: names are unique, a second instance cannot start", svc.ContainerName)
	}
	if svc.Hostname != "" || svc.NetworkMode == "host" || svc.Uts == "host" {
		report("a fixed host name: the aggregator's transactional.id comes from it, so instances would fence each other")
	}
	if name := configload.EnvName(svc.Name, "kafka.transactional_id"); svc.Environment[name] != nil && *svc.Environment[name] != "" {
		report("%s pins one transactional.id for every instance: they would fence each other", name)
	}
	metrics := false
	for _, port := range svc.Ports {
		if port.Target == 0 {
			continue
		}
		if strconv.Itoa(int(port.Target)) == httpPort {
			metrics = true
		}
		if port.Published != "" && !isPortRange(port.Published) {
			report("host port %s is fixed: a second instance could not bind it (publish no host port, or a range)", port.Published)
		}
	}
	if !metrics {
		report("container port %s (/metrics, /healthz, /readyz) is not published", httpPort)
	}
	return problems
}

// isPortRange reports whether published is a host port range, low-high.
func isPortRange(published string) bool {
	lo, hi, ok := strings.Cut(published, "-")
	low, errLo := strconv.Atoi(lo)
	high, errHi := strconv.Atoi(hi)
	return ok && errLo == nil && errHi == nil && low < high
}

func TestComposeScalableServices(t *testing.T) {
	p := loadProject(t)
	for _, cs := range Services {
		if !scalable[cs.Name] {
			continue
		}
		svc := service(t, p, cs.Name)
		for _, problem := range scalingProblems(svc, httpPortOf(t, cs, svc)) {
			t.Errorf("%s: %s", cs.Name, problem)
		}
	}

	// The check catches each mistake.
	svc := service(t, p, "aggregator")
	svc.ContainerName = "aggregator"
	svc.Hostname = "aggregator"
	svc.Environment = maps.Clone(svc.Environment)
	id := "tickcompact-1"
	svc.Environment["AGGREGATOR_KAFKA_TRANSACTIONAL_ID"] = &id
	svc.Ports = []types.ServicePortConfig{{Target: 9101, Published: "9101"}}
	for _, want := range []string{"container_name", "host name", "transactional.id", "host port 9101"} {
		if problems := scalingProblems(svc, "9101"); !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("no problem mentions %q: %q", want, problems)
		}
	}
}
