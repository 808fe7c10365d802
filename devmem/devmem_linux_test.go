package devmem_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// payload returns n pseudo-random bytes for stream id.
func payload(id uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(id), byte(id >> 8), byte(id >> 16), 7})
	_, _ = r.Read(b)
	return b
}

// sendAll writes p to c in pieces of random sizes, then closes c for
// writing.
func sendAll(c net.Conn, p []byte, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	for len(p) > 0 {
		k := min(len(p), 1+r.IntN(256<<10))
		if _, err := c.Write(p[:k]); err != nil {
			return err
		}
		p = p[k:]
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// recvFrags reads c to EOF with ReadFrags into h and releases every frag:
// at once, or, with hold, through a Batch that another goroutine completes.
func recvFrags(t testing.TB, c *devmem.Conn, h hash.Hash, hold bool) (int64, error) {
	var (
		total  int64
		frags  = make([]devmem.Frag, 0, 64)
		linear = make([]byte, 64<<10)
		wg     sync.WaitGroup
		batchc = make(chan devmem.Batch, 16)
		doneEr = make(chan error, 1)
	)
	if hold {
		wg.Go(func() {
			var first error
			for b := range batchc {
				if err := b.Done(); err != nil && first == nil {
					first = err
				}
			}
			doneEr <- first
		})
	}
	defer func() {
		close(batchc)
		wg.Wait()
	}()
	for {
		fs, _, err := c.ReadFrags(frags[:0], linear)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if err := c.BeginRead(); err != nil {
			return total, err
		}
		for _, f := range fs {
			b := c.FragBytes(f, linear)
			if len(b) != int(f.Size) {
				return total, fmt.Errorf("FragBytes(%+v) gave %d bytes", f, len(b))
			}
			h.Write(b)
			total += int64(f.Size)
		}
		if err := c.EndRead(); err != nil {
			return total, err
		}
		if hold {
			b, err := c.Hold("test", fs)
			if err != nil {
				return total, err
			}
			batchc <- b
		} else if err := c.Release(fs); err != nil {
			return total, err
		}
	}
}

func sum(p []byte) [32]byte { return sha256.Sum256(p) }

// TestConcurrent runs 64 connections at once with random sizes through the
// three ways of reading (ReadFrags with Release, ReadFrags with Hold, and
// io.Copy), and checks every byte.
func TestConcurrent(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		const conns = 64
		l := e.listen(t, &devmem.ListenConfig{BufferSize: 8 << 20})
		r := rand.New(rand.NewPCG(1, 2))
		want := make(map[uint64][32]byte)
		data := make([][]byte, conns)
		for i := range conns {
			var n int
			switch i % 4 {
			case 0:
				n = r.IntN(100)
			case 1:
				n = r.IntN(64 << 10)
			default:
				n = r.IntN(1 << 20)
			}
			// An 8-byte id leads each stream.
			data[i] = binary.LittleEndian.AppendUint64(nil, uint64(i))
			data[i] = append(data[i], payload(uint64(i), n)...)
			want[uint64(i)] = sum(data[i])
		}

		type result struct {
			id  uint64
			sum [32]byte
			n   int64
			err error
		}
		results := make(chan result, conns)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range conns {
				c, err := l.AcceptDevmem()
				if err != nil {
					results <- result{err: err}
					continue
				}
				wg.Go(func() {
					defer c.Close()
					h := &idHash{Hash: sha256.New()}
					var n int64
					var err error
					switch i % 3 {
					case 0:
						n, err = recvFrags(t, c, h, false)
					case 1:
						n, err = recvFrags(t, c, h, true)
					default:
						n, err = io.Copy(h, c)
					}
					if err == nil && c.Stats().OutstandingFrags != 0 {
						err = fmt.Errorf("%d frags outstanding at EOF", c.Stats().OutstandingFrags)
					}
					results <- result{id: h.id(), sum: [32]byte(h.Sum(nil)), n: n, err: err}
				})
			}
		})
		for i := range conns {
			wg.Go(func() {
				c := e.dial(t, l.Addr())
				if err := sendAll(c, data[i], uint64(i)); err != nil {
					t.Errorf("send %d: %v", i, err)
				}
			})
		}
		got := make(map[uint64][32]byte)
		var total int64
		for range conns {
			res := <-results
			if res.err != nil {
				t.Errorf("receive: %v", res.err)
				continue
			}
			got[res.id] = res.sum
			total += res.n
		}
		wg.Wait()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("checksums (-want +got):\n%s", diff)
		}
		st := l.Stats()
		if st.Accepted != conns || st.Open != 0 {
			t.Errorf("Stats: Accepted %d Open %d, want %d and 0", st.Accepted, st.Open, conns)
		}
		if st.Conns.OutstandingFrags != 0 || st.Conns.Leaked != 0 || st.LimitedFrags != 0 {
			t.Errorf("Stats: %d frags outstanding, %d leaked, %d limited; want none", st.Conns.OutstandingFrags, st.Conns.Leaked, st.LimitedFrags)
		}
		var received uint64
		if e.mode == devmem.ModeCopy {
			received = st.Conns.CopiedBytes
			if st.Copy == nil || st.Copy.InUse != 0 {
				t.Errorf("copy buffer allocator after all closed: %+v, want nothing in use", st.Copy)
			}
		} else {
			received = st.Conns.DevmemBytes + st.Conns.LinearBytes + st.Conns.PlainBytes
		}
		if received != uint64(total) {
			t.Errorf("Stats: %d bytes received, the connections read %d", received, total)
		}
	})
}

