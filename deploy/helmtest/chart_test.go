package helmtest

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"tickcompact/aggregator"
	"tickcompact/gateway"
	"tickcompact/internal/kafkaclient"
	"tickcompact/internal/tools/deploycheck"
	"tickcompact/sink"
)

// valueFiles are the value sets every check runs on: the chart's defaults
// ("") and the files of testdata/, each a representative deployment.
var valueFiles = []string{"", "gateway.yaml", "autoscaling.yaml", "monitoring.yaml", "secrets.yaml"}

func testName(file string) string {
	if file == "" {
		return "defaults"
	}
	return strings.TrimSuffix(file, ".yaml")
}

// shutdownBound is how long each service takes at most to stop after SIGTERM
// (docs/operating.md, Signals): the pods' grace period must exceed it.
var shutdownBound = map[string]time.Duration{
	"aggregator": 10 * time.Second,
	"sink":       5 * time.Second,
	"gateway":    10*time.Second + 5*time.Second, // websocket.write_timeout, then each close handshake
}

// consumers are the services that read Kafka in a consumer group.
var consumers = map[string]bool{"aggregator": true, "sink": true}

// TestChart renders the chart for each value set and checks everything it
// renders.
func TestChart(t *testing.T) {
	for _, file := range valueFiles {
		t.Run(testName(file), func(t *testing.T) {
			r := render(t, file)
			want := enabledServices(t, file)
			checkNames(t, r)
			got := map[string]*pod{}
			for _, d := range r.deployments {
				p := checkPod(t, r, d)
				if p != nil {
					got[p.service.Name] = p
				}
			}
			if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want) {
				t.Fatalf("Deployments of %q, want %q", names, want)
			}
			checkWiring(t, got)
			checkServices(t, r, got)
			checkBudgets(t, r, got)
			checkAutoscalers(t, r, got, readValues(t, file))
			checkMonitoring(t, r, got, readValues(t, file))
			checkConfigMapsUsed(t, r)
		})
	}
}

// enabledServices returns the services the values turn on, from the chart's
// values.yaml and the file over it.
func enabledServices(t *testing.T, file string) []string {
	t.Helper()
	defaults := map[string]any{}
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &defaults); err != nil {
		t.Fatal(err)
	}
	values := readValues(t, file)
	var on []string
	for _, svc := range deploycheck.Services {
		enabled := lookup(defaults, svc.Name, "enabled")
		if v := lookup(values, svc.Name, "enabled"); v != nil {
			enabled = v
		}
		if enabled == true {
			on = append(on, svc.Name)
		}
	}
	slices.Sort(on)
	return on
}

// lookup returns the value at path in nested maps, or nil.
func lookup(values map[string]any, path ...string) any {
	var v any = values
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[key]
	}
	return v
}

// pod is one service's pod as a Deployment runs it: its service, the
// configuration its container reads, and where its files come from.
type pod struct {
	service    deploycheck.Service
	deployment *appsv1.Deployment
	container  corev1.Container
	args       []string // the container's arguments, with the ConfigMap files' paths on this machine
	environ    []string // NAME=value; a value from a Secret is a placeholder
	httpPort   int32
	config     any // *aggregator.Config, *sink.Config or *gateway.Config
}

