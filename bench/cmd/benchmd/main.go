// Command benchmd renders BENCHMARKS.md from the raw results of bench/ (Go
// benchmark format files in one directory) and a text/template,
// bench/BENCHMARKS.md.tmpl. Every number in the output is the median of the
// runs in the files, with the spread (±, the larger distance from the
// median to the minimum or maximum) and the run count; a file that is
// missing renders as a line saying which command makes it. The headline
// table also goes into README.md, between "<!-- performance -->" and
// "<!-- /performance -->".
//
// Usage, from the repository root:
//
//	go run ./bench/cmd/benchmd [-results bench/results] [-template bench/BENCHMARKS.md.tmpl] [-o BENCHMARKS.md] [-readme README.md]
//
// Functions the template can call (FILE is a name in -results):
//
//	table FILE PREFIX UNIT...  Markdown table of the results whose name
//	                           starts with PREFIX, one column per unit
//	med FILE NAME UNIT         the median of UNIT over the runs of NAME
//	                           (a benchfmt.Summary; .Median is the number)
//	ratio A B                  A.Median/B.Median as "1.23×"
//	has FILE                   whether FILE exists and holds results
//	cfg FILE KEY               a configuration line ("cpu", "goos") of FILE
//	parsecmp UNIT              the Go/C table of cmsg.Parse (parse-*.txt)
//	num X                      X with 4 significant digits
//	mul X Y, div X Y, sub X Y  arithmetic on float64
//	atof S DEFAULT             S as a float64 (a cfg value), DEFAULT if it is none
//	x A B                      A.Median/B.Median as a float64 (NaN when
//	                           either is missing)
//	times X                    X as "1.23×", "262×" from 100 on ("—" for
//	                           NaN)
//	check X OP LIMIT           whether X meets a target: "met" or
//	                           "missed" for OP "<=" or ">=", "not measured"
//	                           for NaN
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/devmem-go/devmem/bench/internal/benchfmt"
	"github.com/devmem-go/devmem/bench/internal/report"
)

