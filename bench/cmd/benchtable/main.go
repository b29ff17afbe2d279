// Command benchtable reads the output of `go test -bench` for the bench
// module on standard input and prints a markdown table: one row per
// framework, the median of every metric over the -count runs, then how graft
// compares with the goroutine-and-channel baseline and with the best peer.
// Graft-only workloads whose sub-benchmarks are variants, not frameworks
// (W6: batched, unbatched, paced-25k), get a table of their own after it.
//
// Lines that are not benchmark results (headers, warnings, PASS) are skipped,
// so the raw output of run.sh can be piped in as it is.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(res.samples) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results on stdin")
		os.Exit(1)
	}
	fmt.Print(render(res))
}

// metric names one reported number: a workload (the benchmark's name, less
// "Benchmark") and the unit it was reported in.
type metric struct {
	workload, unit string
}

// results holds every sample read, per row and metric. A row is a
// framework, or for a graft-only workload whose sub-benchmarks are variants
// (see variantTables) the workload and variant, as "W6/batched".
// frameworks and variants list the rows in the order they first appeared.
type results struct {
	frameworks []string
	variants   []string
	samples    map[string]map[metric][]float64
	procs      []string // the GOMAXPROCS suffixes seen, e.g. "2"
}

// parse reads benchmark lines such as
//
//	BenchmarkW1/graft-2   1   86136347 ns/op   23.56 Mmsg/s
//
// The "-2" suffix (GOMAXPROCS) is dropped, so runs at one GOMAXPROCS pool
// together; a benchmark without a "/framework" part is not one of ours and is
// skipped. In a workload of variantTables, such as
//
//	BenchmarkW6/batched-2   1   5304247 ns/op   58220 msg/s   5335 p50-us   12200 p99-us
//
// the part after the slash is a variant, kept apart from the frameworks.
func parse(r io.Reader) (results, error) {
	res := results{samples: map[string]map[metric][]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		workload, framework, ok := strings.Cut(strings.TrimPrefix(fields[0], "Benchmark"), "/")
		if !ok {
			continue
		}
		framework, procs := splitProcs(framework)
		if !slices.Contains(res.procs, procs) {
			res.procs = append(res.procs, procs)
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // not a result line, e.g. a benchmark's log output
		}
		row := framework
		if isVariantWorkload(workload) {
			row = workload + "/" + framework
		}
		if res.samples[row] == nil {
			res.samples[row] = map[metric][]float64{}
			if row == framework {
				res.frameworks = append(res.frameworks, row)
			} else {
				res.variants = append(res.variants, row)
			}
		}
		// After the iteration count come (value, unit) pairs.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return res, fmt.Errorf("%s: value %q: %w", fields[0], fields[i], err)
			}
			m := metric{workload, fields[i+1]}
			res.samples[row][m] = append(res.samples[row][m], v)
		}
	}
	return res, sc.Err()
}

// splitProcs splits off the "-N" that go test appends to a benchmark's name
// when GOMAXPROCS is not 1, returning the name and N ("1" when absent).
func splitProcs(name string) (string, string) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, "1"
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name, "1"
	}
	return name[:i], name[i+1:]
}

