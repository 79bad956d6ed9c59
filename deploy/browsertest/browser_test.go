package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tickcompact/internal/tools/demo"
	"tickcompact/internal/tools/testkit"
)

// The demo's feed for this test: few enough instruments that every one
// trades within the first windows, at a rate that changes most rows in
// every window.
const (
	instruments = 150
	rate        = 1500
	windowMs    = int64(demo.WindowSize / time.Millisecond)
)

// ScreenshotEnv names the file the screenshot is written to; by default it
// goes to the test's temporary directory. `make test-browser
// SCREENSHOT=docs/img/gateway.png` refreshes the README's.
const ScreenshotEnv = "BROWSERTEST_SCREENSHOT"

// TestLivePage runs the demo pipeline against a real redis-server, opens
// the gateway's page in headless Chromium and checks what a person would
// see: every instrument appears, rows change within two windows, and the
// page goes on updating after Redis restarts.
func TestLivePage(t *testing.T) {
	chromium := ensureChromium(t)
	redis := testkit.StartRedis(t)
	page := startDemo(t, redis.Addr)
	ctx := startBrowser(t, chromium)

	loadCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(loadCtx, chromedp.Navigate(page), chromedp.WaitVisible(`#state[data-state="live"]`)); err != nil {
		t.Fatalf("loading %s: %v", page, err)
	}

	// Every instrument appears: the page's rows are the snapshot's ISINs.
	testkit.WaitFor(t, 90*time.Second, "every instrument on the page", func() (bool, string) {
		n := evalInt(t, ctx, `document.querySelectorAll("tr[data-isin]").length`)
		return n == instruments, fmt.Sprintf("%d of %d rows", n, instruments)
	})
	keys, err := redis.Client().HKeys(context.Background(), demo.SnapshotKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	shown := evalStrings(t, ctx, `[...document.querySelectorAll("tr[data-isin]")].map(r => r.dataset.isin)`)
	if missing := difference(keys, shown); len(keys) != instruments || len(missing) > 0 {
		t.Fatalf("the snapshot holds %d ISINs; not on the page: %v", len(keys), missing)
	}

	// Rows change within two windows: once the page has seen two more
	// windows, most rows show a newer window than before, in place.
	before := rowEnds(t, ctx)
	changed := waitWindows(t, ctx, before, 2)
	if changed < instruments/2 {
		t.Fatalf("only %d of %d rows changed within two windows", changed, instruments)
	}
	if n := evalInt(t, ctx, `document.querySelectorAll("tr[data-isin]").length`); n != instruments {
		t.Fatalf("%d rows after updates: rows must update in place", n)
	}
	// The demo computes the interval aggregates: rows show their window's
	// high, low and volume, the high never below the low.
	shownAggregates := evalInt(t, ctx, `[...document.querySelectorAll("tr[data-isin]")].filter(r =>
		["high", "low", "volume"].every(c => /^[0-9,.]+$/.test(r.querySelector("td." + c).textContent))).length`)
	inverted := evalInt(t, ctx, `[...document.querySelectorAll("tr[data-isin]")].filter(r => {
		const n = c => Number(r.querySelector("td." + c).textContent.replaceAll(",", ""));
		return n("high") < n("low");
	}).length`)
	if shownAggregates < instruments/2 || inverted != 0 {
		t.Fatalf("%d of %d rows show a window's high, low and volume; %d show a high below the low", shownAggregates, instruments, inverted)
	}

	// Redis restarts (its data gone): the gateway resynchronises, the sink
	// writes again, and the page goes on updating; no row goes back.
	beforeRestart := rowEnds(t, ctx)
	redis.Restart()
	changed = waitWindows(t, ctx, beforeRestart, 2)
	if changed < instruments/2 {
		t.Fatalf("only %d of %d rows changed within two windows after the restart", changed, instruments)
	}
	for isin, end := range rowEnds(t, ctx) {
		if end < beforeRestart[isin] {
			t.Fatalf("%s went back from window %d to %d", isin, beforeRestart[isin], end)
		}
	}
	state := evalString(t, ctx, `document.getElementById("state").dataset.state`)
	if state != "live" {
		t.Fatalf("connection state %q after the restart, want live", state)
	}
	// The screenshot shows the steady state, a little after the restart.
	waitWindows(t, ctx, rowEnds(t, ctx), 2)

	saveScreenshot(t, ctx)
}

// ensureChromium installs Debian's chromium when missing (through the
// project's script) and returns its path.
func ensureChromium(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(testkit.ModuleRoot(t), "scripts", "ensure-chromium.sh")).Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			t.Fatalf("scripts/ensure-chromium.sh: %v: %s", err, exitErr.Stderr)
		}
		t.Fatalf("scripts/ensure-chromium.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// startDemo runs the demo pipeline with its embedded broker and the given
// Redis, and returns the page's URL.
func startDemo(t *testing.T, redisAddr string) string {
	t.Helper()
	opts := demo.DefaultOptions()
	opts.Redis = redisAddr
	opts.GatewayHTTP = "127.0.0.1:0"
	opts.Instruments = instruments
	opts.Rate = rate
	opts.Malformed = 0
	opts.OpeningSpike = false
	opts.Plain = true
	logs := &testkit.SyncBuffer{}
	opts.Stdout, opts.Logs = logs, logs
	ready := make(chan demo.Endpoints, 1)
	opts.Ready = func(e demo.Endpoints) { ready <- e }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the demo did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", logs.String())
		}
	})
	select {
	case e := <-ready:
		return e.Page
	case err := <-done:
		t.Fatalf("the demo stopped before it was ready: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo was not ready within 60s\n%s", logs.String())
	}
	return ""
}

