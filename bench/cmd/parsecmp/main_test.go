package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/devmem-go/devmem/bench/internal/benchfmt"
)

// TestImplRun checks that run adds the process's CPU time per frag to the
// result line and keeps the rest of the output.
func TestImplRun(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	im := &impl{name: "fake", cmd: func(n string) *exec.Cmd {
		// Burn a little CPU so that the time is not 0.
		return exec.Command(sh, "-c", `i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done
echo "cpu: Fake"; echo "BenchmarkParse/frags=`+n+`-2 100 5.0 ns/op 1.25 ns/frag"; echo PASS`)
	}}
	if err := im.run("4"); err != nil {
		t.Fatal(err)
	}
	f, err := benchfmt.Parse(strings.NewReader(im.raw.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Results) != 1 || f.Config["cpu"] != "Fake" || !strings.HasSuffix(im.raw.String(), "PASS\n") {
		t.Fatalf("output:\n%s", im.raw.String())
	}
	r := f.Results[0]
	if r.Values["ns/frag"] != 1.25 || r.Values["cpu-ns/frag"] <= 0 {
		t.Errorf("values %v, want ns/frag 1.25 and a positive cpu-ns/frag", r.Values)
	}

	noResult := &impl{name: "empty", cmd: func(string) *exec.Cmd { return exec.Command(sh, "-c", "echo hello") }}
	if err := noResult.run("1"); err == nil {
		t.Error("no error for output without a result line")
	}
	failing := &impl{name: "fail", cmd: func(string) *exec.Cmd { return exec.Command(sh, "-c", "exit 3") }}
	if err := failing.run("1"); err == nil {
		t.Error("no error for a failing benchmark")
	}
}