// idHash is a hash that also keeps the first 8 bytes written: the stream id.
type idHash struct {
	hash.Hash
	head []byte
}

func (h *idHash) Write(p []byte) (int, error) {
	if len(h.head) < 8 {
		h.head = append(h.head, p[:min(len(p), 8-len(h.head))]...)
	}
	return h.Hash.Write(p)
}

func (h *idHash) id() uint64 {
	if len(h.head) < 8 {
		return ^uint64(0)
	}
	return binary.LittleEndian.Uint64(h.head)
}

// accept returns a connection accepted from l and its peer.
func accept(t testing.TB, e *env, l *devmem.Listener) (*devmem.Conn, net.Conn) {
	t.Helper()
	client := e.dial(t, l.Addr())
	c, err := l.AcceptDevmem()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, client
}

// waitBlocked waits until a goroutine is parked in fn (bounded).
func waitBlocked(t testing.TB, fn string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		s := string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(s, "\n\n") {
			if strings.Contains(g, fn) && (strings.Contains(g, "[IO wait") || strings.Contains(g, "[select") || strings.Contains(g, "[chan receive")) {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no goroutine blocked in %s", fn)
}

func TestCloseDuringAccept(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		errc := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			errc <- err
		}()
		waitBlocked(t, "(*listener).accept")
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept on a closed Listener: %v, want net.ErrClosed", err)
		}
	})
}

func TestCloseDuringRead(t *testing.T) {
	reads := []struct {
		name string
		fn   func(c *devmem.Conn) error
	}{
		{"ReadFrags", func(c *devmem.Conn) error {
			_, _, err := c.ReadFrags(make([]devmem.Frag, 0, 8), make([]byte, 4096))
			return err
		}},
		{"Read", func(c *devmem.Conn) error {
			_, err := c.Read(make([]byte, 4096))
			return err
		}},
		{"WriteTo", func(c *devmem.Conn) error {
			_, err := c.WriteTo(io.Discard)
			return err
		}},
	}
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		for _, r := range reads {
			t.Run(r.name, func(t *testing.T) {
				c, _ := accept(t, e, l)
				errc := make(chan error, 1)
				go func() { errc <- r.fn(c) }()
				waitBlocked(t, "(*conn).r")
				if err := c.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := <-errc; !errors.Is(err, net.ErrClosed) {
					t.Fatalf("%s after Close: %v, want net.ErrClosed", r.name, err)
				}
				if err := r.fn(c); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("%s on a closed Conn: %v, want net.ErrClosed", r.name, err)
				}
				if err := c.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
			})
		}
	})
}

func TestDeadline(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c, client := accept(t, e, l)
		frags := make([]devmem.Frag, 0, 8)
		linear := make([]byte, 4096)

		if err := c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.ReadFrags(frags, linear)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadFrags past the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("error %v is not a net.Error with Timeout()", err)
		}

		// A context that ends stands in for the deadline, then the
		// deadline the application set (none) is back.
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, _, err = c.ReadFragsContext(ctx, frags, linear)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ReadFragsContext past ctx's deadline: %v, want context.DeadlineExceeded", err)
		}
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		var got []byte
		for len(got) < 5 {
			fs, _, err := c.ReadFrags(frags[:0], linear)
			if err != nil {
				t.Fatalf("ReadFrags after the deadline was cleared: %v", err)
			}
			for _, f := range fs {
				got = append(got, c.FragBytes(f, linear)...)
			}
			if err := c.Release(fs); err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != "hello" {
			t.Fatalf("read %q, want %q", got, "hello")
		}
	})
}

