package reliability_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/pagepool"
)

// faults counts the faults injected by the tests; TestZZFaultSummary
// reports the totals.
var faults counter

// TestPeerReset resets the sending peer (RST, SO_LINGER 0) in the middle of
// a stream, for each way of reading: while the reader is parked waiting for
// data, and with data still queued. The reader must get a prefix of what was
// sent, byte for byte, then ECONNRESET, never hang, and leave nothing
// behind.
func TestPeerReset(t *testing.T) {
	for _, r := range readers {
		for _, queued := range []bool{false, true} {
			name := r.name + "/parked"
			if queued {
				name = r.name + "/queued"
			}
			t.Run(name, func(t *testing.T) {
				guard(t)
				l := listenCopy(t, nil)
				c, client := pair(t, l)
				data, _ := stream(1, 1<<20)
				var got countingBuffer
				type result struct {
					n   int64
					err error
				}
				res := make(chan result, 1)
				start := func() { go func() { n, err := r.read(c, &got); res <- result{n, err} }() }
				if !queued {
					start()
				}
				// With nobody reading (queued), the socket buffers may not
				// take all of it: what they take is the stream.
				client.SetWriteDeadline(time.Now().Add(2 * time.Second))
				n, err := client.Write(data)
				if err != nil && (!queued || !errors.Is(err, os.ErrDeadlineExceeded)) {
					t.Fatal(err)
				}
				data = data[:n]
				if !queued {
					// Reset once the reader has taken everything (the
					// sender's queue is empty) and waits for more.
					if !poll(10*time.Second, func() bool { return got.n.Load() == int64(len(data)) }) {
						t.Fatalf("the reader got %d of %d bytes in 10s", got.n.Load(), len(data))
					}
					waitParked(t, "devmem.(*Conn)."+r.name)
				}
				if err := client.SetLinger(0); err != nil {
					t.Fatal(err)
				}
				client.Close()
				faults.add("peer reset (RX)", 1)
				if queued {
					start()
				}
				var rr result
				select {
				case rr = <-res:
				case <-time.After(10 * time.Second):
					t.Fatal("reader still blocked 10s after the peer reset")
				}
				if !errors.Is(rr.err, syscall.ECONNRESET) {
					t.Errorf("%s after a reset: %v, want ECONNRESET", r.name, rr.err)
				}
				if rr.n != int64(got.Len()) || !bytes.Equal(got.Bytes(), data[:got.Len()]) {
					t.Errorf("%s returned %d bytes (%d written out) that are not a prefix of the stream", r.name, rr.n, got.Len())
				}
				if !queued && got.Len() != len(data) {
					t.Errorf("reader got %d of the %d bytes sent before the reset", got.Len(), len(data))
				}
				// The next read returns at once.
				err = within(t, 5*time.Second, "read after reset", func() error {
					_, err := c.Read(make([]byte, 10))
					return err
				})
				if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("Read after the reset: %v, want EOF or ECONNRESET", err)
				}
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if lr := c.Leaks(); len(lr.Frags) != 0 {
					t.Errorf("leak report after releasing everything: %v", lr)
				}
				checkClean(t, l, 0)
			})
		}
	}
}

// countingBuffer collects what is written to it; another goroutine may
// watch its length. It has no ReadFrom, so io.Copy writes through Write.
type countingBuffer struct {
	buf bytes.Buffer
	n   atomic.Int64
}

