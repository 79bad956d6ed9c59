// Package kafkaclient holds the confluent-kafka-go plumbing both services
// share: building librdkafka configurations from the services' settings,
// routing librdkafka's own logs into slog, and creating topics.
package kafkaclient

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/configload"
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

// ReconnectBackoffMaxMs is both services' default reconnect.backoff.max.ms.
// librdkafka's reconnect backoff doubles from 100 ms with each failed attempt
// up to 10 s by default: after half a minute without a broker a client could
// try again up to 10 s after the broker was back. A connection attempt a
// second to an absent broker costs nothing, and the services' logs fold the
// failures (Monitor).
const ReconnectBackoffMaxMs = 1000

// CheckReserved returns a configuration error for kafka.properties when it
// names a property the service sets on its clients itself: bootstrap.servers
// (or metadata.broker.list, librdkafka's other name for it) or a key of one
// of required. Validate calls it, so the service stops with
// the key named before anything connects.
func CheckReserved(service string, properties map[string]string, required ...kafka.ConfigMap) error {
	keys := []string{"bootstrap.servers", "metadata.broker.list"}
	for _, m := range required {
		for k := range m {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if _, ok := properties[k]; !ok {
			continue
		}
		hint := ""
		if key, ok := reservedPropertyKeys[k]; ok {
			hint = " (use " + key + ")"
		}
		return configload.InvalidEntry("kafka.properties", k, "%s is set by the %s itself and may not be overridden%s", k, service, hint)
	}
	return nil
}

// reservedPropertyKeys name the configuration key that sets a reserved
// librdkafka property, where there is one.
var reservedPropertyKeys = map[string]string{
	"bootstrap.servers":      "kafka.brokers",
	"metadata.broker.list":   "kafka.brokers",
	"group.id":               "input.group",
	"auto.offset.reset":      "input.start",
	"transactional.id":       "kafka.transactional_id",
	"transaction.timeout.ms": "kafka.transaction_timeout",
}

// CreationError turns an error from creating a client (kafka.NewProducer,
// kafka.NewConsumer) into a configuration error naming kafka.properties, so
// that the service exits with the configuration's exit code: librdkafka
// refuses a client for its configuration (an unknown property, a bad value,
// an unsupported SASL mechanism) before connecting anywhere.
// confluent-kafka-go reports every refusal as ErrInvalidArg, also the one
// that is not about configuration: no thread could be started (a pids
// limit, memory), which stays a runtime failure.
func CreationError(err error) error {
	var kerr kafka.Error
	if errors.As(err, &kerr) && kerr.Code() == kafka.ErrInvalidArg && !strings.HasPrefix(kerr.Error(), "Failed to create thread") {
		return configload.Invalid("kafka.properties", "%v", err)
	}
	return err
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

// SecretPropertyWords are the words whose presence in a librdkafka property
// name, in any case, marks the property as a credential. The Helm chart
// (deploy/helm/tickcompact) refuses such properties in its values with the
// same list; deploy/helmtest holds it to this one.
var SecretPropertyWords = []string{"password", "passphrase", "secret", "sasl.jaas.config", "ssl.key.pem", "private.key", "token"}

// IsSecretProperty reports whether a librdkafka property name holds a credential.
func IsSecretProperty(name string) bool {
	n := strings.ToLower(name)
	for _, word := range SecretPropertyWords {
		if strings.Contains(n, word) {
			return true
		}
	}
	return false
}
