//go:build containers

package deploycheck

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"tickcompact/internal/tools/testkit"
)

// The compose project the test runs: not the file's own name, so that a
// stack a user started from the same file is left alone.
const testProject = "tickcompact-test"

// TestContainers builds every image from the Dockerfile and runs
// docker-compose.yml, unchanged, on podman with every profile it declares
// (demo, monitoring), checking what an operator relies on, one step after the other:
// health through the images' own HEALTHCHECKs, non-root users, trades
// reaching Redis, scaling out and back while trades flow, SIGKILLed
// containers restarted by the engine, Prometheus scraping every instance and
// evaluating the alert rules, the Grafana dashboard's queries, and finally
// cmd/verify on the compose network. It stops at the first failing step and
// names it; everything it started is removed at the end (images aside).
//
// Run it with `make test-containers`, which installs podman and
// podman-compose and builds the stand-ins for the base images.
func TestContainers(t *testing.T) {
	// Every profile the file declares (demo, monitoring, and any added later):
	// every service is checked.
	project := loadProject(t, "*")
	var profiles []string
	for _, svc := range project.Services {
		for _, p := range svc.Profiles {
			if !slices.Contains(profiles, p) {
				profiles = append(profiles, p)
			}
		}
	}
	slices.Sort(profiles)
	e := newEngine(t, testProject, profiles...)
	ctx := t.Context()
	c := &containerRun{e: e, project: project}

	danglingBefore := e.danglingImages(ctx)
	t.Cleanup(func() {
		e.health.close()
		if t.Failed() {
			t.Logf("container logs:\n%s", e.logs(context.Background(), 40))
		}
		e.down()
		e.removeNewDangling(danglingBefore)
	})
	e.down() // leftovers of an interrupted run
	e.startHealthRunner()

	steps := []step{
		{name: "the fixed host ports of the compose file are free", run: c.portFree},
		// A first build compiles librdkafka's Go binding and every module
		// with empty caches: many minutes on a busy 2-CPU machine.
		{name: "build the images from the Dockerfile", run: c.build, timeout: 45 * time.Minute},
		{name: "the images run as a non-root user, with a HEALTHCHECK", run: c.imageConfig},
	}
	for _, wave := range c.waves() {
		steps = append(steps, step{name: fmt.Sprintf("start %s and wait for %s", strings.Join(wave, ", "), c.conditions(wave)), run: c.startWave(wave)})
	}
	steps = append(steps, []step{
		{name: "every service is healthy through its own HEALTHCHECK", run: c.allHealthy},
		{name: "the services run as a non-root user", run: c.nonRoot},
		{name: "trades flow into Redis: the snapshot hash fills and SUBSCRIBE gets updates", run: c.tradesReachRedis},
		{name: "Prometheus scrapes every instance (1 aggregator, 1 sink)", run: c.targetsUp(1, 1)},
		{name: "scale out to 3 aggregators and 2 sinks while trades flow", run: c.scale(3, 2)},
		{name: "Prometheus scrapes every instance (3 aggregators, 2 sinks)", run: c.targetsUp(3, 2)},
		{name: "scale back to 1 aggregator and 1 sink while trades flow", run: c.scale(1, 1)},
		{name: "Prometheus scrapes every instance (1 aggregator, 1 sink)", run: c.targetsUp(1, 1)},
		{name: "SIGKILL an aggregator: the engine restarts it and it emits again", run: c.killAndRestart("aggregator", 9101, "tickcompact_aggregator_records_emitted_total")},
		{name: "SIGKILL the sink: the engine restarts it and it writes again", run: c.killAndRestart("sink", 9102, "tickcompact_sink_records_written_total")},
		{name: "Prometheus has loaded every alert rule", run: c.rulesLoaded},
		{name: "every query of the Grafana dashboard returns data", run: c.dashboardQueries},
		{name: "kill the sink for good: TickcompactSinkDown fires, and resolves once it is back", run: c.sinkDownAlert},
		{name: "stop the feed; the aggregator and the sink catch up", run: c.catchUp},
		{name: "cmd/verify on the compose network: no violation, the Redis snapshot matches", run: c.verify},
	}...)

	for i, s := range steps {
		t.Logf("step %d/%d: %s ...", i+1, len(steps), s.name)
		began := time.Now()
		stepCtx, cancel := context.WithTimeout(ctx, cmp.Or(s.timeout, 10*time.Minute))
		err := s.run(stepCtx)
		cancel()
		if err != nil {
			t.Fatalf("step %d/%d failed: %s: %v", i+1, len(steps), s.name, err)
		}
		t.Logf("step %d/%d ok in %.1fs: %s", i+1, len(steps), time.Since(began).Seconds(), s.name)
	}
}

