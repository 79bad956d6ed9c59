package deploycheck

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The monitoring files: one copy of the alert rules and the dashboard, in the
// Helm chart's files/ (a chart reads only files inside its directory), which
// the compose file's monitoring profile mounts; the compose profile's own
// Prometheus configuration and the rules' unit tests beside it.
const (
	alertRulesFile = "deploy/helm/tickcompact/files/alert-rules.yaml"
	dashboardFile  = "deploy/helm/tickcompact/files/grafana-dashboard.json"
	prometheusFile = "deploy/monitoring/prometheus.yml"
	ruleTestsFile  = "deploy/monitoring/alert-rules.test.yaml"
)

// alertNames returns the names of the alerts in the rules file.
func alertNames(t *testing.T) []string {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, alertRulesFile, &rules)
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
		}
	}
	return names
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboardQuery is one query of one panel of the Grafana dashboard.
type dashboardQuery struct{ panel, legend, expr, datasource string }

func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	type datasource struct {
		UID string `json:"uid"`
	}
	var dashboard struct {
		Panels []struct {
			Title      string     `json:"title"`
			Type       string     `json:"type"`
			Datasource datasource `json:"datasource"`
			Targets    []struct {
				Expr         string     `json:"expr"`
				LegendFormat string     `json:"legendFormat"`
				Datasource   datasource `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var queries []dashboardQuery
	for _, p := range dashboard.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for _, q := range p.Targets {
			queries = append(queries, dashboardQuery{p.Title, q.LegendFormat, q.Expr, q.Datasource.UID})
		}
	}
	return queries
}

// grafanaExpr replaces the Grafana variables the dashboard's queries use with
// what Grafana would put there at the monitoring profile's 5 s scrape interval.
func grafanaExpr(expr string) string {
	return strings.ReplaceAll(expr, "$__rate_interval", "1m")
}

var grafanaVariable = regexp.MustCompile(`\$\{?[A-Za-z_]+`)

func TestDashboard(t *testing.T) {
	queries := dashboardQueries(t)
	if len(queries) < 10 {
		t.Fatalf("%d queries in %s", len(queries), dashboardFile)
	}
	// What the dashboard must show (issue: throughput, lag, emission delay,
	// DLQ and late records, transactions, Redis health).
	for _, metric := range []string{
		"tickcompact_aggregator_records_consumed_total", "tickcompact_sink_records_written_total",
		"tickcompact_aggregator_consumer_lag", "tickcompact_sink_consumer_lag",
		"tickcompact_aggregator_emission_delay_seconds_bucket",
		"tickcompact_aggregator_dlq_records_total", "tickcompact_aggregator_late_records_total",
		"tickcompact_aggregator_transactions_total", "tickcompact_sink_redis_errors_total",
	} {
		if !slices.ContainsFunc(queries, func(q dashboardQuery) bool { return strings.Contains(q.expr, metric) }) {
			t.Errorf("no panel queries %s", metric)
		}
	}
	for _, q := range queries {
		if q.datasource != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource %q, want the dashboard's input ${DS_PROMETHEUS}", q.panel, q.datasource)
		}
		if v := grafanaVariable.FindString(grafanaExpr(q.expr)); v != "" {
			t.Errorf("panel %q: %s in %s: grafanaExpr (and the query test) does not know it", q.panel, v, q.expr)
		}
	}
}

// TestMonitoringProfile checks that the monitoring profile's Prometheus finds
// every instance of both services, under the job names the rules expect, on
// the ports the services listen on, and loads the one rules file.
func TestMonitoringProfile(t *testing.T) {
	t.Chdir(repoRoot(t))
	p := loadProject(t, "demo", "monitoring")
	prom := service(t, p, "prometheus")
	if !slices.Equal(prom.Profiles, []string{"monitoring"}) {
		t.Errorf("prometheus: profiles %q, want [monitoring]", prom.Profiles)
	}
	mounts := map[string]string{}
	for _, v := range prom.Volumes {
		rel, _ := filepath.Rel(repoRoot(t), v.Source)
		mounts[v.Target] = rel
		if !v.ReadOnly {
			t.Errorf("prometheus: %s is mounted read-write", v.Target)
		}
	}
	if mounts["/etc/prometheus/prometheus.yml"] != prometheusFile {
		t.Errorf("prometheus: /etc/prometheus/prometheus.yml from %q, want %s", mounts["/etc/prometheus/prometheus.yml"], prometheusFile)
	}

	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, prometheusFile, &cfg)
	rulesMounted := false
	for target, source := range mounts {
		for _, pattern := range cfg.RuleFiles {
			if ok, _ := filepath.Match(pattern, target); ok && source == alertRulesFile {
				rulesMounted = true
			}
		}
	}
	if !rulesMounted {
		t.Errorf("prometheus: no rule_files pattern %q matches where %s is mounted (%v)", cfg.RuleFiles, alertRulesFile, mounts)
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	for _, cs := range Services {
		if cs.Name != "aggregator" && cs.Name != "sink" {
			continue // the rules and the dashboard cover the pipeline's two services
		}
		job := cs.Job()
		var found bool
		for _, sc := range cfg.ScrapeConfigs {
			if sc.JobName != job {
				continue
			}
			found = true
			port := httpPortOf(t, cs, service(t, p, cs.Name))
			if len(sc.DNSSDConfigs) != 1 || !slices.Equal(sc.DNSSDConfigs[0].Names, []string{cs.Name}) ||
				sc.DNSSDConfigs[0].Type != "A" || strconv.Itoa(sc.DNSSDConfigs[0].Port) != port {
				t.Errorf("%s: job %s scrapes %+v, want DNS A records of %s, port %s (one per container)", prometheusFile, job, sc.DNSSDConfigs, cs.Name, port)
			}
		}
		if !found {
			t.Errorf("%s: no job %s, which the alert rules expect", prometheusFile, job)
		}
	}
}

// TestAlertRules runs the rules' unit tests with promtool. `make test` finds
// or installs promtool (scripts/ensure-promtool.sh) and passes it in
// PROMTOOL; a plain `go test` without promtool on PATH skips.
func TestAlertRules(t *testing.T) {
	promtool := os.Getenv("PROMTOOL")
	if promtool == "" {
		var err error
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Skip("promtool not found: make test installs it (scripts/ensure-promtool.sh)")
		}
	}
	root := repoRoot(t)
	for _, args := range [][]string{
		{"check", "rules", alertRulesFile},
		{"test", "rules", ruleTestsFile},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every rule has a test.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, ruleTestsFile, &tests)
	tested := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			tested[a.Alertname] = true
		}
	}
	for _, name := range alertNames(t) {
		if !tested[name] {
			t.Errorf("%s: no test of %s", ruleTestsFile, name)
		}
	}
}
