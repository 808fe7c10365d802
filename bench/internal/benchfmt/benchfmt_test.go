package benchfmt

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// goOut is what go test prints; cOut what bench/cparse prints.
const goOut = `goos: linux
goarch: amd64
pkg: github.com/devmem-go/devmem/cmsg
cpu: Oxide Virtual Turin-like Processor             
BenchmarkParse/frags=1-2         	 8139854	        46.41 ns/op	 861.80 MB/s	        46.41 ns/frag	       0 B/op	       0 allocs/op
BenchmarkParse/frags=1024-2      	   10000	     35760 ns/op	1145.40 MB/s	        34.92 ns/frag	       0 B/op	       0 allocs/op
PASS
ok  	github.com/devmem-go/devmem/cmsg	1.812s
`

const cOut = `goos: linux
impl: c-checked
BenchmarkParse/frags=1-2	  43406600	       11.23 ns/op	     3563.05 MB/s	   11.2263 ns/frag
BenchmarkParse/frags=1-2	  43406600	       12.00 ns/op	     3563.05 MB/s	   12.0000 ns/frag
BenchmarkSyscalls/recv=go 1 29 syscalls 8 mmap 3 recvmsg
`

func TestParse(t *testing.T) {
	f, err := Parse(strings.NewReader(goOut))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Config: map[string]string{
			"goos": "linux", "goarch": "amd64", "pkg": "github.com/devmem-go/devmem/cmsg",
			"cpu": "Oxide Virtual Turin-like Processor",
		},
		Results: []Result{
			{Name: "BenchmarkParse/frags=1", Procs: 2, Iters: 8139854, Values: map[string]float64{
				"ns/op": 46.41, "MB/s": 861.80, "ns/frag": 46.41, "B/op": 0, "allocs/op": 0}},
			{Name: "BenchmarkParse/frags=1024", Procs: 2, Iters: 10000, Values: map[string]float64{
				"ns/op": 35760, "MB/s": 1145.40, "ns/frag": 34.92, "B/op": 0, "allocs/op": 0}},
		},
	}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ns/op", "B/op", "MB/s", "allocs/op", "ns/frag"}, f.Units()); diff != "" {
		t.Errorf("Units (-want +got):\n%s", diff)
	}
}

func TestValuesNames(t *testing.T) {
	f, err := Parse(strings.NewReader(cOut))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{11.2263, 12}, f.Values("BenchmarkParse/frags=1", "ns/frag")); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"BenchmarkParse/frags=1", "BenchmarkSyscalls/recv=go"}, f.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	if got := f.Values("BenchmarkSyscalls/recv=go", "recvmsg"); len(got) != 1 || got[0] != 3 {
		t.Errorf("recvmsg = %v, want [3]", got)
	}
	if f.Config["impl"] != "c-checked" {
		t.Errorf("impl = %q", f.Config["impl"])
	}
}

func TestParseRejects(t *testing.T) {
	for _, line := range []string{
		"Benchmark",                       // no fields
		"BenchmarkX 10",                   // no value
		"BenchmarkX ten 1 ns/op",          // iterations not a number
		"BenchmarkX 10 1 ns/op 2",         // odd field count
		"BenchmarkX 10 x ns/op",           // value not a number
		"NotABenchmark 10 1 ns/op",        // name
		"Some Log: line with spaces",      // neither result nor config
		"--- FAIL: BenchmarkX 10 1 ns/op", // go test failure line
	} {
		f, err := Parse(strings.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Results) != 0 || len(f.Config) != 0 {
			t.Errorf("%q: parsed as %+v", line, f)
		}
	}
	// A dash not followed by a count stays in the name.
	f, _ := Parse(strings.NewReader("BenchmarkX/recv=ncdevmem-c 1 5 s/GiB"))
	if len(f.Results) != 1 || f.Results[0].Name != "BenchmarkX/recv=ncdevmem-c" || f.Results[0].Procs != 0 {
		t.Errorf("got %+v", f.Results)
	}
}

func TestSummarize(t *testing.T) {
	for _, tt := range []struct {
		in     []float64
		want   Summary
		spread float64
	}{
		{[]float64{3, 1, 2}, Summary{Median: 2, Min: 1, Max: 3, N: 3}, 0.5},
		{[]float64{4, 1, 2, 3}, Summary{Median: 2.5, Min: 1, Max: 4, N: 4}, 0.6},
		{[]float64{0, 0}, Summary{N: 2}, 0},
		{[]float64{7}, Summary{Median: 7, Min: 7, Max: 7, N: 1}, 0},
	} {
		got := Summarize(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Summarize(%v) (-want +got):\n%s", tt.in, diff)
		}
		if s := got.Spread(); math.Abs(s-tt.spread) > 1e-12 {
			t.Errorf("Summarize(%v).Spread() = %v, want %v", tt.in, s, tt.spread)
		}
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Median) || s.String() != "—" {
		t.Errorf("Summarize(nil) = %+v, %q", s, s)
	}
	if got := Summarize([]float64{1, 2, 3}).String(); got != "2.000 ±50% (n=3)" {
		t.Errorf("String = %q", got)
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 1: "1.000", 12.345: "12.35", 999.96: "1000", 1234.5: "1234", 262144: "262144",
		0.01427: "0.01427", -3.5: "-3.500", math.NaN(): "—",
	} {
		if got := Format(v); got != want {
			t.Errorf("Format(%v) = %q, want %q", v, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(goOut)
	f.Add(cOut)
	f.Add("BenchmarkX-0 1 NaN ns/op")
	f.Fuzz(func(t *testing.T, s string) {
		file, err := Parse(strings.NewReader(s))
		if err != nil {
			return // a line over the scanner's limit
		}
		for _, r := range file.Results {
			if !strings.HasPrefix(r.Name, "Benchmark") || r.Procs < 0 || len(r.Values) == 0 {
				t.Fatalf("bad result %+v", r)
			}
			for u := range r.Values {
				if u == "" || strings.ContainsAny(u, " \t\n") {
					t.Fatalf("bad unit %q", u)
				}
			}
		}
		for _, n := range file.Names() {
			for _, u := range file.Units() {
				s := Summarize(file.Values(n, u))
				if s.N > 0 && !(s.Min <= s.Median && s.Median <= s.Max) && !math.IsNaN(s.Median) {
					t.Fatalf("summary out of order: %+v", s)
				}
			}
		}
	})
}
