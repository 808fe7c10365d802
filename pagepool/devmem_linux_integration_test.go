//go:build linux

package pagepool_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/internal/testutil"
	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/devmem-go/devmem/udmabuf"
	"golang.org/x/sys/unix"
)

// These tests run the Ledger against the kernel's real devmem TCP receive
// path: on the devmem test kernel (VMTEST_KERNEL=devmem-7.2), two netdevsim
// devices linked back to back, the receiving one with header split on and a
// udmabuf bound to its only RX queue, the sender in another namespace. The
// patched netdevsim copies each TCP payload into pages of the dma-buf's page
// pool (where a NIC would DMA), so tokens, SO_DEVMEM_DONTNEED and page-pool
// exhaustion are the kernel's own. Elsewhere they skip, naming what is
// missing.

// envStreamMiB overrides the size of TestIntegrationDevmemStream's stream
// (MiB). The VM runner passes DEVMEM_* variables into the guest.
const envStreamMiB = "DEVMEM_PAGEPOOL_STREAM_MIB"

const (
	pageSize = 4096 // the netdevsim patch fills one PAGE_SIZE netmem per frag
	// readMaxBytes is the data buffer of each recvmsg: it bounds the bytes,
	// hence the frags, one call returns.
	readMaxBytes = 1 << 20
	// readMaxFrags is the control buffer's capacity in frags: every frag of a
	// full read, with room for partial first and last pages.
	readMaxFrags = readMaxBytes/pageSize + 64
)

// devmemRig is a netdevsim pair ready for devmem RX: header split on, a
// udmabuf bound to RX queue 0 of Local, and a listener on Local's address.
type devmemRig struct {
	pair    *testutil.SimPair
	nd      *netdev.Client
	buf     *udmabuf.Buffer
	mapping *dmabuf.Mapping
	mem     []byte // mapping's bytes: valid while mapping is reachable
	binding *netdev.Binding
	ln      net.Listener
}

// newDevmemRig sets up the rig for t with a dma-buf of bufBytes and
// SO_RCVBUF rcvbuf on the listener (the kernel doubles it; the accepted
// socket inherits it). Everything is undone in t's cleanup.
func newDevmemRig(t *testing.T, bufBytes, rcvbuf int) *devmemRig {
	t.Helper()
	testutil.SkipIfNoNetdevsim(t)
	testutil.SkipIfNoUdmabuf(t)
	r := &devmemRig{pair: testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: 1})}
	local := r.pair.Local

	nd, err := netdev.Dial()
	if err != nil {
		t.Skipf("needs the netdev generic netlink family (Linux 6.12): %v", err)
	}
	t.Cleanup(func() { nd.Close() })
	if !nd.HasBindRX() {
		t.Skip("needs netdev bind-rx (Linux 6.12 with CONFIG_NET_DEVMEM)")
	}
	r.nd = nd

	et, err := netdev.NewEthtool()
	if err != nil {
		t.Fatalf("ethtool netlink: %v", err)
	}
	on, zero := netdev.TCPDataSplitEnabled, uint32(0)
	err = et.SetRings(local.Ifindex, netdev.RingsUpdate{TCPDataSplit: &on, HDSThresh: &zero})
	et.Close()
	if err != nil {
		t.Fatalf("enabling header split (tcp-data-split on, hds-thresh 0) on %s: %v", local.Name, err)
	}

	r.buf, err = udmabuf.Create(int64(bufBytes), nil)
	if err != nil {
		t.Fatalf("udmabuf of %d bytes: %v", bufBytes, err)
	}
	t.Cleanup(func() {
		if err := r.buf.Close(); err != nil {
			t.Errorf("udmabuf Close: %v", err)
		}
	})
	r.mapping, err = r.buf.Map()
	if err != nil {
		t.Fatalf("mapping the udmabuf: %v", err)
	}
	// The cleanup keeps the Mapping reachable: were it collected, its
	// cleanup would unmap mem under the reader.
	m := r.mapping
	t.Cleanup(func() { m.Close() })
	r.mem = m.Bytes()

	r.binding, err = nd.BindRX(local.Ifindex, r.buf, []uint32{0})
	if errors.Is(err, netdev.ErrNotSupported) {
		t.Skipf("needs the devmem test kernel's netdevsim (VMTEST_KERNEL=devmem-7.2; this is %q): %v", testutil.VMKernel(), err)
	}
	if err != nil {
		t.Fatalf("BindRX(%s queue 0): %v", local.Name, err)
	}
	// The cleanup keeps the Binding reachable until the test ends: were
	// it collected, its finalizer would close the socket and unbind.
	b := r.binding
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Binding.Close: %v", err)
		}
	})
	q, err := nd.Queue(local.Ifindex, 0, netdev.QueueTypeRX)
	if err != nil {
		t.Fatalf("queue-get: %v", err)
	}
	if q.DMABuf != b.ID() {
		t.Fatalf("RX queue 0 of %s reports binding %d, want %d", local.Name, q.DMABuf, b.ID())
	}

	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}); err != nil {
			return err
		}
		return serr
	}}
	r.ln, err = lc.Listen(context.Background(), "tcp4", net.JoinHostPort(local.Addr4.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ln.Close() })
	return r
}