func main() {
	results := flag.String("results", "bench/results", "directory of raw results")
	tmpl := flag.String("template", "bench/BENCHMARKS.md.tmpl", "template")
	out := flag.String("o", "BENCHMARKS.md", "output file")
	readme := flag.String("readme", "README.md", `file whose "<!-- performance -->" block receives the headline table ("": none)`)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchmd: ")
	text, err := os.ReadFile(*tmpl)
	if err != nil {
		log.Fatal(err)
	}
	md, err := Render(string(text), *results)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, md, 0o644); err != nil {
		log.Fatal(err)
	}
	if *readme != "" {
		b, err := os.ReadFile(*readme)
		if err != nil {
			log.Fatal(err)
		}
		b, err = SpliceHeadline(b, md, filepath.Base(*out))
		if err != nil {
			log.Fatalf("%s: %v", *readme, err)
		}
		if err := os.WriteFile(*readme, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// The README block SpliceHeadline replaces.
const (
	perfStart = "<!-- performance -->"
	perfEnd   = "<!-- /performance -->"
)

// SpliceHeadline puts the headline table of the rendered md (the table
// under "## Headline") into readme, between perfStart and perfEnd (or in
// place of a lone perfStart), with a link to the full file, name.
func SpliceHeadline(readme, md []byte, name string) ([]byte, error) {
	var table, notes []string
	lines := strings.Split(string(md), "\n")
	for i, line := range lines {
		if line != "## Headline" {
			continue
		}
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(lines[j], "|") {
			j++
		}
		for ; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			table = append(table, lines[j])
		}
		// Footnotes of the table ("¹ ..."), a paragraph after a blank line.
		if j+1 < len(lines) && lines[j] == "" && strings.ContainsAny(lines[j+1][:min(len(lines[j+1]), 3)], "¹²³") {
			for j++; j < len(lines) && lines[j] != ""; j++ {
				notes = append(notes, lines[j])
			}
		}
		break
	}
	if len(table) < 3 {
		return nil, fmt.Errorf("the rendered file has no headline table")
	}
	if len(notes) > 0 {
		table = append(append(table, ""), notes...)
	}
	r := string(readme)
	i := strings.Index(r, perfStart)
	if i < 0 {
		return nil, fmt.Errorf("no %q marker", perfStart)
	}
	j := i + len(perfStart)
	if k := strings.Index(r[j:], perfEnd); k >= 0 {
		j += k + len(perfEnd)
	}
	block := perfStart + "\n## Performance\n\nMeasured by `make bench`; the method, every run and what each verdict rests on: [" +
		name + "](" + name + ").\n\n" + strings.Join(table, "\n") + "\n" + perfEnd
	return []byte(r[:i] + block + r[j:]), nil
}

// Data is the template's dot.
type Data struct {
	Generated string // UTC time
	Commit    string // git describe of the working tree
	GoVersion string
	Results   string // the results directory
	Files     []string
}

// Render executes the template text over the results in dir.
func Render(text, dir string) ([]byte, error) {
	files := map[string]*benchfmt.File{}
	load := func(name string) *benchfmt.File {
		if f, ok := files[name]; ok {
			return f
		}
		f, err := benchfmt.ParseFile(filepath.Join(dir, name))
		if err != nil {
			f = nil
		}
		files[name] = f
		return f
	}
	// results returns the file if it holds results.
	results := func(name string) *benchfmt.File {
		if f := load(name); f != nil && len(f.Results) > 0 {
			return f
		}
		return nil
	}
	missing := func(name string) string {
		return fmt.Sprintf("_Not measured: %s has no results (see bench/README.md)._\n", filepath.Join(dir, name))
	}
	funcs := template.FuncMap{
		"has": func(name string) bool { return results(name) != nil },
		"cfg": func(name, key string) string {
			if f := load(name); f != nil {
				return f.Config[key]
			}
			return ""
		},
		"med": func(name, bench, unit string) benchfmt.Summary {
			if f := results(name); f != nil {
				return benchfmt.Summarize(f.Values(bench, unit))
			}
			return benchfmt.Summarize(nil)
		},
		"ratio": report.Ratio,
		"table": func(name, prefix string, units ...string) string {
			f := results(name)
			if f == nil {
				return missing(name)
			}
			return report.UnitTable(f, prefix, units)
		},
		"parsecmp": func(unit string) string {
			g, c, d := results("parse-go.txt"), results("parse-c-checked.txt"), results("parse-c-ncdevmem.txt")
			if g == nil || c == nil || d == nil {
				return missing("parse-{go,c-checked,c-ncdevmem}.txt")
			}
			return report.ParseTable(g, c, d, report.Sizes(g, "BenchmarkParse/frags="), unit)
		},
		"num": benchfmt.Format,
		"x": func(a, b benchfmt.Summary) float64 {
			if a.N == 0 || b.N == 0 || b.Median == 0 {
				return math.NaN()
			}
			return a.Median / b.Median
		},
		"times": func(v float64) string {
			if math.IsNaN(v) {
				return "—"
			}
			if math.Abs(v) >= 100 {
				return fmt.Sprintf("%.0f×", v)
			}
			return fmt.Sprintf("%.2f×", v)
		},
		"check": check,
		"mul":   func(x, y float64) float64 { return x * y },
		"sub":   func(x, y float64) float64 { return x - y },
		"atof": func(s string, def float64) float64 {
			if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				return v
			}
			return def
		},
		"div": func(x, y float64) float64 {
			if y == 0 {
				return math.NaN()
			}
			return x / y
		},
	}
	t, err := template.New("BENCHMARKS.md").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	d := Data{
		Generated: time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Commit:    gitDescribe(),
		GoVersion: runtime.Version(),
		Results:   dir,
	}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if !e.IsDir() {
				d.Files = append(d.Files, e.Name())
			}
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// check says whether v meets the target "v op limit".
func check(v float64, op string, limit float64) (string, error) {
	if math.IsNaN(v) {
		return "not measured", nil
	}
	var ok bool
	switch op {
	case "<=":
		ok = v <= limit
	case ">=":
		ok = v >= limit
	default:
		return "", fmt.Errorf("check: unknown operator %q", op)
	}
	if ok {
		return "met", nil
	}
	return "missed", nil
}

func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
