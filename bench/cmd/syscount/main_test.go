package main

import (
	"strings"
	"testing"

	"github.com/devmem-go/devmem/bench/internal/benchfmt"
	"github.com/devmem-go/devmem/bench/internal/syscount"
	"github.com/google/go-cmp/cmp"
)

func TestLine(t *testing.T) {
	c := &syscount.Counts{ByName: map[string]uint64{"recvmsg": 2, "setsockopt": 6}, Total: 8}
	line := Line("recv=go x", c, 2<<30)
	f, err := benchfmt.Parse(strings.NewReader(line))
	if err != nil || len(f.Results) != 1 {
		t.Fatalf("Line %q does not parse: %v", line, err)
	}
	want := benchfmt.Result{Name: "BenchmarkSyscalls/recv=go_x", Iters: 1, Values: map[string]float64{
		"syscalls": 8, "setsockopt": 6, "recvmsg": 2,
		"syscalls/GiB": 4, "setsockopt/GiB": 3, "recvmsg/GiB": 1,
	}}
	if diff := cmp.Diff(want, f.Results[0]); diff != "" {
		t.Errorf("Line (-want +got):\n%s", diff)
	}
	if l := Line("n", c, 0); strings.Contains(l, "/GiB") {
		t.Errorf("per-GiB units without -bytes: %q", l)
	}
}