func (b *countingBuffer) Write(p []byte) (int, error) {
	n, err := b.buf.Write(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBuffer) Len() int      { return b.buf.Len() }
func (b *countingBuffer) Bytes() []byte { return b.buf.Bytes() }

// TestPeerResetWithheld resets the peer while the application still holds
// frags, and checks that the Conn's leak report names exactly those frags,
// and that their memory comes back when the Conn is closed.
func TestPeerResetWithheld(t *testing.T) {
	guard(t)
	l := listenCopy(t, nil)
	c, client := pair(t, l)
	data, _ := stream(2, 512<<10)
	client.SetWriteDeadline(time.Now().Add(2 * time.Second))
	n, err := client.Write(data)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	data = data[:n]
	client.SetLinger(0)
	client.Close()
	faults.add("peer reset (RX)", 1)
	var held []devmem.Frag
	var total, batches int
	linear := make([]byte, 16<<10)
	for {
		fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 8), linear)
		if errors.Is(err, syscall.ECONNRESET) {
			break
		}
		if err != nil {
			t.Fatalf("ReadFrags: %v", err)
		}
		for _, f := range fs {
			if !bytes.Equal(c.FragBytes(f, linear), data[total:total+int(f.Size)]) {
				t.Fatalf("frag at stream offset %d differs", total)
			}
			total += int(f.Size)
		}
		// Keep every third batch.
		if batches%3 == 0 {
			held = append(held, fs...)
		} else if err := c.Release(fs); err != nil {
			t.Fatal(err)
		}
		batches++
	}
	if st := c.Stats(); st.OutstandingFrags != uint64(len(held)) {
		t.Errorf("Stats: %d frags outstanding, the application holds %d", st.OutstandingFrags, len(held))
	}
	c.Close()
	lr := c.Leaks()
	if len(lr.Frags) != len(held) {
		t.Fatalf("leak report has %d frags, the application withheld %d:\n%v", len(lr.Frags), len(held), lr)
	}
	var want, got uint64
	for _, f := range held {
		want += uint64(f.Size)
	}
	for _, f := range lr.Frags {
		got += uint64(f.Frag.Size)
	}
	if got != want || lr.Bytes != want {
		t.Errorf("leak report: %d bytes (Bytes %d), withheld %d", got, lr.Bytes, want)
	}
	// Releasing after Close is refused, and changes nothing.
	if err := c.Release(held); err == nil {
		t.Error("Release after Close succeeded")
	}
	checkClean(t, l, uint64(len(held)))
}

// sink is a plain TCP server for dialed Conns. Accepted connections are
// passed to handle, which runs in its own goroutine and owns the conn.
func sink(t *testing.T, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

// dialCopy dials addr with devmem.Dial (copy mode on loopback) and a send
// buffer of bufSize bytes.
func dialCopy(t *testing.T, addr string, bufSize int64) *devmem.Conn {
	t.Helper()
	c, err := devmem.Dial(context.Background(), "tcp", addr, &devmem.DialConfig{BufferSize: bufSize})
	if err != nil {
		t.Fatalf("devmem.Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Mode() != devmem.ModeCopy {
		t.Fatalf("Dial over loopback: mode %v, want copy", c.Mode())
	}
	return c
}

// sendLoop sends regions of size bytes from c until Send fails, and returns
// the bytes sent and the error. It fails t if limit bytes go out first.
func sendLoop(t *testing.T, ctx context.Context, c *devmem.Conn, size int, limit int64) (int64, error) {
	t.Helper()
	var total int64
	for total < limit {
		r, err := c.Alloc(ctx, size)
		if err != nil {
			return total, err
		}
		copy(c.RegionBytes(r), payload(uint64(total), 64))
		n, err := c.Send(ctx, r, size)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	t.Fatalf("sent %d bytes without the expected error", total)
	return total, nil
}

// checkTXFree checks that a dialed Conn holds no region: nothing pending,
// and the whole buffer can be allocated again.
func checkTXFree(t *testing.T, c *devmem.Conn, bufSize int) {
	t.Helper()
	if st := c.Stats(); st.TXPendingRegs != 0 || st.TXPending != 0 {
		t.Errorf("after the failure: %d regions and %d sends pending", st.TXPendingRegs, st.TXPending)
	}
	r, err := c.Alloc(context.Background(), bufSize)
	if err != nil {
		t.Errorf("Alloc of the whole %d-byte buffer after the failure: %v (a region leaked)", bufSize, err)
		return
	}
	if err := c.FreeRegion(r); err != nil {
		t.Error(err)
	}
}

// TestPeerResetTX resets the receiving peer while a dialed Conn sends: Send
// must fail with EPIPE or ECONNRESET, promptly, and free its regions.
func TestPeerResetTX(t *testing.T) {
	guard(t)
	const bufSize = 4 << 20
	reset := make(chan struct{})
	ln := sink(t, func(c net.Conn) {
		go func() {
			_, _ = io.CopyN(io.Discard, c, 1<<20)
			c.(*net.TCPConn).SetLinger(0)
			c.Close() // sends the RST
			close(reset)
		}()
	})
	c := dialCopy(t, ln.Addr().String(), bufSize)
	n, err := sendLoop(t, context.Background(), c, 256<<10, 1<<30)
	<-reset
	faults.add("peer reset (TX)", 1)
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Send to a reset peer: %v after %d bytes, want EPIPE or ECONNRESET", err, n)
	}
	checkTXFree(t, c, bufSize)
	_, err = c.Write([]byte("more"))
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Write to a reset peer: %v, want EPIPE or ECONNRESET", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestPeerStopsReading connects to a peer that never reads, so that the
// socket buffers fill up and Send and Write block (TX back-pressure). Each
// way out must work and free the regions: the context's deadline, its
// cancellation, the write deadline, and Close.
func TestPeerStopsReading(t *testing.T) {
	guard(t)
	const bufSize, size = 4 << 20, 256 << 10
	ln := sink(t, func(c net.Conn) { t.Cleanup(func() { c.Close() }) }) // never reads
	c := dialCopy(t, ln.Addr().String(), bufSize)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	queued, err := sendLoop(t, ctx, c, size, 1<<30)
	cancel()
	faults.add("peer stops reading", 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with a context deadline to a peer that does not read: %v, want DeadlineExceeded", err)
	}
	figure(t, "TX back-pressure", "the socket buffers took %d bytes before Send blocked", queued)
	checkTXFree(t, c, bufSize)

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() { _, err := sendLoop(t, ctx, c, size, 1<<30); errc <- err }()
		waitParked(t, "devmem.(*Conn).Send(")
		cancel()
		faults.add("context cancel (Send)", 1)
		err := within(t, 5*time.Second, "Send after cancel", func() error { return <-errc })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Send after cancel: %v, want context.Canceled", err)
		}
		checkTXFree(t, c, bufSize)
	})
	t.Run("write deadline", func(t *testing.T) {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		defer c.SetWriteDeadline(time.Time{})
		_, err := sendLoop(t, context.Background(), c, size, 1<<30)
		faults.add("write deadline (Send)", 1)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Send past the write deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		checkTXFree(t, c, bufSize)
		_, err = c.Write(make([]byte, 1<<20))
		faults.add("write deadline (Write)", 1)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write past the write deadline: %v, want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() { _, err := sendLoop(t, context.Background(), c, size, 1<<30); errc <- err }()
		waitParked(t, "devmem.(*Conn).Send(")
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		faults.add("close during blocked Send", 1)
		err := within(t, 5*time.Second, "Send after Close", func() error { return <-errc })
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Send blocked when the Conn was closed: %v, want net.ErrClosed", err)
		}
		if _, err := c.Alloc(context.Background(), size); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Alloc after Close: %v, want net.ErrClosed", err)
		}
	})
}

