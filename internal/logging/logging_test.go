package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactsSecretsEverywhere(t *testing.T) {
	var buf bytes.Buffer
	logger, err := New(&buf, "debug", "json", []string{"hunter2", ""})
	if err != nil {
		t.Fatal(err)
	}
	logger = logger.With("dsn", "user:hunter2@host")
	logger.Info("connecting with hunter2",
		"err", errors.New("auth failed for password hunter2"),
		slog.Group("sasl", "password", "hunter2"),
		"n", 3)
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("secret leaked: %s", out)
	}
	if strings.Count(out, "[REDACTED]") != 4 {
		t.Fatalf("want 4 redactions, got: %s", out)
	}
	if !strings.Contains(out, `"n":3`) {
		t.Fatalf("non-string attribute lost: %s", out)
	}
}

func TestNewRejectsBadLevelAndFormat(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, "loud", "json", nil); err == nil {
		t.Fatal("accepted level loud")
	}
	if _, err := New(&bytes.Buffer{}, "info", "xml", nil); err == nil {
		t.Fatal("accepted format xml")
	}
}
