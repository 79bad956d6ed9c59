package helmtest

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// checkNames checks what the API server would refuse in names and labels,
// and that no two objects of a kind share a name.
func checkNames(t *testing.T, r *rendered) {
	t.Helper()
	seen := map[string]bool{}
	for _, o := range r.objects {
		kind := o.kind
		name := o.meta.GetName()
		if seen[kind+"/"+name] {
			t.Errorf("two %ss named %s", kind, name)
		}
		seen[kind+"/"+name] = true
		isName := validation.IsDNS1123Subdomain
		if kind == "Service" {
			isName = validation.IsDNS1035Label
		}
		for _, problem := range isName(name) {
			t.Errorf("%s %q: %s", kind, name, problem)
		}
		checkLabels(t, kind+" "+name, o.meta.GetLabels())
	}
	for _, d := range r.deployments {
		where := "Deployment " + d.Name
		checkLabels(t, where+" pod template", d.Spec.Template.Labels)
		for _, v := range d.Spec.Template.Spec.Volumes {
			for _, problem := range validation.IsDNS1123Label(v.Name) {
				t.Errorf("%s: volume %q: %s", where, v.Name, problem)
			}
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, problem := range validation.IsDNS1123Label(c.Name) {
				t.Errorf("%s: container %q: %s", where, c.Name, problem)
			}
			for _, p := range c.Ports {
				for _, problem := range validation.IsValidPortName(p.Name) {
					t.Errorf("%s: port %q: %s", where, p.Name, problem)
				}
			}
			for _, e := range c.Env {
				for _, problem := range validation.IsEnvVarName(e.Name) {
					t.Errorf("%s: variable %q: %s", where, e.Name, problem)
				}
			}
		}
	}
}

func checkLabels(t *testing.T, where string, set map[string]string) {
	t.Helper()
	for key, value := range set {
		for _, problem := range validation.IsQualifiedName(key) {
			t.Errorf("%s: label key %q: %s", where, key, problem)
		}
		for _, problem := range validation.IsValidLabelValue(value) {
			t.Errorf("%s: label %s=%q: %s", where, key, value, problem)
		}
	}
}

// metaSelector turns matchLabels into a selector, refusing an empty one,
// which would select everything.
func metaSelector(matchLabels map[string]string) (labels.Selector, error) {
	if len(matchLabels) == 0 {
		return nil, fmt.Errorf("empty selector")
	}
	return metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: matchLabels})
}

// TestLongReleaseName renders with a release name of Helm's longest, 53
// characters: every name must still be valid, and distinct.
func TestLongReleaseName(t *testing.T) {
	name := strings.Repeat("a-long-release-name-", 3)[:53]
	text, err := renderChart(name, readValues(t, "monitoring.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := decode(text)
	if err != nil {
		t.Fatal(err)
	}
	checkNames(t, r)
	if len(r.deployments) != 3 {
		t.Errorf("%d Deployments, want 3", len(r.deployments))
	}
}
