package devmem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
	"golang.org/x/sys/unix"
)

// rawIovec is struct iovec with the base as a plain number: for devmem TX
// it holds an offset into the dma-buf, not a pointer, so it must not be a
// Go pointer the garbage collector would follow.
type rawIovec struct {
	Base uintptr
	Len  uintptr
}

// maxIov is the most iovecs one sendmsg takes (UIO_MAXIOV).
const maxIov = 1024

// txPend is the regions of one Send waiting for the completion of its
// sendmsg calls, numbered first .. first+calls-1.
type txPend struct {
	first, calls uint32
	left         uint32 // calls not yet completed
	open         bool   // the Send is still making calls
	freed        bool   // the regions went back to the allocator
	rs           []pagepool.Region
}

// txState is the transmit side of a dialed connection.
type txState struct {
	c     *conn
	buf   *buffer
	bind  *netdev.Binding // devmem mode
	alloc *pagepool.Allocator
	id    uint32

	smu  sync.Mutex // one Send at a time; guards the sendmsg state
	smsg unix.Msghdr
	siov []rawIovec
	sctl []byte
	sn   int
	serr syscall.Errno
	sfn  func(fd uintptr) bool
	cur  *txPend // the Send in progress
	wbuf []byte
	wfn  func(fd uintptr) bool

	emu   sync.Mutex // guards the error-queue state
	emsg  unix.Msghdr
	ectl  []byte
	ecomp []cmsg.Completion

	mu     sync.Mutex // guards what follows
	seq    uint32     // number of the next zerocopy sendmsg
	pend   []*txPend  // by first, oldest first
	spare  []*txPend
	early  map[uint32]struct{} // completed calls not yet counted by their Send
	npend  uint64              // calls pending
	nregs  uint64              // regions pending
	qerr   error               // an error-queue message that is not a completion
	closed bool
	busy   []uint64 // by page: the first pages of the regions Sends hold
	pg     uint64   // the allocator's page size

	sends, sentB, calls, compl, completed, copied atomic.Uint64
	cpuWrite                                      atomic.Bool // RegionBytes opened a CPU write window
}

func dial(ctx context.Context, network, address string, cfg *DialConfig) (*conn, error) {
	if cfg.BufferSize < 0 {
		return nil, opError(opDial, nil, nil, fmt.Errorf("devmem: negative BufferSize %d: %w", cfg.BufferSize, os.ErrInvalid))
	}
	ra, err := resolveAddr(ctx, network, address, false)
	if err != nil {
		return nil, opError(opDial, nil, nil, err)
	}
	sock, err := newSocket(network, address, &ra, cfg.Control)
	if err != nil {
		return nil, opError(opDial, nil, ra.tcp(), err)
	}
	if cfg.Interface != "" {
		// The name first: without CAP_NET_RAW, SO_BINDTODEVICE would
		// answer EPERM for a device that does not exist.
		if _, err := interfaceIndex(cfg.Interface); err != nil {
			_ = sock.Close()
			return nil, opError(opDial, nil, ra.tcp(), err)
		}
		if err := sock.SetsockoptString(unix.SOL_SOCKET, unix.SO_BINDTODEVICE, cfg.Interface); err != nil {
			_ = sock.Close()
			if errors.Is(err, unix.ENODEV) {
				err = &noInterfaceError{name: cfg.Interface, err: err}
			} else {
				err = fmt.Errorf("devmem: bind to device %q: %w", cfg.Interface, err)
			}
			return nil, opError(opDial, nil, ra.tcp(), err)
		}
	}
	if _, err := sock.Connect(ctx, ra.sockaddr()); err != nil {
		_ = sock.Close()
		return nil, opError(opDial, nil, ra.tcp(), err)
	}
	c, err := newConn(sock, ra.tcp())
	if err != nil {
		_ = sock.Close()
		return nil, opError(opDial, nil, ra.tcp(), err)
	}
	c.mode = ModeDevmem
	if err := c.setupTX(cfg); err != nil {
		_ = sock.Close()
		return nil, opError(opDial, c.local, c.remote, err)
	}
	return c, nil
}

