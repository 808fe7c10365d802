package devmem

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/mdlayher/socket"
	"golang.org/x/sys/unix"
)

// Sizes of the receive machinery.
const (
	// readBufSize is the linear buffer Read and WriteTo pass to the
	// kernel; it bounds the bytes one receive returns.
	readBufSize = 256 << 10
	// readFragCap is the frag capacity Read and WriteTo use.
	readFragCap = 256
	// ctrlMax caps the control buffer (26214 frags).
	ctrlMax = 1 << 20
)

// ctrlInitial is the initial control-buffer size (tests shrink it to make
// the kernel answer ETOOSMALL).
var ctrlInitial = cmsg.Space(256)

// conn is the Linux implementation of Conn.
type conn struct {
	sock          *socket.Conn
	rc            syscall.RawConn
	local, remote *net.TCPAddr
	mode          Mode
	reason        error
	l             *listener // accepted from; nil for Dial

	// Life: close sets closed; the last of close and the calls in flight
	// (active) frees the memory (cleanup).
	life     sync.Mutex
	closed   bool
	active   int
	cleaned  bool
	leaks    pagepool.LeakReport
	rdl, wdl atomic.Int64 // deadlines in Unix nanoseconds, 0 for none

	// Receive side (accepted connections).
	sh     *rxShared
	led    *pagepool.Ledger // both modes
	idle   *idleRelease     // devmem mode: returns queued releases while the reader waits
	cp     *copyRX          // copy mode: the tokens and memory of led's frags
	strict bool
	rmu    sync.Mutex // one reader at a time; guards what follows
	rerr   error      // sticky: the stream is broken
	ctrl   []byte
	rmsg   unix.Msghdr
	riov   unix.Iovec
	rflags int
	rn     int
	rerrno syscall.Errno
	rfn    func(fd uintptr) bool
	cfn    func(fd uintptr) bool // the copy path's receive (copyRecv)
	cwant  int                   // copyRecv: bytes wanted
	cneed  bool                  // copyRecv: take a chunk first
	coff   uint64                // copyRecv: where the data goes
	cerr   error                 // copyRecv: reserve's error
	rfr    []Frag                // Read and WriteTo's frags
	rlin   []byte                // Read and WriteTo's linear buffer (devmem mode)
	rem    []byte                // what Read could not return yet
	remOff int

	n counters

	// Transmit side (dialed connections).
	tx *txState
}

type counters struct {
	devmemB, linearB, plainB, copiedB atomic.Uint64
	frags, reads, readOut             atomic.Uint64
	releases, regrowths               atomic.Uint64
	ctrlSize                          atomic.Int64
}

// newConn wraps a connected socket.
func newConn(sock *socket.Conn, remote *net.TCPAddr) (*conn, error) {
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	sa, err := sock.Getsockname()
	if err != nil {
		return nil, err
	}
	c := &conn{sock: sock, rc: rc, local: sockaddrTCP(sa), remote: remote}
	c.rfn = func(fd uintptr) bool {
		for {
			n, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.rmsg)), uintptr(c.rflags))
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				if c.idle != nil {
					c.idle.park()
				}
				return false
			}
			c.rn, c.rerrno = int(n), e
			return true
		}
	}
	c.cfn = c.copyRecv
	c.rmsg.Iov = &c.riov
	c.rmsg.SetIovlen(1)
	return c, nil
}

