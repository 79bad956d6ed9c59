package demo

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

func sampleForTest() Sample {
	end := time.Date(2026, 3, 2, 9, 41, 4, 0, time.Local)
	return Sample{
		WindowStart: end.Add(-WindowSize), WindowEnd: end,
		Elapsed: 2 * time.Second, Uptime: 36 * time.Second,
		TradesIn: 1624, TotalIn: 28114,
		RecordsOut: 430, TotalOut: 7981,
		Delay: Quantiles{P50: 12 * time.Millisecond, P99: 48 * time.Millisecond, Known: true, Scope: "window"},
		DLQ:   map[string]int64{"invalid-json": 4, "missing-isin": 3, "future-time": 0},
		Late:  2, RedisMessages: 428, RedisTotal: 7950, SnapshotSize: 900,
		Latest: []Quote{
			{ISIN: "KR7005930003", Name: "Samsung Electronics", Price: 71_200, PrevClose: 70_900},
			{ISIN: "KR7035720002", Name: "Kakao", Price: 41_000, PrevClose: 41_850},
		},
		Notes: []string{`level=WARN msg="something" service=sink`},
	}
}

func TestPlainLine(t *testing.T) {
	line := PlainLine(sampleForTest())
	for _, want := range []string{
		"window=09:41:02-09:41:04", " in=1624 ", " in_per_s=812 ", " out=430 ", " ratio=3.78 ",
		" total_in=28114 ", " total_out=7981 ", " total_ratio=3.52 ",
		" delay_p50=12ms ", " delay_p99=48ms ", " delay_scope=window ", " dlq=7 ", " late=2 ",
		" redis_msgs=428 ", " snapshot=900 ", `last="KR7005930003 Samsung Electronics 71,200 +0.42%"`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("plain line lacks %q:\n%s", want, line)
		}
	}
	if strings.ContainsAny(line, "\x1b\n") {
		t.Errorf("plain line has an escape code or a newline: %q", line)
	}
}

func TestPlainLineBeforeOutput(t *testing.T) {
	s := Sample{TradesIn: 10, TotalIn: 10, SnapshotSize: -1}
	line := PlainLine(s)
	for _, want := range []string{" ratio=- ", " total_ratio=- ", " delay_p50=- "} {
		if !strings.Contains(line, want) {
			t.Errorf("plain line lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "snapshot=") || strings.Contains(line, "last=") {
		t.Errorf("unknown snapshot or no quote should be left out:\n%s", line)
	}
}

func TestBoardPlainModeWritesNoEscapeCodes(t *testing.T) {
	var out bytes.Buffer
	b := NewBoard(&out, false)
	for range 3 {
		if err := b.Draw(sampleForTest()); err != nil {
			t.Fatal(err)
		}
	}
	if bytes.ContainsRune(out.Bytes(), '\x1b') {
		t.Fatalf("non-terminal output has escape codes:\n%q", out.String())
	}
	if lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); len(lines) != 3 {
		t.Fatalf("want one line per refresh, got %d:\n%s", len(lines), out.String())
	}
}

func TestBoardTerminalModeRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	b := NewBoard(&out, true)
	if err := b.Draw(sampleForTest()); err != nil {
		t.Fatal(err)
	}
	first := out.String()
	lines := strings.Count(first, "\n")
	if strings.Contains(first, "\x1b[J") {
		t.Errorf("first drawing should not move the cursor back:\n%q", first)
	}
	for _, want := range []string{"window 09:41:02-09:41:04", "1,624 this window", "3.78x", "p50 12ms", "rejected (DLQ)", "invalid-json=4 missing-isin=3",
		"Samsung Electronics", "71,200", "+0.42%", "\x1b[31m", "-2.03%", "\x1b[34m", "recent service log lines"} {
		if !strings.Contains(first, want) {
			t.Errorf("terminal board lacks %q:\n%s", want, first)
		}
	}
	out.Reset()
	if err := b.Draw(sampleForTest()); err != nil {
		t.Fatal(err)
	}
	if want := "\x1b[" + strconv.Itoa(lines) + "F\x1b[J"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("second drawing should start by moving %d lines up (%q), got %q", lines, want, out.String()[:20])
	}
	for _, l := range TerminalLines(sampleForTest()) {
		if w := visibleWidth(l); w >= 80 {
			t.Errorf("line is %d columns wide, want under 80: %q", w, l)
		}
	}
}

// visibleWidth counts the runes of s outside escape sequences.
func visibleWidth(s string) int {
	width, inEscape := 0, false
	for _, r := range s {
		switch {
		case r == '\x1b':
			inEscape = true
		case inEscape:
			if r >= '@' && r <= '~' && r != '[' {
				inEscape = false
			}
		default:
			width++
		}
	}
	return width
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}

