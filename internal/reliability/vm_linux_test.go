package reliability_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/internal/testutil"
	"github.com/devmem-go/devmem/netdev"
	"golang.org/x/sys/unix"
)

// The tests in this file need the devmem data path: the devmem-7.2 kernel
// of the VM runner, whose netdevsim is patched to act as a header-split NIC
// with DMA. They skip elsewhere. Run them with
//
//	make vmtest-one KERNEL=devmem-7.2 PKG=./internal/reliability

// devmemMiB is the size of TestVMBoundedTransfer's stream. The default
// keeps the test at about 15 s under TCG; RELIABILITY.md reports a run with
// -devmem-mib=2048.
var devmemMiB = flag.Int("devmem-mib", 256, "MiB TestVMBoundedTransfer sends over the devmem path")

// simEnv is a netdevsim pair with the receiving end in the test's
// namespace and a sender in the peer namespace.
type simEnv struct {
	p  *testutil.SimPair
	nl *netdev.Client
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	testutil.SkipIfNoNetdevsim(t)
	testutil.SkipIfNoUdmabuf(t)
	p := testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: 1})
	nl, err := netdev.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })
	return &simEnv{p: p, nl: nl}
}

// listen makes a devmem Listener on the local netdevsim (header split set
// up by Listen, undone by Close).
func (e *simEnv) listen(t *testing.T, cfg *devmem.ListenConfig) *devmem.Listener {
	t.Helper()
	cfg.Interface = e.p.Local.Name
	cfg.Setup = true
	cfg.Fallback = devmem.FallbackNone
	if cfg.BufferSize == 0 {
		cfg.BufferSize = 16 << 20
	}
	l, err := cfg.Listen(context.Background(), "tcp", net.JoinHostPort(e.p.Local.Addr4.Addr().String(), "0"))
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ifindex := e.p.Local.Ifindex
	t.Cleanup(func() {
		l.Close()
		// The binding must be gone with the Listener (unless the device
		// is).
		if id, err := e.boundTo(ifindex); err == nil && id != 0 {
			t.Errorf("queue 0 still bound to %d after Listener.Close", id)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("queue-get after Listener.Close: %v", err)
		}
	})
	return l
}

// dial connects from the peer namespace.
func (e *simEnv) dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	var c net.Conn
	if err := e.p.PeerNS.Do(func() (err error) {
		c, err = net.Dial("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// boundTo returns the binding id on RX queue 0 of the local device.
func (e *simEnv) boundTo(ifindex int) (uint32, error) {
	q, err := e.nl.Queue(ifindex, 0, netdev.QueueTypeRX)
	if err != nil {
		return 0, err
	}
	return q.DMABuf, nil
}

// deleteLocal deletes the local netdevsim device, and recreates a device
// of the same id afterwards (in cleanup order), so that the pair's own
// cleanup finds something to delete.
func (e *simEnv) deleteLocal(t *testing.T) {
	t.Helper()
	id := strconv.Itoa(e.p.Local.ID)
	if err := os.WriteFile("/sys/bus/netdevsim/del_device", []byte(id), 0); err != nil {
		t.Fatalf("deleting netdevsim %s: %v", id, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile("/sys/bus/netdevsim/new_device", []byte(id+" 1 1"), 0); err != nil {
			t.Errorf("recreating netdevsim %s: %v", id, err)
		}
	})
}

// TestVMDeviceDeletedWhileBound deletes the NIC while a Listener holds a
// binding on it: Stats and Close must return (with the device's absence
// as the error where they talk to it), and nothing may leak.
func TestVMDeviceDeletedWhileBound(t *testing.T) {
	e := newSimEnv(t)
	guard(t)
	l := e.listen(t, &devmem.ListenConfig{})
	ifindex := e.p.Local.Ifindex
	if id, err := e.boundTo(ifindex); err != nil || id != l.Stats().BindingID {
		t.Fatalf("queue 0 bound to %d (%v), want the Listener's %d", id, err, l.Stats().BindingID)
	}
	e.deleteLocal(t)
	faults.add("netdevsim deleted while bound", 1)
	if _, err := e.boundTo(ifindex); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("queue-get of the deleted device: %v, want os.ErrNotExist", err)
	}
	err := within(t, 10*time.Second, "Listener.Stats", func() error { return l.Stats().NetdevErr })
	t.Logf("Stats after the deletion: NetdevErr %v", err)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stats of a Listener whose device is gone: NetdevErr %v, want os.ErrNotExist", err)
	}
	err = within(t, 10*time.Second, "Listener.Close", l.Close)
	t.Logf("Close after the deletion: %v", err)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close after the device was deleted: %v, want nil or os.ErrNotExist (nothing left to restore)", err)
	}
}