func TestPeerReset(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c, client := accept(t, e, l)
		if _, err := client.Write(payload(1, 256<<10)); err != nil {
			t.Fatal(err)
		}
		// SO_LINGER 0: close sends a reset.
		if err := client.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatal(err)
		}
		client.Close()
		_, err := recvFrags(t, c, sha256.New(), false)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("reading a reset connection: %v, want ECONNRESET", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "readfrags" {
			t.Errorf("error %#v is not a *net.OpError of op readfrags", err)
		}
	})
}

func TestStrict(t *testing.T) {
	t.Run("copy", func(t *testing.T) {
		checkLeaks(t)
		e := copyEnv(t)
		l := e.listen(t, &devmem.ListenConfig{Strict: true})
		c, client := accept(t, e, l)
		if _, err := client.Write([]byte("plain")); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			_, _, err := c.ReadFrags(make([]devmem.Frag, 0, 4), make([]byte, 4096))
			if !errors.Is(err, devmem.ErrHostPayload) {
				t.Fatalf("ReadFrags %d in strict copy mode: %v, want ErrHostPayload", i, err)
			}
		}
		if _, err := c.Read(make([]byte, 16)); !errors.Is(err, devmem.ErrHostPayload) {
			t.Fatalf("Read in strict copy mode: %v, want ErrHostPayload", err)
		}
	})
	t.Run("devmem", testStrictDevmem)
}

func TestBackpressure(t *testing.T) {
	tests := []struct {
		name string
		cfg  devmem.ListenConfig
		// bound returns the outstanding count the bound limits.
		bound func(st devmem.ConnStats) uint64
		limit uint64
	}{
		{"MaxFrags", devmem.ListenConfig{MaxFrags: 6}, func(st devmem.ConnStats) uint64 { return st.OutstandingFrags }, 6},
		{"MaxBytes", devmem.ListenConfig{MaxBytes: 100 << 10}, func(st devmem.ConnStats) uint64 { return st.OutstandingBytes }, 100 << 10},
		{"ListenerMaxFrags", devmem.ListenConfig{ListenerMaxFrags: 5}, func(st devmem.ConnStats) uint64 { return st.OutstandingFrags }, 5},
	}
	forEachMode(t, func(t *testing.T, e *env) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cfg := tt.cfg
				l := e.listen(t, &cfg)
				c, client := accept(t, e, l)
				const total = 8 << 20
				go func() { _ = sendAll(client, payload(3, total), 3) }()

				// A slow consumer releases what the reader hands it; the
				// reader must wait at the bound while the sender pushes.
				fc := make(chan []devmem.Frag, 1024)
				relErr := make(chan error, 1)
				go func() {
					var first error
					for fs := range fc {
						runtime.Gosched()
						if err := c.Release(fs); err != nil && first == nil {
							first = err
						}
					}
					relErr <- first
				}()
				var (
					n      int64
					peak   uint64
					h      = sha256.New()
					linear = make([]byte, 64<<10)
				)
				for {
					fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 32), linear)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("ReadFrags: %v", err)
					}
					if o := tt.bound(c.Stats()); o > tt.limit {
						t.Fatalf("%d outstanding after a read, bound is %d", o, tt.limit)
					} else {
						peak = max(peak, o)
					}
					for _, f := range fs {
						h.Write(c.FragBytes(f, linear))
						n += int64(f.Size)
					}
					// Linear bytes must be consumed before the next read.
					fc <- fs
				}
				close(fc)
				if err := <-relErr; err != nil {
					t.Fatalf("Release: %v", err)
				}
				if n != total || [32]byte(h.Sum(nil)) != sum(payload(3, total)) {
					t.Fatalf("received %d bytes (checksum mismatch?), want %d", n, total)
				}
				if peak == 0 {
					t.Fatalf("nothing was ever outstanding")
				}
				if st := c.Stats(); st.Ledger.Waits == 0 {
					t.Logf("the reader never had to wait (peak %d of %d)", peak, tt.limit)
				}
			})
		}
		t.Run("FailFast", func(t *testing.T) {
			l := e.listen(t, &devmem.ListenConfig{MaxFrags: 4, FailFast: true})
			c, client := accept(t, e, l)
			go func() { _ = sendAll(client, payload(4, 4<<20), 4) }()
			var all []devmem.Frag
			linear := make([]byte, 16<<10)
			for {
				fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 8), linear)
				if errors.Is(err, pagepool.ErrBackpressure) {
					break
				}
				if err != nil {
					t.Fatalf("ReadFrags: %v", err)
				}
				for _, f := range fs {
					if f.Kind == cmsg.DMABuf {
						all = append(all, f)
					}
				}
			}
			if st := c.Stats(); st.OutstandingFrags != 4 || len(all) != 4 {
				t.Fatalf("at ErrBackpressure: %d frags outstanding, %d read; want 4", st.OutstandingFrags, len(all))
			}
			if err := c.Release(all[:1]); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ReadFrags(make([]devmem.Frag, 0, 8), linear); err != nil {
				t.Fatalf("ReadFrags after a release: %v", err)
			}
		})
	})
}