// checkPod checks one Deployment's pods and returns what they run, or nil
// when it cannot tell which service they are.
func checkPod(t *testing.T, r *rendered, d *appsv1.Deployment) *pod {
	t.Helper()
	component := d.Spec.Template.Labels["app.kubernetes.io/component"]
	svc, ok := deploycheck.ServiceNamed(component)
	if !ok {
		t.Errorf("Deployment %s: component label %q names no service", d.Name, component)
		return nil
	}
	report := func(format string, args ...any) {
		t.Errorf("Deployment %s: %s", d.Name, fmt.Sprintf(format, args...))
	}
	spec := d.Spec.Template.Spec

	selector, err := metaSelector(d.Spec.Selector.MatchLabels)
	if err != nil || !selector.Matches(labels.Set(d.Spec.Template.Labels)) {
		report("selector %v does not select its own pod template %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}

	// Nothing pins an instance. The aggregator's transactional.id is
	// <group>-<host name>-<slot>: each pod must have its own host name, which
	// is its generated, unique pod name unless the spec overrides it.
	if spec.Hostname != "" || spec.Subdomain != "" || spec.HostNetwork {
		report("hostname %q, subdomain %q, hostNetwork %v: pods would share a host name, and so a transactional.id",
			spec.Hostname, spec.Subdomain, spec.HostNetwork)
	}
	// Service links add a <NAME>_SERVICE_HOST variable per Service of the
	// namespace, which a service refuses when its prefix matches.
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		report("enableServiceLinks is not false: a Service named %s-... would give the pods %s_... variables the service refuses",
			svc.Name, strings.ToUpper(svc.Name))
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		report("the service account token is mounted; the services never call the API")
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		report("%d containers and %d init containers, want the service's alone", len(spec.Containers), len(spec.InitContainers))
		return nil
	}
	c := spec.Containers[0]
	if c.Name != svc.Name {
		report("container %q, want %q", c.Name, svc.Name)
	}
	if len(c.Command) != 0 {
		report("command %q replaces the image's entrypoint, the service's binary", c.Command)
	}
	if !strings.Contains(c.Image, "tickcompact-"+svc.Name+":") {
		report("image %q is not tickcompact-%s:<tag> (the Dockerfile's target)", c.Image, svc.Name)
	}

	// The configuration: every variable names a key, and the service's own
	// loading accepts the ConfigMap's file, the arguments and the variables.
	p := &pod{service: svc, deployment: d, container: c}
	p.environ = environ(t, d.Name, c)
	p.args = materialize(t, r, d, c)
	for _, problem := range svc.ConfigProblems(p.args, p.environ) {
		report("%s", problem)
	}
	p.config, err = svc.Config(p.args, p.environ)
	if err != nil {
		return nil // reported just above
	}
	addr, _ := svc.HTTPAddr(p.args, p.environ)
	_, port, err := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	if err != nil || n <= 0 {
		report("http.addr %q has no port", addr)
		return nil
	}
	p.httpPort = int32(n)
	if aggCfg, ok := p.config.(*aggregator.Config); ok && aggCfg.Kafka.TransactionalID != "" {
		report("kafka.transactional_id %q: every pod would claim one id and fence the others", aggCfg.Kafka.TransactionalID)
	}

	// The port and the probes: /healthz for liveness and /readyz for
	// readiness, on the port the service listens on.
	if i := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == "http" }); i < 0 || c.Ports[i].ContainerPort != p.httpPort {
		report("no container port named http at %d (http.addr %s): %+v", p.httpPort, addr, c.Ports)
	}
	checkProbe(t, d.Name, "liveness", c, c.LivenessProbe, healthPath, p.httpPort)
	checkProbe(t, d.Name, "readiness", c, c.ReadinessProbe, readyPath, p.httpPort)
	checkEndpoints(t, d.Name, c)

	checkSecurity(t, d, c, p)
	checkSecrets(t, d, c, p)

	if r := c.Resources; r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		report("resources %+v: want cpu and memory requests and a memory limit", r)
	}
	if grace := spec.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second <= shutdownBound[svc.Name] {
		report("terminationGracePeriodSeconds %v: the %s takes up to %v to stop cleanly", deref(grace), svc.Name, shutdownBound[svc.Name])
	}
	checkRollout(t, d, svc.Name)
	return p
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// secretPlaceholder stands for a value a pod takes from a Secret.
func secretPlaceholder(ref *corev1.SecretKeySelector) string {
	return fmt.Sprintf("from-secret-%s-%s", ref.Name, ref.Key)
}