// TestReadContextAndDeadline cancels and times out Accept and reads while
// they wait, and checks that the Listener and Conn keep working afterwards,
// with the application's own deadline intact.
func TestReadContextAndDeadline(t *testing.T) {
	guard(t)
	l := listenCopy(t, nil)

	t.Run("AcceptContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, err := l.AcceptContext(ctx); errc <- err }()
		waitParked(t, "devmem.(*Listener).AcceptContext(")
		cancel()
		faults.add("context cancel (Accept)", 1)
		if err := within(t, 5*time.Second, "AcceptContext after cancel", func() error { return <-errc }); !errors.Is(err, context.Canceled) {
			t.Fatalf("AcceptContext after cancel: %v, want context.Canceled", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := l.AcceptContext(ctx)
		faults.add("context deadline (Accept)", 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("AcceptContext past its deadline: %v, want context.DeadlineExceeded", err)
		}
		// The Listener still accepts.
		c, client := pair(t, l)
		client.Close()
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read of a closed client: %v, want EOF", err)
		}
		c.Close()
	})

	t.Run("ReadFragsContext", func(t *testing.T) {
		c, client := pair(t, l)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ReadFragsContext(ctx, nil, make([]byte, 4096))
			errc <- err
		}()
		waitParked(t, "devmem.(*Conn).ReadFragsContext(")
		cancel()
		faults.add("context cancel (ReadFrags)", 1)
		if err := within(t, 5*time.Second, "ReadFragsContext after cancel", func() error { return <-errc }); !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadFragsContext after cancel: %v, want context.Canceled", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err := c.ReadFragsContext(ctx, nil, make([]byte, 4096))
		faults.add("context deadline (ReadFrags)", 1)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ReadFragsContext past its deadline: %v, want context.DeadlineExceeded", err)
		}
		// The context's deadline must not stick to the socket: a plain
		// read waits for data (no deadline set) and gets it.
		got := make(chan error, 1)
		go func() {
			fs, _, err := c.ReadFrags(nil, make([]byte, 4096))
			if err == nil {
				err = c.Release(fs)
			}
			got <- err
		}()
		waitParked(t, "devmem.(*Conn).ReadFrags(")
		client.Write([]byte("after the cancel"))
		if err := within(t, 5*time.Second, "ReadFrags", func() error { return <-got }); err != nil {
			t.Fatalf("ReadFrags after a cancelled ReadFragsContext: %v", err)
		}
		c.Close()
	})

	for _, r := range readers {
		t.Run("deadline/"+r.name, func(t *testing.T) {
			c, client := pair(t, l)
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := r.read(c, io.Discard)
			faults.add("read deadline", 1)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("%s past the read deadline: %v, want os.ErrDeadlineExceeded", r.name, err)
			}
			c.SetReadDeadline(time.Time{})
			data, sum := stream(3, 200<<10)
			go func() { client.Write(data); client.CloseWrite() }()
			var got bytes.Buffer
			if _, err := r.read(c, &got); err != nil {
				t.Fatalf("%s after clearing the deadline: %v", r.name, err)
			}
			if got.Len() != len(data) || sha256.Sum256(got.Bytes()) != sum {
				t.Fatalf("%s after the deadline: %d bytes, want %d, or contents differ", r.name, got.Len(), len(data))
			}
			c.Close()
		})
	}
	checkClean(t, l, 0)
}

