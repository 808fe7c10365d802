//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"golang.org/x/sys/unix"
)

// flushTimeout bounds the wait for the last TX completions. The kernel
// tool waits 500 ms per line; a NIC that never completes fails here.
const flushTimeout = 30 * time.Second

// transmit runs the TX client: it connects o.conns times and sends stdin,
// or o.size bytes of the validation pattern per connection, from the
// dma-buf (devmem TX) or, where that cannot be set up, from the copy
// path's buffer.
//
// The connections are all made before any is used, in the calling
// goroutine: the sockets and bindings belong to its thread's network
// namespace.
func transmit(ctx context.Context, o *options, sio *stdio) (*clientResult, error) {
	res := &clientResult{Role: "client", Conns: []clientConnResult{}}
	if o.server == "" {
		return res, errors.New("missing -s argument")
	}
	port, err := parsePort(o.port)
	if err != nil {
		return res, err
	}
	addr, err := parseAddr(o.server)
	if err != nil {
		return res, fmt.Errorf("-s: %w", err)
	}
	var local netip.Addr
	if o.client != "" {
		if local, err = parseAddr(o.client); err != nil {
			return res, fmt.Errorf("-c: %w", err)
		}
	}
	n := o.conns
	if n < 0 {
		n = 1
	}
	if n == 0 {
		return res, errors.New("-conns 0 means no connection for a client")
	}
	if n > 1 && o.size == 0 {
		return res, errors.New("several connections (-conns) need -size: stdin can be sent only once")
	}
	period := o.validate
	if period == 0 {
		period = 7
	}
	res.Address = netip.AddrPortFrom(addr, port).String()
	res.Interface = o.iface

	dc := &devmem.DialConfig{Interface: o.iface, BufferSize: o.bufSize}
	if o.mode == "devmem" {
		dc.Fallback = devmem.FallbackNone
	}
	copyReason := ""
	if o.mode == "copy" {
		f, err := memfdBuffer(o.bufSize)
		if err != nil {
			return res, err
		}
		defer f.Close()
		dc.Buffer = f
		copyReason = "requested with -mode copy"
	}

	conns := make([]*devmem.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		bindPort := port
		if i > 0 {
			bindPort = 0 // the 4-tuple of the first connection is taken
		}
		dc.Control = controlFunc(local, bindPort)
		fmt.Fprintf(sio.err, "Connect to %s (via %s)\n", res.Address, orDefault(o.iface, "the route's device"))
		c, err := devmem.Dial(ctx, "tcp", res.Address, dc)
		if err != nil {
			return res, err
		}
		conns = append(conns, c)
		if i == 0 {
			res.Mode = c.Mode().String()
			if c.Mode() == devmem.ModeCopy {
				if copyReason == "" {
					copyReason = oneLine(c.Reason())
				}
				res.Reason = copyReason
				fmt.Fprintf(sio.err, "ncdevmem: copy mode: %s\n", copyReason)
			} else {
				fmt.Fprintf(sio.err, "ncdevmem: devmem TX: tx dmabuf id %d\n", c.BindingID())
			}
		}
	}

	m := &meter{}
	stopProgress := startProgress(sio.err, "tx", m)
	defer stopProgress()
	start := time.Now()
	results := make([]clientConnResult, n)
	errs := make([]error, n)
	sendOne := func(i int) {
		var src io.Reader
		if o.size > 0 {
			src = &generator{pattern: newPattern(period), left: o.size}
		} else {
			// A read of stdin cannot be cancelled: read it aside, so
			// that Ctrl-C stops the client even while a terminal waits
			// for a line.
			cr := newCtxReader(ctx, sio.in)
			defer cr.Close()
			src = cr
		}
		results[i], errs[i] = send(ctx, conns[i], src, o, m)
		if cerr := conns[i].Close(); cerr != nil && errs[i] == nil {
			errs[i] = cerr
		}
		if errs[i] != nil {
			results[i].Error = errs[i].Error()
		}
	}
	if o.concurrent {
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sendOne(i)
			}()
		}
		wg.Wait()
	} else {
		for i := range conns {
			if sendOne(i); errs[i] != nil {
				break
			}
		}
	}
	elapsed := time.Since(start)
	stopProgress()

	for i, r := range results {
		if r.Local == "" && errs[i] == nil {
			continue // not run: an earlier one failed
		}
		res.Conns = append(res.Conns, r)
		res.Bytes += r.Bytes
		res.Sends += r.Sends
		res.SendCalls += r.SendCalls
		res.Completions += r.Completed
		res.Copied += r.Copied
	}
	res.Connections = len(res.Conns)
	res.Seconds = elapsed.Seconds()
	res.Gbps = gbps(res.Bytes, elapsed)
	return res, errors.Join(errs...)
}