// environ returns the container's environment as NAME=value lines. A value
// from a Secret becomes a placeholder; any other source is reported, since
// what it gives cannot be checked here.
func environ(t *testing.T, deployment string, c corev1.Container) []string {
	t.Helper()
	if len(c.EnvFrom) > 0 {
		t.Errorf("Deployment %s: envFrom %+v: variables that cannot be checked", deployment, c.EnvFrom)
	}
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.SecretKeyRef != nil:
			env = append(env, e.Name+"="+secretPlaceholder(e.ValueFrom.SecretKeyRef))
		default:
			t.Errorf("Deployment %s: %s comes from %+v: only Secrets are expected", deployment, e.Name, e.ValueFrom)
		}
	}
	return env
}

// materialize writes the files of the ConfigMaps the pod mounts into a
// directory of the test, at their mount paths, and returns the container's
// arguments with those paths rewritten to it. A --config path that is not
// in a mounted ConfigMap of the release stays as it is, and the service
// then fails to read it.
func materialize(t *testing.T, r *rendered, d *appsv1.Deployment, c corev1.Container) []string {
	t.Helper()
	root := t.TempDir()
	var mounted []string
	for _, m := range c.VolumeMounts {
		v := volume(d, m.Name)
		if v == nil {
			t.Errorf("Deployment %s: mount %s of no volume", d.Name, m.Name)
			continue
		}
		if v.ConfigMap == nil {
			continue
		}
		cm := r.configMap(v.ConfigMap.Name)
		if cm == nil {
			t.Errorf("Deployment %s: volume %s is ConfigMap %s, which the chart does not render", d.Name, v.Name, v.ConfigMap.Name)
			continue
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range cm.Data {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		mounted = append(mounted, m.MountPath)
	}
	args := slices.Clone(c.Args)
	for i, arg := range args {
		flag, path, ok := strings.Cut(arg, "=")
		if !ok || !strings.HasPrefix(flag, "--") {
			continue
		}
		inConfigMap := slices.ContainsFunc(mounted, func(dir string) bool { return strings.HasPrefix(path, dir+"/") })
		switch {
		case inConfigMap:
			args[i] = flag + "=" + filepath.Join(root, path)
		case flag == "--config":
			// Not read from this machine, where a file of that name may exist.
			t.Errorf("Deployment %s: %s is in no ConfigMap the pod mounts", d.Name, arg)
			args[i] = flag + "=" + filepath.Join(root, "unmounted", path)
		}
	}
	return args
}

func volume(d *appsv1.Deployment, name string) *corev1.Volume {
	for i := range d.Spec.Template.Spec.Volumes {
		if d.Spec.Template.Spec.Volumes[i].Name == name {
			return &d.Spec.Template.Spec.Volumes[i]
		}
	}
	return nil
}

func (r *rendered) configMap(name string) *corev1.ConfigMap {
	for _, cm := range r.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

// checkProbe checks that a probe is an HTTP GET of path on the port the
// service listens on.
func checkProbe(t *testing.T, deployment, kind string, c corev1.Container, probe *corev1.Probe, path string, port int32) {
	t.Helper()
	if probe == nil || probe.HTTPGet == nil {
		t.Errorf("Deployment %s: no HTTP %s probe", deployment, kind)
		return
	}
	get := probe.HTTPGet
	if get.Path != path || (get.Scheme != "" && get.Scheme != corev1.URISchemeHTTP) || get.Host != "" {
		t.Errorf("Deployment %s: %s probe GET %s://%s%s, want %s on the pod", deployment, kind, get.Scheme, get.Host, get.Path, path)
	}
	if got := resolvePort(c, get.Port); got != port {
		t.Errorf("Deployment %s: %s probe on port %s (%d), the service listens on %d", deployment, kind, get.Port.String(), got, port)
	}
}

// resolvePort returns the container port a probe or Service port names: a
// number, or the name of one of the container's ports (0 when none).
func resolvePort(c corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

// checkSecurity checks that the pod runs as the images' non-root user with
// a read-only root filesystem, and that what the services write has a
// writable volume: os.TempDir() (/tmp, since no TMPDIR is set), where the
// aggregator's transactional-id slot locks live.
func checkSecurity(t *testing.T, d *appsv1.Deployment, c corev1.Container, p *pod) {
	t.Helper()
	report := func(format string, args ...any) {
		t.Errorf("Deployment %s: %s", d.Name, fmt.Sprintf(format, args...))
	}
	psc := d.Spec.Template.Spec.SecurityContext
	csc := c.SecurityContext
	if psc == nil || csc == nil {
		report("no pod or container securityContext")
		return
	}
	user, nonRoot := psc.RunAsUser, psc.RunAsNonRoot
	if csc.RunAsUser != nil {
		user = csc.RunAsUser
	}
	if csc.RunAsNonRoot != nil {
		nonRoot = csc.RunAsNonRoot
	}
	if user == nil || *user != 65532 || nonRoot == nil || !*nonRoot {
		report("runAsUser %v, runAsNonRoot %v: the images run as 65532, non-root", deref(user), deref(nonRoot))
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		report("the root filesystem is writable")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || (csc.Privileged != nil && *csc.Privileged) {
		report("privilege escalation is not ruled out")
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") || len(csc.Capabilities.Add) > 0 {
		report("capabilities %+v: want all dropped, none added", csc.Capabilities)
	}
	for _, e := range c.Env {
		if e.Name == "TMPDIR" {
			report("TMPDIR is set; the check expects os.TempDir() to be /tmp")
		}
	}
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" })
	if i < 0 || c.VolumeMounts[i].ReadOnly {
		report("no writable volume at /tmp, os.TempDir(): on a read-only root the aggregator could not lock its transactional-id slot")
	} else if v := volume(d, c.VolumeMounts[i].Name); v == nil || v.EmptyDir == nil {
		report("/tmp is not an emptyDir: slot locks must be the pod's own")
	}
}

// secretVariable reports whether a variable carries a credential: a
// credential librdkafka property or the Redis password.
func secretVariable(service, name string) bool {
	prefix := strings.ToUpper(service) + "_"
	if name == prefix+"REDIS_PASSWORD" {
		return true
	}
	property, ok := strings.CutPrefix(name, prefix+"KAFKA_PROPERTIES_")
	return ok && kafkaclient.IsSecretProperty(strings.ToLower(strings.ReplaceAll(property, "_", ".")))
}

// checkSecrets checks that credentials reach the pod only from Secrets: no
// credential in the ConfigMap's file, every credential variable from a
// secretKeyRef, and every file a key refers to (ssl.*.location,
// redis.tls_ca_file) inside a mounted Secret.
func checkSecrets(t *testing.T, d *appsv1.Deployment, c corev1.Container, p *pod) {
	t.Helper()
	report := func(format string, args ...any) {
		t.Errorf("Deployment %s: %s", d.Name, fmt.Sprintf(format, args...))
	}
	for _, e := range c.Env {
		if secretVariable(p.service.Name, e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			report("%s holds a credential but does not come from a Secret", e.Name)
		}
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && (ref.SecretKeyRef.Name == "" || ref.SecretKeyRef.Key == "") {
			report("%s: secretKeyRef %+v names no Secret or key", e.Name, ref.SecretKeyRef)
		}
	}
	// The file alone, without the environment: what the ConfigMap holds.
	fileOnly, err := p.service.Config(p.args, nil)
	if err != nil {
		report("the ConfigMap's file alone: %v", err)
		return
	}
	var properties map[string]string
	var files []string
	switch cfg := fileOnly.(type) {
	case *aggregator.Config:
		properties = cfg.Kafka.Properties
	case *sink.Config:
		properties = cfg.Kafka.Properties
		if cfg.Redis.Password != "" {
			report("the ConfigMap holds redis.password")
		}
		files = append(files, cfg.Redis.TLSCAFile)
	case *gateway.Config:
		if cfg.Redis.Password != "" {
			report("the ConfigMap holds redis.password")
		}
		files = append(files, cfg.Redis.TLSCAFile)
	}
	for name, value := range properties {
		if kafkaclient.IsSecretProperty(name) {
			report("the ConfigMap holds kafka.properties %s", name)
		}
		if strings.HasSuffix(name, ".location") {
			files = append(files, value)
		}
	}
	for _, file := range files {
		if file == "" {
			continue
		}
		i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return strings.HasPrefix(file, m.MountPath+"/") })
		if i < 0 {
			report("%s is in no mounted volume", file)
			continue
		}
		if v := volume(d, c.VolumeMounts[i].Name); v == nil || v.Secret == nil || v.Secret.SecretName == "" || !c.VolumeMounts[i].ReadOnly {
			report("%s is not in a Secret mounted read-only", file)
		}
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "" {
			report("volume %s names no Secret", v.Name)
		}
	}
}

// checkRollout checks the update strategy. Pod names make two pods with one
// transactional.id impossible, whatever the strategy: a new pod always has
// a new name. For the consumers a surge pod is a problem of its own: when
// the replicas equal the partition count it gets no partition, is never
// Ready, and the rollout stalls. So one pod goes before its replacement
// starts.
func checkRollout(t *testing.T, d *appsv1.Deployment, service string) {
	t.Helper()
	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil {
		t.Errorf("Deployment %s: strategy %+v, want a RollingUpdate", d.Name, s)
		return
	}
	surge, unavailable := s.RollingUpdate.MaxSurge, s.RollingUpdate.MaxUnavailable
	if consumers[service] && (surge == nil || surge.String() != "0" || unavailable == nil || unavailable.String() != "1") {
		t.Errorf("Deployment %s: maxSurge %v, maxUnavailable %v: want 0 and 1, so that no surge pod waits for a partition",
			d.Name, deref(surge), deref(unavailable))
	}
	if !consumers[service] && (unavailable == nil || unavailable.String() != "0") {
		t.Errorf("Deployment %s: maxUnavailable %v: want 0, so that clients always have a Ready pod", d.Name, deref(unavailable))
	}
}

// checkWiring checks that the services agree with each other: the sink reads
// what the aggregator writes, the gateway reads what the sink writes, in
// the format it needs.
func checkWiring(t *testing.T, pods map[string]*pod) {
	t.Helper()
	agg, hasAgg := pods["aggregator"]
	snk, hasSink := pods["sink"]
	gw, hasGateway := pods["gateway"]
	if hasAgg && hasSink {
		a, s := agg.config.(*aggregator.Config), snk.config.(*sink.Config)
		if s.Input.Topic != a.Output.Topic {
			t.Errorf("the sink reads %s, the aggregator writes %s", s.Input.Topic, a.Output.Topic)
		}
		if s.Kafka.Brokers != a.Kafka.Brokers {
			t.Errorf("the sink's brokers %q, the aggregator's %q", s.Kafka.Brokers, a.Kafka.Brokers)
		}
	}
	if hasSink {
		s := snk.config.(*sink.Config)
		switch {
		case hasGateway && s.Redis.Format != sink.FormatEnvelope:
			t.Errorf("sink: redis.format %q, the gateway needs envelope", s.Redis.Format)
		case !hasGateway && s.Redis.Format != sink.FormatRaw:
			t.Errorf("sink: redis.format %q without the gateway, want the contract's raw", s.Redis.Format)
		}
		if hasGateway {
			g := gw.config.(*gateway.Config)
			if g.Redis.Addr != s.Redis.Addr || g.Redis.Channel != s.Redis.Channel || g.Redis.SnapshotKey != s.Redis.SnapshotKey {
				t.Errorf("the gateway reads redis %s channel %s snapshot %s, the sink writes redis %s channel %s snapshot %s",
					g.Redis.Addr, g.Redis.Channel, g.Redis.SnapshotKey, s.Redis.Addr, s.Redis.Channel, s.Redis.SnapshotKey)
			}
		}
	}
}

// checkConfigMapsUsed checks that every ConfigMap is mounted by a pod.
func checkConfigMapsUsed(t *testing.T, r *rendered) {
	t.Helper()
	for _, cm := range r.configMaps {
		used := slices.ContainsFunc(r.deployments, func(d *appsv1.Deployment) bool {
			return slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
				return v.ConfigMap != nil && v.ConfigMap.Name == cm.Name
			})
		})
		if !used {
			t.Errorf("ConfigMap %s is mounted by no pod", cm.Name)
		}
	}
}
