package devmem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/devmem-go/devmem/pagepool"
	"golang.org/x/sys/unix"
)

func (c *conn) readFrags(ctx context.Context, dst []Frag, linear []byte) ([]Frag, int, error) {
	if c == nil {
		return dst, 0, net.ErrClosed
	}
	if c.sh == nil {
		return dst, 0, c.opErr(opReadFrags, ErrNoBuffer)
	}
	if len(linear) == 0 {
		return dst, 0, c.opErr(opReadFrags, ErrLinearTooSmall)
	}
	if !c.enter() {
		return dst, 0, c.opErr(opReadFrags, net.ErrClosed)
	}
	defer c.exit()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.remOff < len(c.rem) {
		// What a Read left over, in host memory.
		if c.strict {
			return dst, 0, c.opErr(opReadFrags, c.broken(fmt.Errorf("%w: %d bytes a Read left over", ErrHostPayload, len(c.rem)-c.remOff)))
		}
		n := copy(linear, c.rem[c.remOff:])
		c.consumeRem(n)
		return append(dst, Frag{Size: uint32(n), Kind: cmsg.Linear}), n, nil
	}
	frags, n, err := c.readFragsLocked(ctx, dst, linear, len(linear))
	return frags, n, c.opErr(opReadFrags, err)
}

// readFragsLocked receives the next frags; c.rmu held. In devmem mode
// linear is the iov; in copy mode only want (the most bytes to read) counts.
func (c *conn) readFragsLocked(ctx context.Context, dst []Frag, linear []byte, want int) ([]Frag, int, error) {
	if c.rerr != nil {
		return dst, 0, c.rerr
	}
	if c.strict && c.mode == ModeCopy {
		return dst, 0, c.broken(fmt.Errorf("%w: the Listener runs in copy mode (%v)", ErrHostPayload, c.reason))
	}
	allowF, allowB, err := c.backpressure(ctx)
	if err != nil {
		return dst, 0, err
	}
	if c.mode == ModeDevmem {
		if uint64(len(linear)) > allowB {
			linear = linear[:allowB]
		}
		return c.recvDevmem(ctx, dst, linear, allowF)
	}
	return c.recvCopy(ctx, dst, int(min(uint64(want), allowB)))
}

// broken makes err the connection's sticky error. The stream is over:
// queued releases go back now.
func (c *conn) broken(err error) error {
	c.rerr = err
	c.streamEnded()
	return err
}

// streamEnded returns the released frags the ledger queues (devmem mode's
// batches) at the end of the stream, after which releases go back at once;
// errors stay in the ledger's stats and leak report.
func (c *conn) streamEnded() {
	if c.idle != nil {
		c.idle.end()
	}
}

func (c *conn) consumeRem(n int) {
	c.remOff += n
	if c.remOff == len(c.rem) {
		c.rem, c.remOff = c.rem[:0], 0
	}
}

// backpressure waits while the connection or the Listener holds as many
// frags or bytes as its bounds allow, and returns how many more frags and
// bytes the next read may take (math.MaxUint64: no bound), so that the
// per-connection bounds are never exceeded. The shared bound can be
// exceeded by reads of several connections at the same time.
func (c *conn) backpressure(ctx context.Context) (allowF, allowB uint64, err error) {
	cfg := &c.sh.cfg
	allowF, allowB = math.MaxUint64, math.MaxUint64
	if cfg.MaxFrags == 0 && cfg.MaxBytes == 0 && cfg.ListenerMaxFrags == 0 && cfg.ListenerMaxBytes == 0 {
		return allowF, allowB, nil
	}
	for waited := false; ; waited = true {
		st := c.led.Stats()
		of, ob := st.OutstandingFrags, st.OutstandingBytes
		lf, lb := c.sh.limiter.Outstanding()
		allowF = min(allowance(of, cfg.MaxFrags), allowance(lf, cfg.ListenerMaxFrags))
		allowB = min(allowance(ob, cfg.MaxBytes), allowance(lb, cfg.ListenerMaxBytes))
		if allowF > 0 && allowB > 0 {
			return allowF, allowB, nil
		}
		if waited && c.sh.cfg.FailFast {
			break
		}
		wctx, cancel := c.waitCtx(ctx)
		err = c.led.Wait(wctx)
		cancel()
		if err != nil {
			return 0, 0, c.waitErr(ctx, err)
		}
	}
	return 0, 0, pagepool.ErrBackpressure
}