// median of the samples for (framework, m), and whether there were any.
// framework is any row of res (a variant row too).
func (res results) median(framework string, m metric) (float64, bool) {
	s := slices.Clone(res.samples[framework][m])
	if len(s) == 0 {
		return 0, false
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// runs is the largest number of samples of any metric of framework: the
// -count the table's medians were taken over.
func (res results) runs(framework string) int {
	n := 0
	for _, s := range res.samples[framework] {
		n = max(n, len(s))
	}
	return n
}

// column is one reported quantity: a column of the ratio table unless
// noRatio, and part of a cell of the main table (see cells).
type column struct {
	title         string
	m             metric
	lowerIsBetter bool
	format        func(float64) string
	// noRatio leaves the column out of the ratio table: W5's message
	// counts, which are zero for most frameworks and whose ratios say
	// nothing.
	noRatio bool
}

const (
	baseline = "channel"
	subject  = "graft"
)

func columns() []column {
	return []column{
		{title: "W1 Mmsg/s", m: metric{"W1", "Mmsg/s"}, format: fixed(2)},
		{title: "W1s Mmsg/s", m: metric{"W1s", "Mmsg/s"}, format: fixed(2)},
		{title: "W2 Mmsg/s", m: metric{"W2", "Mmsg/s"}, format: fixed(2)},
		{title: "W3 p50 µs", m: metric{"W3", "p50-us"}, lowerIsBetter: true, format: fixed(2)},
		{title: "W3 p99 µs", m: metric{"W3", "p99-us"}, lowerIsBetter: true, format: fixed(2)},
		{title: "W4 actors/s", m: metric{"W4", "actors/s"}, format: thousands},
		{title: "W4 B/actor", m: metric{"W4", "B/actor"}, lowerIsBetter: true, format: thousands},
		{title: "W4 heap B/actor", m: metric{"W4", "heapB/actor"}, lowerIsBetter: true, format: thousands},
		{title: "W5 restarts/s", m: metric{"W5", "restarts/s"}, format: thousands},
		{title: "W5 lost", m: metric{"W5", "lost"}, lowerIsBetter: true, format: thousands, noRatio: true},
		{title: "W5 reported", m: metric{"W5", "reported"}, lowerIsBetter: true, format: thousands, noRatio: true},
		{title: "W5 restart p50 µs", m: metric{"W5", "p50-µs"}, lowerIsBetter: true, format: micros},
		{title: "W5 restart p99 µs", m: metric{"W5", "p99-µs"}, lowerIsBetter: true, format: micros},
		{title: "W5p reported", m: metric{"W5p", "reported"}, lowerIsBetter: true, format: thousands, noRatio: true},
		{title: "W5p restart p50 µs", m: metric{"W5p", "p50-µs"}, lowerIsBetter: true, format: micros},
		{title: "W5p restart p99 µs", m: metric{"W5p", "p99-µs"}, lowerIsBetter: true, format: micros},
	}
}

// cell is one column of the main table: the columns (by title) it shows,
// two of them as "a / b".
type cell struct {
	title  string
	titles []string
}

func cells() []cell {
	return []cell{
		{"W1 Mmsg/s", []string{"W1 Mmsg/s"}},
		{"W1s Mmsg/s", []string{"W1s Mmsg/s"}},
		{"W2 Mmsg/s", []string{"W2 Mmsg/s"}},
		{"W3 p50 / p99 µs", []string{"W3 p50 µs", "W3 p99 µs"}},
		{"W4 actors/s", []string{"W4 actors/s"}},
		{"W4 B/actor", []string{"W4 B/actor"}},
		{"W4 heap B/actor", []string{"W4 heap B/actor"}},
		{"W5 restarts/s", []string{"W5 restarts/s"}},
		{"W5 lost", []string{"W5 lost"}},
		{"W5 reported", []string{"W5 reported"}},
		{"W5 restart p50 / p99 µs", []string{"W5 restart p50 µs", "W5 restart p99 µs"}},
		{"W5p reported", []string{"W5p reported"}},
		{"W5p restart p50 / p99 µs", []string{"W5p restart p50 µs", "W5p restart p99 µs"}},
	}
}

// variantTable is a graft-only workload whose sub-benchmarks are variants
// of it rather than frameworks (BenchmarkW6/batched, /unbatched, ...). It
// gets a table of its own, a row per variant, without ratios: there is
// nothing to compare graft with.
type variantTable struct {
	workload, title string
	columns         []column
	cells           []cell
}

func variantTables() []variantTable {
	return []variantTable{{
		workload: "W6",
		title:    "W6, one plugin-backed actor (graft only)",
		columns: []column{
			{title: "msg/s", m: metric{"W6", "msg/s"}, format: thousands},
			{title: "p50 µs", m: metric{"W6", "p50-us"}, lowerIsBetter: true, format: micros},
			{title: "p99 µs", m: metric{"W6", "p99-us"}, lowerIsBetter: true, format: micros},
		},
		cells: []cell{
			{"msg/s", []string{"msg/s"}},
			{"latency p50 / p99 µs", []string{"p50 µs", "p99 µs"}},
		},
	}}
}

func isVariantWorkload(workload string) bool {
	return slices.ContainsFunc(variantTables(), func(t variantTable) bool { return t.workload == workload })
}

// render prints the table of frameworks (with its ratios), if any, then a
// table per variant workload that has results.
func render(res results) string {
	var parts []string
	if len(res.frameworks) > 0 {
		parts = append(parts, renderFrameworks(res))
	}
	for _, t := range variantTables() {
		if s := renderVariants(res, t); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}

// renderVariants prints t's table, or "" if no variant of it was read.
func renderVariants(res results, t variantTable) string {
	var rows, names []string
	for _, row := range res.variants {
		if name, ok := strings.CutPrefix(row, t.workload+"/"); ok {
			rows, names = append(rows, row), append(names, name)
		}
	}
	if len(rows) == 0 {
		return ""
	}
	byTitle := make(map[string]column, len(t.columns))
	for _, c := range t.columns {
		byTitle[c.title] = c
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s, medians over %s, GOMAXPROCS=%s.\n\n", t.title, runsNote(res, rows), strings.Join(res.procs, ","))
	writeHeader(&b, t.workload, t.cells)
	for i, row := range rows {
		writeRow(&b, res, names[i], row, t.cells, byTitle)
	}
	return b.String()
}

// writeHeader writes a table's header: first the row names' column, then
// one per cell.
func writeHeader(b *strings.Builder, first string, layout []cell) {
	b.WriteString("| " + first + " |")
	for _, c := range layout {
		b.WriteString(" " + c.title + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(layout)) + "\n")
}

// writeRow writes the row of res named name in the table: the median of
// each column, "—" for one without samples.
func writeRow(b *strings.Builder, res results, name, row string, layout []cell, byTitle map[string]column) {
	b.WriteString("| " + name + " |")
	for _, c := range layout {
		vals := make([]string, len(c.titles))
		for i, t := range c.titles {
			vals[i] = "—"
			if v, ok := res.median(row, byTitle[t].m); ok {
				vals[i] = byTitle[t].format(v)
			}
		}
		b.WriteString(" " + strings.Join(vals, " / ") + " |")
	}
	b.WriteString("\n")
}

func renderFrameworks(res results) string {
	var b strings.Builder
	rows := orderedRows(res.frameworks)
	cols := columns()
	byTitle := make(map[string]column, len(cols))
	for _, c := range cols {
		byTitle[c.title] = c
	}
	layout := cells()

	fmt.Fprintf(&b, "Medians over %s, GOMAXPROCS=%s.\n\n", runsNote(res, rows), strings.Join(res.procs, ","))
	writeHeader(&b, "framework", layout)
	for _, fw := range rows {
		writeRow(&b, res, fw, fw, layout, byTitle)
	}

	if _, ok := res.samples[subject]; !ok {
		return b.String()
	}
	cols = slices.DeleteFunc(cols, func(c column) bool { return c.noRatio })
	b.WriteString("\nHow many times better graft is (above 1: graft is faster, quicker or smaller):\n\n")
	b.WriteString("| graft vs |")
	for _, c := range cols {
		b.WriteString(" " + c.title + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(cols)) + "\n")
	b.WriteString("| " + baseline + " |")
	for _, c := range cols {
		b.WriteString(" " + advantageCell(res, c, baseline) + " |")
	}
	b.WriteString("\n| best peer |")
	for _, c := range cols {
		peer, ok := bestPeer(res, rows, c)
		if !ok {
			b.WriteString(" — |")
			continue
		}
		b.WriteString(" " + advantageCell(res, c, peer) + " (" + peer + ") |")
	}
	b.WriteString("\n")
	return b.String()
}

// advantageCell is how many times better graft is than other on c, as
// "1.23×", or "—" when either has no samples.
func advantageCell(res results, c column, other string) string {
	g, ok1 := res.median(subject, c.m)
	o, ok2 := res.median(other, c.m)
	if !ok1 || !ok2 || g <= 0 || o <= 0 {
		return "—"
	}
	if c.lowerIsBetter {
		return ratio(o / g)
	}
	return ratio(g / o)
}

// ratio formats a ratio with two decimals, or with two significant digits
// below 0.1, where two decimals would round it to 0.00 (W5 restarts/s can be
// hundreds of times apart).
func ratio(v float64) string {
	if v < 0.1 {
		return fmt.Sprintf("%.2g×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

// bestPeer is the peer (neither graft nor the baseline) with the best median
// on c.
func bestPeer(res results, rows []string, c column) (string, bool) {
	best, bestV := "", 0.0
	for _, fw := range rows {
		if fw == subject || fw == baseline {
			continue
		}
		v, ok := res.median(fw, c.m)
		if !ok || v <= 0 {
			continue
		}
		if best == "" || (c.lowerIsBetter && v < bestV) || (!c.lowerIsBetter && v > bestV) {
			best, bestV = fw, v
		}
	}
	return best, best != ""
}

// orderedRows puts the baseline first, then graft, then the peers; any other
// framework found in the input comes after these, in input order.
func orderedRows(seen []string) []string {
	rowOrder := []string{baseline, subject, "hollywood", "protoactor", "ergo"}
	var rows []string
	for _, fw := range rowOrder {
		if slices.Contains(seen, fw) {
			rows = append(rows, fw)
		}
	}
	for _, fw := range seen {
		if !slices.Contains(rowOrder, fw) {
			rows = append(rows, fw)
		}
	}
	return rows
}

// runsNote says how many runs the medians are over: "5 runs", or a range
// when frameworks differ (a run that failed part way).
func runsNote(res results, rows []string) string {
	lo, hi := 0, 0
	for i, fw := range rows {
		n := res.runs(fw)
		if i == 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if lo == hi {
		if lo == 1 {
			return "1 run"
		}
		return fmt.Sprintf("%d runs", lo)
	}
	return fmt.Sprintf("%d to %d runs", lo, hi)
}

func fixed(digits int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', digits, 64) }
}

// micros formats a latency in µs: one decimal below 100, whole numbers with
// commas from there (W5 restart latencies run from 0.5 to thousands).
func micros(v float64) string {
	if v < 100 {
		return fixed(1)(v)
	}
	return thousands(v)
}

// thousands formats v rounded to an integer with commas: 288,274.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
