package cmsg

import (
	"fmt"
	"testing"
)

// devmemBuffer returns a control buffer of n DMABUF frags, 4 KiB each, as a
// 64 KiB GRO skb would give them.
func devmemBuffer(n int) []byte {
	oob := make([]byte, 0, Space(n))
	for i := range n {
		oob = AppendDMABuf(oob, frag(uint64(i)*4096, 4096, uint32(i+1), 1))
	}
	return oob
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 16, 64, 1024} {
		b.Run(fmt.Sprintf("frags=%d", n), func(b *testing.B) {
			oob := devmemBuffer(n)
			dst := make([]Frag, 0, n)
			b.ReportAllocs()
			b.SetBytes(int64(len(oob)))
			for b.Loop() {
				var err error
				dst, err = Parse(dst[:0], oob)
				if err != nil || len(dst) != n {
					b.Fatal(len(dst), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frag")
		})
	}
}

func BenchmarkAll(b *testing.B) {
	for _, n := range []int{1, 16, 64, 1024} {
		b.Run(fmt.Sprintf("frags=%d", n), func(b *testing.B) {
			oob := devmemBuffer(n)
			b.ReportAllocs()
			b.SetBytes(int64(len(oob)))
			for b.Loop() {
				var total uint64
				for f, err := range All(oob) {
					if err != nil {
						b.Fatal(err)
					}
					total += uint64(f.Size)
				}
				if total != uint64(n)*4096 {
					b.Fatal(total)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frag")
		})
	}
}

func BenchmarkAppendTX(b *testing.B) {
	buf := make([]byte, 0, TXSpace)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTX(buf[:0], 7)
	}
	if len(buf) != TXSpace {
		b.Fatal(len(buf))
	}
}

func BenchmarkParseCompletion(b *testing.B) {
	oob := AppendCompletion(nil, Completion{Lo: 10, Hi: 20}, true)
	b.ReportAllocs()
	for b.Loop() {
		c, err := ParseCompletion(oob)
		if err != nil || c.Hi != 20 {
			b.Fatal(c, err)
		}
	}
}

// TestZeroAllocs enforces what the benchmarks report: no parse or build
// path allocates when the caller's slices have room.
func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	oob := cat(devmemBuffer(16), timestamp(nil), AppendLinear(nil, 10))
	dst := make([]Frag, 0, 32)
	comp := AppendCompletion(inq(nil), Completion{Lo: 1, Hi: 2}, false)
	comps := make([]Completion, 0, 4)
	tx := make([]byte, 0, 2*TXSpace)
	f := frag(0, 4096, 1, 1)
	var sink uint64
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"Parse", func() { dst, _ = Parse(dst[:0], oob) }},
		{"All", func() {
			for f := range All(oob) {
				sink += uint64(f.Size)
			}
		}},
		{"ParseCompletion", func() {
			c, _ := ParseCompletion(comp)
			sink += uint64(c.Hi)
		}},
		{"AppendCompletions", func() { comps, _ = AppendCompletions(comps[:0], comp) }},
		{"AppendTX", func() { tx = AppendTX(tx[:0], 9) }},
		{"ParseTX", func() {
			id, _ := ParseTX(tx)
			sink += uint64(id)
		}},
		{"AppendDMABuf", func() { tx = AppendDMABuf(tx[:0], f) }},
		{"CheckBounds", func() {
			if f.CheckBounds(1<<20) != nil {
				sink++
			}
		}},
	} {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, n)
		}
	}
	if len(dst) != 17 || len(comps) != 1 || sink == 0 {
		t.Fatalf("the calls did not run: %d frags, %d completions", len(dst), len(comps))
	}
}