// allocFail returns Local's rx-alloc-fail: packets netdevsim dropped
// because the dma-buf's page pool had no free page.
func (r *devmemRig) allocFail(t *testing.T) uint64 {
	t.Helper()
	st, err := r.nd.QueueStats(r.pair.Local.Ifindex, netdev.QStatsScopeDevice)
	if err != nil {
		t.Fatalf("qstats-get: %v", err)
	}
	if len(st) != 1 {
		t.Fatalf("qstats-get of %s: %d answers, want 1", r.pair.Local.Name, len(st))
	}
	return st[0].RxAllocFail
}

// stream connects from the peer's namespace and sends total bytes of the
// pattern with the given seed, then closes its write side. It returns the
// accepted (receiving) connection and a function that waits for the sender
// and returns its error. The cleanup closes both ends, which unblocks the
// sender, and waits for it.
func (r *devmemRig) stream(t *testing.T, ctx context.Context, total, seed uint64) (*net.TCPConn, func() error) {
	t.Helper()
	var sc net.Conn
	if err := r.pair.PeerNS.Do(func() (err error) {
		var d net.Dialer
		sc, err = d.DialContext(ctx, "tcp4", r.ln.Addr().String())
		return err
	}); err != nil {
		t.Fatalf("dialing from the peer's namespace: %v", err)
	}
	c, err := r.ln.Accept()
	if err != nil {
		sc.Close()
		t.Fatal(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = sc.SetDeadline(dl)
		_ = c.SetDeadline(dl)
	}
	var serr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sc.Close()
		b := make([]byte, 256<<10)
		for pos := uint64(0); pos < total; {
			n := min(uint64(len(b)), total-pos)
			fillPattern(b[:n], pos, seed)
			if _, err := sc.Write(b[:n]); err != nil {
				serr = fmt.Errorf("sender at byte %d: %w", pos, err)
				return
			}
			pos += n
		}
		serr = sc.(*net.TCPConn).CloseWrite()
	}()
	t.Cleanup(func() {
		c.Close()
		sc.Close()
		<-done
	})
	return c.(*net.TCPConn), func() error { <-done; return serr }
}

// The stream's pattern: 8-byte little-endian words, word k of the stream
// being k*patternMul^seed, so every byte depends on its position and stale
// or misplaced data in the dma-buf does not match.
const patternMul = 0x9e3779b97f4a7c15

func patternByte(pos, seed uint64) byte {
	return byte((pos/8*patternMul ^ seed) >> (8 * (pos % 8)))
}

// fillPattern writes the stream's bytes [pos, pos+len(b)) into b.
func fillPattern(b []byte, pos, seed uint64) {
	for len(b) > 0 && pos%8 != 0 {
		b[0] = patternByte(pos, seed)
		b, pos = b[1:], pos+1
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, pos/8*patternMul^seed)
		b, pos = b[8:], pos+8
	}
	for i := range b {
		b[i] = patternByte(pos+uint64(i), seed)
	}
}

// checkPattern returns the index of the first byte of b that is not the
// stream's byte at pos+index, or -1 if all are.
func checkPattern(b []byte, pos, seed uint64) int {
	i := 0
	for ; i < len(b) && (pos+uint64(i))%8 != 0; i++ {
		if b[i] != patternByte(pos+uint64(i), seed) {
			return i
		}
	}
	for ; len(b)-i >= 8; i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != (pos+uint64(i))/8*patternMul^seed {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] != patternByte(pos+uint64(i), seed) {
			return i
		}
	}
	return -1
}

