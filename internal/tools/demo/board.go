package demo

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"tickcompact/internal/tools/emission"
)

// Sample is what one refresh of the board shows: the pipeline's counters
// over the window that just ended and since the start, read from the
// aggregator's and the sink's /metrics and from a Redis subscriber.
type Sample struct {
	// WindowStart and WindowEnd bound the window the refresh follows.
	WindowStart, WindowEnd time.Time
	// Elapsed is the time since the previous refresh (since the start for the
	// first one): the denominator of the per-second rate.
	Elapsed time.Duration
	// Uptime is the time since the demo started.
	Uptime time.Duration

	// TradesIn is the input records the aggregator consumed since the
	// previous refresh (replays after a rebalance excluded); TotalIn since
	// the start.
	TradesIn, TotalIn int64
	// RecordsOut is the trades-2s records the aggregator committed since the
	// previous refresh; TotalOut since the start.
	RecordsOut, TotalOut int64

	// Delay is how long after their window's end the trades-2s records
	// received since the previous refresh became readable (read_committed).
	Delay Delays

	// DLQIn is the records rejected since the previous refresh; DLQ counts
	// those since the start, by dlq-reason.
	DLQIn int64
	DLQ   map[string]int64
	// Late counts the valid records whose window had already closed.
	Late int64

	// RedisMessages is the Pub/Sub messages the board's subscriber received
	// since the previous refresh; RedisTotal since the start.
	RedisMessages, RedisTotal int64
	// SnapshotSize is the number of instruments in the snapshot hash, -1 when
	// unknown.
	SnapshotSize int64
	// Latest are the most recently published instruments, newest first.
	Latest []Quote
	// Notes are the last log lines of the services (warnings), shown in
	// place on a terminal; empty otherwise.
	Notes []string
}

// Delays are exact quantiles of emission delays: for each trades-2s record
// the board's own read_committed reader received, the time from its window's
// end (its window-end header) to its arrival, which follows the commit of its
// transaction within a fetch wait.
type Delays struct {
	// P50, P99 and Max are nearest-rank quantiles of the delays.
	P50, P99, Max time.Duration
	// Count is how many records they cover; 0 when none arrived.
	Count int
}

// delaysOf returns the quantiles of delays, sorting it in place.
func delaysOf(delays []time.Duration) Delays {
	p50, ok := emission.Quantile(delays, 0.5)
	if !ok {
		return Delays{}
	}
	p99, _ := emission.Quantile(delays, 0.99)
	return Delays{P50: p50, P99: p99, Max: delays[len(delays)-1], Count: len(delays)}
}

// Quote is one instrument as last published on the Redis channel.
type Quote struct {
	ISIN      string
	Name      string
	Price     int64
	PrevClose int64
	// High, Low and Volume are the interval aggregates of the quote's window
	// as the envelope carries them (decimal text); empty when it has none.
	High, Low, Volume string
}

// Change returns the price change against the previous close, in percent.
func (q Quote) Change() float64 {
	if q.PrevClose == 0 {
		return 0
	}
	return float64(q.Price-q.PrevClose) / float64(q.PrevClose) * 100
}

// DLQTotal is the sum of s.DLQ over all reasons.
func (s Sample) DLQTotal() int64 { return sumOf(s.DLQ) }

// Ratio returns in/out rounded to two decimals, as the board prints it, and
// false when out is zero.
func Ratio(in, out int64) (float64, bool) {
	if out <= 0 {
		return 0, false
	}
	return float64(in) / float64(out), true
}

// Board draws samples on a terminal, redrawing in place, or, when its writer
// is not a terminal, as one plain line per refresh with no escape codes.
type Board struct {
	out io.Writer
	tty bool
	// drawn is how many lines the previous in-place drawing took, to move
	// the cursor back over them.
	drawn int
}

// NewBoard returns a board writing to out; tty selects the in-place display.
func NewBoard(out io.Writer, tty bool) *Board { return &Board{out: out, tty: tty} }

// IsTerminal reports whether w is a character device (a terminal), the test
// golang.org/x/term would make without its extra dependency.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// Draw shows s.
func (b *Board) Draw(s Sample) error {
	if !b.tty {
		_, err := io.WriteString(b.out, PlainLine(s)+"\n")
		return err
	}
	var buf strings.Builder
	if b.drawn > 0 {
		// Back to the first line of the previous drawing, then clear from
		// there to the end of the screen.
		fmt.Fprintf(&buf, "\x1b[%dF\x1b[J", b.drawn)
	}
	lines := TerminalLines(s)
	for _, l := range lines {
		buf.WriteString(l)
		buf.WriteString("\x1b[K\n")
	}
	b.drawn = len(lines)
	_, err := io.WriteString(b.out, buf.String())
	return err
}

