package demo

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
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

	// Delay holds the p50 and p99 of the aggregator's emission delay
	// (transaction commit minus window end), when known.
	Delay Quantiles

	// DLQ counts the rejected records since the start, by dlq-reason.
	DLQ map[string]int64
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

// Quantiles are emission-delay quantiles estimated from histogram buckets.
type Quantiles struct {
	// P50 and P99 are the estimates.
	P50, P99 time.Duration
	// Known is false when no window had closed yet.
	Known bool
	// Scope says which observations they cover: "window" (those since the
	// previous refresh) or "total" (since the start, used when no window
	// closed since the previous refresh).
	Scope string
}

// Quote is one instrument as last published on the Redis channel.
type Quote struct {
	ISIN      string
	Name      string
	Price     int64
	PrevClose int64
}

// Change returns the price change against the previous close, in percent.
func (q Quote) Change() float64 {
	if q.PrevClose == 0 {
		return 0
	}
	return float64(q.Price-q.PrevClose) / float64(q.PrevClose) * 100
}

// DLQTotal is the sum of s.DLQ over all reasons.
func (s Sample) DLQTotal() int64 {
	var n int64
	for _, v := range s.DLQ {
		n += v
	}
	return n
}

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
// ("-" while out is zero); delays are the aggregator's emission delay.
func PlainLine(s Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "window=%s-%s", clock(s.WindowStart), clock(s.WindowEnd))
	fmt.Fprintf(&b, " in=%d in_per_s=%d out=%d ratio=%s", s.TradesIn, perSecond(s.TradesIn, s.Elapsed), s.RecordsOut, ratioText(s.TradesIn, s.RecordsOut))
	fmt.Fprintf(&b, " total_in=%d total_out=%d total_ratio=%s", s.TotalIn, s.TotalOut, ratioText(s.TotalIn, s.TotalOut))
	if s.Delay.Known {
		fmt.Fprintf(&b, " delay_p50=%s delay_p99=%s delay_scope=%s", millis(s.Delay.P50), millis(s.Delay.P99), s.Delay.Scope)
	} else {
		b.WriteString(" delay_p50=- delay_p99=-")
	}
	fmt.Fprintf(&b, " dlq=%d late=%d redis_msgs=%d redis_total=%d", s.DLQTotal(), s.Late, s.RedisMessages, s.RedisTotal)
	if s.SnapshotSize >= 0 {
		fmt.Fprintf(&b, " snapshot=%d", s.SnapshotSize)
	}
	if len(s.Latest) > 0 {
		q := s.Latest[0]
		fmt.Fprintf(&b, " last=%q", fmt.Sprintf("%s %s %s %+.2f%%", q.ISIN, q.Name, won(q.Price), q.Change()))
	}
	return b.String()
}

// latestShown is how many instruments the terminal board lists.
const latestShown = 6

// TerminalLines renders s as the lines of the in-place board, with colours
// (Korean convention: red up, blue down). Lines stay under 80 columns.
func TerminalLines(s Sample) []string {
	const (
		bold  = "\x1b[1m"
		dim   = "\x1b[2m"
		red   = "\x1b[31m"
		blue  = "\x1b[34m"
		reset = "\x1b[0m"
	)
	lines := []string{
		fmt.Sprintf("%swindow %s-%s%s   up %s", bold, clock(s.WindowStart), clock(s.WindowEnd), reset, uptime(s.Uptime)),
		fmt.Sprintf("  trades in     %7s/s  %9s this window  %11s total",
			group(perSecond(s.TradesIn, s.Elapsed)), group(s.TradesIn), group(s.TotalIn)),
		fmt.Sprintf("  records out              %9s this window  %11s total", group(s.RecordsOut), group(s.TotalOut)),
		fmt.Sprintf("  compaction               %9s this window  %11s total",
			ratioText(s.TradesIn, s.RecordsOut)+"x", ratioText(s.TotalIn, s.TotalOut)+"x"),
	}
	if s.Delay.Known {
		lines = append(lines, fmt.Sprintf("  emission delay  p50 %s  p99 %s  %s(%s, aggregator histogram)%s",
			millis(s.Delay.P50), millis(s.Delay.P99), dim, s.Delay.Scope, reset))
	} else {
		lines = append(lines, "  emission delay  -  "+dim+"(no window closed yet)"+reset)
	}
	lines = append(lines,
		fmt.Sprintf("  rejected (DLQ)                         %11s total", group(s.DLQTotal())),
		fmt.Sprintf("    %s%s%s", dim, truncate(dlqBreakdown(s.DLQ), 76), reset),
		fmt.Sprintf("  late                                   %11s total", group(s.Late)),
		fmt.Sprintf("  redis pub/sub            %9s this window  %11s total", group(s.RedisMessages), group(s.RedisTotal)),
		fmt.Sprintf("  redis snapshot           %9s in %s", snapshotText(s.SnapshotSize), SnapshotKey),
		"",
		bold+"  latest on "+Channel+reset+dim+"  (price, change vs previous close)"+reset,
	)
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
		lines = append(lines, fmt.Sprintf("    %-12s  %-28s %11s  %s%+6.2f%%%s",
			q.ISIN, truncate(q.Name, 28), won(q.Price), colour, q.Change(), reset))
	}
	if len(s.Notes) > 0 {
		lines = append(lines, "", dim+"  recent service log lines:"+reset)
		for _, n := range s.Notes {
			lines = append(lines, "  "+dim+truncate(n, 76)+reset)
		}
	}
	return lines
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
