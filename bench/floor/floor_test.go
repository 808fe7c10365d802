package floor

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkMemmove copies size bytes per op, from one buffer to another:
// 64 KiB stays in L2 (one GRO skb's worth), 128 MiB streams from DRAM
// (both buffers are faulted in before the timing starts).
// MB/s is the bandwidth floor of any copy path (the copy fallback, io.Copy
// into memory, ncdevmem's memcpy out of the dma-buf).
func BenchmarkMemmove(b *testing.B) {
	for _, size := range []int{64 << 10, 128 << 20} {
		b.Run(fmt.Sprintf("size=%s", human(size)), func(b *testing.B) {
			src := make([]byte, size)
			dst := make([]byte, size)
			for i := range src {
				src[i] = byte(i)
			}
			copy(dst, src) // fault the pages in
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, src)
			}
			if dst[size-1] != src[size-1] {
				b.Fatal("copy did not happen")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size)*(1<<30)/1e9, "s/GiB")
		})
	}
}

// BenchmarkSyscall is the cheapest system call there is (getppid, raw: no
// scheduler hand-off): the floor of the per-call cost of recvmsg and
// setsockopt(SO_DEVMEM_DONTNEED).
func BenchmarkSyscall(b *testing.B) {
	b.ReportAllocs()
	var sink uintptr
	for b.Loop() {
		r, _, _ := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		sink += r
	}
	if sink == 0 {
		b.Fatal("getppid returned 0")
	}
}

func human(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprint(n)
}
