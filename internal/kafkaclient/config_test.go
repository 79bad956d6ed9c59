package kafkaclient

import (
	"errors"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"tickcompact/internal/configload"
)

func TestConfigMapLayers(t *testing.T) {
	cm, err := ConfigMap("b1:9092",
		kafka.ConfigMap{"fetch.wait.max.ms": 5, "linger.ms": 5},
		map[string]string{"fetch.wait.max.ms": "50", "security.protocol": "SASL_SSL", "isolation.level": "read_committed"},
		kafka.ConfigMap{"isolation.level": "read_committed", "group.id": "g"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"bootstrap.servers": "b1:9092", "fetch.wait.max.ms": "50", "linger.ms": 5,
		"security.protocol": "SASL_SSL", "isolation.level": "read_committed", "group.id": "g",
	}
	for k, v := range want {
		if got := (*cm)[k]; got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}

func TestConfigMapRejectsConflicts(t *testing.T) {
	for _, props := range []map[string]string{
		{"isolation.level": "read_uncommitted"},
		{"bootstrap.servers": "elsewhere:9092"},
	} {
		_, err := ConfigMap("b1:9092", nil, props, kafka.ConfigMap{"isolation.level": "read_committed"})
		if err == nil || !strings.Contains(err.Error(), "kafka.properties") {
			t.Errorf("%v: err = %v, want a conflict naming kafka.properties", props, err)
		}
	}
}

func TestSecrets(t *testing.T) {
	got := Secrets(map[string]string{"sasl.password": "p1", "ssl.key.password": "p2", "sasl.username": "user", "sasl.oauthbearer.client.secret": "s",
		"sasl.oauthbearer.assertion.private.key.passphrase": "p3", "sasl.oauthbearer.assertion.private.key.pem": "p4"})
	if strings.Join(got, ",") != "p1,p2,p3,p4,s" {
		t.Fatalf("Secrets = %v", got)
	}
}

func TestAuthenticationFailed(t *testing.T) {
	refused := kafka.LogEvent{Level: 3, Message: "[thrd:sasl_plaintext://b:9093/bootstrap]: SASL authentication error: Authentication failed during authentication due to invalid credentials"}
	if !AuthenticationFailed(refused) {
		t.Error("a refused SASL login was not recognised")
	}
	if AuthenticationFailed(kafka.LogEvent{Level: 6, Message: "SASL authentication error"}) {
		t.Error("an info-level line was taken for a failure")
	}
	if AuthenticationFailed(kafka.LogEvent{Level: 3, Message: "Connect to ipv4#127.0.0.1:9092 failed: Connection refused"}) {
		t.Error("a refused connection was taken for an authentication failure")
	}
}

func TestCreationErrorIsAConfigurationError(t *testing.T) {
	// No bootstrap.servers: librdkafka refuses the property before any
	// connection could be tried.
	_, err := kafka.NewProducer(&kafka.ConfigMap{"no.such.property": "1"})
	if err == nil {
		t.Fatal("librdkafka accepted an unknown property")
	}
	err = CreationError(err)
	var cerr *configload.Error
	if !errors.As(err, &cerr) || cerr.Key != "kafka.properties" || !strings.Contains(err.Error(), "no.such.property") {
		t.Fatalf("err = %v, want a configuration error naming kafka.properties and the property", err)
	}
	other := errors.New("connection refused")
	if CreationError(other) != other {
		t.Error("an error that is not librdkafka's invalid-argument was changed")
	}
}

func TestCheckReservedNamesTheProperty(t *testing.T) {
	required := kafka.ConfigMap{"group.id": "g", "isolation.level": "read_committed"}
	if err := CheckReserved("svc", map[string]string{"session.timeout.ms": "6000"}, required); err != nil {
		t.Fatalf("a free property refused: %v", err)
	}
	for prop, want := range map[string]string{
		"group.id":             "group.id is set by the svc itself and may not be overridden (use input.group)",
		"isolation.level":      "isolation.level is set by the svc itself",
		"bootstrap.servers":    "(use kafka.brokers)",
		"metadata.broker.list": "(use kafka.brokers)",
	} {
		err := CheckReserved("svc", map[string]string{prop: "x"}, required)
		var cerr *configload.Error
		if !errors.As(err, &cerr) || cerr.Key != "kafka.properties" || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want a kafka.properties error containing %q", prop, err, want)
		}
	}
}
