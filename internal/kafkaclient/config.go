// Package kafkaclient holds the confluent-kafka-go plumbing both services
// share: building librdkafka configurations from the services' settings,
// routing librdkafka's own logs into slog, and creating topics.
package kafkaclient

import (
	"fmt"
	"sort"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// ConfigMap returns a librdkafka configuration: bootstrap.servers from brokers,
// then tuning, the service's defaults that users may override, then the
// user's properties as-is (security.protocol, sasl.*, ssl.*, tuning), then
// required, the settings the service's correctness depends on. A user property
// that contradicts a required one is an error naming it, rather than a silent
// override either way.
func ConfigMap(brokers string, tuning kafka.ConfigMap, properties map[string]string, required kafka.ConfigMap) (*kafka.ConfigMap, error) {
	cm := kafka.ConfigMap{"bootstrap.servers": brokers}
	for k, v := range tuning {
		cm[k] = v
	}
	for k, v := range properties {
		if k == "bootstrap.servers" {
			return nil, fmt.Errorf("kafka.properties: set bootstrap.servers through kafka.brokers")
		}
		if want, ok := required[k]; ok && fmt.Sprint(want) != v {
			return nil, fmt.Errorf("kafka.properties: %s=%s conflicts with the service's required %s=%v", k, v, k, want)
		}
		cm[k] = v
	}
	for k, v := range required {
		cm[k] = v
	}
	return &cm, nil
}

// Secrets returns the values of properties that hold credentials, for log redaction.
func Secrets(properties map[string]string) []string {
	var out []string
	for k, v := range properties {
		if IsSecretProperty(k) && v != "" {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// IsSecretProperty reports whether a librdkafka property name holds a credential.
func IsSecretProperty(name string) bool {
	n := strings.ToLower(name)
	for _, word := range []string{"password", "secret", "sasl.jaas.config", "ssl.key.pem", "token"} {
		if strings.Contains(n, word) {
			return true
		}
	}
	return false
}
