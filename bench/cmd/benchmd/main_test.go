package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devmem-go/devmem/internal/testutil"
)

func TestRender(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "e2e.txt"), []byte(
		"cpu: X\nBenchmarkE2E/recv=go 1 1 ns/op 2 cpu-s/GiB\nBenchmarkE2E/recv=go 1 1 ns/op 4 cpu-s/GiB\n"+
			"BenchmarkE2E/recv=ncdevmem-c 1 1 ns/op 6 cpu-s/GiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "machine.txt"), []byte("host-cpu: Y Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const tmpl = `{{cfg "machine.txt" "host-cpu"}}|{{has "machine.txt"}}|{{cfg "e2e.txt" "cpu"}}|{{has "e2e.txt"}}|{{has "none.txt"}}|` +
		`{{(med "e2e.txt" "BenchmarkE2E/recv=go" "cpu-s/GiB").Median}}|` +
		`{{ratio (med "e2e.txt" "BenchmarkE2E/recv=go" "cpu-s/GiB") (med "e2e.txt" "BenchmarkE2E/recv=ncdevmem-c" "cpu-s/GiB")}}|` +
		`{{num (div 1 3)}}|{{.Files}}|` +
		`{{times (x (med "e2e.txt" "BenchmarkE2E/recv=go" "cpu-s/GiB") (med "e2e.txt" "BenchmarkE2E/recv=ncdevmem-c" "cpu-s/GiB"))}}|` +
		`{{check (x (med "e2e.txt" "BenchmarkE2E/recv=go" "cpu-s/GiB") (med "e2e.txt" "BenchmarkE2E/recv=ncdevmem-c" "cpu-s/GiB")) "<=" 0.8}}|` +
		`{{check (x (med "e2e.txt" "BenchmarkE2E/recv=go" "cpu-s/GiB") (med "e2e.txt" "BenchmarkE2E/recv=ncdevmem-c" "cpu-s/GiB")) ">=" 0.8}}|` +
		`{{times (x (med "e2e.txt" "BenchmarkE2E/recv=none" "cpu-s/GiB") (med "e2e.txt" "BenchmarkE2E/recv=go" "cpu-s/GiB"))}}|` +
		`{{check (x (med "e2e.txt" "BenchmarkE2E/recv=none" "cpu-s/GiB") (med "e2e.txt" "BenchmarkE2E/recv=go" "cpu-s/GiB")) "<=" 1.0}}
{{table "e2e.txt" "BenchmarkE2E" "cpu-s/GiB"}}{{table "none.txt" "B"}}{{parsecmp "ns/frag"}}`
	out, err := Render(tmpl, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"Y Z|false|X|true|false|3|0.50×|0.3333|[e2e.txt machine.txt]|0.50×|met|missed|—|not measured\n",
		"| E2E/recv=go | 3.000 ±33% (n=2) |",
		"| E2E/recv=ncdevmem-c | 6.000 ±0% (n=1) |",
		"_Not measured: " + filepath.Join(dir, "none.txt"),
		"parse-{go,c-checked,c-ncdevmem}.txt has no results",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if _, err := Render("{{nosuchfunc}}", dir); err == nil {
		t.Error("a bad template rendered")
	}
	if _, err := Render(`{{check 1.0 "<" 2.0}}`, dir); err == nil {
		t.Error("check with a bad operator rendered")
	}
}

// TestTemplate renders the real template over no results: every section
// must say what is missing, none may fail.
func TestTemplate(t *testing.T) {
	text, err := os.ReadFile("../../BENCHMARKS.md.tmpl")
	if errors.Is(err, fs.ErrNotExist) && testutil.InVM() {
		t.Skip("the template lies outside this package's directory, which is all a VM payload carries; the host run checks it")
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(string(text), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "_Not measured:"); n < 6 {
		t.Errorf("%d sections say not measured, want every one (>= 6):\n%s", n, out)
	}
}

func TestSpliceHeadline(t *testing.T) {
	md := []byte("# B\n\n## Headline\n\n| | a | b |\n|---|---|---|\n| 1 | x | y¹ |\n\n¹ A note\non two lines.\n\nafter\n| not | this |\n")
	want := "top\n<!-- performance -->\n## Performance\n\nMeasured by `make bench`; the method, every run and what each verdict rests on: [B.md](B.md).\n\n" +
		"| | a | b |\n|---|---|---|\n| 1 | x | y¹ |\n\n¹ A note\non two lines.\n<!-- /performance -->\nend\n"
	for _, readme := range []string{
		"top\n<!-- performance -->\nend\n",
		"top\n<!-- performance -->\nold table\n<!-- /performance -->\nend\n",
	} {
		got, err := SpliceHeadline([]byte(readme), md, "B.md")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("README %q:\ngot  %q\nwant %q", readme, got, want)
		}
		// Idempotent.
		again, err := SpliceHeadline(got, md, "B.md")
		if err != nil || string(again) != want {
			t.Errorf("second splice: %q, %v", again, err)
		}
	}
	if _, err := SpliceHeadline([]byte("no marker"), md, "B.md"); err == nil {
		t.Error("a README without the marker was accepted")
	}
	if _, err := SpliceHeadline([]byte("<!-- performance -->"), []byte("no table"), "B.md"); err == nil {
		t.Error("a rendering without a headline table was accepted")
	}
}
