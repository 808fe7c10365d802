// Package benchfmt reads the Go benchmark format (the lines go test -bench
// prints, and what bench/cparse and the end-to-end drivers print) and
// summarises repeated runs by their median.
//
// Every measurement of bench/ is kept in this one format, so that benchstat
// can compare any two files and bench/cmd/benchmd can render them all into
// BENCHMARKS.md. A file is a sequence of "key: value" configuration lines
// (goos, goarch, pkg, cpu, ...) and result lines:
//
//	BenchmarkParse/frags=1024-2   40896   8271.90 ns/op   8.078 ns/frag
//
// The "-2" suffix (GOMAXPROCS) is split off the name.
package benchfmt

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Result is one result line.
type Result struct {
	// Name is the benchmark's name without the GOMAXPROCS suffix, for
	// example "BenchmarkParse/frags=1024".
	Name string
	// Procs is the GOMAXPROCS suffix (0 when absent).
	Procs int
	// Iters is the iteration count.
	Iters int64
	// Values maps a unit ("ns/op", "ns/frag", ...) to its value.
	Values map[string]float64
}

// File is a parsed benchmark file.
type File struct {
	// Config holds the "key: value" lines; a later line wins.
	Config map[string]string
	// Results holds the result lines in order.
	Results []Result
}

// Parse reads the Go benchmark format from r. Lines that are neither
// configuration nor results (PASS, ok, log output) are skipped.
func Parse(r io.Reader) (*File, error) {
	f := &File{Config: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if res, ok := parseResult(line); ok {
			f.Results = append(f.Results, res)
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok && isConfigKey(k) {
			f.Config[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchfmt: reading: %w", err)
	}
	return f, nil
}

// ParseFile parses the named file.
func ParseFile(name string) (*File, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := Parse(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

// isConfigKey reports whether k is a configuration key: a lower-case
// letter, then letters, digits, '-', '_' or '.', and no spaces.
func isConfigKey(k string) bool {
	if k == "" || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for _, c := range k {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

func parseResult(line string) (Result, bool) {
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
		return Result{}, false
	}
	iters, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return Result{}, false
	}
	r := Result{Name: fields[0], Iters: iters, Values: make(map[string]float64, (len(fields)-2)/2)}
	if i := strings.LastIndexByte(r.Name, '-'); i > 0 {
		if p, err := strconv.Atoi(r.Name[i+1:]); err == nil && p > 0 {
			r.Name, r.Procs = r.Name[:i], p
		}
	}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return Result{}, false
		}
		r.Values[fields[i+1]] = v
	}
	return r, true
}

// Values returns, in file order, every value of unit reported by the
// results named name.
func (f *File) Values(name, unit string) []float64 {
	var vs []float64
	for _, r := range f.Results {
		if v, ok := r.Values[unit]; ok && r.Name == name {
			vs = append(vs, v)
		}
	}
	return vs
}

// Names returns the distinct result names in order of first appearance.
func (f *File) Names() []string {
	var names []string
	for _, r := range f.Results {
		if !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return names
}

// Units returns the distinct units in order of first appearance.
func (f *File) Units() []string {
	var units []string
	for _, r := range f.Results {
		for _, u := range unitOrder(r.Values) {
			if !slices.Contains(units, u) {
				units = append(units, u)
			}
		}
	}
	return units
}

func unitOrder(m map[string]float64) []string {
	us := make([]string, 0, len(m))
	for u := range m {
		us = append(us, u)
	}
	slices.Sort(us)
	// ns/op first, as go test prints it.
	if i := slices.Index(us, "ns/op"); i > 0 {
		us = append([]string{"ns/op"}, slices.Delete(us, i, i+1)...)
	}
	return us
}

// Summary is the median of repeated runs and their spread.
type Summary struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the median, minimum and maximum of vs, and N = 0 when
// vs is empty.
func Summarize(vs []float64) Summary {
	if len(vs) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Spread returns the larger distance from the median to the minimum or
// maximum, as a fraction of the median (benchstat's "± x%").
func (s Summary) Spread() float64 {
	switch {
	case s.N == 0:
		return math.NaN()
	case s.Max == s.Min:
		return 0
	case s.Median == 0:
		return math.Inf(1)
	}
	return math.Max(s.Max-s.Median, s.Median-s.Min) / math.Abs(s.Median)
}

// String formats s as "median ±spread% (n=N)".
func (s Summary) String() string {
	if s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%s ±%.0f%% (n=%d)", Format(s.Median), 100*s.Spread(), s.N)
}

// Format prints v with 4 significant digits, without an exponent for the
// magnitudes benchmarks produce.
func Format(v float64) string {
	if math.Abs(v) < 1e4 {
		// Round to 4 significant digits first, so that the magnitude
		// below is the rounded value's (999.96 prints as 1000).
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64)
	}
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "—"
	case a == 0:
		return "0"
	case a >= 1e4:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 4-1-int(math.Floor(math.Log10(a))), 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
