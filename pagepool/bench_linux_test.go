package pagepool

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal/uapi"
)

// stubKernel frees every token it is given: the cost of the ledger alone.
type stubKernel struct{ calls int }

func (k *stubKernel) dontneed(toks []uapi.DmabufToken) (int, error) {
	k.calls++
	n := 0
	for _, t := range toks {
		n += int(t.TokenCount)
	}
	return n, nil
}

const (
	benchFragSize = 4096
	benchSkbFrags = 16 // frags per recvmsg: one 64 KiB GRO skb of 4 KiB pages
	gib           = 1 << 30
)

// cpuNanos returns the CPU time (user and system) the process has used. On
// a shared machine wall time per operation inflates with the load; CPU time
// per operation much less so.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchLedger records and releases frags of 4 KiB, perRead per "recvmsg", with
// tokens handed out the way the kernel does (lowest free: here a ring far
// larger than what is outstanding). It reports ns per frag and system calls
// per GiB.
func benchLedger(b *testing.B, l *Ledger, perRead int, calls func() uint64) {
	const ring = 1 << 15
	all := make([]cmsg.Frag, ring)
	for i := range all {
		tok := uint32(i + 1)
		all[i] = cmsg.Frag{Kind: cmsg.DMABuf, Token: tok, Offset: uint64(tok) * benchFragSize, Size: benchFragSize, DMABufID: 1}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuNanos()
	i := 0
	for b.Loop() {
		fs := all[i : i+perRead]
		if i += perRead; i == ring {
			i = 0
		}
		if err := l.Record(fs); err != nil {
			b.Fatal(err)
		}
		_ = l.Release(fs) // on loopback every flush reports unknown tokens
	}
	b.StopTimer()
	cpu = cpuNanos() - cpu
	_ = l.Flush()
	frags := float64(b.N) * float64(perRead)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/frags, "ns/frag")
	b.ReportMetric(float64(cpu)/frags, "cpu-ns/frag")
	b.ReportMetric(float64(calls())/(frags*benchFragSize/gib), "syscalls/GiB")
}

func BenchmarkLedgerRecordRelease(b *testing.B) {
	for _, pol := range []struct {
		name    string
		p       ReleasePolicy
		perRead int
	}{
		{"batch=1024/read=16", ReleasePolicy{BatchFrags: 1024}, benchSkbFrags},
		{"batch=1024/read=128", ReleasePolicy{BatchFrags: 1024}, 128},
		{"immediate/read=16", ReleasePolicy{}, benchSkbFrags},
	} {
		b.Run("kernel=stub/"+pol.name, func(b *testing.B) {
			k := &stubKernel{}
			l := newLedger(k, &LedgerOptions{Policy: pol.p, InitialTokens: 1 << 15})
			benchLedger(b, l, pol.perRead, func() uint64 { return uint64(k.calls) })
			if st := l.Stats(); st.Freed != st.Recorded {
				b.Fatalf("stats %+v", st)
			}
		})
	}
	b.Run("kernel=loopback/batch=1024/read=16", func(b *testing.B) {
		c := loopbackTCP(b)
		rc, err := c.SyscallConn()
		if err != nil {
			b.Fatal(err)
		}
		l, err := NewLedger(rc, &LedgerOptions{Policy: ReleasePolicy{BatchFrags: 1024}, InitialTokens: 1 << 15})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := mustKernel(b, rc).dontneed([]uapi.DmabufToken{{TokenStart: 1, TokenCount: 1}}); err != nil {
			b.Skipf("no SO_DEVMEM_DONTNEED: %v", err)
		}
		benchLedger(b, l, benchSkbFrags, func() uint64 { return l.Stats().Calls })
	})
}

// BenchmarkDontneedSyscall is one real SO_DEVMEM_DONTNEED of 1024 token
// slots on a loopback TCP socket (the kernel holds none of them).
func BenchmarkDontneedSyscall(b *testing.B) {
	c := loopbackTCP(b)
	rc, err := c.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	k := mustKernel(b, rc)
	toks := []uapi.DmabufToken{{TokenStart: 1, TokenCount: 1024}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.dontneed(toks); err != nil {
			b.Skipf("no SO_DEVMEM_DONTNEED: %v", err)
		}
	}
}

// BenchmarkAllocator is Alloc+Free of 1..16 pages under contention: the
// operations are shared among 1, 2 or 8 goroutines.
func BenchmarkAllocator(b *testing.B) {
	for _, g := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			a, err := NewAllocator([]Segment{{Len: gib}}, &AllocatorOptions{PageSize: 4096})
			if err != nil {
				b.Fatal(err)
			}
			sizes := make([]uint64, 1024)
			r := rand.New(rand.NewPCG(1, 1))
			for i := range sizes {
				sizes[i] = uint64(1+r.IntN(16)) * 4096
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuNanos()
			var wg sync.WaitGroup
			per := b.N / g
			for w := range g {
				n := per
				if w == 0 {
					n += b.N % g
				}
				wg.Go(func() {
					for i := range n {
						reg, err := a.Alloc(sizes[(i+w*64)&1023], 0)
						if err != nil {
							b.Error(err)
							return
						}
						if err := a.Free(reg); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(cpuNanos()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkAllocatorOutstanding is Alloc+Free of 1..8 pages with n regions
// outstanding and the free space fragmented into about n/2 ranges: the cost
// must not grow with n.
func BenchmarkAllocatorOutstanding(b *testing.B) {
	for _, n := range []int{1e2, 1e3, 1e4, 1e5, 1e6} {
		b.Run(fmt.Sprintf("regions=%d", n), func(b *testing.B) {
			pages := uint64(n)*5 + 4096
			a, err := NewAllocator([]Segment{{Len: pages * 4096}}, &AllocatorOptions{PageSize: 4096})
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(2, 2))
			live := make([]Region, 0, 2*n)
			for range 2 * n {
				reg, err := a.Alloc(uint64(1+r.IntN(4))*4096, 0)
				if err != nil {
					b.Fatal(err)
				}
				live = append(live, reg)
			}
			r.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
			for _, reg := range live[n:] {
				if err := a.Free(reg); err != nil {
					b.Fatal(err)
				}
			}
			st := a.Stats()
			sizes := make([]uint64, 1024)
			for i := range sizes {
				sizes[i] = uint64(1+r.IntN(8)) * 4096
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuNanos()
			i := 0
			for b.Loop() {
				reg, err := a.Alloc(sizes[i&1023], 0)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.Free(reg); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuNanos()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(st.FreeExtents), "free-ranges")
		})
	}
}
