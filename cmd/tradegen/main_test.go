package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"tickcompact/internal/tools/tradegen"
)

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--malformed", "1.5"}, {"--rate", "fast"}, {"--property", "novalue"}, {"--partitions", "0"},
		{"--property", "no.such.property=1"}, {"extra"}, {"--count", "-1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2; stderr: %s", args, code, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) printed %q to stdout", args, stdout.String())
		}
	}
}

func TestRunUnreachable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(t.Context(), []string{"--brokers", "127.0.0.1:1", "--connect-timeout", "1s"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "unreachable") {
		t.Errorf("exit %d, stderr %s", code, stderr.String())
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s with a 1 s connect timeout", took)
	}
}

func TestRunProduces(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := strings.Join(cluster.ListenAddrs(), ",")

	var stdout, stderr bytes.Buffer
	args := []string{"--brokers", brokers, "--topic", "trades-cmd", "--rate", "0", "--count", "2000", "--malformed", "0.1"}
	if code := run(t.Context(), args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--create-topic") {
		t.Fatalf("missing topic: exit %d, stderr %s", code, stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	args = append(args, "--create-topic", "--partitions", "3", "--replication", "1")
	if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	var line summary
	if err := json.Unmarshal(stdout.Bytes(), &line); err != nil || bytes.Count(stdout.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if line.Produced != 2000 || line.Delivered != 2000 || line.Stop != "count" || line.Malformed["invalid-isin"] != tradegen.ExpectedMalformed(2000, 0.1)[tradegen.KindInvalidISIN] {
		t.Errorf("summary %+v", line)
	}
	t.Logf("summary: %s", bytes.TrimSpace(stdout.Bytes()))
}

// TestRunStopsWhenCancelled stands in for SIGINT/SIGTERM, which main turns
// into a cancelled context.
func TestRunStopsWhenCancelled(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "trades"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()

	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"--brokers", strings.Join(cluster.ListenAddrs(), ","), "--rate", "800"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %s to stop", took)
	}
	var line summary
	if err := json.Unmarshal(stdout.Bytes(), &line); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	// 1.5 s at 800/s plus the opening auction's 900 prints and burst.
	if line.Stop != "canceled" || line.Delivered != line.Produced || line.Produced < 1_000 {
		t.Errorf("summary %+v", line)
	}
	t.Logf("summary: %s", bytes.TrimSpace(stdout.Bytes()))
}