// PlainLine renders s as one line of key=value fields, for logs and pipes:
//
//	window=09:41:02-09:41:04 in=1624 in_per_s=812 out=430 ratio=3.78 total_in=28114 ...
//
// ratio is in/out and total_ratio total_in/total_out, both to two decimals
// ("-" while out is zero); delays are from window end to commit, over the
// trades-2s records received since the previous line.
func PlainLine(s Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "window=%s-%s", clock(s.WindowStart), clock(s.WindowEnd))
	fmt.Fprintf(&b, " in=%d in_per_s=%d out=%d ratio=%s", s.TradesIn, perSecond(s.TradesIn, s.Elapsed), s.RecordsOut, ratioText(s.TradesIn, s.RecordsOut))
	fmt.Fprintf(&b, " total_in=%d total_out=%d total_ratio=%s", s.TotalIn, s.TotalOut, ratioText(s.TotalIn, s.TotalOut))
	if s.Delay.Count > 0 {
		fmt.Fprintf(&b, " delay_p50=%s delay_p99=%s delay_max=%s delay_records=%d", millis(s.Delay.P50), millis(s.Delay.P99), millis(s.Delay.Max), s.Delay.Count)
	} else {
		b.WriteString(" delay_p50=- delay_p99=- delay_max=- delay_records=0")
	}
	fmt.Fprintf(&b, " dlq=%d late=%d redis_msgs=%d redis_total=%d", s.DLQTotal(), s.Late, s.RedisMessages, s.RedisTotal)
	if s.SnapshotSize >= 0 {
		fmt.Fprintf(&b, " snapshot=%d", s.SnapshotSize)
	}
	if len(s.Latest) > 0 {
		q := s.Latest[0]
		last := fmt.Sprintf("%s %s %s %+.2f%%", q.ISIN, q.Name, won(q.Price), q.Change())
		if q.High != "" {
			last += fmt.Sprintf(" high %s low %s volume %s", groupDecimal(q.High), groupDecimal(q.Low), groupDecimal(q.Volume))
		}
		fmt.Fprintf(&b, " last=%q", last)
	}
	return b.String()
}

// latestShown is how many instruments the terminal board lists.
const latestShown = 4

// Terminal colours and styles.
const (
	bold  = "\x1b[1m"
	dim   = "\x1b[2m"
	red   = "\x1b[31m"
	blue  = "\x1b[34m"
	reset = "\x1b[0m"
)

// screenColumns and boardRows are what the terminal board is drawn for: the
// header (headerRows) and at most boardRows lines of board fit 80x24 with
// the cursor on the last row, so the header stays in view.
const (
	screenColumns = 80
	boardRows     = 14
)