// send sends src on c to its end, in regions of the send buffer, then
// waits for the completions.
func send(ctx context.Context, c *devmem.Conn, src io.Reader, o *options, m *meter) (cr clientConnResult, err error) {
	cr.Local = c.LocalAddr().String()
	cr.Mode = c.Mode().String()
	cr.BindingID = c.BindingID()
	start := time.Now()
	m.open.Add(1)
	defer func() {
		m.open.Add(-1)
		m.done.Add(1)
		st := c.Stats()
		cr.Seconds = time.Since(start).Seconds()
		cr.Sends, cr.SendCalls = st.Sends, st.SendCalls
		cr.Completed, cr.Copied = st.TXCompleted, st.TXCopied
	}()

	// One region per chunk with -z (the kernel tool puts the chunks of a
	// line into one sendmsg as separate iovecs; the stream is the same),
	// else regions of up to 1 MiB.
	size := min(1<<20, int(o.bufSize/4))
	if o.chunk > 0 {
		size = o.chunk
	}
	for {
		r, err := c.Alloc(ctx, size)
		if err != nil {
			return cr, err
		}
		b := c.RegionBytes(r)
		if b == nil {
			_ = c.FreeRegion(r)
			return cr, fmt.Errorf("the send buffer cannot be filled by the CPU: %w", devmem.ErrNoMapping)
		}
		n, rerr := readSome(src, b[:size])
		if n == 0 {
			_ = c.FreeRegion(r)
			if rerr != nil && rerr != io.EOF {
				return cr, fmt.Errorf("reading the input: %w", rerr)
			}
			break
		}
		if _, err := c.Send(ctx, r, n); err != nil {
			return cr, err
		}
		cr.Bytes += uint64(n)
		m.bytes.Add(uint64(n))
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return cr, fmt.Errorf("reading the input: %w", rerr)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := c.Flush(fctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return cr, fmt.Errorf("did not receive tx completion within %v: %w", flushTimeout, err)
		}
		return cr, err
	}
	if err := c.CloseWrite(); err != nil {
		return cr, err
	}
	return cr, nil
}

// readSome reads at least one byte into b unless the input ends: one
// read, so that interactive input is sent line by line.
func readSome(r io.Reader, b []byte) (int, error) {
	for {
		n, err := r.Read(b)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// controlFunc sets what the kernel tool sets on its socket: SO_REUSEADDR
// and SO_REUSEPORT, and the bind to the client address (-c).
func controlFunc(local netip.Addr, port uint16) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); serr != nil {
				return
			}
			if !local.IsValid() {
				return
			}
			// The socket's family decides the address form.
			var sa unix.Sockaddr
			dom, _ := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
			switch {
			case dom == unix.AF_INET && local.Is4():
				sa = &unix.SockaddrInet4{Addr: local.As4(), Port: int(port)}
			case dom == unix.AF_INET6:
				sa = &unix.SockaddrInet6{Addr: local.As16(), Port: int(port)}
			default:
				serr = fmt.Errorf("-c %s does not match the server address family", local)
				return
			}
			serr = unix.Bind(int(fd), sa)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("client socket (%s): %w", network, serr)
		}
		return nil
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// ctxReader reads r in a goroutine of its own, so that its Read returns
// when ctx is done even if r's Read blocks. The goroutine ends when r's
// Read returns an error (EOF) or, after Close, with its next read.
type ctxReader struct {
	ctx     context.Context
	ch      chan readResult
	stop    chan struct{}
	pending []byte
	err     error
	once    sync.Once
}

type readResult struct {
	b   []byte
	err error
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	cr := &ctxReader{ctx: ctx, ch: make(chan readResult), stop: make(chan struct{})}
	go func() {
		for {
			buf := make([]byte, 64<<10)
			n, err := r.Read(buf)
			select {
			case cr.ch <- readResult{buf[:n], err}:
			case <-cr.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return cr
}

func (cr *ctxReader) Read(p []byte) (int, error) {
	for len(cr.pending) == 0 {
		if cr.err != nil {
			return 0, cr.err
		}
		select {
		case r := <-cr.ch:
			cr.pending, cr.err = r.b, r.err
		case <-cr.ctx.Done():
			return 0, cr.ctx.Err()
		}
	}
	n := copy(p, cr.pending)
	cr.pending = cr.pending[n:]
	return n, nil
}

// Close lets the reading goroutine end after its current read.
func (cr *ctxReader) Close() { cr.once.Do(func() { close(cr.stop) }) }
