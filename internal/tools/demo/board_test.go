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
		Delay: Delays{P50: 12 * time.Millisecond, P99: 48 * time.Millisecond, Max: 61 * time.Millisecond, Count: 430},
		DLQIn: 2, DLQ: map[string]int64{"invalid-json": 4, "missing-isin": 3, "future-time": 0},
		Late: 2, RedisMessages: 428, RedisTotal: 7950, SnapshotSize: 900,
		Latest: []Quote{
			{ISIN: "KR7005930003", Name: "Samsung Electronics", Price: 71_200, PrevClose: 70_900, High: "71300", Low: "71100", Volume: "1234.5"},
			{ISIN: "KR7035720002", Name: "Kakao", Price: 41_000, PrevClose: 41_850},
			{ISIN: "KR7000660001", Name: "SK hynix", Price: 180_500, PrevClose: 180_500},
			{ISIN: "KR7005380001", Name: "Hyundai Motor Company Preferred Shares Series 2", Price: 99_000, PrevClose: 98_000},
		},
		Notes: []string{`level=WARN msg="something" service=sink`},
	}
}

func TestPlainLine(t *testing.T) {
	line := PlainLine(sampleForTest())
	for _, want := range []string{
		"window=09:41:02-09:41:04", " in=1624 ", " in_per_s=812 ", " out=430 ", " ratio=3.78 ",
		" total_in=28114 ", " total_out=7981 ", " total_ratio=3.52 ",
		" delay_p50=12ms ", " delay_p99=48ms ", " delay_max=61ms ", " delay_records=430 ", " dlq=7 ", " late=2 ",
		" redis_msgs=428 ", " snapshot=900 ", `last="KR7005930003 Samsung Electronics 71,200 +0.42% high 71,300 low 71,100 volume 1,234.5"`,
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
	for _, want := range []string{"window 09:41:02-09:41:04", "this window", "1,624", "3.78x compaction (3.52x total)",
		"window end -> committed  p50 12ms  p99 48ms  max 61ms", "(430 records)", "rejected (DLQ)", "invalid-json=4 missing-isin=3",
		"red up / blue down", "high", "volume", "Samsung Elec", "71,200", "+0.42%", "71,300", "71,100", "1,234.5", "\x1b[31m", "-2.03%", "\x1b[34m", "log: level=WARN"} {
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
}

// The header and the board fit an 80x24 terminal together, with the cursor
// on the last row: so the header stays in view while the board redraws.
func TestHeaderAndBoardFit80x24(t *testing.T) {
	var header bytes.Buffer
	e := Endpoints{Brokers: "127.0.0.1:35125", EmbeddedKafka: true, Redis: "127.0.0.1:41235", EmbeddedRedis: true,
		AggregatorMetrics: "http://127.0.0.1:38291/metrics", SinkMetrics: "http://127.0.0.1:41291/metrics",
		GatewayMetrics: "http://127.0.0.1:8080/metrics", Page: "http://127.0.0.1:8080/"}
	opts := DefaultOptions()
	opts.StreamKey = "a-rather-long-stream-key-that-would-not-fit-on-the-line"
	printHeader(&header, e, opts, "shown on the board", true)
	lines := strings.Split(strings.TrimSuffix(header.String(), "\n"), "\n")
	if len(lines) != headerRows {
		t.Errorf("the header has %d lines, want headerRows = %d", len(lines), headerRows)
	}
	for _, want := range []string{"http://127.0.0.1:8080/", "kcat -C -b 127.0.0.1:35125 -t trades-2s", "apt-get install kcat", "Ctrl-C"} {
		if !strings.Contains(header.String(), want) {
			t.Errorf("header lacks %q:\n%s", want, header.String())
		}
	}
	board := TerminalLines(sampleForTest())
	if len(board) > boardRows {
		t.Errorf("the board has %d lines, want at most boardRows = %d", len(board), boardRows)
	}
	if rows := len(lines) + len(board); rows > 23 {
		t.Errorf("header and board take %d rows, want at most 23 of 24", rows)
	}
	for _, l := range append(lines, board...) {
		if w := visibleWidth(l); w >= 80 {
			t.Errorf("line is %d columns wide, want under 80: %q", w, l)
		}
	}
}

func TestFitColumns(t *testing.T) {
	if got := fitColumns("short", 10); got != "short" {
		t.Errorf("fitColumns(short) = %q", got)
	}
	got := fitColumns("\x1b[1mbold text\x1b[0m and more", 8)
	if visibleWidth(got) != 8 || !strings.HasPrefix(got, "\x1b[1mbold te") || !strings.HasSuffix(got, "…\x1b[0m") {
		t.Errorf("fitColumns = %q (%d columns)", got, visibleWidth(got))
	}
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

func TestDelaysOf(t *testing.T) {
	var delays []time.Duration
	for i := 100; i >= 1; i-- {
		delays = append(delays, time.Duration(i)*time.Millisecond)
	}
	d := delaysOf(delays)
	if d.P50 != 50*time.Millisecond || d.P99 != 99*time.Millisecond || d.Max != 100*time.Millisecond || d.Count != 100 {
		t.Errorf("delaysOf = %+v", d)
	}
	if d := delaysOf(nil); d.Count != 0 {
		t.Errorf("no delays: %+v", d)
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