// allowance is what is left below bound (math.MaxUint64 when 0, no bound).
func allowance(n, bound uint64) uint64 {
	switch {
	case bound == 0:
		return math.MaxUint64
	case n >= bound:
		return 0
	}
	return bound - n
}

// waitErr turns the expiry of the read deadline during a wait into
// os.ErrDeadlineExceeded, as a read would report it.
func (c *conn) waitErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", os.ErrDeadlineExceeded, err)
	}
	return err
}

// recvDevmem is one recvmsg(MSG_SOCK_DEVMEM) into linear and the control
// buffer, grown on ETOOSMALL.
func (c *conn) recvDevmem(ctx context.Context, dst []Frag, linear []byte, allowF uint64) ([]Frag, int, error) {
	room := cap(dst) - len(dst)
	if room <= 0 {
		room = 64
	}
	if uint64(room) > allowF {
		// The kernel describes no more frags than fit the control buffer.
		room = int(allowF)
	}
	for {
		c.rmsg.Control = &c.ctrl[0]
		c.rmsg.SetControllen(min(len(c.ctrl), cmsg.Space(room)))
		c.rmsg.Flags = 0
		c.riov.Base = &linear[0]
		c.riov.SetLen(len(linear))
		c.rflags = unix.MSG_SOCK_DEVMEM
		err := c.rawIO(ctx, false, c.rfn)
		c.riov.Base = nil
		if c.idle != nil {
			c.idle.wake()
		}
		if err != nil {
			return dst, 0, err
		}
		if c.rerrno == uapi.ETOOSMALL {
			// Not even one frag's control message fit.
			if len(c.ctrl) >= ctrlMax {
				return dst, 0, fmt.Errorf("devmem: recvmsg: kernel wants more than %d bytes of control buffer: %w", ctrlMax, c.rerrno)
			}
			if len(c.ctrl) >= cmsg.Space(room) {
				room *= 2
			}
			c.ctrl = make([]byte, min(2*len(c.ctrl), ctrlMax))
			c.n.ctrlSize.Store(int64(len(c.ctrl)))
			c.n.regrowths.Add(1)
			continue
		}
		if c.rerrno != 0 {
			c.streamEnded()
			return dst, 0, os.NewSyscallError("recvmsg", c.rerrno)
		}
		if c.rn == 0 {
			c.streamEnded()
			return dst, 0, io.EOF
		}
		return c.acceptFrags(dst, linear, c.rn, int(c.rmsg.Controllen), int(c.rmsg.Flags))
	}
}

