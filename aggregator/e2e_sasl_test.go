package aggregator_test

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"tickcompact/internal/tools/testkit"
)

// The aggregator connects through SASL/SCRAM set in kafka.properties (here
// from the environment, as an operator would); with a wrong password it
// reports not-ready with a clear reason and never prints the password.
func TestE2ESASLAuth(t *testing.T) {
	k := testkit.StartKafkaSASL(t)
	t.Logf("kafka: %s with SASL/SCRAM-SHA-512 at %s", k.Kind, k.Brokers)
	input := testkit.UniqueName(t, "trades")
	k.CreateTopic(t, input, 2)

	run := func(password string) (cmd *exec.Cmd, httpAddr string, logs *testkit.SyncBuffer) {
		httpAddr = testkit.FreeAddr(t)
		logs = &testkit.SyncBuffer{}
		cmd = exec.Command(testkit.Binary(t, "aggregator"))
		cmd.Dir = t.TempDir()
		cmd.Env = []string{
			"AGGREGATOR_KAFKA_BROKERS=" + k.Brokers,
			"AGGREGATOR_INPUT_TOPIC=" + input,
			"AGGREGATOR_INPUT_GROUP=" + testkit.UniqueName(t, "agg"),
			"AGGREGATOR_OUTPUT_TOPIC=" + input + "-2s",
			"AGGREGATOR_OUTPUT_REPLICATION=1",
			"AGGREGATOR_DLQ_TOPIC=" + input + ".dlq",
			"AGGREGATOR_HTTP_ADDR=" + httpAddr,
			"AGGREGATOR_LOG_LEVEL=debug",
		}
		for key, v := range k.ClientProperties(password) {
			cmd.Env = append(cmd.Env, "AGGREGATOR_KAFKA_PROPERTIES_"+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))+"="+v)
		}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_, _ = cmd.Process.Wait()
			}
		})
		return cmd, httpAddr, logs
	}

	// The right password: ready, and trades come out compacted.
	good, goodAddr, goodLogs := run(k.Password)
	testkit.WaitReadyz(t, goodAddr, 200, "", 30*time.Second)
	start := time.Now().Add(-time.Minute).Truncate(2 * time.Second)
	k.Produce(t, input, trades(9, 200, 10, start, 10*time.Millisecond, 0))
	if out := k.ReadCommitted(t, input+"-2s", 1, 0, 30*time.Second); len(out) == 0 {
		t.Fatalf("no output through SASL\n%s", goodLogs.String())
	}

	// A wrong password: not ready, with the reason, and the process stays up.
	wrong := "wrong-" + k.Password
	bad, badAddr, badLogs := run(wrong)
	body := testkit.WaitReadyz(t, badAddr, 503, "kafka: authentication failed", 30*time.Second)
	time.Sleep(2 * time.Second)
	if bad.ProcessState != nil {
		t.Fatalf("aggregator exited on a wrong password: %v", bad.ProcessState)
	}
	if code, body2 := testkit.Readyz(badAddr); code != 503 {
		t.Fatalf("/readyz = %d %q with a wrong password", code, body2)
	}
	if !strings.Contains(badLogs.String(), `"component":"librdkafka"`) || strings.Contains(badLogs.String(), "%3|") {
		t.Errorf("librdkafka's logs are not routed through slog:\n%s", badLogs.String())
	}

	for _, cmd := range []*exec.Cmd{good, bad} {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	for name, logs := range map[string]string{"good": goodLogs.String(), "bad": badLogs.String()} {
		for _, secret := range []string{k.Password, wrong} {
			if strings.Contains(logs, secret) {
				t.Errorf("%s run: a password appears in the logs", name)
			}
		}
	}
	t.Logf("readyz with wrong password: %s", strings.TrimSpace(body))
	if t.Failed() {
		t.Logf("logs with the wrong password:\n%s", badLogs.String())
	}
}
