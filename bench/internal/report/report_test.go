package report

import (
	"strings"
	"testing"

	"github.com/devmem-go/devmem/bench/internal/benchfmt"
	"github.com/google/go-cmp/cmp"
)

func parse(t *testing.T, s string) *benchfmt.File {
	t.Helper()
	f, err := benchfmt.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseTable(t *testing.T) {
	g := parse(t, "BenchmarkParse/frags=1-2 1 30 ns/frag\nBenchmarkParse/frags=1-2 1 20 ns/frag\nBenchmarkParse/frags=16-2 1 10 ns/frag\n")
	c := parse(t, "BenchmarkParse/frags=1-2 1 5 ns/frag\nBenchmarkParse/frags=16-2 1 5 ns/frag\n")
	d := parse(t, "BenchmarkParse/frags=1-2 1 4 ns/frag\n")
	sizes := Sizes(g, "BenchmarkParse/frags=")
	if diff := cmp.Diff([]string{"1", "16"}, sizes); diff != "" {
		t.Fatalf("Sizes (-want +got):\n%s", diff)
	}
	got := ParseTable(g, c, d, sizes, "ns/frag")
	want := `| frags | Go cmsg.Parse ns/frag | C checked ns/frag | C ncdevmem ns/frag | Go/C checked | Go/C ncdevmem |
|---:|---:|---:|---:|---:|---:|
| 1 | 25.00 ±20% (n=2) | 5.000 ±0% (n=1) | 4.000 ±0% (n=1) | 5.00× | 6.25× |
| 16 | 10.00 ±0% (n=1) | 5.000 ±0% (n=1) | — | 2.00× | — |
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseTable (-want +got):\n%s", diff)
	}
}

func TestUnitTable(t *testing.T) {
	f := parse(t, "BenchmarkA/x-2 1 1 ns/op 2 B/op\nBenchmarkA/y-2 1 3 ns/op\nBenchmarkB 1 9 ns/op\n")
	got := UnitTable(f, "BenchmarkA", nil)
	want := `| benchmark | ns/op | B/op |
|---|---:|---:|
| A/x | 1.000 ±0% (n=1) | 2.000 ±0% (n=1) |
| A/y | 3.000 ±0% (n=1) | — |
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UnitTable (-want +got):\n%s", diff)
	}
	if got := UnitTable(f, "BenchmarkC", []string{"ns/op"}); !strings.Contains(got, "No results named BenchmarkC") {
		t.Errorf("UnitTable of no rows = %q", got)
	}
}