// acceptFrags parses and checks the frags of a recvmsg that returned n
// bytes, and records their tokens.
func (c *conn) acceptFrags(dst []Frag, linear []byte, n, oobn, rflags int) ([]Frag, int, error) {
	base := len(dst)
	frags, perr := cmsg.Parse(dst, c.ctrl[:oobn])
	got := frags[base:]
	c.n.reads.Add(1)
	if len(got) == 0 && perr == nil {
		// Ordinary data: the flow did not land on a bound queue.
		if n > len(linear) {
			return dst, 0, c.broken(fmt.Errorf("%w: recvmsg returned %d bytes for a %d-byte buffer", ErrBadFrag, n, len(linear)))
		}
		c.n.plainB.Add(uint64(n))
		if c.strict {
			return dst, 0, c.broken(fmt.Errorf("%w: %d bytes of ordinary data (the flow is not steered to a bound queue)", ErrHostPayload, n))
		}
		c.n.frags.Add(1)
		return append(dst, Frag{Size: uint32(n), Kind: cmsg.Linear}), n, nil
	}
	var bad error
	if perr != nil {
		bad = fmt.Errorf("%w: %w", ErrBadFrag, perr)
	}
	var pos, sum, dma uint64
	for i := range got {
		f := &got[i]
		sum += uint64(f.Size)
		if f.Kind == cmsg.Linear {
			f.Offset = pos
			pos += uint64(f.Size)
			switch {
			case pos > uint64(len(linear)) && bad == nil:
				bad = fmt.Errorf("%w: linear frags of %d bytes exceed the %d-byte buffer", ErrBadFrag, pos, len(linear))
			case c.strict && bad == nil:
				bad = fmt.Errorf("%w: %d bytes in an SCM_DEVMEM_LINEAR frag (the NIC did not split the packet)", ErrHostPayload, f.Size)
			}
			continue
		}
		dma += uint64(f.Size)
		if bad != nil {
			continue
		}
		if err := f.CheckBounds(c.sh.buf.size); err != nil {
			bad = fmt.Errorf("%w: %w", ErrBadFrag, err)
		} else if f.DMABufID != c.sh.bindingID {
			bad = fmt.Errorf("%w: frag of binding %d, the Listener's is %d (another dma-buf is bound to the queue the flow landed on)", ErrBadFrag, f.DMABufID, c.sh.bindingID)
		}
	}
	if bad == nil && sum != uint64(n) {
		bad = fmt.Errorf("%w: frags describe %d bytes, recvmsg returned %d", ErrBadFrag, sum, n)
		if rflags&unix.MSG_CTRUNC != 0 {
			bad = fmt.Errorf("%w (MSG_CTRUNC: a kernel without the devmem cmsg truncation fix)", bad)
		}
	}
	if err := c.led.Record(got); err != nil {
		if errors.Is(err, pagepool.ErrClosed) {
			return dst, 0, err
		}
		if bad == nil {
			bad = fmt.Errorf("%w: %w", ErrBadFrag, err)
		}
	}
	if bad != nil {
		// The stream has a gap: give the tokens back and stop here.
		_ = c.led.Release(got)
		return dst, 0, c.broken(bad)
	}
	c.n.devmemB.Add(dma)
	c.n.linearB.Add(pos)
	c.n.frags.Add(uint64(len(got)))
	return frags, int(pos), nil
}

// recvCopy reads up to want bytes into a region of the buffer and hands it
// out as one frag. While it waits for data the connection holds no chunk.
func (c *conn) recvCopy(ctx context.Context, dst []Frag, want int) ([]Frag, int, error) {
	for {
		c.rmsg.Control = nil
		c.rmsg.SetControllen(0)
		c.rflags = 0
		c.cwant, c.cneed, c.cerr = want, true, nil
		err := c.rawIO(ctx, false, c.cfn)
		c.riov.Base = nil
		if c.cerr == errNoSpace {
			wctx, cancel := c.waitCtx(ctx)
			err = c.waitErr(ctx, c.cp.waitSpace(wctx, c.led))
			cancel()
			if err != nil {
				return dst, 0, err
			}
			continue
		}
		if c.cerr != nil {
			return dst, 0, c.cerr
		}
		if err != nil || c.rerrno != 0 || c.rn == 0 {
			c.cp.abort()
		}
		switch {
		case err != nil:
			return dst, 0, err
		case c.rerrno != 0:
			return dst, 0, os.NewSyscallError("read", c.rerrno)
		case c.rn == 0:
			return dst, 0, io.EOF
		}
		dst, err = c.cp.commit(c.led, dst, c.coff, c.rn)
		if err != nil {
			return dst, 0, err
		}
		c.n.reads.Add(1)
		c.n.frags.Add(1)
		c.n.copiedB.Add(uint64(c.rn))
		return dst, 0, nil
	}
}

// copyRecv is the poller callback of recvCopy: it takes a chunk (again, if
// it gave it back while waiting) and reads into it.
func (c *conn) copyRecv(fd uintptr) bool {
	if c.cneed {
		off, n, err := c.cp.reserve(c.cwant)
		if err != nil {
			c.cerr = err
			return true
		}
		c.coff, c.cneed = off, false
		c.riov.Base = &c.sh.buf.mem[off]
		c.riov.SetLen(n)
	}
	if c.rfn(fd) {
		return true
	}
	// No data: let go of the chunk while waiting.
	c.cneed = c.cp.idle()
	return false
}

