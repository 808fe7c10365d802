// Command copycmp measures the copy fallback of package devmem against
// io.Copy from a plain *net.TCPConn: the same stream over loopback received
// into memory, in one process, the receivers alternating (bench/README.md
// section 4, and the copy-mode half of section 6).
//
// Each round streams -size bytes once to each receiver, in a rotated order
// (A B C D, B C D A, ...), from a sender goroutine in the same process:
//
//   - plain: io.Copy(sink, *net.TCPConn), the baseline;
//   - devmem-io.Copy: io.Copy(sink, *devmem.Conn) in copy mode (its WriteTo
//     writes each frag from the buffer, then releases it);
//   - devmem-Read: io.CopyBuffer through Read only (a 32 KiB buffer);
//   - devmem-ReadFrags: ReadFrags and Release, the bytes left in the buffer
//     (no copy into the sink: what a zero-copy consumer pays).
//
// The sink copies into a 4 MiB ring, so "into memory" is one more memory
// pass for all but ReadFrags. Per run it reports the wall time (MB/s,
// s/GiB), the process's CPU time per GiB (sender included, alike for all),
// and the Go heap bytes allocated per GiB after the first 8 MiB
// (runtime/metrics /gc/heap/allocs:bytes; the sender allocates nothing
// meanwhile), as Go benchmark lines BenchmarkCopyMode/recv=NAME in
// -o/copymode.txt.
//
// Usage, from the repository root:
//
//	go run ./bench/cmd/copycmp [-count 6] [-size 256] [-o bench/results]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"

	"github.com/devmem-go/devmem/devmem"
)

const warmup = 8 << 20

func main() {
	count := flag.Int("count", 6, "rounds")
	sizeMiB := flag.Int64("size", 256, "MiB per run")
	out := flag.String("o", "bench/results", "directory for copymode.txt")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("copycmp: ")
	if err := run(*count, *sizeMiB<<20, *out); err != nil {
		log.Fatal(err)
	}
}

type receiver struct {
	name string
	recv func(c net.Conn, sink io.Writer, mark func(n int64)) (int64, error)
}

func run(count int, size int64, out string) error {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer plain.Close()
	dl, err := devmem.Listen("tcp", "127.0.0.1:0", &devmem.ListenConfig{BufferSize: 32 << 20})
	if err != nil {
		return err
	}
	defer dl.Close()
	if dl.Mode() != devmem.ModeCopy {
		return fmt.Errorf("the devmem listener is in %v mode, want copy (loopback has no devmem)", dl.Mode())
	}
	rs := []receiver{
		{"plain", func(c net.Conn, sink io.Writer, mark func(int64)) (int64, error) {
			return io.Copy(&marker{w: sink, mark: mark}, c)
		}},
		{"devmem-io.Copy", func(c net.Conn, sink io.Writer, mark func(int64)) (int64, error) {
			return io.Copy(&marker{w: sink, mark: mark}, c)
		}},
		{"devmem-Read", func(c net.Conn, sink io.Writer, mark func(int64)) (int64, error) {
			return io.CopyBuffer(&marker{w: sink, mark: mark}, readerOnly{c}, make([]byte, 32<<10))
		}},
		{"devmem-ReadFrags", func(nc net.Conn, _ io.Writer, mark func(int64)) (int64, error) {
			c := nc.(*devmem.Conn)
			frags := make([]devmem.Frag, 0, 64)
			linear := make([]byte, 256<<10)
			var n int64
			for {
				fs, _, err := c.ReadFrags(frags[:0], linear)
				if errors.Is(err, io.EOF) {
					return n, nil
				}
				if err != nil {
					return n, err
				}
				for _, f := range fs {
					n += int64(f.Size)
				}
				if err := c.Release(fs); err != nil {
					return n, err
				}
				mark(n)
			}
		}},
	}
	sink := &ring{b: make([]byte, 4<<20)}
	for i := range sink.b {
		sink.b[i] = 1 // fault the pages in
	}
	var b strings.Builder
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\npkg: github.com/devmem-go/devmem/bench/cmd/copycmp\n", runtime.GOOS, runtime.GOARCH)
	if cpu := cpuModel(); cpu != "" {
		fmt.Fprintf(&b, "cpu: %s\n", cpu)
	}
	payload := make([]byte, 256<<10)
	for round := range count {
		for i := range rs {
			r := rs[(round+i)%len(rs)]
			ln := plain
			if r.name != "plain" {
				ln = dlListener{dl}
			}
			line, err := once(ln, r, sink, payload, size)
			if err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			b.WriteString(line)
			fmt.Fprint(os.Stderr, line)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "copymode.txt"), []byte(b.String()), 0o644)
}

// once streams size bytes to one receiver and returns its result line.
func once(ln net.Listener, r receiver, sink io.Writer, payload []byte, size int64) (string, error) {
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return "", err
	}
	sent := make(chan error, 1)
	go func() {
		defer c.Close()
		for left := size; left > 0; {
			n := min(left, int64(len(payload)))
			if _, err := c.Write(payload[:n]); err != nil {
				sent <- err
				return
			}
			left -= n
		}
		sent <- nil
	}()
	rc, err := ln.Accept()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	var allocStart uint64
	var markedAt int64 = -1
	mark := func(n int64) {
		if markedAt < 0 && n >= warmup {
			metrics.Read(sample)
			allocStart, markedAt = sample[0].Value.Uint64(), n
		}
	}
	cpu0, start := cpuTime(), time.Now()
	n, err := r.recv(rc, sink, mark)
	wall, cpu := time.Since(start), cpuTime()-cpu0
	metrics.Read(sample)
	if err != nil {
		return "", err
	}
	if err := <-sent; err != nil {
		return "", fmt.Errorf("sender: %w", err)
	}
	if n != size {
		return "", fmt.Errorf("received %d bytes, want %d", n, size)
	}
	gib := float64(n) / (1 << 30)
	line := fmt.Sprintf("BenchmarkCopyMode/recv=%s 1 %d ns/op %.2f MB/s %.4f s/GiB %.4f cpu-s/GiB",
		r.name, wall.Nanoseconds(), float64(n)/1e6/wall.Seconds(), wall.Seconds()/gib, cpu.Seconds()/gib)
	if markedAt >= 0 && n > markedAt {
		line += fmt.Sprintf(" %.0f B/GiB", float64(sample[0].Value.Uint64()-allocStart)/(float64(n-markedAt)/(1<<30)))
	}
	return line + "\n", nil
}

// marker is the sink seen through io.Copy: it reports the bytes so far.
type marker struct {
	w    io.Writer
	n    int64
	mark func(int64)
}

func (m *marker) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	m.n += int64(n)
	m.mark(m.n)
	return n, err
}

// ring copies what it is given into memory.
type ring struct {
	b   []byte
	pos int
}

func (s *ring) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(s.b[s.pos:], p)
		p = p[k:]
		s.pos = (s.pos + k) % len(s.b)
	}
	return n, nil
}

// readerOnly hides WriteTo, so that io.CopyBuffer uses Read.
type readerOnly struct{ io.Reader }

// dlListener is a devmem.Listener as a net.Listener whose Accept returns
// *devmem.Conn.
type dlListener struct{ *devmem.Listener }

func (l dlListener) Accept() (net.Conn, error) { return l.AcceptDevmem() }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