// TestVMDeviceDeletedWhileReading deletes the NIC under a connection that
// is receiving: the reader must not hang past its deadline, Close must
// unblock it, frags held across the deletion must be releasable, and
// nothing may leak.
func TestVMDeviceDeletedWhileReading(t *testing.T) {
	e := newSimEnv(t)
	guard(t)
	l := e.listen(t, &devmem.ListenConfig{})
	client := e.dial(t, l.Addr())
	c, err := l.AcceptDevmem()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stopSend := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := payload(5, 64<<10)
		for {
			select {
			case <-stopSend:
				return
			default:
			}
			client.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := client.Write(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	})
	defer func() { close(stopSend); client.Close(); wg.Wait() }()
	// Receive some devmem data and keep one batch of frags.
	linear := make([]byte, 64<<10)
	held, _, err := c.ReadFrags(make([]devmem.Frag, 0, 64), linear)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 64), linear)
		if err != nil {
			t.Fatal(err)
		}
		c.Release(fs)
	}
	if st := c.Stats(); st.DevmemBytes == 0 {
		t.Fatalf("no devmem bytes before the deletion: %+v", st)
	}
	e.deleteLocal(t)
	faults.add("netdevsim deleted while reading", 1)
	// The stream stops; the read deadline bounds the wait.
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	err = within(t, 30*time.Second, "ReadFrags after the deletion", func() error {
		for {
			fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 64), linear)
			if err != nil {
				return err
			}
			c.Release(fs)
		}
	})
	t.Logf("ReadFrags after the deletion: %v", err)
	if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, syscall.ECONNRESET) && err != io.EOF {
		t.Errorf("ReadFrags after the device was deleted: %v, want the deadline, a reset or EOF", err)
	}
	// Frags received before the deletion go back to the kernel.
	if err := c.Release(held); err != nil {
		t.Errorf("releasing frags held across the deletion: %v", err)
	}
	// A blocked read is unblocked by Close.
	c.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, _, err := c.ReadFrags(nil, linear); errc <- err }()
	waitParked(t, "devmem.(*Conn).ReadFrags(")
	c.Close()
	if err := within(t, 5*time.Second, "ReadFrags after Close", func() error { return <-errc }); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrags blocked at Close: %v, want net.ErrClosed", err)
	}
	if lr := c.Leaks(); len(lr.Frags) != 0 {
		t.Errorf("leak report: %v", lr)
	}
	within(t, 10*time.Second, "Listener.Close", l.Close)
}

