package sink

import (
	"strings"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

// The sink connects to Kafka through SASL/SCRAM set in kafka.properties; with
// a wrong password it answers /readyz 503 naming the authentication failure,
// stays up, and no log line holds either password.
func TestE2ESinkKafkaSASL(t *testing.T) {
	k := testkit.StartKafkaSASL(t)
	t.Logf("kafka: %s with SASL/SCRAM-SHA-512 at %s", k.Kind, k.Brokers)
	h := &e2e{
		t: t, kafka: k.Kafka, partitions: 2,
		redis:     testkit.StartRedis(t),
		topic:     testkit.UniqueName(t, "trades-2s"),
		group:     testkit.UniqueName(t, "sink"),
		latest:    map[string]string{},
		latestEnd: map[string]int64{},
	}
	k.CreateTopic(t, h.topic, h.partitions)
	withPassword := func(password string) func(*Config) {
		return func(c *Config) {
			for key, v := range k.ClientProperties(password) {
				c.Kafka.Properties[key] = v
			}
			c.Log.Level = "debug"
		}
	}

	good := h.start(h.config(withPassword(k.Password)), nil)
	var records []testkit.Record
	for i := range 30 {
		records = append(records, trade(testISIN(i), windowEnd(1), "sasl"))
	}
	h.produce(records)
	h.waitSnapshot(30 * time.Second)
	testkit.WaitFor(t, 10*time.Second, "/readyz 200 with the right password", func() (bool, string) {
		code, body := good.get("/readyz")
		return code == 200, body
	})

	wrong := "wrong-" + k.Password
	badCfg := h.config(withPassword(wrong))
	badCfg.Input.Group = testkit.UniqueName(t, "sink-bad")
	bad := h.start(badCfg, nil)
	testkit.WaitFor(t, 30*time.Second, "/readyz 503 naming the authentication failure", func() (bool, string) {
		code, body := bad.get("/readyz")
		return code == 503 && strings.Contains(body, "kafka: authentication failed"), body
	})
	if code, body := bad.get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d %q: the sink should stay up", code, body)
	}
	for name, in := range map[string]*instance{"good": good, "bad": bad} {
		logs := in.logs.String()
		for _, secret := range []string{k.Password, wrong} {
			if strings.Contains(logs, secret) {
				t.Errorf("%s sink: a password appears in the logs", name)
			}
		}
		if err := in.stop(); err != nil {
			t.Errorf("%s sink: %v", name, err)
		}
	}
}
