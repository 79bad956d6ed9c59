package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// BenchResult is one line of `go test -bench -benchmem` output.
type BenchResult struct {
	// Name is the benchmark name without the -GOMAXPROCS suffix,
	// e.g. "BenchmarkRecordPath/isins=900".
	Name        string
	Iterations  int64
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
}

// ParseBenchOutput extracts the benchmark lines from go test output.
func ParseBenchOutput(r io.Reader) ([]BenchResult, error) {
	var out []BenchResult
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		res := BenchResult{Name: trimProcs(f[0]), Iterations: iters, BytesPerOp: -1, AllocsPerOp: -1}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			switch f[i+1] {
			case "ns/op":
				res.NsPerOp = v
			case "B/op":
				res.BytesPerOp = v
			case "allocs/op":
				res.AllocsPerOp = v
			}
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// trimProcs drops the "-N" GOMAXPROCS suffix go test appends.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// MedianByName groups results by name (several with -count) and returns,
// per name, the run with the median ns/op, in the order names first appear.
func MedianByName(results []BenchResult) []BenchResult {
	groups := map[string][]BenchResult{}
	var order []string
	for _, r := range results {
		if _, ok := groups[r.Name]; !ok {
			order = append(order, r.Name)
		}
		groups[r.Name] = append(groups[r.Name], r)
	}
	out := make([]BenchResult, 0, len(order))
	for _, name := range order {
		g := groups[name]
		sort.Slice(g, func(i, j int) bool { return g[i].NsPerOp < g[j].NsPerOp })
		out = append(out, g[(len(g)-1)/2])
	}
	return out
}

// engineRows evaluates row 1 from the benchmark results: 1a and 1b with the
// interval aggregates off (the default), 1c and 1d with them on.
func engineRows(results []BenchResult, count int) []Row {
	const target = "<= 250 ns/op, <= 1 alloc/op"
	var rows []Row
	for i, c := range []struct {
		isins      int
		aggregates bool
	}{{900, false}, {100_000, false}, {900, true}, {100_000, true}} {
		id := "1" + string(rune('a'+i))
		measure := fmt.Sprintf("Window engine, %s ISINs: parse+validate+window per record", thousands(int64(c.isins)))
		name := fmt.Sprintf("BenchmarkRecordPath/isins=%d", c.isins)
		if c.aggregates {
			measure = fmt.Sprintf("Window engine, %s ISINs, interval aggregates on", thousands(int64(c.isins)))
			name += ",aggregates=on"
		}
		found := false
		for _, r := range results {
			if r.Name != name {
				continue
			}
			found = true
			rows = append(rows, Row{
				ID:      id,
				Measure: measure,
				Figure:  fmt.Sprintf("%.0f ns/op, %.0f allocs/op (median of %d)", r.NsPerOp, r.AllocsPerOp, count),
				Limit:   "-",
				Target:  target,
				Verdict: All(AtMost(r.NsPerOp, 250), AtMost(r.AllocsPerOp, 1)),
			})
		}
		if !found {
			rows = append(rows, Failed(id, measure, target, fmt.Errorf("no %s in the go test output", name)))
		}
	}
	return rows
}

// runEngine runs BenchmarkRecordPath with go test in moduleDir.
func (e *env) runEngine(ctx context.Context) []Row {
	count, benchtime := 3, "1s"
	if e.opts.Quick {
		count, benchtime = 1, "200ms"
	}
	args := []string{"test", "-run", "^$", "-bench", "BenchmarkRecordPath", "-benchmem",
		"-count", strconv.Itoa(count), "-benchtime", benchtime, "./aggregator/"}
	e.logf("row 1: go %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = e.opts.ModuleDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return []Row{Failed("1", "Window engine (BenchmarkRecordPath)", "<= 250 ns/op, <= 1 alloc/op",
			fmt.Errorf("go test: %v: %s", err, lastLine(string(out))))}
	}
	results, err := ParseBenchOutput(strings.NewReader(string(out)))
	if err != nil {
		return []Row{Failed("1", "Window engine (BenchmarkRecordPath)", "<= 250 ns/op, <= 1 alloc/op", err)}
	}
	for _, r := range results {
		e.notef("row 1 raw: %s %.1f ns/op %.0f B/op %.0f allocs/op", r.Name, r.NsPerOp, r.BytesPerOp, r.AllocsPerOp)
	}
	return engineRows(MedianByName(results), count)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
