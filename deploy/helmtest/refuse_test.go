package helmtest

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"tickcompact/internal/kafkaclient"
)

// canary stands for a credential someone puts into the values.
const canary = "s3cret-canary-0f5e"

// TestChartRefuses renders values that would put a credential into a
// manifest or pin an instance, and checks that the chart refuses each with
// an error naming the value to change, and never showing the credential.
func TestChartRefuses(t *testing.T) {
	type refusal struct {
		name   string
		values string
		want   string
	}
	var cases []refusal
	// Every word that makes a librdkafka property a credential for the
	// services' log masking makes the chart refuse it in kafka.properties.
	for _, word := range kafkaclient.SecretPropertyWords {
		property := "x." + word + ".y"
		cases = append(cases, refusal{"kafka.properties " + property,
			"kafka: {properties: {" + property + ": " + canary + "}}", property})
	}
	cases = append(cases,
		refusal{"a service's own kafka.properties", "aggregator: {config: {kafka: {properties: {sasl.password: " + canary + "}}}}", "kafka.secretProperties"},
		refusal{"sink.config.redis.password", "sink: {config: {redis: {password: " + canary + "}}}", "redis.passwordSecret"},
		refusal{"gateway.config.redis.password", "gateway: {enabled: true, config: {redis: {password: " + canary + "}}}", "redis.passwordSecret"},
		refusal{"redis.password", "redis: {password: " + canary + "}", "password"},
		refusal{"a password in redis.addr", "redis: {addr: 'redis://:" + canary + "@redis:6379'}", "redis.addr"},
		refusal{"kafka.transactional_id", "aggregator: {config: {kafka: {transactional_id: tickcompact-1}}}", "transactional_id"},
		refusal{"http.addr", "sink: {config: {http: {addr: ':9999'}}}", "sink.port"},
		refusal{"a raw sink for the gateway", "gateway: {enabled: true}\nsink: {config: {redis: {format: raw}}}", "envelope"},
		refusal{"a secret property with underscores", "kafka: {secretProperties: {sasl_password: {secret: s, key: k}}}", "dots"},
		refusal{"a secret property without its Secret", "kafka: {secretProperties: {sasl.password: {secret: '', key: password}}}", "secret"},
		refusal{"a misspelt value", "aggregator: {replica: 3}", "replica"},
		refusal{"a sink-only key among the shared ones", "redis: {format: envelope}", "format"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &values); err != nil {
				t.Fatal(err)
			}
			text, err := renderChart(releaseName, values)
			if err == nil {
				t.Fatalf("rendered:\n%s", text)
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("the error does not mention %q: %v", tc.want, err)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("the error shows the credential: %v", err)
			}
		})
	}
}