// devmemReader reads a devmem socket with recvmsg(MSG_SOCK_DEVMEM) and
// checks every byte it describes against the pattern.
type devmemReader struct {
	rc        syscall.RawConn
	dbuf      *dmabuf.Buffer
	mem       []byte // the bound dma-buf, mapped
	bindingID uint32
	seed      uint64

	data, oob []byte
	frags     []cmsg.Frag
	regrowths int // control buffer grown after ETOOSMALL

	pos         uint64 // stream bytes checked
	devmemBytes uint64 // of which in the dma-buf
	devmemFrags uint64
	reads       uint64
}

func newDevmemReader(t *testing.T, r *devmemRig, c *net.TCPConn, seed uint64) *devmemReader {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return &devmemReader{
		rc:        rc,
		dbuf:      r.buf.DMABuf(),
		mem:       r.mem,
		bindingID: r.binding.ID(),
		seed:      seed,
		data:      make([]byte, readMaxBytes),
		// Too small for one frag: the first read must fail with
		// ETOOSMALL and grow it (the kernel never truncates a devmem
		// control message).
		oob:   make([]byte, cmsg.FragSpace-1),
		frags: make([]cmsg.Frag, 0, readMaxFrags),
	}
}

// read makes one recvmsg(MSG_SOCK_DEVMEM), growing the control buffer on
// ETOOSMALL, and returns the bytes read (0 at EOF) and their frags. The
// error is the read deadline's, or fatal.
func (d *devmemReader) read() (int, []cmsg.Frag, error) {
	for {
		var n, oobn int
		var rerr error
		err := d.rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), d.data, d.oob, unix.MSG_SOCK_DEVMEM)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if errors.Is(err, syscall.Errno(uapi.ETOOSMALL)) {
			d.regrowths++
			d.oob = make([]byte, max(2*len(d.oob), cmsg.Space(readMaxFrags)))
			continue
		}
		if err != nil {
			return 0, nil, err
		}
		if n > 0 {
			d.reads++
		}
		d.frags, err = cmsg.Parse(d.frags[:0], d.oob[:oobn])
		return n, d.frags, err
	}
}

// check verifies the n bytes of a read against the pattern, each DMABuf
// frag through the dma-buf mapping, inside a CPU-access window
// (DMA_BUF_IOCTL_SYNC), as a real reader would. This setup must put every
// payload byte in the dma-buf: a Linear frag or plain data is an error.
func (d *devmemReader) check(n int, frags []cmsg.Frag) error {
	return d.dbuf.Sync(dmabuf.Read, func() error { return d.checkFrags(n, frags) })
}

func (d *devmemReader) checkFrags(n int, frags []cmsg.Frag) error {
	if len(frags) == 0 {
		return fmt.Errorf("at byte %d: %d bytes read without devmem control messages: the flow is not on the bound queue", d.pos, n)
	}
	var sum uint64
	for _, f := range frags {
		if f.Kind != cmsg.DMABuf {
			return fmt.Errorf("at byte %d: %v frag of %d bytes: header split put payload in the linear part", d.pos, f.Kind, f.Size)
		}
		if f.DMABufID != d.bindingID {
			return fmt.Errorf("at byte %d: frag of binding %d, want %d", d.pos, f.DMABufID, d.bindingID)
		}
		if err := f.CheckBounds(uint64(len(d.mem))); err != nil {
			return fmt.Errorf("at byte %d: %w", d.pos, err)
		}
		if i := checkPattern(d.mem[f.Offset:f.Offset+uint64(f.Size)], d.pos, d.seed); i >= 0 {
			return fmt.Errorf("stream byte %d (dma-buf offset %#x, token %d): %#02x, want %#02x",
				d.pos+uint64(i), f.Offset+uint64(i), f.Token, d.mem[f.Offset+uint64(i)], patternByte(d.pos+uint64(i), d.seed))
		}
		d.pos += uint64(f.Size)
		d.devmemBytes += uint64(f.Size)
		d.devmemFrags++
		sum += uint64(f.Size)
	}
	if sum != uint64(n) {
		return fmt.Errorf("recvmsg returned %d bytes, its frags describe %d", n, sum)
	}
	return nil
}