// setupTX binds the buffer for transmit on the route's device, or falls
// back to the copy path as cfg allows.
func (c *conn) setupTX(cfg *DialConfig) error {
	size := uint64(cfg.BufferSize)
	if size == 0 {
		size = DefaultBufferSize
	}
	t := &txState{c: c}
	var (
		buf    *buffer
		reason error
	)
	if cfg.Buffer != nil {
		b, err := dupBuffer(cfg.Buffer)
		if err != nil {
			return err
		}
		buf = b
	} else if b, err := newUdmabuf(size); err != nil {
		reason = err
	} else {
		buf = b
	}
	if reason == nil {
		reason = t.bindTX(cfg, buf)
	}
	if reason == nil {
		// Filling regions through the CPU needs a mapping; a GPU buffer
		// is filled by its device instead.
		_ = buf.mmap()
	} else {
		if cfg.Fallback == FallbackNone {
			_ = buf.close()
			return fmt.Errorf("devmem: devmem TX unavailable and Fallback is FallbackNone: %w", reason)
		}
		c.mode, c.reason = ModeCopy, reason
		if buf != nil {
			size = buf.size
			if err := buf.mmap(); err != nil {
				_ = buf.close()
				buf = nil
			}
		}
		if buf == nil {
			b, err := newMemfd(size)
			if err != nil {
				return err
			}
			if err := b.mmap(); err != nil {
				_ = b.close()
				return err
			}
			buf = b
		}
	}
	a, err := pagepool.NewAllocator([]pagepool.Segment{{Len: buf.size &^ (pageSize - 1)}}, nil)
	if err != nil {
		_ = t.bind.Close()
		_ = buf.close()
		return err
	}
	t.buf, t.alloc = buf, a
	t.pg = a.PageSize()
	t.busy = make([]uint64, (buf.size/t.pg+63)/64)
	t.siov = make([]rawIovec, 0, 16)
	t.sctl = make([]byte, 0, cmsg.TXSpace)
	t.ectl = make([]byte, 128)
	t.sfn = t.sendOnce
	t.wfn = t.writeOnce
	c.tx = t
	return nil
}

// bindTX binds buf for transmit on the device of the connection's route and
// turns SO_ZEROCOPY on; it returns the reason when that is not possible.
func (t *txState) bindTX(cfg *DialConfig, buf *buffer) error {
	c := t.c
	ifi, err := findInterface(cfg.Interface, c.local.IP)
	if err != nil {
		return err
	}
	nl, err := netdev.Dial()
	if err != nil {
		return err
	}
	b, err := nl.BindTX(ifi, buf)
	_ = nl.Close()
	if err != nil {
		return err
	}
	if cfg.Interface == "" {
		// The kernel refuses a devmem send routed through another device
		// (ENODEV): pin the route to the bound one.
		ni, err := net.InterfaceByIndex(ifi)
		if err == nil {
			err = c.sock.SetsockoptString(unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ni.Name)
		}
		if err != nil {
			_ = b.Close()
			return fmt.Errorf("devmem: bind the socket to ifindex %d: %w", ifi, err)
		}
	}
	if err := c.sock.SetsockoptInt(unix.SOL_SOCKET, unix.SO_ZEROCOPY, 1); err != nil {
		_ = b.Close()
		return fmt.Errorf("devmem: SO_ZEROCOPY: %w", err)
	}
	t.bind, t.id = b, b.ID()
	return nil
}

// shutdown stops the transmit side; cleanup frees it once nothing runs.
func (t *txState) shutdown() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

func (t *txState) cleanup() {
	// The kernel keeps the binding, and the dma-buf, alive while packets
	// that use it are in flight.
	_ = t.bind.Close()
	_ = t.buf.close()
	t.mu.Lock()
	t.pend, t.npend, t.nregs = nil, 0, 0
	clear(t.busy)
	t.mu.Unlock()
}

// hold marks rs as held by a Send until unhold, or fails with
// ErrRegionBusy (marking nothing) if one of them is held already; t.mu
// held. Allocator regions are page-aligned and disjoint, so the first page
// names a region.
func (t *txState) hold(rs []pagepool.Region) error {
	for i, r := range rs {
		if t.held(r) {
			t.unhold(rs[:i])
			return fmt.Errorf("%w: region %v", ErrRegionBusy, r)
		}
		w, b := t.bit(r)
		t.busy[w] |= b
	}
	return nil
}

// unhold ends what hold started; t.mu held.
func (t *txState) unhold(rs []pagepool.Region) {
	for _, r := range rs {
		w, b := t.bit(r)
		t.busy[w] &^= b
	}
}

// held reports whether a Send holds r; t.mu held.
func (t *txState) held(r pagepool.Region) bool {
	w, b := t.bit(r)
	return t.busy[w]&b != 0
}

// bit is where busy marks r: its first page's word and bit.
func (t *txState) bit(r pagepool.Region) (int, uint64) {
	p := r.Offset / t.pg
	return int(p / 64), 1 << (p % 64)
}

