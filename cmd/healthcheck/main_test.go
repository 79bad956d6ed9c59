package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready: no partitions assigned", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)

	for _, tc := range []struct {
		name string
		args []string
		want int
		says string // part of stderr
	}{
		{"healthy", []string{server.URL + "/healthz"}, 0, ""},
		{"unavailable", []string{server.URL + "/readyz"}, 1, "503"},
		{"redirect is not followed", []string{server.URL + "/moved"}, 1, "302"},
		{"no answer in time", []string{"--timeout", "100ms", server.URL + "/hang"}, 1, "no answer in time"},
		{"connection refused", []string{"http://" + closedAddr(t) + "/healthz"}, 1, "refused"},
		{"no URL", nil, 2, "usage"},
		{"two URLs", []string{server.URL, server.URL}, 2, "usage"},
		{"not http", []string{"ftp://127.0.0.1/healthz"}, 2, "not an http(s) URL"},
		{"bad flag", []string{"--retries", "3", server.URL}, 2, "no such flag"},
		{"bad timeout", []string{"--timeout", "0s", server.URL}, 2, "must be positive"},
		{"unparsable timeout", []string{"--timeout", "soon", server.URL}, 2, `"soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tc.args, &stdout, &stderr); got != tc.want {
				t.Errorf("run(%q) = %d, want %d; stderr: %s", tc.args, got, tc.want, stderr.String())
			}
			if tc.want == 0 && stderr.Len() != 0 {
				t.Errorf("healthy run wrote to stderr: %s", stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.says) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.says)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
