package devmem_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"golang.org/x/sys/unix"
)

// memSink copies what it is given into a ring of memory: "into memory",
// the destination of the io.Copy the copy path is measured against.
type memSink struct {
	ring []byte
	pos  int
}

func (s *memSink) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(s.ring[s.pos:], p)
		p = p[k:]
		s.pos = (s.pos + k) % len(s.ring)
	}
	return n, nil
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per op since start: on a busy
// machine it is steadier than the wall clock. Sender and receiver both
// count.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// benchStream connects a client to addr that sends total bytes and closes,
// and returns it.
func benchStream(b *testing.B, addr net.Addr, total int64) {
	b.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		defer c.Close()
		buf := make([]byte, 256<<10)
		for total > 0 {
			n := int(min(total, int64(len(buf))))
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
			total -= int64(n)
		}
	}()
}

// BenchmarkCopyModeVsIOCopy compares, over loopback, receiving a stream
// into memory with io.Copy from a plain *net.TCPConn (the baseline) and
// with the copy path of this package: io.Copy from a *devmem.Conn (its
// WriteTo writes each frag from the buffer), Read through io.CopyBuffer,
// and ReadFrags with Release (no copy out of the buffer at all). One op
// is 1 MiB; run with -count to alternate the sub-benchmarks.
func BenchmarkCopyModeVsIOCopy(b *testing.B) {
	const op = 1 << 20
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()
	dl, err := devmem.Listen("tcp", "127.0.0.1:0", &devmem.ListenConfig{BufferSize: 32 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer dl.Close()
	sink := &memSink{ring: make([]byte, 4<<20)}
	for i := range sink.ring {
		sink.ring[i] = 1 // fault the pages in before any sub-benchmark
	}

	b.Run("net.TCPConn/io.Copy", func(b *testing.B) {
		b.SetBytes(op)
		benchStream(b, plain.Addr(), int64(b.N)*op)
		c, err := plain.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ResetTimer()
		start := cpuTime()
		n, err := io.Copy(sink, c)
		if err != nil || n != int64(b.N)*op {
			b.Fatalf("io.Copy: %d, %v", n, err)
		}
		reportCPU(b, start)
	})
	devmemRun := func(name string, recv func(b *testing.B, c *devmem.Conn) int64) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(op)
			b.ReportAllocs()
			benchStream(b, dl.Addr(), int64(b.N)*op)
			c, err := dl.AcceptDevmem()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ResetTimer()
			start := cpuTime()
			if n := recv(b, c); n != int64(b.N)*op {
				b.Fatalf("received %d bytes, want %d", n, int64(b.N)*op)
			}
			reportCPU(b, start)
		})
	}
	devmemRun("devmem.Conn/io.Copy", func(b *testing.B, c *devmem.Conn) int64 {
		n, err := io.Copy(sink, c)
		if err != nil {
			b.Fatal(err)
		}
		return n
	})
	devmemRun("devmem.Conn/Read", func(b *testing.B, c *devmem.Conn) int64 {
		n, err := io.CopyBuffer(sink, readerOnly{c}, make([]byte, 32<<10))
		if err != nil {
			b.Fatal(err)
		}
		return n
	})
	devmemRun("devmem.Conn/ReadFrags", func(b *testing.B, c *devmem.Conn) int64 {
		var n int64
		frags := make([]devmem.Frag, 0, 64)
		linear := make([]byte, 256<<10)
		for {
			fs, _, err := c.ReadFrags(frags[:0], linear)
			if err == io.EOF {
				return n
			}
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range fs {
				n += int64(f.Size)
			}
			if err := c.Release(fs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReadFragsAllocs checks that the ReadFrags/Release loop allocates
// nothing per frag in copy mode.
func TestReadFragsAllocs(t *testing.T) {
	checkLeaks(t)
	e := copyEnv(t)
	l := e.listen(t, nil)
	c, client := accept(t, e, l)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		buf := make([]byte, 64<<10)
		for ctx.Err() == nil {
			if _, err := client.Write(buf); err != nil {
				return
			}
		}
	}()
	frags := make([]devmem.Frag, 0, 16)
	linear := make([]byte, 16<<10)
	step := func() {
		fs, _, err := c.ReadFrags(frags[:0], linear)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Release(fs); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		step() // warm up: token and chunk tables
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Fatalf("ReadFrags+Release: %v allocations per call, want 0", a)
	}
	c.Close()
}