func (c *conn) txOrErr(op string) (*txState, error) {
	if c == nil {
		return nil, net.ErrClosed
	}
	if c.tx == nil {
		return nil, c.opErr(op, ErrNoBuffer)
	}
	return c.tx, nil
}

func (c *conn) alloc(ctx context.Context, size int) (pagepool.Region, error) {
	t, err := c.txOrErr(opSend)
	if err != nil {
		return pagepool.Region{}, err
	}
	if size <= 0 {
		return pagepool.Region{}, c.opErr(opSend, fmt.Errorf("devmem: Alloc of %d bytes: %w", size, pagepool.ErrZeroSize))
	}
	if !c.enter() {
		return pagepool.Region{}, c.opErr(opSend, net.ErrClosed)
	}
	defer c.exit()
	for {
		t.reapNow()
		r, err := t.alloc.Alloc(uint64(size), 0)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, pagepool.ErrNoSpace) || t.pending() == 0 {
			return r, c.opErr(opSend, err)
		}
		if err := t.waitProgress(ctx); err != nil {
			return r, c.opErr(opSend, err)
		}
	}
}

func (c *conn) regionBytes(r pagepool.Region) []byte {
	if c == nil || c.tx == nil {
		return nil
	}
	mem := c.tx.buf.mem
	if mem == nil || r.Len == 0 || r.Offset > uint64(len(mem)) || r.Len > uint64(len(mem))-r.Offset {
		return nil
	}
	if c.mode == ModeDevmem && c.tx.cpuWrite.CompareAndSwap(false, true) {
		// A CPU write window, which the next Send ends.
		if c.tx.buf.sync(uapi.DMA_BUF_SYNC_WRITE|uapi.DMA_BUF_SYNC_START) != nil {
			c.tx.cpuWrite.Store(false)
		}
	}
	return mem[r.Offset : r.Offset+r.Len : r.Offset+r.Len]
}

func (c *conn) freeRegion(r pagepool.Region) error {
	t, err := c.txOrErr(opSend)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.Len != 0 && r.Offset < t.buf.size && t.held(r) {
		return c.opErr(opSend, fmt.Errorf("devmem: FreeRegion: %w: region %v (the Send frees it)", ErrRegionBusy, r))
	}
	return c.opErr(opSend, t.alloc.Free(r))
}