// TestVMPagePoolExhausted withholds every frag until the binding's memory
// runs out and the NIC can no longer receive, then releases them all: the
// transfer must resume and complete, every byte intact, with nothing left
// outstanding.
func TestVMPagePoolExhausted(t *testing.T) {
	e := newSimEnv(t)
	guard(t)
	const bufSize = 2 << 20 // the binding's page pool has 512 pages
	total := 16 << 20
	l := e.listen(t, &devmem.ListenConfig{BufferSize: bufSize})
	client := e.dial(t, l.Addr())
	c, err := l.AcceptDevmem()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, sum := stream(7, total-8)
	var wg sync.WaitGroup
	wg.Go(func() {
		client.Write(data)
		client.(*net.TCPConn).CloseWrite()
	})
	defer wg.Wait()

	h := sha256.New()
	linear := make([]byte, 256<<10)
	var held []devmem.Frag
	var got int
	// Phase 1: read without releasing until nothing more arrives.
	for {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		fs, n, err := c.ReadFrags(make([]devmem.Frag, 0, 256), linear)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("ReadFrags while withholding: %v", err)
		}
		c.BeginRead()
		for _, f := range fs {
			h.Write(c.FragBytes(f, linear[:n]))
			got += int(f.Size)
		}
		c.EndRead()
		held = append(held, fs...)
		if got >= len(data) {
			t.Fatalf("all %d bytes arrived with %d frags withheld: the %d-byte binding never ran dry", got, len(held), bufSize)
		}
	}
	st := c.Stats()
	faults.add("page pool exhausted by withheld releases", 1)
	figure(t, "page pool exhausted", "%d frags / %d bytes withheld from a %d-byte binding stopped the stream after %d of %d bytes",
		st.OutstandingFrags, st.OutstandingBytes, bufSize, got, len(data))
	if st.OutstandingBytes > bufSize {
		t.Errorf("%d bytes outstanding in a %d-byte dma-buf", st.OutstandingBytes, bufSize)
	}
	// Phase 2: give everything back; the stream resumes.
	start := time.Now()
	if err := c.Release(held); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for {
		fs, n, err := c.ReadFrags(make([]devmem.Frag, 0, 256), linear)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ReadFrags after the releases: %v (%d of %d bytes)", err, got, len(data))
		}
		c.BeginRead()
		for _, f := range fs {
			h.Write(c.FragBytes(f, linear[:n]))
			got += int(f.Size)
		}
		c.EndRead()
		if err := c.Release(fs); err != nil {
			t.Fatal(err)
		}
	}
	if got != len(data) || [32]byte(h.Sum(nil)) != sum {
		t.Fatalf("received %d of %d bytes, or the contents differ", got, len(data))
	}
	figure(t, "page pool recovery", "stream completed %v after the releases", time.Since(start).Round(time.Millisecond))
	c.Close()
	if lr := c.Leaks(); len(lr.Frags) != 0 {
		t.Errorf("leak report: %v", lr)
	}
}

