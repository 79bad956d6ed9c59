package helmtest

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// alertRulesFile is the one copy of the alert rules, which the compose
// monitoring profile mounts and the chart ships.
const alertRulesFile = "files/alert-rules.yaml"

// alertRules reads the rules file strictly into the PrometheusRule's spec.
func alertRules(t *testing.T) monitoringv1.PrometheusRuleSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, alertRulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(b, &spec); err != nil {
		t.Fatalf("%s: %v", alertRulesFile, err)
	}
	if len(spec.Groups) == 0 || len(spec.Groups[0].Rules) == 0 {
		t.Fatalf("%s: no rules", alertRulesFile)
	}
	return spec
}

var jobMatcher = regexp.MustCompile(`job\s*(=~|=)\s*"([^"]*)"`)

// ruleJobMatches reports whether a job matcher of some rule selects job.
func ruleJobMatches(spec monitoringv1.PrometheusRuleSpec, job string) bool {
	for _, g := range spec.Groups {
		for _, rule := range g.Rules {
			for _, m := range jobMatcher.FindAllStringSubmatch(rule.Expr.String(), -1) {
				if m[1] == "=" && m[2] == job {
					return true
				}
				if re, err := regexp.Compile("^(?:" + m[2] + ")$"); m[1] == "=~" && err == nil && re.MatchString(job) {
					return true
				}
			}
		}
	}
	return false
}

// checkMonitoring checks the Prometheus Operator's resources: a
// ServiceMonitor per service on its metrics Service, labelling its series
// with the job the alert rules expect, and a PrometheusRule carrying
// exactly the rules of files/alert-rules.yaml, Prometheus's own templates in
// its annotations untouched.
func checkMonitoring(t *testing.T, r *rendered, pods map[string]*pod, values map[string]any) {
	t.Helper()
	spec := alertRules(t)
	wantMonitors := lookup(values, "monitoring", "serviceMonitor", "enabled") == true
	count := map[string]int{}
	for _, m := range r.monitors {
		if !wantMonitors {
			t.Errorf("ServiceMonitor %s, but serviceMonitor is off", m.Name)
		}
		if ns := m.Spec.NamespaceSelector; !ns.Any && !(len(ns.MatchNames) == 1 && ns.MatchNames[0] == releaseNamespace) {
			t.Errorf("ServiceMonitor %s: namespaces %+v, want the release's, %s", m.Name, ns, releaseNamespace)
		}
		sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("ServiceMonitor %s: selector %+v: %v", m.Name, m.Spec.Selector, err)
			continue
		}
		var services []*corev1.Service
		for _, s := range r.services {
			if sel.Matches(labels.Set(s.Labels)) {
				services = append(services, s)
			}
		}
		if len(services) != 1 || services[0].Labels[metricsRole] != "metrics" {
			t.Errorf("ServiceMonitor %s selects %d Services, want one metrics Service", m.Name, len(services))
			continue
		}
		s := services[0]
		podSel, _ := metaSelector(s.Spec.Selector)
		p := selected(pods, podSel)[0] // one, by checkServices
		count[p.service.Name]++
		if len(m.Spec.Endpoints) != 1 {
			t.Errorf("ServiceMonitor %s: %d endpoints, want 1", m.Name, len(m.Spec.Endpoints))
			continue
		}
		e := m.Spec.Endpoints[0]
		if !hasPort(s, e.Port) || (e.Path != "" && e.Path != "/metrics") {
			t.Errorf("ServiceMonitor %s: scrapes port %q path %q; Service %s has ports %+v, the service serves /metrics", m.Name, e.Port, e.Path, s.Name, s.Spec.Ports)
		}
		if job := relabelledJob(e.RelabelConfigs); job != p.service.Job() {
			t.Errorf("ServiceMonitor %s: job %q, want %s", m.Name, job, p.service.Job())
		}
		if consumers[p.service.Name] && !ruleJobMatches(spec, p.service.Job()) {
			t.Errorf("ServiceMonitor %s: job %s is not one the alert rules name", m.Name, p.service.Job())
		}
	}
	if wantMonitors {
		for name := range pods {
			if count[name] != 1 {
				t.Errorf("%s: %d ServiceMonitors, want 1", name, count[name])
			}
		}
	}

	wantRules := lookup(values, "monitoring", "prometheusRule", "enabled") == true
	switch {
	case !wantRules && len(r.rules) > 0:
		t.Errorf("PrometheusRule %s, but prometheusRule is off", r.rules[0].Name)
	case wantRules && len(r.rules) != 1:
		t.Errorf("%d PrometheusRules, want 1", len(r.rules))
	case wantRules && !reflect.DeepEqual(r.rules[0].Spec, spec):
		t.Errorf("PrometheusRule %s differs from %s:\n got %+v\nwant %+v", r.rules[0].Name, alertRulesFile, r.rules[0].Spec, spec)
	}
}

// relabelledJob returns the job label a fixed replacement sets, or "".
func relabelledJob(configs []monitoringv1.RelabelConfig) string {
	job := ""
	for _, c := range configs {
		if c.TargetLabel == "job" && len(c.SourceLabels) == 0 && (c.Action == "" || c.Action == "replace") && c.Replacement != nil {
			job = *c.Replacement
		}
	}
	return job
}

func hasPort(s *corev1.Service, name string) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}