// read implements Read.
func (c *conn) read(p []byte) (int, error) {
	if c == nil {
		return 0, net.ErrClosed
	}
	if c.sh == nil {
		n, err := c.readPlain(p)
		return n, c.opErr(opRead, err)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !c.enter() {
		return 0, c.opErr(opRead, net.ErrClosed)
	}
	defer c.exit()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.remOff < len(c.rem) {
		n := copy(p, c.rem[c.remOff:])
		c.consumeRem(n)
		return n, nil
	}
	if c.rerr != nil {
		return 0, c.opErr(opRead, c.rerr)
	}
	if c.mode == ModeCopy {
		if c.strict {
			_, _, err := c.readFragsLocked(context.Background(), nil, nil, 0)
			return 0, c.opErr(opRead, err)
		}
		// Straight into p: the kernel's copy is the only one.
		c.rmsg.Control = nil
		c.rmsg.SetControllen(0)
		c.riov.Base = &p[0]
		c.riov.SetLen(len(p))
		c.rflags = 0
		err := c.rawIO(context.Background(), false, c.rfn)
		c.riov.Base = nil
		switch {
		case err != nil:
			return 0, c.opErr(opRead, err)
		case c.rerrno != 0:
			return 0, c.opErr(opRead, os.NewSyscallError("read", c.rerrno))
		case c.rn == 0:
			return 0, io.EOF
		}
		c.n.reads.Add(1)
		c.n.copiedB.Add(uint64(c.rn))
		c.n.readOut.Add(uint64(c.rn))
		return c.rn, nil
	}
	if c.sh.buf.mem == nil {
		return 0, c.opErr(opRead, ErrNoMapping)
	}
	c.readBufs()
	frags, _, err := c.readFragsLocked(context.Background(), c.rfr[:0], c.rlin, len(c.rlin))
	if err != nil {
		return 0, c.opErr(opRead, err)
	}
	serr := c.syncRX(false)
	n := 0
	for _, f := range frags {
		b := c.fragBytes(f, c.rlin)
		k := copy(p[n:], b)
		n += k
		if k < len(b) {
			c.rem = append(c.rem, b[k:]...)
		}
	}
	serr = errors.Join(serr, c.syncRX(true))
	c.n.readOut.Add(uint64(n + len(c.rem)))
	rerr := c.led.Release(frags)
	if err := errors.Join(serr, rerr); err != nil {
		return n, c.opErr(opRead, err)
	}
	return n, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// readPlain reads ordinary data on a dialed connection. Zerocopy
// completions make the socket report EPOLLERR; when the poller sees that
// event alone (the send buffer full, no data to read), Go's runtime refuses
// to wait for reads on the socket ("not pollable") until its next other
// event. readPlain then reads directly and, with nothing to read, waits
// with poll(2) in slices of at most pollSlice, which blocks a thread only
// in that state, until data arrives or the deadline passes.
func (c *conn) readPlain(p []byte) (int, error) {
	for {
		n, err := c.sock.Read(p)
		if err == nil || c.tx == nil || !strings.Contains(err.Error(), "not pollable") {
			return n, err
		}
		c.tx.reapNow()
		var (
			rn   int
			rerr error
		)
		if err := c.rc.Control(func(fd uintptr) {
			rn, rerr = unix.Read(int(fd), p)
			if rerr != unix.EAGAIN {
				return
			}
			wait := pollSlice
			if d := c.rdl.Load(); d != 0 {
				wait = min(wait, max(0, time.Until(time.Unix(0, d))))
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			_, _ = unix.Poll(pfd, int(wait.Milliseconds()))
		}); err != nil {
			return 0, err
		}
		switch {
		case rerr == nil && rn == 0 && len(p) > 0:
			return 0, io.EOF
		case rerr == nil:
			return rn, nil
		case rerr != unix.EAGAIN:
			return 0, os.NewSyscallError("read", rerr)
		}
		if d := c.rdl.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// pollSlice bounds one poll(2) of readPlain.
const pollSlice = 20 * time.Millisecond

// readBufs allocates Read and WriteTo's buffers; c.rmu held.
func (c *conn) readBufs() {
	if c.rfr == nil {
		c.rfr = make([]Frag, 0, readFragCap)
	}
	if c.rlin == nil && c.mode == ModeDevmem {
		c.rlin = make([]byte, readBufSize)
	}
}

// writeTo implements WriteTo.
func (c *conn) writeTo(w io.Writer) (int64, error) {
	if c == nil {
		return 0, net.ErrClosed
	}
	if c.sh == nil {
		return io.Copy(w, readerOnly{readerFunc(c.read)})
	}
	if !c.enter() {
		return 0, c.opErr(opRead, net.ErrClosed)
	}
	defer c.exit()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var total int64
	if c.remOff < len(c.rem) {
		k, err := w.Write(c.rem[c.remOff:])
		total += int64(k)
		c.consumeRem(k)
		if err != nil {
			return total, err
		}
	}
	if c.sh.buf.mem == nil {
		return total, c.opErr(opRead, ErrNoMapping)
	}
	c.readBufs()
	for {
		frags, _, err := c.readFragsLocked(context.Background(), c.rfr[:0], c.rlin, readBufSize)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, c.opErr(opRead, err)
		}
		var werr error
		if c.mode == ModeDevmem {
			werr = c.syncRX(false)
		}
		for i := 0; i < len(frags) && werr == nil; i++ {
			var k int
			k, werr = w.Write(c.fragBytes(frags[i], c.rlin))
			total += int64(k)
			c.n.readOut.Add(uint64(k))
		}
		if c.mode == ModeDevmem {
			werr = errors.Join(werr, c.syncRX(true))
		}
		werr = errors.Join(werr, c.led.Release(frags))
		if werr != nil {
			return total, werr
		}
	}
}

func (c *conn) fragBytes(f Frag, linear []byte) []byte {
	if c == nil {
		return nil
	}
	if f.Kind == cmsg.Linear {
		if f.CheckBounds(uint64(len(linear))) != nil {
			return nil
		}
		return linear[f.Offset : f.Offset+uint64(f.Size) : f.Offset+uint64(f.Size)]
	}
	if c.sh == nil {
		return nil
	}
	mem := c.sh.buf.mem
	if mem == nil || f.CheckBounds(uint64(len(mem))) != nil {
		return nil
	}
	return mem[f.Offset : f.Offset+uint64(f.Size) : f.Offset+uint64(f.Size)]
}

func (c *conn) syncRX(end bool) error {
	if c == nil || c.sh == nil || c.mode != ModeDevmem {
		return nil
	}
	flags := uint64(uapi.DMA_BUF_SYNC_READ | uapi.DMA_BUF_SYNC_START)
	if end {
		flags = uapi.DMA_BUF_SYNC_READ | uapi.DMA_BUF_SYNC_END
	}
	return c.sh.buf.sync(flags)
}

func (c *conn) release(frags []Frag) error {
	if c == nil {
		return net.ErrClosed
	}
	if c.sh == nil {
		return c.opErr(opRelease, ErrNoBuffer)
	}
	c.n.releases.Add(1)
	err := c.led.Release(frags)
	if c.idle != nil {
		c.idle.released()
	}
	return c.opErr(opRelease, err)
}

func (c *conn) hold(owner string, frags []Frag) (Batch, error) {
	if c == nil {
		return Batch{}, net.ErrClosed
	}
	if c.sh == nil {
		return Batch{}, c.opErr(opRelease, ErrNoBuffer)
	}
	pb, err := c.led.Hold(owner, frags)
	if err != nil {
		return Batch{}, c.opErr(opRelease, err)
	}
	return Batch{c: c, pb: pb}, nil
}

func (c *conn) done(b Batch) error {
	c.n.releases.Add(1)
	err := b.pb.Done()
	if c.idle != nil {
		c.idle.released()
	}
	return c.opErr(opRelease, err)
}
