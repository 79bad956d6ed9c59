package testkit

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file holds the helpers tests use to talk to a service's HTTP ops
// endpoints (/metrics, /readyz) and to pick a port for them.

// FreeAddr returns a 127.0.0.1 host:port whose TCP port is free right now: an
// address to give a service (--http.addr) before it starts, or one that
// nothing listens on. Another process may take the port in between, as with
// any such helper.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// MetricValue returns the sum of the samples called name in a Prometheus text
// exposition (the body of /metrics), over all their label sets; 0 when there
// are none.
//
// name is matched as text at the start of a sample line, followed by a space
// or "{": it may be a plain name ("tickcompact_sink_paused"), a histogram's
// sample ("..._seconds_count"), or carry the complete label set as the
// exposition spells it (`tickcompact_sink_offset_commits_total{result="ok"}`).
func MetricValue(exposition, name string) float64 {
	total := 0.0
	for _, line := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(line, name) || len(line) <= len(name) || (line[len(name)] != ' ' && line[len(name)] != '{') {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			total += v
		}
	}
	return total
}

// ScrapeMetric fetches http://addr/metrics (with a 2 s timeout) and returns
// MetricValue of name in it. It returns an error rather than failing the
// test when the endpoint does not answer, so that it can be polled while a
// service is down or restarting.
func ScrapeMetric(addr, name string) (float64, error) {
	body, err := scrape(addr)
	if err != nil {
		return 0, err
	}
	return MetricValue(body, name), nil
}

// scrape returns the body of http://addr/metrics, with a 2 s timeout.
func scrape(addr string) (string, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// Readyz fetches http://addr/readyz and returns its status code and body;
// when the request fails, 0 and the error's text.
func Readyz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// WaitReadyz polls /readyz on addr every 100 ms until it answers want with a
// body containing reason ("" for any body), and returns the body. It fails
// the test with the last answer after timeout.
func WaitReadyz(t testing.TB, addr string, want int, reason string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var code int
	var body string
	for time.Now().Before(deadline) {
		if code, body = Readyz(addr); code == want && strings.Contains(body, reason) {
			return body
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/readyz on %s: %d %q, want %d %q within %v", addr, code, body, want, reason, timeout)
	return ""
}

// WaitCaughtUp polls /metrics on addr until the gauge name (a consumer_lag)
// has one series per partition, each 0, and fails the test with the last
// series read after timeout.
func WaitCaughtUp(t testing.TB, addr, name string, partitions int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var series []string
	for {
		series = series[:0]
		zero := 0
		if body, err := scrape(addr); err == nil {
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, name+"{") {
					series = append(series, line)
					if strings.HasSuffix(line, " 0") {
						zero++
					}
				}
			}
		}
		if len(series) == partitions && zero == partitions {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s: %q, want %d partitions at 0 within %v", name, addr, series, partitions, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
