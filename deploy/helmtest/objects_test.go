package helmtest

import (
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"tickcompact/internal/kafkaclient"
)

// selected returns the pods (by service) whose Deployment's pod template
// selector selects.
func selected(pods map[string]*pod, selector labels.Selector) []*pod {
	var out []*pod
	for _, name := range []string{"aggregator", "gateway", "sink"} {
		if p := pods[name]; p != nil && selector.Matches(labels.Set(p.deployment.Spec.Template.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

// metricsRole marks the Services Prometheus scrapes.
const metricsRole = "tickcompact/role"

// checkServices checks that each service has a headless metrics Service
// selecting its pods alone, not-ready ones included, on the port it listens
// on, and that the gateway has a Service for browsers with Ready pods only.
func checkServices(t *testing.T, r *rendered, pods map[string]*pod) {
	t.Helper()
	metrics, browsers := map[string]int{}, map[string]int{}
	for _, s := range r.services {
		sel, err := metaSelector(s.Spec.Selector)
		if err != nil {
			t.Errorf("Service %s: %v", s.Name, err)
			continue
		}
		matched := selected(pods, sel)
		if len(matched) != 1 {
			t.Errorf("Service %s selects the pods of %d services, want one", s.Name, len(matched))
			continue
		}
		p := matched[0]
		for _, port := range s.Spec.Ports {
			if resolvePort(p.container, port.TargetPort) != p.httpPort {
				t.Errorf("Service %s: port %s goes to %s, the %s listens on %d", s.Name, port.Name, port.TargetPort.String(), p.service.Name, p.httpPort)
			}
		}
		if s.Labels[metricsRole] == "metrics" {
			metrics[p.service.Name]++
			if s.Spec.ClusterIP != corev1.ClusterIPNone || !s.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v: want a headless Service listing not-ready pods too (a not-ready sink is what TickcompactSinkNotReady reports)",
					s.Name, s.Spec.ClusterIP, s.Spec.PublishNotReadyAddresses)
			}
			continue
		}
		browsers[p.service.Name]++
		if p.service.Name != "gateway" || s.Spec.PublishNotReadyAddresses {
			t.Errorf("Service %s: for browsers, want the gateway's Ready pods only", s.Name)
		}
	}
	for name := range pods {
		if metrics[name] != 1 {
			t.Errorf("%s: %d metrics Services, want 1", name, metrics[name])
		}
		if want := map[bool]int{true: 1}[name == "gateway"]; browsers[name] != want {
			t.Errorf("%s: %d Services for browsers, want %d", name, browsers[name], want)
		}
	}
}

// checkBudgets checks that each service has a PodDisruptionBudget of its own
// that lets a drain evict one pod, and pods that are not Ready (consumers
// beyond the partition count) at any time.
func checkBudgets(t *testing.T, r *rendered, pods map[string]*pod) {
	t.Helper()
	count := map[string]int{}
	for _, b := range r.budgets {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Errorf("PodDisruptionBudget %s: selector %v: %v", b.Name, b.Spec.Selector, err)
			continue
		}
		matched := selected(pods, sel)
		if len(matched) != 1 {
			t.Errorf("PodDisruptionBudget %s covers the pods of %d services, want one", b.Name, len(matched))
			continue
		}
		count[matched[0].service.Name]++
		if b.Spec.MinAvailable != nil || b.Spec.MaxUnavailable == nil || b.Spec.MaxUnavailable.Type != intstr.Int || b.Spec.MaxUnavailable.IntVal < 1 {
			t.Errorf("PodDisruptionBudget %s: minAvailable %v, maxUnavailable %v: want maxUnavailable >= 1, so that one replica never blocks a drain",
				b.Name, deref(b.Spec.MinAvailable), deref(b.Spec.MaxUnavailable))
		}
		if p := b.Spec.UnhealthyPodEvictionPolicy; p == nil || *p != "AlwaysAllow" {
			t.Errorf("PodDisruptionBudget %s: unhealthyPodEvictionPolicy %v, want AlwaysAllow", b.Name, deref(p))
		}
	}
	for name := range pods {
		if count[name] != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets, want 1", name, count[name])
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// lagMetric is the consumer-lag gauge the service exports.
func lagMetric(service string) string {
	ch := make(chan *prometheus.Desc, 1)
	kafkaclient.NewLagGauge("tickcompact_" + service).Describe(ch)
	return fqName.FindStringSubmatch((<-ch).String())[1]
}

// checkAutoscalers checks that each consumer with autoscaling on has one
// HorizontalPodAutoscaler on its own Deployment and its consumer-lag
// metric, per pod, and that such a Deployment leaves its replica count to it.
func checkAutoscalers(t *testing.T, r *rendered, pods map[string]*pod, values map[string]any) {
	t.Helper()
	byTarget := map[string]*autoscalingv2.HorizontalPodAutoscaler{}
	for _, h := range r.autoscalers {
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" {
			t.Errorf("HorizontalPodAutoscaler %s scales a %s %s", h.Name, ref.APIVersion, ref.Kind)
		}
		byTarget[ref.Name] = h
	}
	for name, p := range pods {
		h := byTarget[p.deployment.Name]
		delete(byTarget, p.deployment.Name)
		want := consumers[name] && lookup(values, name, "autoscaling", "enabled") == true
		switch {
		case want && h == nil:
			t.Errorf("%s: autoscaling is on, but no HorizontalPodAutoscaler scales Deployment %s", name, p.deployment.Name)
			continue
		case !want && h != nil:
			t.Errorf("%s: HorizontalPodAutoscaler %s, but autoscaling is off", name, h.Name)
			continue
		case !want:
			if p.deployment.Spec.Replicas == nil {
				t.Errorf("Deployment %s: no replicas and no autoscaler", p.deployment.Name)
			}
			continue
		}
		if p.deployment.Spec.Replicas != nil {
			t.Errorf("Deployment %s: replicas %d beside HorizontalPodAutoscaler %s: every upgrade would reset what it chose",
				p.deployment.Name, *p.deployment.Spec.Replicas, h.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("HorizontalPodAutoscaler %s: replicas from %v to %d", h.Name, deref(h.Spec.MinReplicas), h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Type != autoscalingv2.PodsMetricSourceType || h.Spec.Metrics[0].Pods == nil {
			t.Errorf("HorizontalPodAutoscaler %s: metrics %+v, want the consumer lag per pod", h.Name, h.Spec.Metrics)
			continue
		}
		m := h.Spec.Metrics[0].Pods
		if m.Metric.Name != lagMetric(name) {
			t.Errorf("HorizontalPodAutoscaler %s: metric %q, the %s exports %s", h.Name, m.Metric.Name, name, lagMetric(name))
		}
		if m.Target.Type != autoscalingv2.AverageValueMetricType || m.Target.AverageValue == nil || m.Target.AverageValue.Sign() <= 0 {
			t.Errorf("HorizontalPodAutoscaler %s: target %+v, want a positive average value per pod", h.Name, m.Target)
		}
		if b := h.Spec.Behavior; b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < 60 {
			t.Errorf("HorizontalPodAutoscaler %s: no scale-down stabilization: each change is a rebalance of the group", h.Name)
		}
	}
	for target, h := range byTarget {
		t.Errorf("HorizontalPodAutoscaler %s scales %s, which the chart does not render", h.Name, target)
	}
}