func TestRatio(t *testing.T) {
	if _, ok := Ratio(5, 0); ok {
		t.Error("no ratio without output")
	}
	if r, _ := Ratio(1624, 430); ratioText(1624, 430) != "3.78" || r < 3.776 || r > 3.777 {
		t.Errorf("Ratio(1624, 430) = %v, %s", r, ratioText(1624, 430))
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 71200: "71,200", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := histogram{upperBounds: []float64{0.01, 0.05, 0.1}, cumulative: []uint64{50, 90, 100}, count: 100}
	for _, tc := range []struct {
		q, want float64
	}{
		{0.5, 0.01},     // rank 50 ends the first bucket
		{0.25, 0.005},   // halfway through the first bucket, from 0
		{0.7, 0.03},     // halfway through the second
		{0.99, 0.095},   // nine tenths through the third
		{1.0, 0.1},      // the last finite bound
		{0.95, 0.075},   // halfway through the third
		{0.899, 0.0499}, // just inside the second
	} {
		got, ok := h.quantile(tc.q)
		if !ok || got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("quantile(%v) = %v, %v; want %v", tc.q, got, ok, tc.want)
		}
	}
	if _, ok := (histogram{}).quantile(0.5); ok {
		t.Error("an empty histogram has no quantile")
	}
	over := histogram{upperBounds: []float64{1, 2}, cumulative: []uint64{0, 0}, count: 4}
	if got, _ := over.quantile(0.5); got != 2 {
		t.Errorf("observations above the last bound: got %v, want the last bound 2", got)
	}
}

func TestHistogramSince(t *testing.T) {
	earlier := histogram{upperBounds: []float64{1, 2}, cumulative: []uint64{3, 4}, count: 5}
	now := histogram{upperBounds: []float64{1, 2}, cumulative: []uint64{10, 14}, count: 15}
	d := now.since(earlier)
	if d.count != 10 || d.cumulative[0] != 7 || d.cumulative[1] != 10 {
		t.Errorf("since = %+v", d)
	}
	if restarted := earlier.since(now); restarted.count != earlier.count {
		t.Errorf("a histogram that went backwards should be taken whole, got %+v", restarted)
	}
}

func TestDelayQuantilesFallsBackToTotal(t *testing.T) {
	total := histogram{upperBounds: []float64{0.01, 0.1}, cumulative: []uint64{10, 10}, count: 10}
	q := delayQuantiles(histogram{upperBounds: total.upperBounds, cumulative: []uint64{0, 0}}, total)
	if !q.Known || q.Scope != "total" || q.P50 != 5*time.Millisecond {
		t.Errorf("got %+v", q)
	}
	if q := delayQuantiles(histogram{}, histogram{}); q.Known {
		t.Errorf("no observation: got %+v", q)
	}
}

func TestNextRefresh(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000) // a multiple of 2 s
	for _, tc := range []struct{ now, want time.Duration }{
		{0, 500 * time.Millisecond},
		{499 * time.Millisecond, 500 * time.Millisecond},
		{500 * time.Millisecond, 2500 * time.Millisecond},
		{1900 * time.Millisecond, 2500 * time.Millisecond},
		{2600 * time.Millisecond, 4500 * time.Millisecond},
	} {
		if got := nextRefresh(base.Add(tc.now)).Sub(base); got != tc.want {
			t.Errorf("nextRefresh(base+%v) = base+%v, want base+%v", tc.now, got, tc.want)
		}
	}
}

func TestQuoteFeedKeepsDistinctRecentInstruments(t *testing.T) {
	f := &quoteFeed{keep: 2}
	envelope := func(trade string) string {
		return `{"isin":"x","window_start":0,"window_end":2000,"trade_count":1,"trade":` + trade + `}`
	}
	f.add(envelope(`{"isin":"KR7005930003","name":"Samsung Electronics","price":71200,"prevClose":70900}`))
	f.add(envelope(`{"isin":"KR7035720002","name":"Kakao","price":41000,"prevClose":41850}`))
	f.add(envelope(`{"isin":"KR7005930003","name":"Samsung Electronics","price":71300,"prevClose":70900}`))
	f.add(`not json`)
	received, latest := f.read()
	if received != 4 || f.bad != 1 {
		t.Errorf("received %d (bad %d), want 4 (bad 1)", received, f.bad)
	}
	if len(latest) != 2 || latest[0].Price != 71300 || latest[1].ISIN != "KR7035720002" {
		t.Errorf("latest = %+v", latest)
	}
}

func TestRecentLinesKeepsLastLines(t *testing.T) {
	r := newRecentLines(2)
	_, _ = r.Write([]byte("time=2026-03-02T09:00:00Z level=WARN msg=one\nlevel=WARN msg=two\nlevel=WARN "))
	_, _ = r.Write([]byte("msg=three\n"))
	got := r.lines()
	if len(got) != 2 || got[0] != "level=WARN msg=two" || got[1] != "level=WARN msg=three" {
		t.Errorf("lines = %q", got)
	}
	if (*recentLines)(nil).lines() != nil {
		t.Error("a nil recentLines has no lines")
	}
}
