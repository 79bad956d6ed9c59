// Command healthcheck requests one URL and exits 0 when the answer is
// 200 OK. It is the HEALTHCHECK of the container images: their distroless
// runtime has no shell, curl or wget.
//
// Usage: healthcheck [--timeout 2s] URL
//
// Exit codes: 0 healthy (HTTP 200); 1 unhealthy (any other status, no answer
// within the timeout, connection refused); 2 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/pflag"

	"tickcompact/internal/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// command is healthcheck's --help.
var command = cli.Command{
	Name:    "healthcheck",
	Summary: "healthcheck requests one URL and exits 0 when the answer is 200 OK: the HEALTHCHECK of the\ncontainer images, whose runtime has no shell, curl or wget.",
	Usage:   "[--timeout 2s] URL",
	Footer:  "Exit codes: 0 healthy (HTTP 200); 1 unhealthy (any other status, no answer within the timeout,\nconnection refused); 2 bad usage.",
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := pflag.NewFlagSet("healthcheck", pflag.ContinueOnError)
	timeout := flags.Duration("timeout", 2*time.Second, "give up when there is no complete answer within this")
	err := command.Parse(flags, args)
	if cli.Answered(err, stdout) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 2
	}
	if flags.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: healthcheck [--timeout 2s] URL (see --help)")
		return 2
	}
	target, err := url.Parse(flags.Arg(0))
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		fmt.Fprintf(stderr, "healthcheck: %q is not an http(s) URL\n", flags.Arg(0))
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "healthcheck: --timeout must be positive, got %s\n", *timeout)
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := check(ctx, target.String()); err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	return 0
}

// check GETs target and returns nil only for a 200 answer. Redirects are not
// followed and proxies from the environment are ignored: the endpoint is the
// container's own, and anything but a direct 200 means it is not healthy.
func check(ctx context.Context, target string) error {
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer in time: %w", target, err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return nil
}