// TerminalLines renders s as the lines of the in-place board, at most
// boardRows of them, each under screenColumns columns, with colours: prices
// up on the previous close in red, down in blue, the Korean convention the
// legend names.
func TerminalLines(s Sample) []string {
	row := func(name string, window, total int64, rest string) string {
		return fmt.Sprintf("  %-16s %11s %12s   %s", name, group(window), group(total), rest)
	}
	lines := []string{
		fmt.Sprintf("%swindow %s-%s%s%52s", bold, clock(s.WindowStart), clock(s.WindowEnd), reset, "up "+uptime(s.Uptime)),
		dim + "                     this window        total" + reset,
		row("trades in", s.TradesIn, s.TotalIn, group(perSecond(s.TradesIn, s.Elapsed))+"/s"),
		row("records out", s.RecordsOut, s.TotalOut,
			fmt.Sprintf("%sx compaction (%sx total)", ratioText(s.TradesIn, s.RecordsOut), ratioText(s.TotalIn, s.TotalOut))),
		row("rejected (DLQ)", s.DLQIn, s.DLQTotal(), dim+dlqBreakdown(s.DLQ)+reset),
		fmt.Sprintf("  %-16s %11s %12s   %s", "late", "", group(s.Late), dim+"(their window had closed)"+reset),
		row("redis pub/sub", s.RedisMessages, s.RedisTotal, snapshotText(s.SnapshotSize)+" in "+SnapshotKey),
	}
	if s.Delay.Count > 0 {
		lines = append(lines, fmt.Sprintf("  window end -> committed  p50 %s  p99 %s  max %s  %s(%s records)%s",
			millis(s.Delay.P50), millis(s.Delay.P99), millis(s.Delay.Max), dim, group(int64(s.Delay.Count)), reset))
	} else {
		lines = append(lines, "  window end -> committed  -  "+dim+"(no window closed since the last refresh)"+reset)
	}
	// The columns of the quotes: the window's high, low and volume beside
	// the last price and its change on the previous close.
	lines = append(lines, bold+"  latest"+reset+dim+fmt.Sprintf("%-23s%9s %7s %9s %9s %8s", ", red up / blue down", "last", "vs prev", "high", "low", "volume")+reset)
	for i := 0; i < latestShown; i++ {
		if i >= len(s.Latest) {
			lines = append(lines, "")
			continue
		}
		q := s.Latest[i]
		colour := ""
		switch change := q.Change(); {
		case change > 0:
			colour = red
		case change < 0:
			colour = blue
		}
		high, low, volume := "-", "-", "-"
		if q.High != "" {
			high, low, volume = groupDecimal(q.High), groupDecimal(q.Low), groupDecimal(q.Volume)
		}
		lines = append(lines, fmt.Sprintf("    %-12s %-13s %9s %s%+6.2f%%%s %9s %9s %8s",
			q.ISIN, truncate(q.Name, 13), won(q.Price), colour, q.Change(), reset, high, low, volume))
	}
	if len(s.Notes) > 0 {
		lines = append(lines, dim+"  log: "+s.Notes[len(s.Notes)-1]+reset)
	}
	for i, l := range lines {
		lines[i] = fitColumns(l, screenColumns-1)
	}
	return lines
}

// fitColumns cuts line to at most n visible columns, the last an ellipsis,
// keeping its escape codes and ending any style it leaves open.
func fitColumns(line string, n int) string {
	if visibleWidth(line) <= n {
		return line
	}
	var b strings.Builder
	width := 0
	eachRune(line, func(r rune, visible bool) {
		if visible {
			if width >= n-1 {
				return
			}
			width++
		}
		b.WriteRune(r)
	})
	return b.String() + "…" + reset
}

// visibleWidth counts the runes of s outside escape sequences.
func visibleWidth(s string) int {
	width := 0
	eachRune(s, func(_ rune, visible bool) {
		if visible {
			width++
		}
	})
	return width
}

// eachRune calls f with each rune of s and whether it shows on a terminal:
// false inside an escape sequence (ESC [ ... final byte).
func eachRune(s string, f func(r rune, visible bool)) {
	inEscape := false
	for _, r := range s {
		switch {
		case r == '\x1b':
			inEscape = true
			f(r, false)
		case inEscape:
			if r >= '@' && r <= '~' && r != '[' {
				inEscape = false
			}
			f(r, false)
		default:
			f(r, true)
		}
	}
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "--:--:--"
	}
	return t.Format("15:04:05")
}

func uptime(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func perSecond(n int64, elapsed time.Duration) int64 {
	if elapsed <= 0 {
		return 0
	}
	return int64(float64(n)/elapsed.Seconds() + 0.5)
}

func ratioText(in, out int64) string {
	r, ok := Ratio(in, out)
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

func millis(d time.Duration) string {
	if d < 10*time.Millisecond {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + "ms"
}

func snapshotText(n int64) string {
	if n < 0 {
		return "-"
	}
	return group(n) + " ISINs"
}

func dlqBreakdown(byReason map[string]int64) string {
	reasons := make([]string, 0, len(byReason))
	for r, n := range byReason {
		if n > 0 {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) == 0 {
		return ""
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s=%d", r, byReason[r])
	}
	return strings.Join(parts, " ")
}

// groupDecimal puts thousands separators into the whole part of decimal
// text ("1234567.5" -> "1,234,567.5"); text it cannot read is returned as
// it is.
func groupDecimal(s string) string {
	sign, digits := "", s
	if strings.HasPrefix(s, "-") {
		sign, digits = "-", s[1:]
	}
	whole, fraction, hasPoint := strings.Cut(digits, ".")
	n, err := strconv.ParseUint(whole, 10, 63)
	if err != nil {
		return s
	}
	grouped := sign + group(int64(n))
	if hasPoint {
		return grouped + "." + fraction
	}
	return grouped
}

// won formats a price in Korean won with thousands separators.
func won(price int64) string { return group(price) }

// group formats n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
