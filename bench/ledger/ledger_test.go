package ledger

import (
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/pagepool"
)

const (
	fragSize = 4096
	gib      = 1 << 30
)

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkRecordRelease is one read of perRead 4 KiB frags recorded, then
// released, per op; ns/frag and cpu-ns/frag are per frag, syscalls/GiB the
// release calls per GiB (each call of the release function is one
// SO_DEVMEM_DONTNEED).
func BenchmarkRecordRelease(b *testing.B) {
	for _, c := range []struct {
		name    string
		policy  pagepool.ReleasePolicy
		perRead int
		tokens  int
	}{
		{"batch=1024/read=16/tokens=4096", pagepool.ReleasePolicy{BatchFrags: 1024}, 16, 4096},
		{"batch=1024/read=128/tokens=4096", pagepool.ReleasePolicy{BatchFrags: 1024}, 128, 4096},
		{"batch=1024/read=16/tokens=32768", pagepool.ReleasePolicy{BatchFrags: 1024}, 16, 32768},
		{"immediate/read=16/tokens=4096", pagepool.ReleasePolicy{}, 16, 4096},
	} {
		b.Run(c.name, func(b *testing.B) {
			calls := 0
			release := func(rs []pagepool.TokenRange) (int, error) {
				calls++
				n := 0
				for _, r := range rs {
					n += int(r.Count)
				}
				return n, nil
			}
			l, err := pagepool.NewLedgerFunc(release, &pagepool.LedgerOptions{Policy: c.policy, InitialTokens: c.tokens})
			if err != nil {
				b.Fatal(err)
			}
			all := make([]cmsg.Frag, c.tokens)
			for i := range all {
				tok := uint32(i + 1)
				all[i] = cmsg.Frag{Kind: cmsg.DMABuf, Token: tok, Offset: uint64(i) * fragSize, Size: fragSize, DMABufID: 1}
			}
			b.ReportAllocs()
			cpu := cpuNanos()
			i := 0
			for b.Loop() {
				fs := all[i : i+c.perRead]
				if i += c.perRead; i == len(all) {
					i = 0
				}
				if err := l.Record(fs); err != nil {
					b.Fatal(err)
				}
				if err := l.Release(fs); err != nil {
					b.Fatal(err)
				}
			}
			cpu = cpuNanos() - cpu
			frags := float64(b.N) * float64(c.perRead)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/frags, "ns/frag")
			b.ReportMetric(float64(cpu)/frags, "cpu-ns/frag")
			b.ReportMetric(float64(calls)/(frags*fragSize/gib), "syscalls/GiB")
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
			if st := l.Stats(); st.Freed != st.Recorded {
				b.Fatalf("recorded %d, freed %d", st.Recorded, st.Freed)
			}
		})
	}
}