// streamBytes is the size of the long stream: 256 MiB, or envStreamMiB.
func streamBytes(t *testing.T) uint64 {
	t.Helper()
	v := os.Getenv(envStreamMiB)
	if v == "" {
		return 256 << 20
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		t.Fatalf("%s=%q: want a positive number of MiB", envStreamMiB, v)
	}
	return n << 20
}

// streamTimeout bounds a stream of n bytes: TCP under TCG moves 2-20 MiB/s,
// and recovering from a dry pool waits on retransmit timers.
func streamTimeout(t *testing.T, n uint64) time.Duration {
	d := 30*time.Second + time.Duration(n>>20)*time.Second
	if dl, ok := t.Deadline(); ok {
		d = min(d, time.Until(dl)-10*time.Second)
	}
	return d
}

// TestIntegrationDevmemStream receives a long stream on a real devmem
// socket and returns every frag through a Ledger with a batched release
// policy, bounding what the socket holds so that the page pool never runs
// dry; then, with releases withheld, it drains the pool on purpose and
// checks that the stream recovers once the frags are released.
func TestIntegrationDevmemStream(t *testing.T) {
	testutil.SkipIfNoNetdevsim(t)
	testutil.SkipIfNoUdmabuf(t)
	t.Run("batched", testDevmemBatched)
	t.Run("withheld", testDevmemWithheld)
}