// TestBackpressureFaults withholds releases so that ReadFrags waits at the
// connection's bound (the copy path's counterpart of an exhausted page pool),
// then checks each way out: a release, the read deadline, a context, Close,
// and FailFast.
func TestBackpressureFaults(t *testing.T) {
	guard(t)
	setup := func(t *testing.T, failFast bool) (*devmem.Conn, *net.TCPConn, []devmem.Frag) {
		l := listenCopy(t, &devmem.ListenConfig{MaxFrags: 2, FailFast: failFast})
		c, client := pair(t, l)
		var held []devmem.Frag
		linear := make([]byte, 4096)
		for len(held) < 2 {
			client.Write([]byte("0123456789"))
			fs, _, err := c.ReadFrags(nil, linear)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, fs...)
		}
		client.Write([]byte("more"))
		return c, client, held
	}
	read := func(ctx context.Context, c *devmem.Conn) error {
		fs, _, err := c.ReadFragsContext(ctx, nil, make([]byte, 4096))
		if err == nil {
			err = c.Release(fs)
		}
		return err
	}
	t.Run("release", func(t *testing.T) {
		c, _, held := setup(t, false)
		errc := make(chan error, 1)
		go func() { errc <- read(context.Background(), c) }()
		waitParked(t, "devmem.(*Conn).ReadFragsContext(")
		faults.add("withheld releases (copy)", 1)
		if err := c.Release(held[:1]); err != nil {
			t.Fatal(err)
		}
		if err := within(t, 5*time.Second, "ReadFrags after a release", func() error { return <-errc }); err != nil {
			t.Fatalf("ReadFrags after a release made room: %v", err)
		}
		c.Release(held[1:])
	})
	t.Run("deadline", func(t *testing.T) {
		c, _, held := setup(t, false)
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		err := read(context.Background(), c)
		faults.add("withheld releases (copy)", 1)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadFrags at the bound past the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		c.Release(held)
	})
	t.Run("context", func(t *testing.T) {
		c, _, held := setup(t, false)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- read(ctx, c) }()
		waitParked(t, "devmem.(*Conn).ReadFragsContext(")
		cancel()
		faults.add("withheld releases (copy)", 1)
		if err := within(t, 5*time.Second, "ReadFrags at the bound after cancel", func() error { return <-errc }); !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadFrags at the bound after cancel: %v, want context.Canceled", err)
		}
		c.Release(held)
	})
	t.Run("close", func(t *testing.T) {
		c, _, _ := setup(t, false)
		errc := make(chan error, 1)
		go func() { errc <- read(context.Background(), c) }()
		waitParked(t, "devmem.(*Conn).ReadFragsContext(")
		c.Close()
		faults.add("withheld releases (copy)", 1)
		if err := within(t, 5*time.Second, "ReadFrags at the bound after Close", func() error { return <-errc }); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadFrags at the bound after Close: %v, want net.ErrClosed", err)
		}
		if lr := c.Leaks(); len(lr.Frags) != 2 {
			t.Errorf("leak report: %d frags, want the 2 withheld", len(lr.Frags))
		}
	})
	t.Run("failfast", func(t *testing.T) {
		c, _, held := setup(t, true)
		err := read(context.Background(), c)
		faults.add("withheld releases (copy)", 1)
		if !errors.Is(err, pagepool.ErrBackpressure) {
			t.Fatalf("ReadFrags at the bound with FailFast: %v, want pagepool.ErrBackpressure", err)
		}
		c.Release(held)
		if err := read(context.Background(), c); err != nil {
			t.Fatalf("ReadFrags after the release: %v", err)
		}
	})
}
