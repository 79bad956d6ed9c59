package configload

import (
	"strings"
	"testing"
)

func TestCheckDocumented(t *testing.T) {
	good := `# svc configuration.
kafka:
  # Bootstrap brokers.
  brokers: localhost:9092
  # librdkafka properties.
  properties: {}
window:
  # Window size.
  size: 2s
  # Grace.
  grace: 0s
input:
  # Re-key first.
  repartition: false
  # ISIN field.
  isin_field: isin
redis:
  # Database number.
  db: 0
`
	if problems := CheckDocumented(testSpec, writeFile(t, good)); len(problems) != 0 {
		t.Fatalf("a complete file has problems: %q", problems)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"missing key", "  # Database number.\n  db: 0\n", "", "does not document redis.db"},
		{"no comment", "  # Grace.\n", "", "window.grace has no comment"},
		{"not the default", "size: 2s", "size: 3s", "window.size is 3s, not its default 2s"},
		{"map not the default", "properties: {}", "properties: {acks: all}", "kafka.properties is map[acks:all]"},
		{"out of order", "  # Grace.\n  grace: 0s\n", "", "comes where window.grace should"},
		{"unknown key", "  db: 0\n", "  db: 0\n  # Typo.\n  dbs: 1\n", "redis.dbs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(good, tc.old, tc.new, 1)
			if tc.name == "out of order" {
				body = strings.Replace(body, "  # Re-key first.\n", "  # Grace.\n  grace: 0s\n  # Re-key first.\n", 1)
			}
			problems := CheckDocumented(testSpec, writeFile(t, body))
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Fatalf("problems %q lack %q", problems, tc.want)
			}
		})
	}
}