func TestReleaseErrors(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c, client := accept(t, e, l)
		if _, err := client.Write(payload(5, 200<<10)); err != nil {
			t.Fatal(err)
		}
		readDMABuf := func(t *testing.T) []devmem.Frag {
			t.Helper()
			linear := make([]byte, 4096)
			for {
				fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 4), linear)
				if err != nil {
					t.Fatalf("ReadFrags: %v", err)
				}
				var out []devmem.Frag
				for _, f := range fs {
					if f.Kind == cmsg.DMABuf {
						out = append(out, f)
					}
				}
				if len(out) > 0 {
					return out
				}
			}
		}
		t.Run("double release", func(t *testing.T) {
			fs := readDMABuf(t)
			if err := c.Release(fs); err != nil {
				t.Fatal(err)
			}
			if err := c.Release(fs); !errors.Is(err, pagepool.ErrNotOutstanding) {
				t.Fatalf("second Release: %v, want ErrNotOutstanding", err)
			}
		})
		t.Run("modified frag", func(t *testing.T) {
			fs := readDMABuf(t)
			bad := fs[0]
			bad.Offset++
			if err := c.Release([]devmem.Frag{bad}); !errors.Is(err, pagepool.ErrForeignFrag) {
				t.Fatalf("Release of a modified frag: %v, want ErrForeignFrag", err)
			}
			if err := c.Release(fs); err != nil {
				t.Fatalf("Release of the real frags: %v", err)
			}
		})
		t.Run("held", func(t *testing.T) {
			fs := readDMABuf(t)
			b, err := c.Hold("gpu", fs)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Release(fs); !errors.Is(err, pagepool.ErrHeld) {
				t.Fatalf("Release of held frags: %v, want ErrHeld", err)
			}
			if err := b.Done(); err != nil {
				t.Fatalf("Done: %v", err)
			}
			if err := b.Done(); !errors.Is(err, pagepool.ErrBatchDone) {
				t.Fatalf("second Done: %v, want ErrBatchDone", err)
			}
			if err := (devmem.Batch{}).Done(); !errors.Is(err, pagepool.ErrBatchDone) {
				t.Fatalf("zero Batch Done: %v, want ErrBatchDone", err)
			}
		})
		t.Run("after close", func(t *testing.T) {
			fs := readDMABuf(t)
			c.Close()
			if err := c.Release(fs); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Release after Close: %v, want net.ErrClosed", err)
			}
			if rep := c.Leaks(); len(rep.Frags) != len(fs) {
				t.Fatalf("Leaks after Close: %v, want the %d frags never released", rep, len(fs))
			}
		})
		if st := l.Stats(); st.Conns.Leaked == 0 {
			t.Errorf("Listener stats count no leaked frags after a Conn closed with some outstanding")
		}
	})
}

