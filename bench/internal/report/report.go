// Package report renders summaries of benchmark files (bench/internal/benchfmt)
// as Markdown tables, for bench/cmd/parsecmp and bench/cmd/benchmd.
package report

import (
	"fmt"
	"strings"

	"github.com/devmem-go/devmem/bench/internal/benchfmt"
)

// ParseTable renders the medians of unit for cmsg.Parse (goF) and the two C
// walkers, and the Go/C ratios, one row per control-buffer size.
func ParseTable(goF, checked, ncdevmem *benchfmt.File, sizes []string, unit string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| frags | Go cmsg.Parse %[1]s | C checked %[1]s | C ncdevmem %[1]s | Go/C checked | Go/C ncdevmem |\n", unit)
	fmt.Fprintf(&b, "|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range sizes {
		name := "BenchmarkParse/frags=" + n
		g := benchfmt.Summarize(goF.Values(name, unit))
		c := benchfmt.Summarize(checked.Values(name, unit))
		d := benchfmt.Summarize(ncdevmem.Values(name, unit))
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", n, g, c, d, Ratio(g, c), Ratio(g, d))
	}
	return b.String()
}

// Ratio formats a.Median/b.Median as "1.23×", or "—" when either is
// missing.
func Ratio(a, b benchfmt.Summary) string {
	if a.N == 0 || b.N == 0 || b.Median == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a.Median/b.Median)
}

// Sizes returns what follows prefix in the names of f's results, in order
// of first appearance ("1", "16", ... for "BenchmarkParse/frags=").
func Sizes(f *benchfmt.File, prefix string) []string {
	var s []string
	for _, n := range f.Names() {
		if rest, ok := strings.CutPrefix(n, prefix); ok {
			s = append(s, rest)
		}
	}
	return s
}

// UnitTable renders the results of f whose names start with prefix, one
// row per name and one column per unit (all the units the rows report when
// units is empty), each cell the median ±spread (n=runs).
func UnitTable(f *benchfmt.File, prefix string, units []string) string {
	var names []string
	for _, n := range f.Names() {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("_No results named %s*._\n", prefix)
	}
	if len(units) == 0 {
		units = f.Units()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| benchmark | %s |\n|---|%s\n", strings.Join(units, " | "), strings.Repeat("---:|", len(units)))
	for _, n := range names {
		fmt.Fprintf(&b, "| %s |", strings.TrimPrefix(n, "Benchmark"))
		for _, u := range units {
			fmt.Fprintf(&b, " %s |", benchfmt.Summarize(f.Values(n, u)))
		}
		b.WriteString("\n")
	}
	return b.String()
}
