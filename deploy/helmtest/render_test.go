package helmtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Where the chart is, and the release the tests render.
const (
	chartDir         = "../helm/tickcompact"
	releaseName      = "tc"
	releaseNamespace = "trading"
)

// rendered is what one rendering of the chart produced, by kind.
type rendered struct {
	deployments  []*appsv1.Deployment
	configMaps   []*corev1.ConfigMap
	services     []*corev1.Service
	budgets      []*policyv1.PodDisruptionBudget
	autoscalers  []*autoscalingv2.HorizontalPodAutoscaler
	monitors     []*monitoringv1.ServiceMonitor
	rules        []*monitoringv1.PrometheusRule
	objects      []object // all of the above, in the order rendered
	manifestText string
}

// object is any rendered object's kind and metadata.
type object struct {
	kind string
	meta metav1.Object
}

// scheme knows the kinds the chart may render: the built-in API types and the
// Prometheus Operator's.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// strictDecoder rejects unknown and duplicate fields.
var strictDecoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// readValues reads a value file of testdata/ ("" for the chart's defaults).
func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	values := map[string]any{}
	if file == "" {
		return values
	}
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return values
}

// renderChart renders the chart with values as `helm template` does: a
// client-side dry run of an install, with Helm's default capabilities (no
// cluster is asked), the chart's values schema applied.
func renderChart(release string, values map[string]any) (string, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return "", fmt.Errorf("loading the chart: %w", err)
	}
	cfg := action.NewConfiguration()
	cfg.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)).Handler())
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = release
	install.Namespace = releaseNamespace
	install.Replace = true
	rel, err := install.Run(chrt, values)
	if err != nil {
		return "", err
	}
	r, ok := rel.(*releasev1.Release)
	if !ok {
		return "", fmt.Errorf("install returned a %T", rel)
	}
	var text strings.Builder
	text.WriteString(r.Manifest)
	for _, hook := range r.Hooks {
		fmt.Fprintf(&text, "\n---\n%s\n", hook.Manifest)
	}
	return text.String(), nil
}

// render renders the chart with the values of file and decodes every
// manifest strictly.
func render(t *testing.T, file string) *rendered {
	t.Helper()
	text, err := renderChart(releaseName, readValues(t, file))
	if err != nil {
		t.Fatalf("rendering with %q: %v", file, err)
	}
	r, err := decode(text)
	if err != nil {
		t.Fatalf("rendering with %q: %v", file, err)
	}
	return r
}

// decode splits the manifests and decodes each into its API type, refusing
// unknown fields, duplicate fields and kinds the checks do not know.
func decode(text string) (*rendered, error) {
	r := &rendered{manifestText: text}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(text)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if onlyComments(doc) {
			continue
		}
		obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s\n%s", err, doc)
		}
		meta, err := apimeta.Accessor(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", gvk, err)
		}
		r.objects = append(r.objects, object{gvk.Kind, meta})
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, o)
		case *corev1.ConfigMap:
			r.configMaps = append(r.configMaps, o)
		case *corev1.Service:
			r.services = append(r.services, o)
		case *policyv1.PodDisruptionBudget:
			r.budgets = append(r.budgets, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.autoscalers = append(r.autoscalers, o)
		case *monitoringv1.ServiceMonitor:
			r.monitors = append(r.monitors, o)
		case *monitoringv1.PrometheusRule:
			r.rules = append(r.rules, o)
		case *corev1.Secret:
			return nil, fmt.Errorf("a Secret, %s: the chart must only refer to existing Secrets", o.Name)
		default:
			return nil, fmt.Errorf("a %s, which the checks do not know", gvk)
		}
	}
	return r, nil
}

// onlyComments reports whether a YAML document holds nothing but comments
// (Helm's "# Source: ..." line of a template that rendered nothing).
func onlyComments(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "---" {
			return false
		}
	}
	return true
}
