package dmabuf

import (
	"testing"
)

func BenchmarkMappingReadAt(b *testing.B) {
	m, done := memfdMapping(b, 1<<20)
	defer done()
	p := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		if _, err := m.ReadAt(p, int64(i%255)*4096); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMappingWriteAt(b *testing.B) {
	m, done := memfdMapping(b, 1<<20)
	defer done()
	p := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		if _, err := m.WriteAt(p, int64(i%255)*4096); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMappingAllocs(t *testing.T) {
	m, done := memfdMapping(t, 1<<16)
	defer done()
	p := make([]byte, 512)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = m.ReadAt(p, 100)
		_, _ = m.WriteAt(p, 200)
		_ = m.Len()
	})
	if allocs != 0 {
		t.Errorf("ReadAt+WriteAt+Len allocate %v times per run, want 0", allocs)
	}
}
