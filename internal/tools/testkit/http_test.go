package testkit

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const exposition = `# HELP x_total Things.
# TYPE x_total counter
x_total{by="a"} 2
x_total{by="b"} 3
x_total_other 100
x_seconds_bucket{le="+Inf"} 4
x_seconds_count 4
x_paused 1
`

func TestMetricValue(t *testing.T) {
	for name, want := range map[string]float64{
		"x_total":            5, // summed over label sets, not x_total_other
		`x_total{by="b"}`:    3,
		"x_seconds_count":    4,
		"x_paused":           1,
		"x_missing":          0,
		`x_total{by="none"}`: 0,
	} {
		if got := MetricValue(exposition, name); got != want {
			t.Errorf("MetricValue(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("FreeAddr's port is not free: %v", err)
	}
	ln.Close()
}

func TestScrapeAndReadyz(t *testing.T) {
	ready := false
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(exposition)) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready {
			ready = true // ready from the second probe on
			http.Error(w, "not ready: warming up", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	if v, err := ScrapeMetric(addr, "x_total"); err != nil || v != 5 {
		t.Fatalf("ScrapeMetric = %v, %v", v, err)
	}
	if _, err := ScrapeMetric(FreeAddr(t), "x_total"); err == nil {
		t.Fatal("ScrapeMetric of a closed port did not fail")
	}
	if code, body := Readyz(addr); code != 503 || !strings.Contains(body, "warming up") {
		t.Fatalf("Readyz = %d %q", code, body)
	}
	if body := WaitReadyz(t, addr, 200, "ok", 5*time.Second); body != "ok\n" {
		t.Fatalf("WaitReadyz = %q", body)
	}
	if code, _ := Readyz(FreeAddr(t)); code != 0 {
		t.Fatalf("Readyz of a closed port = %d, want 0", code)
	}
}