// TestVMETOOSMALL makes a raw recvmsg(MSG_SOCK_DEVMEM) with a control
// buffer too small for one frag: the kernel answers ETOOSMALL (525) and
// consumes nothing, so the Conn then reads the whole stream intact.
func TestVMETOOSMALL(t *testing.T) {
	e := newSimEnv(t)
	guard(t)
	l := e.listen(t, &devmem.ListenConfig{})
	client := e.dial(t, l.Addr())
	c, err := l.AcceptDevmem()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, sum := stream(8, 1<<20)
	go func() { client.Write(data); client.(*net.TCPConn).CloseWrite() }()
	// Wait for data, then try with 8 bytes of control buffer.
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var errno syscall.Errno
	buf, oob := make([]byte, 4096), make([]byte, 8)
	err = rc.Read(func(fd uintptr) bool {
		_, _, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_SOCK_DEVMEM|unix.MSG_PEEK)
		if err == unix.EAGAIN {
			return false
		}
		errno, _ = err.(syscall.Errno)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	faults.add("control buffer too small (ETOOSMALL)", 1)
	if errno != 525 {
		t.Errorf("recvmsg with an 8-byte control buffer: errno %d (%v), want 525 (ETOOSMALL)", errno, errno)
	}
	h := sha256.New()
	if _, err := readFragsAll(c, h); err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != sum {
		t.Fatal("the stream after ETOOSMALL differs")
	}
	if st := c.Stats(); st.DevmemBytes == 0 {
		t.Errorf("no devmem bytes: %+v", st)
	}
}

// TestVMBoundedTransfer sends a large stream over the devmem path with a
// tight bound on outstanding frags, checks every byte, that the bound held,
// that no frag or token is left, and that the queue is unbound after Close.
func TestVMBoundedTransfer(t *testing.T) {
	e := newSimEnv(t)
	guard(t)
	total := *devmemMiB << 20
	if testing.Short() {
		total = min(total, 32<<20)
	}
	const maxFrags = 64
	l := e.listen(t, &devmem.ListenConfig{BufferSize: 8 << 20, MaxFrags: maxFrags})
	ifindex := e.p.Local.Ifindex
	client := e.dial(t, l.Addr())
	c, err := l.AcceptDevmem()
	if err != nil {
		t.Fatal(err)
	}
	// The sender streams a pattern derived from the offset, so that the
	// whole stream need not be in memory.
	pattern := func(off int, b []byte) {
		for i := range b {
			b[i] = byte((off + i) * 7 >> 3)
		}
	}
	go func() {
		buf := make([]byte, 256<<10)
		for off := 0; off < total; off += len(buf) {
			pattern(off, buf)
			if _, err := client.Write(buf[:min(len(buf), total-off)]); err != nil {
				return
			}
		}
		client.(*net.TCPConn).CloseWrite()
	}()
	start := time.Now()
	linear := make([]byte, 1<<20)
	want := make([]byte, 1<<20)
	got := 0
	var peak uint64
	for {
		fs, n, err := c.ReadFrags(make([]devmem.Frag, 0, 2*maxFrags), linear)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ReadFrags at byte %d: %v", got, err)
		}
		peak = max(peak, c.Stats().OutstandingFrags)
		c.BeginRead()
		for _, f := range fs {
			b := c.FragBytes(f, linear[:n])
			pattern(got, want[:len(b)])
			if string(b) != string(want[:len(b)]) {
				t.Fatalf("bytes %d..%d differ", got, got+len(b))
			}
			got += len(b)
		}
		c.EndRead()
		if err := c.Release(fs); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	st := c.Stats()
	if got != total {
		t.Fatalf("received %d of %d bytes", got, total)
	}
	if peak > maxFrags || st.Ledger.PeakFrags > maxFrags {
		t.Errorf("outstanding frags peaked at %d (ledger %d), the bound is %d", peak, st.Ledger.PeakFrags, maxFrags)
	}
	if st.DevmemBytes == 0 {
		t.Errorf("no devmem bytes: %+v", st)
	}
	c.Close()
	if lr := c.Leaks(); len(lr.Frags) != 0 {
		t.Errorf("leak report: %v", lr)
	}
	if st.Ledger.UnknownTokens != 0 || st.ShortFrees != 0 {
		t.Errorf("the kernel did not know %d tokens (%d short frees)", st.Ledger.UnknownTokens, st.ShortFrees)
	}
	checkClean(t, l, 0)
	l.Close()
	if id, err := e.boundTo(ifindex); err != nil || id != 0 {
		t.Errorf("queue 0 after Close: bound to %d (%v), want unbound", id, err)
	}
	figure(t, "devmem bounded transfer", "%d MiB (%d devmem, %d linear bytes) in %v, peak %d frags outstanding (bound %d), %d DONTNEED calls, 0 leaks",
		total>>20, st.DevmemBytes, st.LinearBytes, elapsed.Round(time.Millisecond), st.Ledger.PeakFrags, maxFrags, st.Ledger.Calls)
}

// TestVMTXCloseUnblocks parks the calls of a devmem TX connection (netdev
// bind-tx, sendmsg(MSG_ZEROCOPY) from the dma-buf) on a receiver that does
// not read, and closes it: Send, Alloc (waiting for completions to free
// space) and Flush (waiting for completions) must return net.ErrClosed, and
// nothing may leak.
func TestVMTXCloseUnblocks(t *testing.T) {
	e := newSimEnv(t)
	guard(t)
	l := e.listen(t, &devmem.ListenConfig{})
	for _, call := range []string{"Send", "Alloc", "Flush"} {
		t.Run(call, func(t *testing.T) {
			var c *devmem.Conn
			if err := e.p.PeerNS.Do(func() (err error) {
				c, err = devmem.Dial(context.Background(), "tcp", l.Addr().String(), &devmem.DialConfig{BufferSize: 1 << 20})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Mode() != devmem.ModeDevmem {
				t.Fatalf("Dial over netdevsim: mode %v (%v), want devmem TX", c.Mode(), c.Reason())
			}
			rc, err := l.AcceptDevmem() // accepted, never read
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			// Fill the path until Send blocks (the receive window is full).
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, err = sendLoop(t, ctx, c, 64<<10, 1<<30)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("filling the path: %v, want the context's deadline", err)
			}
			if st := c.Stats(); st.TXPending == 0 {
				t.Fatalf("no send pending after filling the path: %+v", st)
			}
			errc := make(chan error, 1)
			marker := "devmem.(*Conn)." + call + "("
			go func() {
				switch call {
				case "Send":
					_, err := sendLoop(t, context.Background(), c, 64<<10, 1<<30)
					errc <- err
				case "Alloc":
					_, err := c.Alloc(context.Background(), 1<<20)
					errc <- err
				case "Flush":
					errc <- c.Flush(context.Background())
				}
			}()
			waitParked(t, marker)
			c.Close()
			faults.add("close during a blocked devmem TX call", 1)
			if err := within(t, 5*time.Second, call+" after Close", func() error { return <-errc }); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("%s blocked when the Conn was closed: %v, want net.ErrClosed", call, err)
			}
		})
	}
}