func (c *conn) send(ctx context.Context, rs []pagepool.Region, n int) (int, error) {
	t, err := c.txOrErr(opSend)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, r := range rs {
		if r.Len == 0 || r.Offset > t.buf.size || r.Len > t.buf.size-r.Offset {
			return 0, c.opErr(opSend, fmt.Errorf("devmem: Send: region %v is not in the %d-byte send buffer: %w", r, t.buf.size, pagepool.ErrForeignRegion))
		}
		// Only a region Alloc handed out and nobody freed since: the
		// Conn frees it after the send, and a freed one may be another
		// Alloc's memory by now.
		if err := t.alloc.Check(r); err != nil {
			return 0, c.opErr(opSend, fmt.Errorf("devmem: Send: region %v is not one Alloc returned and nothing freed since (a Send frees its regions): %w", r, err))
		}
		total += r.Len
	}
	if n <= 0 || uint64(n) > total {
		return 0, c.opErr(opSend, fmt.Errorf("devmem: Send of %d bytes from regions of %d bytes: %w", n, total, os.ErrInvalid))
	}
	if !c.enter() {
		return 0, c.opErr(opSend, net.ErrClosed)
	}
	defer c.exit()
	t.mu.Lock()
	err = t.hold(rs)
	t.mu.Unlock()
	if err != nil {
		return 0, c.opErr(opSend, fmt.Errorf("devmem: Send: %w", err))
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	var sent int
	if c.mode == ModeCopy {
		sent, err = t.sendCopy(ctx, rs, n)
	} else {
		sent, err = t.sendDevmem(ctx, rs, n)
	}
	if sent > 0 {
		t.sends.Add(1)
		t.sentB.Add(uint64(sent))
	}
	return sent, c.opErr(opSend, err)
}

// sendCopy writes the bytes from the mapping; they are copied into the
// socket, so the regions are free at once.
func (t *txState) sendCopy(ctx context.Context, rs []pagepool.Region, n int) (int, error) {
	mem := t.buf.mem
	sent := 0
	var err error
	for _, r := range rs {
		b := mem[r.Offset : r.Offset+min(r.Len, uint64(n-sent))]
		for len(b) > 0 && err == nil {
			t.wbuf = b
			err = t.c.rawIO(ctx, true, t.wfn)
			t.wbuf = nil
			if err == nil && t.serr != 0 {
				err = os.NewSyscallError("write", t.serr)
			}
			if err == nil {
				sent += t.sn
				b = b[t.sn:]
			}
		}
		if err != nil || sent == n {
			break
		}
	}
	t.mu.Lock()
	for _, r := range rs {
		_ = t.alloc.Free(r)
	}
	t.unhold(rs)
	t.mu.Unlock()
	t.compl.Add(1)
	t.completed.Add(1)
	return sent, err
}

// writeOnce is the write of the copy path for the poller.
func (t *txState) writeOnce(fd uintptr) bool {
	for {
		n, err := unix.Write(int(fd), t.wbuf)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		t.sn, t.serr = max(n, 0), 0
		if err != nil {
			t.serr = err.(syscall.Errno)
		}
		return true
	}
}

// sendDevmem sends with sendmsg(MSG_ZEROCOPY), iovecs of dma-buf offsets
// and the SCM_DEVMEM_DMABUF control message, and queues the regions until
// their completions arrive.
func (t *txState) sendDevmem(ctx context.Context, rs []pagepool.Region, n int) (int, error) {
	// The CPU, if it wrote regions, is done with them: the exporter
	// flushes them for the device.
	if t.cpuWrite.Swap(false) {
		_ = t.buf.sync(uapi.DMA_BUF_SYNC_WRITE | uapi.DMA_BUF_SYNC_END)
	}
	t.siov = t.siov[:0]
	left := uint64(n)
	for _, r := range rs {
		if left == 0 {
			break
		}
		k := min(r.Len, left)
		t.siov = append(t.siov, rawIovec{Base: uintptr(r.Offset), Len: uintptr(k)})
		left -= k
	}
	t.sctl = cmsg.AppendTX(t.sctl[:0], t.id)
	t.smsg.Control = &t.sctl[0]
	t.smsg.SetControllen(len(t.sctl))

	// The entry is queued before the first call: a completion can come
	// back before sendmsg does.
	t.mu.Lock()
	p := t.newPend(rs)
	t.mu.Unlock()
	t.cur = p
	var (
		sent int
		err  error
		iov  = t.siov
	)
	for sent < n {
		t.smsg.Iov = (*unix.Iovec)(unsafe.Pointer(&iov[0]))
		t.smsg.SetIovlen(min(len(iov), maxIov))
		err = t.c.rawIO(ctx, true, t.sfn)
		if err == nil && t.serr != 0 {
			err = os.NewSyscallError("sendmsg", t.serr)
		}
		if err != nil {
			break
		}
		t.calls.Add(1)
		sent += t.sn
		// Skip what went out.
		k := uintptr(t.sn)
		for k > 0 && len(iov) > 0 {
			if iov[0].Len <= k {
				k -= iov[0].Len
				iov = iov[1:]
				continue
			}
			iov[0].Base += k
			iov[0].Len -= k
			k = 0
		}
	}
	t.smsg.Iov = nil
	t.mu.Lock()
	p.open = false
	t.settle(p)
	t.compact()
	t.mu.Unlock()
	t.cur = nil
	return sent, err
}

// newPend queues an entry for a Send of rs; t.mu held.
func (t *txState) newPend(rs []pagepool.Region) *txPend {
	var p *txPend
	if k := len(t.spare); k > 0 {
		p = t.spare[k-1]
		t.spare = t.spare[:k-1]
	} else {
		p = new(txPend)
	}
	*p = txPend{first: t.seq, open: true, rs: append(p.rs[:0], rs...)}
	t.pend = append(t.pend, p)
	t.nregs += uint64(len(rs))
	return p
}

// called counts a successful zerocopy sendmsg of p's Send; t.mu held.
func (t *txState) called(p *txPend) {
	s := t.seq
	t.seq++
	p.calls++
	if _, ok := t.early[s]; ok {
		delete(t.early, s)
		return
	}
	p.left++
	t.npend++
}

// settle frees p's regions once its Send is over and all its calls are
// complete; t.mu held.
func (t *txState) settle(p *txPend) {
	if p.open || p.left != 0 || p.freed {
		return
	}
	for _, r := range p.rs {
		_ = t.alloc.Free(r)
	}
	t.unhold(p.rs)
	t.nregs -= uint64(len(p.rs))
	p.freed = true
}

// compact drops the settled entries from the queue; t.mu held.
func (t *txState) compact() {
	k := 0
	for _, q := range t.pend {
		if q.freed {
			q.rs = q.rs[:0]
			t.spare = append(t.spare, q)
			continue
		}
		t.pend[k] = q
		k++
	}
	clear(t.pend[k:])
	t.pend = t.pend[:k]
}

// sendOnce is the sendmsg for the poller; it also drains completions, so
// that a send blocked on ENOBUFS (too many notifications pending) wakes up.
func (t *txState) sendOnce(fd uintptr) bool {
	t.reap(fd)
	for {
		n, _, e := unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&t.smsg)), unix.MSG_ZEROCOPY|unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		case unix.ENOBUFS:
			if t.pending() > 0 {
				return false
			}
		}
		t.sn, t.serr = int(n), e
		if e == 0 {
			t.mu.Lock()
			t.called(t.cur)
			t.mu.Unlock()
		}
		return true
	}
}