// startBrowser starts headless Chromium with a new, empty profile and
// returns a context driving one tab of it.
func startBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // running as root in a container has no user namespace sandbox
		chromedp.DisableGPU,
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first call starts the browser, which lives as long as its
	// context: no timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// waitWindows waits until the page has shown windows more windows past the
// newest in before, and returns how many rows then show a newer window
// than in before.
func waitWindows(t *testing.T, ctx context.Context, before map[string]int64, windows int) int {
	t.Helper()
	var newest int64
	for _, end := range before {
		newest = max(newest, end)
	}
	target := newest + int64(windows)*windowMs
	var now map[string]int64
	testkit.WaitFor(t, 90*time.Second, fmt.Sprintf("%d more windows on the page", windows), func() (bool, string) {
		now = rowEnds(t, ctx)
		latest := int64(0)
		for _, end := range now {
			latest = max(latest, end)
		}
		return latest >= target, fmt.Sprintf("newest window end %d, want %d", latest, target)
	})
	changed := 0
	for isin, end := range now {
		if end > before[isin] {
			changed++
		}
	}
	return changed
}

// rowEnds returns each row's window end as the page shows it.
func rowEnds(t *testing.T, ctx context.Context) map[string]int64 {
	t.Helper()
	return evaluate[map[string]int64](t, ctx,
		`Object.fromEntries([...document.querySelectorAll("tr[data-isin]")].map(r => [r.dataset.isin, Number(r.dataset.end || 0)]))`)
}

// evaluate returns the value of the JavaScript expression expr on the page.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	evalCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(evalCtx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	return evaluate[int](t, ctx, expr)
}

func evalString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	return evaluate[string](t, ctx, expr)
}

func evalStrings(t *testing.T, ctx context.Context, expr string) []string {
	t.Helper()
	return evaluate[[]string](t, ctx, expr)
}

// difference returns the elements of want not in got.
func difference(want, got []string) []string {
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	return missing
}

// saveScreenshot captures the viewport as a PNG, to $BROWSERTEST_SCREENSHOT
// or the test's temporary directory.
func saveScreenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	shotCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(shotCtx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv(ScreenshotEnv)
	if path == "" {
		path = filepath.Join(t.TempDir(), "gateway.png")
	} else if !filepath.IsAbs(path) {
		path = filepath.Join(testkit.ModuleRoot(t), path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%d bytes): %s", len(png), path)
}