// TestCallerBuffer checks that the copy path receives into the caller's
// buffer when it can map it.
func TestCallerBuffer(t *testing.T) {
	checkLeaks(t)
	fd, err := unix.MemfdCreate("caller", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "caller")
	defer f.Close()
	const size = 1 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	e := copyEnv(t)
	l := e.listen(t, &devmem.ListenConfig{Buffer: f})
	if l.Reason() == nil {
		t.Fatalf("Reason() = nil in copy mode")
	}
	if st := l.Stats(); st.BufferSize != size || st.BufferKind != "file" {
		t.Fatalf("Stats: buffer %d bytes, %s; want the caller's %d bytes", st.BufferSize, st.BufferKind, size)
	}
	c, client := accept(t, e, l)
	want := payload(6, 100<<10)
	go func() { _ = sendAll(client, want, 6) }()
	var got []byte
	linear := make([]byte, 32<<10)
	for len(got) < len(want) {
		fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 4), linear)
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range fs {
			if fr.Kind != cmsg.DMABuf || fr.DMABufID != 0 || fr.Token == 0 {
				t.Fatalf("copy-mode frag %+v: want kind dmabuf, id 0, a token", fr)
			}
			b := make([]byte, fr.Size)
			if _, err := f.ReadAt(b, int64(fr.Offset)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, c.FragBytes(fr, linear)) {
				t.Fatalf("the caller's buffer at %#x differs from FragBytes", fr.Offset)
			}
			got = append(got, b...)
		}
		if err := c.Release(fs); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received data differs")
	}
}

func TestListenFallbackNone(t *testing.T) {
	checkLeaks(t)
	_, err := devmem.Listen("tcp", "127.0.0.1:0", &devmem.ListenConfig{Interface: "lo", Fallback: devmem.FallbackNone, BufferSize: 1 << 20})
	if err == nil {
		t.Fatal("Listen with FallbackNone on loopback succeeded")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "listen" {
		t.Fatalf("error %#v is not a *net.OpError of op listen", err)
	}
	// The class of the reason depends on the kernel: no /dev/udmabuf
	// (os.ErrNotExist), lo refused by bind-rx (7.2: EOPNOTSUPP, 6.12:
	// EINVAL "Failed to bind dmabuf to device"), no privilege.
	var ne *netdev.Error
	if !errors.Is(err, devmem.ErrNotSupported) && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) && !errors.As(err, &ne) {
		t.Fatalf("error %v matches none of ErrNotSupported, os.ErrNotExist, os.ErrPermission, *netdev.Error", err)
	}
}

func TestListenErrors(t *testing.T) {
	checkLeaks(t)
	for _, tt := range []struct {
		network, address string
		invalid          bool // devmem's own check: os.ErrInvalid
	}{
		{"udp", "127.0.0.1:0", false},
		{"tcp", "127.0.0.1", false},
		{"tcp6", "127.0.0.1:0", true},
		{"tcp4", "[::1]:0", true},
	} {
		l, err := devmem.Listen(tt.network, tt.address, nil)
		if err == nil {
			l.Close()
			t.Errorf("Listen(%q, %q) succeeded", tt.network, tt.address)
		} else if tt.invalid && !errors.Is(err, os.ErrInvalid) {
			t.Errorf("Listen(%q, %q): %v, want os.ErrInvalid", tt.network, tt.address, err)
		}
	}
	if _, err := devmem.Listen("tcp", ":0", &devmem.ListenConfig{BufferSize: -1}); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("Listen with a negative BufferSize: %v, want os.ErrInvalid", err)
	}
}

func TestDualStack(t *testing.T) {
	checkLeaks(t)
	l, err := devmem.Listen("tcp", ":0", &devmem.ListenConfig{BufferSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Reason() == nil {
		t.Fatalf("Reason() = nil in copy mode")
	}
	port := l.Addr().(*net.TCPAddr).Port
	for _, a := range []string{"127.0.0.1", "::1"} {
		c, err := net.Dial("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			if a == "::1" {
				t.Logf("no IPv6 loopback: %v", err)
				continue
			}
			t.Fatal(err)
		}
		sc, err := l.AcceptDevmem()
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		b := make([]byte, 1)
		if _, err := io.ReadFull(sc, b); err != nil || b[0] != 'x' {
			t.Fatalf("read over %s: %q, %v", a, b, err)
		}
		c.Close()
		sc.Close()
	}
}

func TestLeaksOnClose(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c, client := accept(t, e, l)
		if _, err := client.Write(payload(7, 100<<10)); err != nil {
			t.Fatal(err)
		}
		var kept []devmem.Frag
		linear := make([]byte, 64<<10)
		var n int
		for n < 100<<10 {
			fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 8), linear)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				n += int(f.Size)
				if f.Kind == cmsg.DMABuf {
					kept = append(kept, f)
				}
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		rep := c.Leaks()
		if len(rep.Frags) != len(kept) {
			t.Fatalf("Leaks: %d frags, want %d:\n%v", len(rep.Frags), len(kept), rep)
		}
		st := l.Stats()
		if st.Conns.Leaked != uint64(len(kept)) || st.Conns.OutstandingFrags != 0 || st.Open != 0 {
			t.Fatalf("Listener stats after the Conn closed: leaked %d open %d outstanding %d; want %d, 0, 0",
				st.Conns.Leaked, st.Open, st.Conns.OutstandingFrags, len(kept))
		}
		if st.Copy != nil && st.Copy.InUse != 0 {
			t.Fatalf("copy buffer still has %d bytes in use after the Conn closed", st.Copy.InUse)
		}
	})
}