// newRXConn makes the connection for an accepted socket.
func newRXConn(sock *socket.Conn, remote *net.TCPAddr, l *listener) (*conn, error) {
	c, err := newConn(sock, remote)
	if err != nil {
		return nil, err
	}
	sh := l.sh
	if !sh.tryAcquire() {
		return nil, net.ErrClosed
	}
	c.l, c.sh, c.mode, c.reason, c.strict = l, sh, sh.mode, sh.reason, sh.cfg.Strict
	c.ctrl = make([]byte, ctrlInitial)
	c.n.ctrlSize.Store(int64(len(c.ctrl)))
	label := remote.String() + "->" + c.local.String()
	cfg := &sh.cfg
	opts := pagepool.LedgerOptions{
		Label: label, Policy: cfg.Release, MaxFrags: cfg.MaxFrags, MaxBytes: cfg.MaxBytes,
		Limiter: sh.limiter, FailFast: cfg.FailFast,
	}
	if sh.mode == ModeDevmem {
		if opts.Policy == (pagepool.ReleasePolicy{}) {
			opts.Policy.BatchFrags = DefaultReleaseBatch
		}
		c.led, err = pagepool.NewLedger(c.rc, &opts)
		if err == nil {
			d := cfg.ReleaseIdle
			if d == 0 {
				d = DefaultReleaseIdle
			}
			c.idle = newIdleRelease(c, d)
		}
	} else {
		// The copy path frees at once: batching saves no system call.
		opts.Policy, opts.InitialTokens = pagepool.ReleasePolicy{}, copyTokens
		c.cp = newCopyRX(sh.pool, label, cfg.FailFast)
		if c.led, err = pagepool.NewLedgerFunc(c.cp.release, &opts); err != nil {
			c.cp.close()
		}
	}
	if err != nil {
		sh.release()
		return nil, err
	}
	l.register(c)
	return c, nil
}

// tryAcquire takes a reference unless the last one is gone.
func (s *rxShared) tryAcquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// enter registers a call that uses the buffer; it fails after Close.
func (c *conn) enter() bool {
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return false
	}
	c.active++
	return true
}

// exit ends what enter started; the last call after Close cleans up.
func (c *conn) exit() {
	c.life.Lock()
	c.active--
	fin := c.closed && c.active == 0 && !c.cleaned
	if fin {
		c.cleaned = true
	}
	c.life.Unlock()
	if fin {
		c.cleanup()
	}
}

func (c *conn) close() error {
	if c == nil {
		return nil
	}
	c.life.Lock()
	if c.closed {
		c.life.Unlock()
		return nil
	}
	c.closed = true
	c.life.Unlock()
	if c.idle != nil {
		c.idle.stop()
	}
	if c.led != nil {
		// Before the socket: the ledger flushes releases through it.
		// The kernel frees the tokens still outstanding with the socket,
		// the copy path with cleanup.
		rep, _ := c.led.Close()
		c.setLeaks(rep)
	}
	if c.cp != nil {
		c.cp.shutdown()
	}
	if c.tx != nil {
		c.tx.shutdown()
	}
	err := c.sock.Close()
	c.life.Lock()
	fin := c.active == 0 && !c.cleaned
	if fin {
		c.cleaned = true
	}
	c.life.Unlock()
	if fin {
		c.cleanup()
	}
	return c.opErr(opClose, err)
}

// cleanup frees what the connection holds once nothing uses it.
func (c *conn) cleanup() {
	if c.cp != nil {
		c.cp.close()
	}
	if c.tx != nil {
		c.tx.cleanup()
	}
	if c.l != nil {
		st := c.stats()
		c.l.unregister(c, &st)
	}
	if c.sh != nil {
		c.sh.release()
	}
}

func (c *conn) idleFlushes() uint64 {
	if c.idle == nil {
		return 0
	}
	return c.idle.flushes.Load()
}

func (c *conn) setLeaks(rep pagepool.LeakReport) {
	c.life.Lock()
	c.leaks = rep
	c.life.Unlock()
}

func (c *conn) leakReport() pagepool.LeakReport {
	c.life.Lock()
	defer c.life.Unlock()
	r := c.leaks
	r.Frags = append([]pagepool.LeakedFrag(nil), r.Frags...)
	return r
}

// opErr wraps err for operation op of this connection.
func (c *conn) opErr(op string, err error) error {
	return opError(op, c.local, c.remote, err)
}