// testDevmemBatched streams N MiB (256 by default) into a 32 MiB dma-buf
// (8192 pages). The socket holds at most 2*rcvbuf = 8 MiB of page-sized
// truesize in its receive queue, the application at most MaxFrags = 2048
// pages through the ledger: together half the pool, so netdevsim never
// finds it empty and rx-alloc-fail must not move. Every byte is checked
// through the dma-buf mapping, and the ledger must have freed exactly what
// it recorded, with SO_DEVMEM_DONTNEED calls within 10% of the floor.
func testDevmemBatched(t *testing.T) {
	testutil.CheckGoroutineLeak(t)
	testutil.CheckFDLeak(t)
	const (
		bufBytes = 32 << 20
		rcvbuf   = 4 << 20
		maxFrags = 2048
		seed     = 0x5eed_0001
	)
	total := streamBytes(t)
	r := newDevmemRig(t, bufBytes, rcvbuf)
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout(t, total))
	defer cancel()

	failBefore := r.allocFail(t)
	start := time.Now()
	c, sender := r.stream(t, ctx, total, seed)
	d := newDevmemReader(t, r, c, seed)
	l, err := pagepool.NewLedger(d.rc, &pagepool.LedgerOptions{
		Label:    "devmem stream",
		Policy:   pagepool.ReleasePolicy{BatchFrags: 1024},
		MaxFrags: maxFrags,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for d.pos < total {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("at byte %d: %v", d.pos, err)
		}
		n, frags, err := d.read()
		if err != nil {
			t.Fatalf("recvmsg(MSG_SOCK_DEVMEM) at byte %d: %v", d.pos, err)
		}
		if n == 0 {
			t.Fatalf("EOF at byte %d, want %d", d.pos, total)
		}
		if err := l.Record(frags); err != nil {
			t.Fatal(err)
		}
		if err := d.check(n, frags); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(frags); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, err := d.read(); n != 0 || err != nil {
		t.Fatalf("after %d bytes: read %d more, %v; want EOF", total, n, err)
	}
	elapsed := time.Since(start)
	if err := sender(); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	failAfter := r.allocFail(t)

	gib := float64(d.devmemBytes) / (1 << 30)
	floor := (st.Recorded + 1023) / 1024
	t.Logf("%d MiB in %v (%.1f MiB/s): %d reads, %d frags (%.0f bytes avg), %d control-buffer regrowths",
		d.devmemBytes>>20, elapsed.Round(time.Millisecond), float64(d.devmemBytes)/(1<<20)/elapsed.Seconds(),
		d.reads, st.Recorded, float64(d.devmemBytes)/float64(st.Recorded), d.regrowths)
	t.Logf("SO_DEVMEM_DONTNEED: %d calls (%d ranges, %d waits) = %.0f calls/GiB; floor ceil(frags/1024) = %d = %.0f/GiB; ratio %.3f; peak %d frags outstanding; rx-alloc-fail %d -> %d",
		st.Calls, st.Ranges, st.Waits, float64(st.Calls)/gib, floor, float64(floor)/gib,
		float64(st.Calls)/float64(floor), st.PeakFrags, failBefore, failAfter)

	if d.devmemBytes != total {
		t.Errorf("%d bytes through the dma-buf, want all %d", d.devmemBytes, total)
	}
	if d.regrowths != 1 {
		t.Errorf("%d control-buffer regrowths, want 1 (the first read, with a buffer too small for one frag)", d.regrowths)
	}
	if st.Recorded != d.devmemFrags || st.Released != st.Recorded || st.Freed != st.Recorded {
		t.Errorf("%d frags received, ledger recorded %d, released %d, kernel freed %d: want all equal", d.devmemFrags, st.Recorded, st.Released, st.Freed)
	}
	if st.UnknownTokens != 0 || st.CallErrors != 0 || st.ShortCalls != 0 || st.Rejected != 0 || st.OutstandingFrags != 0 {
		t.Errorf("stats %+v: want no unknown tokens, errors, short calls, rejections or outstanding frags", st)
	}
	// The floor is ceil(frags/1024): every call full but the last, which
	// the final Flush makes. Allowed: floor + floor/10 (calls cut short by
	// the kernel's 128-range limit when tokens come back scattered, or
	// partial batches a blocked Wait flushes) + 1 (slack for the final
	// Flush). The policy's flushes send whole calls only, so in practice
	// the count is the floor.
	if limit := floor + floor/10 + 1; st.Calls > limit {
		t.Errorf("%d SO_DEVMEM_DONTNEED calls for %d frags: want at most %d (floor %d + 10%% + 1)", st.Calls, st.Recorded, limit, floor)
	}
	if st.PeakFrags > maxFrags+readMaxFrags {
		t.Errorf("peak %d frags outstanding, bound %d + one read", st.PeakFrags, maxFrags)
	}
	if failAfter != failBefore {
		t.Errorf("rx-alloc-fail rose from %d to %d: the page pool ran dry", failBefore, failAfter)
	}
	rep, err := l.Close()
	if err != nil || len(rep.Frags) != 0 {
		t.Errorf("Close: %v, %v; want no leaks", rep, err)
	}
	runtime.KeepAlive(r)
}

// testDevmemWithheld holds every frag, releasing none and ignoring the
// ledger's back-pressure, until the 4 MiB dma-buf (1024 pages) runs dry
// and netdevsim counts rx-alloc-fail; then releases them all and checks
// that TCP's retransmissions bring the rest of the stream, intact, read the
// well-behaved way (Wait, read, check, release; a batch of a quarter of
// the pool). While nothing is released, no two recorded frags may share
// dma-buf bytes: the kernel cannot hand out a page a token still holds.
func testDevmemWithheld(t *testing.T) {
	testutil.CheckGoroutineLeak(t)
	testutil.CheckFDLeak(t)
	const (
		bufBytes = 4 << 20
		rcvbuf   = 512 << 10
		total    = 12 << 20
		seed     = 0x5eed_0002
		// poll is how long a read waits before the test looks at
		// rx-alloc-fail: not a synchronisation, only the pace of polling
		// a counter while the stream is stalled.
		poll = 250 * time.Millisecond
	)
	r := newDevmemRig(t, bufBytes, rcvbuf)
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout(t, 4*total))
	defer cancel()
	failBefore := r.allocFail(t)
	start := time.Now()
	c, sender := r.stream(t, ctx, total, seed)
	d := newDevmemReader(t, r, c, seed)
	l, err := pagepool.NewLedger(d.rc, &pagepool.LedgerOptions{
		Label:    "withheld",
		Policy:   pagepool.ReleasePolicy{BatchFrags: 256},
		MaxFrags: 512,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// Phase 1: hold everything until the pool is dry.
	var (
		held      []cmsg.Frag
		heldBytes uint64
		failDry   uint64
	)
	for failDry == 0 {
		if d.pos == total {
			t.Fatalf("received all %d bytes holding %d frags (%d bytes) and the %d-byte pool never ran dry", total, len(held), heldBytes, bufBytes)
		}
		_ = c.SetReadDeadline(time.Now().Add(poll))
		n, frags, err := d.read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil {
				t.Fatalf("at byte %d, holding %d frags, the pool not dry: %v", d.pos, len(held), context.Cause(ctx))
			}
			if f := r.allocFail(t); f > failBefore {
				failDry = f
			}
			continue
		}
		if err != nil {
			t.Fatalf("recvmsg(MSG_SOCK_DEVMEM) at byte %d: %v", d.pos, err)
		}
		if n == 0 {
			t.Fatalf("EOF at byte %d, want %d", d.pos, total)
		}
		if err := l.Record(frags); err != nil {
			t.Fatal(err)
		}
		if err := d.check(n, frags); err != nil {
			t.Fatal(err)
		}
		held = append(held, frags...)
		heldBytes += uint64(n)
	}
	dryAt := time.Since(start)
	if err := checkDisjoint(held); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.OutstandingFrags != uint64(len(held)) || st.Calls != 0 {
		t.Fatalf("holding %d frags: stats %+v", len(held), st)
	}
	if err := l.Release(held); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(dl)
	}

	// Phase 2: the stream must resume once TCP retransmits.
	resumeAt := d.pos
	for d.pos < total {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("at byte %d: %v", d.pos, err)
		}
		n, frags, err := d.read()
		if err != nil {
			t.Fatalf("recvmsg(MSG_SOCK_DEVMEM) at byte %d (%d bytes after the release): %v", d.pos, d.pos-resumeAt, err)
		}
		if n == 0 {
			t.Fatalf("EOF at byte %d, want %d", d.pos, total)
		}
		if err := l.Record(frags); err != nil {
			t.Fatal(err)
		}
		if err := d.check(n, frags); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(frags); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, err := d.read(); n != 0 || err != nil {
		t.Fatalf("after %d bytes: read %d more, %v; want EOF", total, n, err)
	}
	elapsed := time.Since(start)
	if err := sender(); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("pool dry after %v holding %d frags, %d bytes (%d-page pool), rx-alloc-fail %d -> %d; then %d MiB more, stream of %d MiB complete after %v; %d DONTNEED calls for %d frags",
		dryAt.Round(time.Millisecond), len(held), heldBytes, bufBytes/pageSize, failBefore, failDry,
		(total-resumeAt)>>20, total>>20, elapsed.Round(time.Millisecond), st.Calls, st.Recorded)
	if d.devmemBytes != total {
		t.Errorf("%d bytes through the dma-buf, want all %d", d.devmemBytes, total)
	}
	if st.Freed != st.Recorded || st.Recorded != d.devmemFrags || st.UnknownTokens != 0 || st.CallErrors != 0 || st.OutstandingFrags != 0 {
		t.Errorf("%d frags received; stats %+v: want all freed, no unknown tokens or errors", d.devmemFrags, st)
	}
	// Besides what the application held, only the socket's queue (at most
	// 2*rcvbuf = 1 MiB of page-sized truesize) and packets in flight had
	// pages: the pool ran dry because of the held frags.
	if heldBytes < bufBytes/2 {
		t.Errorf("pool dry with only %d bytes held, under half of the %d-byte dma-buf", heldBytes, bufBytes)
	}
	rep, err := l.Close()
	if err != nil || len(rep.Frags) != 0 {
		t.Errorf("Close: %v, %v; want no leaks", rep, err)
	}
	runtime.KeepAlive(r)
}

// checkDisjoint reports frags whose dma-buf bytes overlap.
func checkDisjoint(frags []cmsg.Frag) error {
	s := slices.Clone(frags)
	slices.SortFunc(s, func(a, b cmsg.Frag) int {
		switch {
		case a.Offset < b.Offset:
			return -1
		case a.Offset > b.Offset:
			return 1
		}
		return 0
	})
	for i := 1; i < len(s); i++ {
		if p := s[i-1]; p.Offset+uint64(p.Size) > s[i].Offset {
			return fmt.Errorf("held frags overlap: token %d [%#x,+%d) and token %d [%#x,+%d)", p.Token, p.Offset, p.Size, s[i].Token, s[i].Offset, s[i].Size)
		}
	}
	return nil
}