// TestListenerCloseKeepsConns checks that connections outlive their
// Listener and still read correctly.
func TestListenerCloseKeepsConns(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c, client := accept(t, e, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		want := payload(8, 300<<10)
		go func() { _ = sendAll(client, want, 8) }()
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err != nil || n != int64(len(want)) || [32]byte(h.Sum(nil)) != sum(want) {
			t.Fatalf("io.Copy after the Listener closed: %d bytes, %v", n, err)
		}
	})
}

func TestSend(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		const bufSize = 1 << 20
		c := e.dialDevmem(t, l.Addr(), &devmem.DialConfig{BufferSize: bufSize})
		if c.Mode() != e.mode {
			t.Fatalf("Dial: mode %v (reason %v), want %v", c.Mode(), c.Reason(), e.mode)
		}
		sc, err := l.AcceptDevmem()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		want := payload(9, 5<<20+123)
		recv := make(chan error, 1)
		h := sha256.New()
		go func() {
			_, err := io.Copy(h, sc)
			recv <- err
		}()
		ctx := context.Background()
		r := rand.New(rand.NewPCG(9, 9))
		for off := 0; off < len(want); {
			n := min(len(want)-off, 1+r.IntN(200<<10))
			if r.IntN(4) == 0 {
				// A scatterlist of two regions: the first gives
				// min(its length, n) bytes, the second the rest.
				n1 := 1 + n/2
				r1, err := c.Alloc(ctx, n1)
				if err != nil {
					t.Fatal(err)
				}
				k1 := min(int(r1.Len), n)
				r2, err := c.Alloc(ctx, max(1, n-k1))
				if err != nil {
					t.Fatal(err)
				}
				copy(c.RegionBytes(r1), want[off:off+k1])
				copy(c.RegionBytes(r2), want[off+k1:off+n])
				if k, err := c.SendScatter(ctx, []pagepool.Region{r1, r2}, n); err != nil || k != n {
					t.Fatalf("SendScatter: %d, %v; want %d", k, err, n)
				}
			} else {
				rg, err := c.Alloc(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				copy(c.RegionBytes(rg), want[off:off+n])
				if k, err := c.Send(ctx, rg, n); err != nil || k != n {
					t.Fatalf("Send: %d, %v; want %d", k, err, n)
				}
			}
			off += n
		}
		fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
		defer fcancel()
		if err := c.Flush(fctx); err != nil {
			t.Fatalf("Flush: %v; stats %+v", err, c.Stats())
		}
		st := c.Stats()
		if st.TXPending != 0 || st.TXPendingRegs != 0 || st.SentBytes != uint64(len(want)) {
			t.Fatalf("after Flush: %d calls and %d regions pending, %d bytes sent; want 0, 0, %d", st.TXPending, st.TXPendingRegs, st.SentBytes, len(want))
		}
		// Send takes only regions Alloc handed out and nothing freed
		// since, and sends nothing of the others.
		freed, err := c.Alloc(ctx, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.FreeRegion(freed); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []struct {
			name string
			r    pagepool.Region
			want error
		}{
			{"freed", freed, pagepool.ErrDoubleFree},
			{"forged", pagepool.Region{Offset: 8192, Len: 4096}, pagepool.ErrForeignRegion},
		} {
			if k, err := c.Send(ctx, bad.r, 100); k != 0 || !errors.Is(err, bad.want) {
				t.Errorf("Send of a %s region: %d, %v; want 0 and %v", bad.name, k, err, bad.want)
			}
		}
		if st2 := c.Stats(); st2.SentBytes != st.SentBytes {
			t.Errorf("rejected Sends sent %d bytes", st2.SentBytes-st.SentBytes)
		}
		// Everything is free again: the whole buffer can be allocated.
		rg, err := c.Alloc(ctx, bufSize)
		if err != nil {
			t.Fatalf("Alloc of the whole buffer after Flush: %v", err)
		}
		if err := c.FreeRegion(rg); err != nil {
			t.Fatal(err)
		}
		if e.mode == devmem.ModeDevmem && (st.TXCompleted != st.SendCalls || st.TXCopied != 0 || st.SendCalls == 0) {
			t.Fatalf("devmem TX: %d sendmsg calls, %d completed, %d copied by the kernel; want all completed, none copied", st.SendCalls, st.TXCompleted, st.TXCopied)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if err := <-recv; err != nil {
			t.Fatal(err)
		}
		if [32]byte(h.Sum(nil)) != sum(want) {
			t.Fatal("received data differs from what was sent")
		}
		if rs := sc.Stats(); e.mode == devmem.ModeDevmem && rs.DevmemBytes == 0 {
			t.Fatalf("receiver stats %+v: nothing arrived through devmem", rs)
		}
		// The dialed Conn still reads ordinary data after the completions.
		if _, err := sc.Write([]byte("done")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "done" {
			t.Fatalf("reading the reply on the dialed Conn: %q, %v", b, err)
		}
	})
}

func TestWrongDirection(t *testing.T) {
	checkLeaks(t)
	e := copyEnv(t)
	l := e.listen(t, nil)
	d := e.dialDevmem(t, l.Addr(), nil)
	a, err := l.AcceptDevmem()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Alloc(context.Background(), 4096); !errors.Is(err, devmem.ErrNoBuffer) {
		t.Errorf("Alloc on an accepted Conn: %v, want ErrNoBuffer", err)
	}
	if _, _, err := d.ReadFrags(nil, make([]byte, 10)); !errors.Is(err, devmem.ErrNoBuffer) {
		t.Errorf("ReadFrags on a dialed Conn: %v, want ErrNoBuffer", err)
	}
	if _, _, err := a.ReadFrags(nil, nil); !errors.Is(err, devmem.ErrLinearTooSmall) {
		t.Errorf("ReadFrags without a linear buffer: %v, want ErrLinearTooSmall", err)
	}
	// Plain data both ways still works on both.
	if _, err := d.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(a, b); err != nil || string(b) != "ping" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := a.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(d, b); err != nil || string(b) != "pong" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// TestIdleConnsHoldNoMemory checks that in copy mode connections waiting
// for data hold none of the buffer: more idle readers than the buffer has
// chunks must not starve a connection that receives.
func TestIdleConnsHoldNoMemory(t *testing.T) {
	checkLeaks(t)
	e := copyEnv(t)
	l := e.listen(t, &devmem.ListenConfig{BufferSize: 2 << 20}) // 4 chunks
	const n = 12
	type pair struct {
		c      *devmem.Conn
		client net.Conn
	}
	var ps []pair
	for range n {
		c, client := accept(t, e, l)
		ps = append(ps, pair{c, client})
	}
	got := make(chan string, n)
	for _, p := range ps {
		go func() {
			linear := make([]byte, 1<<20)
			fs, _, err := p.c.ReadFrags(make([]devmem.Frag, 0, 4), linear)
			if err != nil {
				got <- err.Error()
				return
			}
			var b []byte
			for _, f := range fs {
				b = append(b, p.c.FragBytes(f, linear)...)
			}
			p.c.Release(fs)
			got <- string(b)
		}()
	}
	for range n {
		waitBlocked(t, "(*conn).readFrags")
	}
	for i, p := range ps {
		msg := fmt.Sprint("conn ", i)
		if _, err := p.client.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != msg {
				t.Fatalf("received %q, want %q", s, msg)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("conn %d received nothing: idle connections hold the buffer", i)
		}
	}
}

// TestSendWhileReading reads a reply on a dialed Conn while it sends: the
// completions of zerocopy sends arrive as error-queue events, which must not
// break the reads.
func TestSendWhileReading(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c := e.dialDevmem(t, l.Addr(), &devmem.DialConfig{BufferSize: 1 << 20})
		sc, err := l.AcceptDevmem()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		const total = 8 << 20
		served := make(chan error, 1)
		go func() {
			var n int64
			acked := false
			for n < total {
				k, err := io.CopyN(io.Discard, sc, 64<<10)
				n += k
				if err != nil {
					served <- err
					return
				}
				if !acked && n >= total/2 {
					if _, err := sc.Write([]byte("ack")); err != nil {
						served <- err
						return
					}
					acked = true
				}
			}
			served <- nil
		}()
		reply := make(chan error, 1)
		go func() {
			b := make([]byte, 3)
			_, err := io.ReadFull(c, b)
			if err == nil && string(b) != "ack" {
				err = fmt.Errorf("read %q", b)
			}
			reply <- err
		}()
		ctx := context.Background()
		for sent := 0; sent < total; {
			n := min(total-sent, 128<<10)
			r, err := c.Alloc(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Send(ctx, r, n); err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-served; err != nil {
			t.Fatalf("receiver: %v", err)
		}
		if err := <-reply; err != nil {
			t.Fatalf("reading the reply while sending: %v", err)
		}
	})
}

// TestUnknownInterface checks that an Interface that names no device fails
// Listen and Dial with an error that matches os.ErrNotExist and ENODEV and
// names the device.
func TestUnknownInterface(t *testing.T) {
	checkLeaks(t)
	const name = "nosuchdev0"
	_, lerr := devmem.Listen("tcp", "127.0.0.1:0", &devmem.ListenConfig{Interface: name, BufferSize: 1 << 20, Fallback: devmem.FallbackNone})
	_, derr := devmem.Dial(context.Background(), "tcp", "127.0.0.1:1", &devmem.DialConfig{Interface: name})
	for _, c := range []struct {
		op  string
		err error
	}{{"Listen", lerr}, {"Dial", derr}} {
		if !errors.Is(c.err, os.ErrNotExist) || !errors.Is(c.err, unix.ENODEV) || c.err == nil || !strings.Contains(c.err.Error(), name) {
			t.Errorf("%s with Interface %q: %v, want an error naming it that matches os.ErrNotExist and ENODEV", c.op, name, c.err)
		}
	}
}

// TestRegionBusy: a region a Send holds (blocked on a peer that does not
// read) can be neither sent again nor freed, nor listed twice in one call;
// the refusal changes nothing.
func TestRegionBusy(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c := e.dialDevmem(t, l.Addr(), &devmem.DialConfig{BufferSize: 16 << 20})
		sc, err := l.AcceptDevmem()
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close() // never read: the Send below fills the socket buffers and waits
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		big, err := c.Alloc(ctx, 12<<20)
		if err != nil {
			t.Fatal(err)
		}
		sent := make(chan error, 1)
		go func() {
			_, err := c.Send(ctx, big, int(big.Len))
			sent <- err
		}()
		waitBlocked(t, "(*conn).send")
		if err := c.FreeRegion(big); !errors.Is(err, devmem.ErrRegionBusy) {
			t.Errorf("FreeRegion of a region being sent: %v, want ErrRegionBusy", err)
		}
		if _, err := c.Send(ctx, big, 10); !errors.Is(err, devmem.ErrRegionBusy) {
			t.Errorf("Send of a region being sent: %v, want ErrRegionBusy", err)
		}
		small, err := c.Alloc(ctx, 4096)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendScatter(ctx, []pagepool.Region{small, small}, 100); !errors.Is(err, devmem.ErrRegionBusy) {
			t.Errorf("SendScatter listing a region twice: %v, want ErrRegionBusy", err)
		}
		// Refused: small is still the caller's.
		if err := c.FreeRegion(small); err != nil {
			t.Errorf("FreeRegion after the refused SendScatter: %v", err)
		}
		cancel()
		if err := <-sent; !errors.Is(err, context.Canceled) {
			t.Errorf("the blocked Send after cancel: %v, want context.Canceled", err)
		}
		// The Send frees big once the NIC is done (at once in copy mode).
		if err := c.FreeRegion(big); !errors.Is(err, pagepool.ErrDoubleFree) && !errors.Is(err, devmem.ErrRegionBusy) {
			t.Errorf("FreeRegion of a sent region: %v, want ErrDoubleFree (or ErrRegionBusy while in flight)", err)
		}
	})
}
