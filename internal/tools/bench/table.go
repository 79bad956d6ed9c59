package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Verdict says whether a figure meets its target.
type Verdict int

const (
	// Unmeasured: the measurement failed or was skipped.
	Unmeasured Verdict = iota
	// Met: the figure meets its target.
	Met
	// Missed: the figure does not meet its target.
	Missed
)

func (v Verdict) String() string {
	switch v {
	case Met:
		return "MET"
	case Missed:
		return "MISSED"
	}
	return "n/a"
}

// AtMost is Met when figure <= target, Missed otherwise, and Unmeasured when
// figure is not a number (a failed measurement).
func AtMost(figure, target float64) Verdict {
	switch {
	case math.IsNaN(figure) || math.IsInf(figure, 0):
		return Unmeasured
	case figure <= target:
		return Met
	}
	return Missed
}

// AtLeast is Met when figure >= target, Missed otherwise, and Unmeasured when
// figure is not a number.
func AtLeast(figure, target float64) Verdict {
	switch {
	case math.IsNaN(figure) || math.IsInf(figure, 0):
		return Unmeasured
	case figure >= target:
		return Met
	}
	return Missed
}

// All combines verdicts: Missed when any missed, Unmeasured when any is
// unmeasured (and none missed), Met otherwise.
func All(verdicts ...Verdict) Verdict {
	out := Met
	for _, v := range verdicts {
		switch v {
		case Missed:
			return Missed
		case Unmeasured:
			out = Unmeasured
		}
	}
	return out
}

// Row is one line of the result table.
type Row struct {
	// ID numbers the row as the issue does ("2", "3a").
	ID string
	// Measure says what was measured.
	Measure string
	// Figure is the measured value.
	Figure string
	// Limit is what the figure is compared with, measured in the same run
	// (a bare loop), or "-" when the target is absolute.
	Limit string
	// Target is the goal, e.g. "<= 250 ns/op" or ">= 0.8 x limit".
	Target string
	// Verdict says whether Figure meets Target.
	Verdict Verdict
}

// Failed returns a row for a measurement that could not be made.
func Failed(id, measure, target string, err error) Row {
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120] + "..."
	}
	return Row{ID: id, Measure: measure, Figure: "error: " + msg, Limit: "-", Target: target, Verdict: Unmeasured}
}

// RenderTable writes rows as a Markdown table whose columns are padded, so it
// reads the same in a terminal and in docs/performance.md.
func RenderTable(w io.Writer, rows []Row) error {
	header := []string{"#", "Measure", "Figure", "Limit (same run)", "Target", "Result"}
	cells := make([][]string, 0, len(rows)+1)
	cells = append(cells, header)
	for _, r := range rows {
		cells = append(cells, []string{r.ID, r.Measure, r.Figure, orDash(r.Limit), r.Target, r.Verdict.String()})
	}
	widths := make([]int, len(header))
	for _, line := range cells {
		for i, c := range line {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	writeLine := func(line []string) {
		b.WriteString("|")
		for i, c := range line {
			b.WriteString(" ")
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))))
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	writeLine(cells[0])
	b.WriteString("|")
	for _, wd := range widths {
		b.WriteString(strings.Repeat("-", wd+2))
		b.WriteString("|")
	}
	b.WriteString("\n")
	for _, line := range cells[1:] {
		writeLine(line)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Summary counts the verdicts of rows, e.g. "7 met, 1 missed, 0 not measured".
func Summary(rows []Row) string {
	var met, missed, none int
	for _, r := range rows {
		switch r.Verdict {
		case Met:
			met++
		case Missed:
			missed++
		default:
			none++
		}
	}
	return fmt.Sprintf("%d met, %d missed, %d not measured", met, missed, none)
}

// rate formats records per second with thousands separators: "271,400/s".
func rate(perSecond float64) string {
	if math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return "n/a"
	}
	return thousands(int64(math.Round(perSecond))) + "/s"
}

// thousands formats n with comma separators: 2000000 -> "2,000,000".
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
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

// millis formats seconds as milliseconds: 0.0734 -> "73.4 ms".
func millis(seconds float64) string {
	if math.IsNaN(seconds) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", seconds*1000)
}
