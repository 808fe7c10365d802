package main

import (
	"path/filepath"
	"testing"

	"github.com/devmem-go/devmem/bench/internal/benchfmt"
)

// TestRun runs one short round and checks that every receiver got the
// whole stream (once fails otherwise) and left a parseable result line.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	if err := run(1, warmup+(1<<20), dir); err != nil {
		t.Fatal(err)
	}
	f, err := benchfmt.ParseFile(filepath.Join(dir, "copymode.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plain", "devmem-io.Copy", "devmem-Read", "devmem-ReadFrags"} {
		vs := f.Values("BenchmarkCopyMode/recv="+name, "MB/s")
		if len(vs) != 1 || !(vs[0] > 0) {
			t.Errorf("%s: MB/s %v, want one positive value", name, vs)
		}
		if b := f.Values("BenchmarkCopyMode/recv="+name, "B/GiB"); len(b) != 1 {
			t.Errorf("%s: no B/GiB", name)
		}
	}
}