// step is one check of TestContainers; it fails with an error saying what
// it saw, within timeout (10 minutes when zero).
type step struct {
	name    string
	run     func(context.Context) error
	timeout time.Duration
}

// containerRun holds what the steps share.
type containerRun struct {
	e       *engine
	project *types.Project
}

// built returns the services built from the Dockerfile.
func (c *containerRun) built() []string {
	var names []string
	for name, svc := range c.project.Services {
		if svc.Build != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func (c *containerRun) portFree(ctx context.Context) error {
	for _, name := range slices.Sorted(maps.Keys(c.project.Services)) {
		for _, port := range c.project.Services[name].Ports {
			if port.Published == "" || isPortRange(port.Published) {
				continue // an ephemeral port
			}
			addr := net.JoinHostPort(port.HostIP, port.Published)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("the compose file publishes %s on %s, which is taken: %v", name, addr, err)
			}
			l.Close()
		}
	}
	return nil
}

func (c *containerRun) build(ctx context.Context) error {
	_, err := c.e.composeCmd(ctx, append([]string{"build"}, c.built()...)...)
	return err
}

// image returns the name podman-compose gives a built service's image.
func (c *containerRun) image(service string) string { return c.e.project + "_" + service }

func (c *containerRun) imageConfig(ctx context.Context) error {
	for _, name := range c.built() {
		out, err := c.e.podman(ctx, "image", "inspect", "--format", "{{.Config.User}}|{{json .Config.Healthcheck}}", c.image(name))
		if err != nil {
			return err
		}
		user, health, _ := strings.Cut(strings.TrimSpace(out), "|")
		if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
			c.e.t.Logf("%s: image user %q", name, user)
			return fmt.Errorf("%s: the image runs as %q, want a non-root user", name, user)
		}
		wantHealth := service(c.e.t, c.project, name).HealthCheck != nil
		if hasHealth := health != "null" && !strings.Contains(health, `"NONE"`); hasHealth != wantHealth {
			return fmt.Errorf("%s: image HEALTHCHECK %s, compose health check %v", name, health, wantHealth)
		}
		c.e.t.Logf("  %s: user %s, healthcheck %s", name, user, health)
	}
	return nil
}

// waves groups the services into the order their depends_on allows: each
// wave depends only on earlier ones.
func (c *containerRun) waves() [][]string {
	placed := map[string]bool{}
	var waves [][]string
	for len(placed) < len(c.project.Services) {
		var wave []string
		for name, svc := range c.project.Services {
			if placed[name] {
				continue
			}
			ready := true
			for dep := range svc.DependsOn {
				ready = ready && placed[dep]
			}
			if ready {
				wave = append(wave, name)
			}
		}
		if len(wave) == 0 {
			c.e.t.Fatalf("docker-compose.yml: a depends_on cycle among %v", c.project.ServiceNames())
		}
		slices.Sort(wave)
		for _, name := range wave {
			placed[name] = true
		}
		waves = append(waves, wave)
	}
	return waves
}