// rawIO runs fn through the poller until it reports completion, for
// reading or writing. ctx, if it can end, stands in for the deadline while
// the call runs; the deadline set by the application is restored after.
func (c *conn) rawIO(ctx context.Context, write bool, fn func(uintptr) bool) error {
	if ctx.Done() == nil {
		if write {
			return c.rc.Write(fn)
		}
		return c.rc.Read(fn)
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		if write {
			_ = c.sock.SetWriteDeadline(time.Unix(1, 0))
		} else {
			_ = c.sock.SetReadDeadline(time.Unix(1, 0))
		}
	})
	var err error
	if write {
		err = c.rc.Write(fn)
	} else {
		err = c.rc.Read(fn)
	}
	if !stop() {
		<-fired
		if write {
			_ = c.sock.SetWriteDeadline(deadline(c.wdl.Load()))
		} else {
			_ = c.sock.SetReadDeadline(deadline(c.rdl.Load()))
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return context.Cause(ctx)
		}
	}
	return err
}

func deadline(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// waitCtx returns ctx bounded by the read deadline, for waits that do not
// go through the poller (back-pressure). It allocates only when a deadline
// is set.
func (c *conn) waitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if d := c.rdl.Load(); d != 0 {
		return context.WithDeadlineCause(ctx, time.Unix(0, d), os.ErrDeadlineExceeded)
	}
	return ctx, func() {}
}

func (c *conn) setDeadline(t time.Time, r, w bool) error {
	if c == nil {
		return net.ErrClosed
	}
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
		if ns == 0 {
			ns = 1
		}
	}
	var err error
	switch {
	case r && w:
		c.rdl.Store(ns)
		c.wdl.Store(ns)
		err = c.sock.SetDeadline(t)
	case r:
		c.rdl.Store(ns)
		err = c.sock.SetReadDeadline(t)
	default:
		c.wdl.Store(ns)
		err = c.sock.SetWriteDeadline(t)
	}
	return c.opErr(opSet, err)
}

func (c *conn) write(p []byte) (int, error) {
	if c == nil {
		return 0, net.ErrClosed
	}
	n, err := c.sock.Write(p)
	return n, c.opErr(opWrite, err)
}

func (c *conn) shutdown(read bool) error {
	if c == nil {
		return net.ErrClosed
	}
	if read {
		return c.opErr(opClose, c.sock.CloseRead())
	}
	return c.opErr(opClose, c.sock.CloseWrite())
}

func (c *conn) syscallConn() (syscall.RawConn, error) {
	if c == nil {
		return nil, net.ErrClosed
	}
	rc, err := c.sock.SyscallConn()
	if err != nil {
		return nil, c.opErr(opRawControl, err)
	}
	return rc, nil
}

func (c *conn) localAddr() net.Addr  { return c.local }
func (c *conn) remoteAddr() net.Addr { return c.remote }
func (c *conn) modeOf() Mode         { return c.mode }
func (c *conn) reasonOf() error      { return c.reason }

func (c *conn) bindingID() uint32 {
	switch {
	case c.sh != nil:
		return c.sh.bindingID
	case c.tx != nil && c.tx.bind != nil:
		return c.tx.bind.ID()
	}
	return 0
}

func (c *conn) stats() ConnStats {
	st := ConnStats{
		Mode:          c.mode,
		DevmemBytes:   c.n.devmemB.Load(),
		LinearBytes:   c.n.linearB.Load(),
		PlainBytes:    c.n.plainB.Load(),
		CopiedBytes:   c.n.copiedB.Load(),
		Frags:         c.n.frags.Load(),
		Reads:         c.n.reads.Load(),
		ReadOutBytes:  c.n.readOut.Load(),
		ReleaseCalls:  c.n.releases.Load(),
		IdleFlushes:   c.idleFlushes(),
		CtrlRegrowths: c.n.regrowths.Load(),
		CtrlSize:      int(c.n.ctrlSize.Load()),
	}
	if c.led != nil {
		st.Ledger = c.led.Stats()
	}
	if c.cp != nil {
		c.cp.addStats(&st.Ledger)
	}
	st.OutstandingFrags, st.OutstandingBytes = st.Ledger.OutstandingFrags, st.Ledger.OutstandingBytes
	st.ShortFrees = st.Ledger.ShortCalls
	c.life.Lock()
	st.Leaked = uint64(len(c.leaks.Frags))
	c.life.Unlock()
	if c.tx != nil {
		c.tx.addStats(&st)
	}
	return st
}

// readerOnly hides a Conn's WriteTo from io.Copy.
type readerOnly struct{ io.Reader }