func (t *txState) pending() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.npend
}

// reapNow drains the error queue without waiting.
func (t *txState) reapNow() {
	_ = t.c.rc.Control(func(fd uintptr) { t.reap(fd) })
}

// reap reads every message on the error queue and applies the
// completions; it reports whether it read any.
func (t *txState) reap(fd uintptr) bool {
	t.emu.Lock()
	defer t.emu.Unlock()
	got := false
	for {
		t.emsg.Control = &t.ectl[0]
		t.emsg.SetControllen(len(t.ectl))
		t.emsg.Iov = nil
		t.emsg.SetIovlen(0)
		t.emsg.Flags = 0
		_, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&t.emsg)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return got
		}
		got = true
		var err error
		t.ecomp, err = cmsg.AppendCompletions(t.ecomp[:0], t.ectl[:t.emsg.Controllen])
		for _, cp := range t.ecomp {
			t.complete(cp)
		}
		if err != nil && !errors.Is(err, cmsg.ErrNoCompletion) {
			t.mu.Lock()
			if t.qerr == nil {
				t.qerr = err
			}
			t.mu.Unlock()
		}
	}
}

// complete counts the sendmsg calls cp covers as done and frees the
// regions of the Sends that are complete.
func (t *txState) complete(cp cmsg.Completion) {
	t.compl.Add(1)
	t.completed.Add(uint64(cp.Len()))
	if cp.Copied {
		t.copied.Add(uint64(cp.Len()))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Walk the calls of cp and the entries together: both ascend.
	i := 0
	s := cp.Lo
	for range cp.Len() {
		for i < len(t.pend) && s-t.pend[i].first >= t.pend[i].calls && int32(s-t.pend[i].first) >= 0 {
			i++
		}
		if i < len(t.pend) && s-t.pend[i].first < t.pend[i].calls {
			p := t.pend[i]
			if p.left > 0 {
				p.left--
				t.npend--
			}
		} else {
			// Its sendmsg has not returned yet (or it is not ours).
			if t.early == nil {
				t.early = make(map[uint32]struct{})
			}
			t.early[s] = struct{}{}
		}
		s++
	}
	for _, p := range t.pend {
		t.settle(p)
	}
	t.compact()
}

// waitProgress waits until a completion arrives (or nothing is pending).
func (t *txState) waitProgress(ctx context.Context) error {
	return t.c.rawIO(ctx, true, func(fd uintptr) bool {
		return t.reap(fd) || t.pending() == 0
	})
}

func (c *conn) flush(ctx context.Context) error {
	t, err := c.txOrErr(opFlush)
	if err != nil {
		return err
	}
	if !c.enter() {
		return c.opErr(opFlush, net.ErrClosed)
	}
	defer c.exit()
	for {
		t.reapNow()
		t.mu.Lock()
		n, qerr := t.npend, t.qerr
		t.qerr = nil
		t.mu.Unlock()
		if qerr != nil {
			return c.opErr(opFlush, qerr)
		}
		if n == 0 {
			return nil
		}
		if err := t.waitProgress(ctx); err != nil {
			return c.opErr(opFlush, err)
		}
	}
}

func (t *txState) addStats(st *ConnStats) {
	st.Sends = t.sends.Load()
	st.SentBytes = t.sentB.Load()
	st.SendCalls = t.calls.Load()
	st.TXCompletions = t.compl.Load()
	st.TXCompleted = t.completed.Load()
	st.TXCopied = t.copied.Load()
	t.mu.Lock()
	st.TXPending, st.TXPendingRegs = t.npend, t.nregs
	t.mu.Unlock()
}