// condition is what the test waits for after starting a service: what its
// dependents ask for, or its health when it has a health check.
func (c *containerRun) condition(name string) string {
	for _, svc := range c.project.Services {
		if d, ok := svc.DependsOn[name]; ok && d.Condition == types.ServiceConditionCompletedSuccessfully {
			return "exit 0"
		}
	}
	if hc := c.project.Services[name].HealthCheck; hc != nil && !hc.Disable {
		return "healthy"
	}
	return "running"
}

func (c *containerRun) conditions(wave []string) string {
	var parts []string
	for _, name := range wave {
		parts = append(parts, name+" "+c.condition(name))
	}
	return strings.Join(parts, ", ")
}

// startWave starts the services of a wave (their dependencies are up: no
// --no-deps surprises) and waits for each one's condition.
func (c *containerRun) startWave(wave []string) func(context.Context) error {
	return func(ctx context.Context) error {
		if _, err := c.e.composeCmd(ctx, append([]string{"up", "-d", "--no-deps"}, wave...)...); err != nil {
			return err
		}
		for _, name := range wave {
			if err := c.waitCondition(ctx, name, c.condition(name)); err != nil {
				return err
			}
		}
		return nil
	}
}

func (c *containerRun) waitCondition(ctx context.Context, service, condition string) error {
	names, err := c.e.containers(ctx, service)
	if err != nil || len(names) == 0 {
		return fmt.Errorf("%s: no container (%v)", service, err)
	}
	for _, name := range names {
		err := waitFor(ctx, 5*time.Minute, time.Second, name+" "+condition, func() (bool, string) {
			st, err := c.e.inspect(ctx, name)
			if err != nil {
				return false, err.Error()
			}
			switch condition {
			case "exit 0":
				return st.State.Status == "exited" && st.State.ExitCode == 0, fmt.Sprintf("%s, exit code %d", st.State.Status, st.State.ExitCode)
			case "healthy":
				return st.State.Running && st.State.Health.Status == "healthy", st.State.Status + ", " + st.State.Health.Status
			default:
				return st.State.Running, st.State.Status
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *containerRun) allHealthy(ctx context.Context) error {
	for _, name := range slices.Sorted(maps.Keys(c.project.Services)) {
		if c.condition(name) != "healthy" {
			continue
		}
		if err := c.waitCondition(ctx, name, "healthy"); err != nil {
			return err
		}
		c.e.t.Logf("  %s: healthy", name)
	}
	return nil
}

func (c *containerRun) nonRoot(ctx context.Context) error {
	for _, name := range c.built() {
		containers, err := c.e.containers(ctx, name)
		if err != nil {
			return err
		}
		for _, ctr := range containers {
			st, err := c.e.inspect(ctx, ctr)
			if err != nil {
				return err
			}
			if !st.State.Running {
				return fmt.Errorf("%s is %s", ctr, st.State.Status)
			}
			uid, err := processUID(st.State.Pid)
			if err != nil {
				return err
			}
			if uid == 0 {
				return fmt.Errorf("%s: the process runs as root", ctr)
			}
			c.e.t.Logf("  %s: process uid %d", ctr, uid)
		}
	}
	return nil
}

// redisCLI runs redis-cli in the redis container (Redis publishes no host port).
func (c *containerRun) redisCLI(ctx context.Context, args ...string) (string, error) {
	names, err := c.e.containers(ctx, "redis")
	if err != nil || len(names) == 0 {
		return "", fmt.Errorf("no redis container: %v", err)
	}
	return c.e.podman(ctx, append([]string{"exec", names[0], "redis-cli"}, args...)...)
}

// latestWindowEnd returns the greatest window end in the snapshot's companion hash.
func (c *containerRun) latestWindowEnd(ctx context.Context) (int64, int, error) {
	out, err := c.redisCLI(ctx, "HVALS", "trades:latest:window-end")
	if err != nil {
		return 0, 0, err
	}
	var latest int64
	fields := strings.Fields(out)
	for _, f := range fields {
		if v, err := strconv.ParseInt(f, 10, 64); err == nil {
			latest = max(latest, v)
		}
	}
	return latest, len(fields), nil
}

// flowing waits until the snapshot's latest window end moves past its
// current value: windows are being emitted and applied right now.
func (c *containerRun) flowing(ctx context.Context, timeout time.Duration) error {
	before, _, err := c.latestWindowEnd(ctx)
	if err != nil {
		return err
	}
	return waitFor(ctx, timeout, time.Second, "a newer window in the Redis snapshot", func() (bool, string) {
		now, n, err := c.latestWindowEnd(ctx)
		if err != nil {
			return false, err.Error()
		}
		return now > before, fmt.Sprintf("%d ISINs, latest window end %d (was %d)", n, now, before)
	})
}

func (c *containerRun) tradesReachRedis(ctx context.Context) error {
	err := waitFor(ctx, 3*time.Minute, time.Second, "the snapshot hash trades:latest fills", func() (bool, string) {
		out, err := c.redisCLI(ctx, "HLEN", "trades:latest")
		n, _ := strconv.Atoi(strings.TrimSpace(out))
		return err == nil && n >= 10, fmt.Sprintf("HLEN %q %v", strings.TrimSpace(out), err)
	})
	if err != nil {
		return err
	}
	if err := c.flowing(ctx, time.Minute); err != nil {
		return err
	}
	// A subscriber for 10 seconds (timeout ends redis-cli inside the container).
	names, _ := c.e.containers(ctx, "redis")
	out, _ := exec.CommandContext(ctx, "podman", "exec", names[0], "timeout", "10", "redis-cli", "--csv", "SUBSCRIBE", "trades:2s").Output()
	messages := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, `"message","trades:2s",`) && strings.Contains(line, `isin`) {
			messages++
		}
	}
	if messages < 10 {
		return fmt.Errorf("SUBSCRIBE trades:2s received %d trade messages in 10 s:\n%s", messages, lastLines(string(out), 5))
	}
	c.e.t.Logf("  SUBSCRIBE trades:2s: %d messages in 10 s", messages)
	return nil
}

// prometheus queries the monitoring profile's Prometheus API.
func (c *containerRun) prometheus(ctx context.Context, path string, query url.Values, into any) error {
	names, err := c.e.containers(ctx, "prometheus")
	if err != nil || len(names) == 0 {
		return fmt.Errorf("no prometheus container: %v", err)
	}
	addr, err := c.e.hostPort(ctx, names[0], 9090)
	if err != nil {
		return err
	}
	u := "http://" + addr + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("%s: %v: %.200s", path, err, body)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("%s: %s", path, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, into)
}

// targetsUp waits until Prometheus scrapes exactly the running instances of
// both services, every one of them successfully.
func (c *containerRun) targetsUp(aggregators, sinks int) func(context.Context) error {
	want := map[string]int{"tickcompact-aggregator": aggregators, "tickcompact-sink": sinks}
	return func(ctx context.Context) error {
		return waitFor(ctx, 2*time.Minute, 2*time.Second, "Prometheus targets", func() (bool, string) {
			var targets struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			}
			if err := c.prometheus(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &targets); err != nil {
				return false, err.Error()
			}
			up, all := map[string]int{}, map[string]int{}
			var errs []string
			for _, tg := range targets.ActiveTargets {
				all[tg.Labels["job"]]++
				if tg.Health == "up" {
					up[tg.Labels["job"]]++
				} else if tg.LastError != "" {
					errs = append(errs, tg.Labels["instance"]+": "+tg.LastError)
				}
			}
			return maps.Equal(up, want) && maps.Equal(all, want), fmt.Sprintf("up %v of %v, want %v %v", up, all, want, errs)
		})
	}
}

// metricOf scrapes name from a container's published HTTP port.
func (c *containerRun) metricOf(ctx context.Context, container string, port int, name string) (float64, error) {
	addr, err := c.e.hostPort(ctx, container, port)
	if err != nil {
		return 0, err
	}
	return testkit.ScrapeMetric(addr, name)
}

// partitionsSpread waits until every instance of service has partitions and
// together they hold all of them.
func (c *containerRun) partitionsSpread(ctx context.Context, service string, port int, instances, partitions int) error {
	metric := "tickcompact_" + service + "_assigned_partitions"
	return waitFor(ctx, 3*time.Minute, 2*time.Second, service+" partitions spread over "+strconv.Itoa(instances)+" instances", func() (bool, string) {
		names, err := c.e.containers(ctx, service)
		if err != nil {
			return false, err.Error()
		}
		var counts []float64
		total := 0.0
		for _, name := range names {
			v, err := c.metricOf(ctx, name, port, metric)
			if err != nil {
				return false, err.Error()
			}
			counts = append(counts, v)
			total += v
		}
		ok := len(names) == instances && total == float64(partitions) && !slices.Contains(counts, 0)
		state := fmt.Sprintf("%d containers, %s per instance %v", len(names), metric, counts)
		if ok {
			c.e.t.Logf("  %s", state)
		}
		return ok, state
	})
}

// scale sets the number of aggregator and sink containers while tradegen
// keeps feeding trades.
func (c *containerRun) scale(aggregators, sinks int) func(context.Context) error {
	return func(ctx context.Context) error {
		partitions := c.partitionCount()
		for _, s := range []struct {
			service string
			port    int
			n       int
		}{{"aggregator", 9101, aggregators}, {"sink", 9102, sinks}} {
			names, err := c.e.containers(ctx, s.service)
			if err != nil {
				return err
			}
			if len(names) < s.n {
				if _, err := c.e.composeCmd(ctx, "up", "-d", "--no-deps", "--scale", fmt.Sprintf("%s=%d", s.service, s.n), s.service); err != nil {
					return err
				}
			}
			for _, extra := range slices.Backward(names[min(s.n, len(names)):]) {
				grace := fmt.Sprint(int(c.stopGrace(s.service).Seconds()))
				c.e.t.Logf("  podman stop -t %s %s (podman-compose leaves containers beyond --scale running)", grace, extra)
				if _, err := c.e.podman(ctx, "stop", "-t", grace, extra); err != nil {
					return err
				}
				if _, err := c.e.podman(ctx, "rm", "-v", extra); err != nil {
					return err
				}
			}
			if err := c.waitCondition(ctx, s.service, "healthy"); err != nil {
				return err
			}
			if err := c.partitionsSpread(ctx, s.service, s.port, s.n, partitions); err != nil {
				return err
			}
		}
		return c.flowing(ctx, time.Minute)
	}
}

func (c *containerRun) stopGrace(service string) time.Duration {
	if g := c.project.Services[service].StopGracePeriod; g != nil {
		return time.Duration(*g)
	}
	return 10 * time.Second
}

// partitionCount is the partition count the topics service gives trades and trades-2s.
func (c *containerRun) partitionCount() int {
	topics := createdTopics(c.e.t, service(c.e.t, c.project, "topics"))
	n, _ := strconv.Atoi(topics["trades"].partitions)
	return n
}

// killAndRestart SIGKILLs the first container of service and waits until the
// engine's restart policy has restarted it, it is healthy again and its
// counter shows work done by the new process.
func (c *containerRun) killAndRestart(service string, port int, counter string) func(context.Context) error {
	return func(ctx context.Context) error {
		names, err := c.e.containers(ctx, service)
		if err != nil || len(names) == 0 {
			return fmt.Errorf("no %s container: %v", service, err)
		}
		name := names[0]
		before, err := c.e.inspect(ctx, name)
		if err != nil {
			return err
		}
		// The SIGKILL comes from outside the engine, as from the OOM killer
		// or a crash: `podman kill` (like `docker kill`) counts as a stop by
		// the user, which restart policies leave stopped.
		killed := time.Now()
		if err := syscall.Kill(before.State.Pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("SIGKILL to %s's process %d: %w", name, before.State.Pid, err)
		}
		err = waitFor(ctx, 2*time.Minute, 500*time.Millisecond, name+" restarted by the engine", func() (bool, string) {
			st, err := c.e.inspect(ctx, name)
			if err != nil {
				return false, err.Error()
			}
			return st.State.Running && st.State.Pid != before.State.Pid,
				fmt.Sprintf("%s, restarts %d, pid %d (was %d)", st.State.Status, st.RestartCount, st.State.Pid, before.State.Pid)
		})
		if err != nil {
			return err
		}
		restarted := time.Now()
		err = waitFor(ctx, 2*time.Minute, 500*time.Millisecond, name+" working again", func() (bool, string) {
			v, err := c.metricOf(ctx, name, port, counter)
			if err != nil {
				return false, err.Error()
			}
			return v > 0, fmt.Sprintf("%s %g", counter, v)
		})
		if err != nil {
			return err
		}
		c.e.t.Logf("  %s: restarted %.1fs after SIGKILL, %s > 0 after %.1fs", name,
			restarted.Sub(killed).Seconds(), counter, time.Since(killed).Seconds())
		if err := c.waitCondition(ctx, service, "healthy"); err != nil {
			return err
		}
		return c.flowing(ctx, time.Minute)
	}
}

func (c *containerRun) rulesLoaded(ctx context.Context) error {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Name   string `json:"name"`
				Health string `json:"health"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := c.prometheus(ctx, "/api/v1/rules", nil, &rules); err != nil {
		return err
	}
	loaded := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			loaded[r.Name] = r.Health
		}
	}
	for _, name := range alertNames(c.e.t) {
		if health, ok := loaded[name]; !ok || health == "err" {
			return fmt.Errorf("rule %s: loaded %v, health %q", name, ok, health)
		}
	}
	c.e.t.Logf("  %d rules loaded", len(loaded))
	return nil
}

// prometheusValue is an instant query's result.
type prometheusValue struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	} `json:"result"`
}

func (c *containerRun) query(ctx context.Context, expr string) (prometheusValue, error) {
	var v prometheusValue
	err := c.prometheus(ctx, "/api/v1/query", url.Values{"query": {expr}}, &v)
	return v, err
}

func (c *containerRun) dashboardQueries(ctx context.Context) error {
	queries := dashboardQueries(c.e.t)
	for _, q := range queries {
		expr := grafanaExpr(q.expr)
		var last string
		err := waitFor(ctx, time.Minute, 2*time.Second, fmt.Sprintf("panel %q query %s", q.panel, q.expr), func() (bool, string) {
			v, err := c.query(ctx, expr)
			if err != nil {
				return false, err.Error()
			}
			numbers := 0
			for _, r := range v.Result {
				if s, ok := r.Value[1].(string); ok && s != "NaN" {
					numbers++
				}
			}
			last = fmt.Sprintf("%d series, %d not NaN", len(v.Result), numbers)
			return numbers > 0, last
		})
		if err != nil {
			return err
		}
		c.e.t.Logf("  %-28s %s: %s", q.panel, q.legend, last)
	}
	return nil
}

// alertState returns the state (pending, firing, or "" when inactive) of alert.
func (c *containerRun) alertState(ctx context.Context, alert string) (string, error) {
	var alerts struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := c.prometheus(ctx, "/api/v1/alerts", nil, &alerts); err != nil {
		return "", err
	}
	for _, a := range alerts.Alerts {
		if a.Labels["alertname"] == alert {
			return a.State, nil
		}
	}
	return "", nil
}

func (c *containerRun) sinkDownAlert(ctx context.Context) error {
	const alert = "TickcompactSinkDown"
	if state, err := c.alertState(ctx, alert); err != nil || state != "" {
		return fmt.Errorf("%s is %q before the sink is killed (%v)", alert, state, err)
	}
	names, err := c.e.containers(ctx, "sink")
	if err != nil || len(names) == 0 {
		return fmt.Errorf("no sink container: %v", err)
	}
	// Stopped with SIGKILL at once (--time 0), and stopped by the user so
	// that the restart policy leaves it down.
	stopped := time.Now()
	if _, err := c.e.podman(ctx, "stop", "--time", "0", names[0]); err != nil {
		return err
	}
	err = waitFor(ctx, 4*time.Minute, 2*time.Second, alert+" firing", func() (bool, string) {
		state, err := c.alertState(ctx, alert)
		if err != nil {
			return false, err.Error()
		}
		return state == "firing", "state " + strconv.Quote(state)
	})
	if err != nil {
		return err
	}
	c.e.t.Logf("  %s firing %.0fs after the sink was killed", alert, time.Since(stopped).Seconds())
	if _, err := c.e.podman(ctx, "start", names[0]); err != nil {
		return err
	}
	if err := c.waitCondition(ctx, "sink", "healthy"); err != nil {
		return err
	}
	return waitFor(ctx, 2*time.Minute, 2*time.Second, alert+" resolved", func() (bool, string) {
		state, err := c.alertState(ctx, alert)
		return err == nil && state == "", fmt.Sprintf("state %q %v", state, err)
	})
}

// catchUp stops the trade feed and waits until every window has closed (by
// wall clock, as the input is now quiet) and both services have consumed
// everything.
func (c *containerRun) catchUp(ctx context.Context) error {
	if _, err := c.e.composeCmd(ctx, "stop", "tradegen"); err != nil {
		return err
	}
	for _, s := range []struct {
		service string
		port    int
	}{{"aggregator", 9101}, {"sink", 9102}} {
		names, err := c.e.containers(ctx, s.service)
		if err != nil {
			return err
		}
		for _, name := range names {
			addr, err := c.e.hostPort(ctx, name, s.port)
			if err != nil {
				return err
			}
			testkit.WaitCaughtUp(c.e.t, addr, "tickcompact_"+s.service+"_consumer_lag", c.partitionCount(), 2*time.Minute)
		}
	}
	// The snapshot settles: the same latest window end twice, 5 s apart.
	return waitFor(ctx, 2*time.Minute, 5*time.Second, "the snapshot settles", func() (bool, string) {
		before, _, err := c.latestWindowEnd(ctx)
		if err != nil {
			return false, err.Error()
		}
		time.Sleep(5 * time.Second)
		after, n, err := c.latestWindowEnd(ctx)
		return err == nil && after == before, fmt.Sprintf("%d ISINs, latest window end %d -> %d", n, before, after)
	})
}

// verify runs cmd/verify, built for this host's glibc, in the distroless
// runtime image on the compose network, against the topics and the Redis
// snapshot the compose file configures.
func (c *containerRun) verify(ctx context.Context) error {
	dir := c.e.t.TempDir()
	bin := filepath.Join(dir, "verify")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/verify")
	build.Dir = c.e.root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/verify: %v\n%s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	runtime := readDockerfile(c.e.t).Stage("runtime").Base
	args := []string{"run", "--rm", "--name", c.e.project + "-verify", "--network", c.e.network(),
		"--label", "io.podman.compose.project=" + c.e.project,
		"-v", dir + ":/opt/verify:ro", runtime, "/opt/verify/verify",
		"--brokers", "kafka:9092", "--input", "trades", "--output", "trades-2s",
		"--redis", "redis:6379", "--snapshot-key", "trades:latest", "--settle", "5s"}
	out, err := c.e.podman(ctx, args...)
	c.e.t.Logf("  verify:\n%s", indent(lastLines(out, 40)))
	return err
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
