//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
)

// linearSize is the linear buffer of each receive, the kernel tool's iobuf.
const linearSize = 819200

// serve runs the RX server: it listens, accepts o.conns connections
// (one after the other, or at once with -concurrent), receives each into the
// dma-buf, validates or prints the payload, and releases the tokens. Closing
// the Listener on the way out unbinds the buffer and undoes the NIC setup,
// also when ctx is cancelled (Ctrl-C).
func serve(ctx context.Context, o *options, sio *stdio) (*serverResult, error) {
	res := &serverResult{Role: "server", Conns: []connResult{}}
	port, err := parsePort(o.port)
	if err != nil {
		return res, err
	}
	host := ""
	var addr netip.Addr
	if o.server != "" {
		if addr, err = parseAddr(o.server); err != nil {
			return res, fmt.Errorf("-s: %w", err)
		}
		host = addr.String()
	}
	iface := o.iface
	if iface == "" && addr.IsValid() {
		iface = ifaceOf(addr)
	}
	res.Interface = iface

	lc := &devmem.ListenConfig{
		Interface:  iface,
		BufferSize: o.bufSize,
		Setup:      !o.skipConfig,
		Release:    pagepool.ReleasePolicy{BatchFrags: o.batch},
		Strict:     o.failOnLinear,
	}
	if o.mode == "devmem" {
		lc.Fallback = devmem.FallbackNone
	}

	// The queues: -t and -q, or, with a device, the last one as the kernel
	// tool picks it; without a device the library chooses.
	var ifindex int
	if iface != "" {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return res, fmt.Errorf("-f %s: %w", iface, err)
		}
		ifindex = ifi.Index
	}
	switch {
	case o.startQueue >= 0 && o.numQueues >= 0:
		if o.numQueues == 0 {
			return res, errors.New("-q must be at least 1")
		}
		lc.Queues = queueRange(o.startQueue, o.numQueues)
	case o.startQueue >= 0:
		return res, errors.New("missing -q argument")
	case o.numQueues >= 0:
		return res, errors.New("missing -t argument")
	case ifindex != 0 && o.mode != "copy":
		n, err := rxQueueCount(ifindex)
		if err != nil {
			if !errors.Is(err, netdev.ErrNotSupported) {
				res.Notes = append(res.Notes, "cannot count the RX queues ("+oneLine(err)+"): the library picks a free one")
			}
			break
		}
		if n < 1 {
			return res, fmt.Errorf("%s has no RX queues", iface)
		}
		if n < 2 {
			res.Notes = append(res.Notes, "only one RX queue: all of "+iface+"'s traffic lands in the dma-buf")
		}
		lc.Queues = []uint32{uint32(n - 1)}
	}

	copyReason := ""
	if o.mode == "copy" {
		// Ask for the copy path: a memfd cannot be bound.
		f, err := memfdBuffer(o.bufSize)
		if err != nil {
			return res, err
		}
		defer f.Close()
		lc.Buffer, lc.Setup = f, false
		copyReason = "requested with -mode copy"
	}

	if lc.Setup && ifindex != 0 && len(lc.Queues) > 0 {
		// Steer ordinary traffic away from the devmem queues and this flow
		// onto the first one, as the kernel tool does, where the driver can.
		flow := netdev.FlowSpec{Dst: netip.AddrPortFrom(addr, port), Queue: lc.Queues[0]}
		if o.client != "" {
			ca, err := parseAddr(o.client)
			if err != nil {
				return res, fmt.Errorf("-c: %w", err)
			}
			flow.Src = netip.AddrPortFrom(ca, port)
		}
		cfg := netdev.SetupConfig{Ifindex: ifindex, Queues: lc.Queues, SteerRSSAway: true}
		if addr.IsValid() && port != 0 {
			cfg.Flows = []netdev.FlowSpec{flow}
		}
		cfg, notes := trimSetup(cfg)
		res.Notes = append(res.Notes, notes...)
		lc.SteerRSSAway, lc.SetupFlows = cfg.SteerRSSAway, cfg.Flows
	}

	if o.rxBufLen != 0 && o.mode != "copy" {
		if ifindex == 0 {
			return res, errors.New("-b needs the device: give -f")
		}
		if o.skipConfig {
			return res, errors.New("-b changes the NIC, -n says not to")
		}
		restore, err := setRXBufLen(ifindex, uint32(o.rxBufLen))
		if err != nil {
			return res, err
		}
		defer func() {
			if err := restore(); err != nil {
				fmt.Fprintf(sio.err, "ncdevmem: restoring rx-buf-len: %v\n", err)
			}
		}()
	}

	network := "tcp"
	l, err := lc.Listen(ctx, network, net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		return res, err
	}
	var closeOnce sync.Once
	closeListener := func() {
		closeOnce.Do(func() {
			switch err := l.Close(); {
			case err != nil:
				fmt.Fprintf(sio.err, "ncdevmem: closing the listener (unbind, NIC setup undo): %v\n", err)
			case l.Mode() == devmem.ModeDevmem && lc.Setup:
				fmt.Fprintln(sio.err, "ncdevmem: unbound, NIC setup restored")
			case l.Mode() == devmem.ModeDevmem:
				fmt.Fprintln(sio.err, "ncdevmem: unbound")
			}
		})
	}
	defer closeListener()

	res.Address = l.Addr().String()
	res.Mode = l.Mode().String()
	if l.Mode() == devmem.ModeCopy {
		if copyReason == "" {
			copyReason = oneLine(l.Reason())
		}
		res.Reason = copyReason
		fmt.Fprintf(sio.err, "ncdevmem: copy mode: %s\n", copyReason)
	} else {
		st := l.Stats()
		res.BindingID, res.Queues = st.BindingID, st.Queues
		fmt.Fprintf(sio.err, "ncdevmem: devmem mode: %s queues %v, dmabuf id %d\n", iface, st.Queues, st.BindingID)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(sio.err, "ncdevmem: note: %s\n", n)
	}
	fmt.Fprintf(sio.err, "Waiting or connection on %s\n", res.Address)
	if sio.ready != nil {
		sio.ready(l.Addr())
	}

	limit := o.conns
	if limit < 0 {
		limit = 1
	}
	if o.validate > 0 {
		res.Validation = &validation{Period: o.validate}
	}
	m := &meter{}
	stopProgress := startProgress(sio.err, "rx", m)
	defer stopProgress()

	var (
		mu     sync.Mutex
		first  time.Time
		runErr error
		wg     sync.WaitGroup
	)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := newLockedWriter(sio.out)
	defer out.Flush()
	handle := func(c *devmem.Conn) {
		cr, err := receive(rctx, c, o, out, sio.err, m)
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			cr.Error = err.Error()
		}
		mu.Lock()
		res.Conns = append(res.Conns, cr)
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("connection from %s: %w", cr.Remote, err)
			cancel()
		}
		mu.Unlock()
	}
	for n := 0; limit == 0 || n < limit; n++ {
		c, err := l.AcceptContext(rctx)
		if err != nil {
			mu.Lock()
			if runErr == nil {
				runErr = err
			}
			mu.Unlock()
			break
		}
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		mu.Unlock()
		fmt.Fprintf(sio.err, "Got connection from %s\n", c.RemoteAddr())
		if o.concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		} else {
			handle(c)
			mu.Lock()
			failed := runErr != nil
			mu.Unlock()
			if failed {
				break
			}
		}
	}
	wg.Wait()
	elapsed := time.Since(first)
	if first.IsZero() {
		elapsed = 0
	}
	stopProgress()
	closeListener()

	res.Connections = len(res.Conns)
	for _, cr := range res.Conns {
		res.Bytes += cr.Bytes
		res.Frags += cr.Frags
		res.DevmemBytes += cr.DevmemBytes
		res.LinearBytes += cr.LinearBytes
		res.PlainBytes += cr.PlainBytes
		res.CopiedBytes += cr.CopiedBytes
		res.PageAlignedFrags += cr.PageAlignedFrags
		res.NonPageAlignedFrags += cr.NonPageAlignedFrags
		res.ReleaseCalls += cr.ReleaseCalls
		res.DontneedCalls += cr.DontneedCalls
		if res.Validation != nil {
			res.Validation.Bytes += cr.Validated
			res.Validation.Mismatches += cr.Mismatches
		}
	}
	res.Seconds = elapsed.Seconds()
	res.Gbps = gbps(res.Bytes, elapsed)
	if runErr == nil && res.Validation != nil && res.Validation.Mismatches > 0 {
		runErr = fmt.Errorf("validation failed: %d wrong bytes", res.Validation.Mismatches)
	}
	return res, runErr
}

// receive reads one connection to its end.
func receive(ctx context.Context, c *devmem.Conn, o *options, out *lockedWriter, log io.Writer, m *meter) (cr connResult, err error) {
	cr.Remote = c.RemoteAddr().String()
	start := time.Now()
	m.open.Add(1)
	defer func() {
		m.open.Add(-1)
		m.done.Add(1)
		st := c.Stats()
		cr.Seconds = time.Since(start).Seconds()
		cr.DevmemBytes, cr.LinearBytes, cr.PlainBytes, cr.CopiedBytes = st.DevmemBytes, st.LinearBytes, st.PlainBytes, st.CopiedBytes
		cr.Frags, cr.ReleaseCalls = st.Frags, st.ReleaseCalls
		if st.Mode == devmem.ModeDevmem {
			cr.DontneedCalls = st.Ledger.Calls
		}
	}()

	var chk *checker
	if o.validate > 0 {
		chk = &checker{pattern: newPattern(o.validate), log: log}
	}
	devmemMode := c.Mode() == devmem.ModeDevmem
	pageSize := uint32(os.Getpagesize())
	frags := make([]devmem.Frag, 0, 256)
	linear := make([]byte, linearSize)
	seenDevmem := false
	for {
		fs, _, err := c.ReadFragsContext(ctx, frags[:0], linear)
		if err == io.EOF {
			if !o.jsonOut {
				fmt.Fprintln(log, "ncdevmem: client exited")
			}
			break
		}
		if errors.Is(err, devmem.ErrHostPayload) {
			return cr, fmt.Errorf("received payload in host memory but --fail-on-linear (-L) set: %w", err)
		}
		if err != nil {
			return cr, err
		}
		if o.verbose {
			var n uint64
			for _, f := range fs {
				n += uint64(f.Size)
			}
			fmt.Fprintf(log, "recvmsg ret=%d\n", n)
		}
		if devmemMode && !seenDevmem {
			// As the kernel tool, fail when the data arrives without
			// devmem cmsgs: the flow missed the bound queues. Ordinary
			// data later in a devmem stream (a packet the NIC did not
			// split) is counted and checked like the rest; -L refuses it.
			st := c.Stats()
			if st.PlainBytes > 0 && st.DevmemBytes == 0 {
				_ = c.Release(fs)
				return cr, fmt.Errorf("flow steering error: %d bytes arrived as ordinary data, not in the dma-buf (the flow did not land on a bound queue)", st.PlainBytes)
			}
			seenDevmem = st.DevmemBytes > 0
		}
		if err := c.BeginRead(); err != nil {
			_ = c.Release(fs)
			return cr, err
		}
		err = consume(c, fs, linear, chk, o, out, log, pageSize, &cr)
		if eerr := c.EndRead(); err == nil {
			err = eerr
		}
		if rerr := c.Release(fs); err == nil {
			err = rerr
		}
		if err == nil {
			err = out.Flush()
		}
		if err != nil {
			return cr, err
		}
		m.frags.Add(uint64(len(fs)))
		m.bytes.Add(uint64(nbytes(fs)))
	}
	if chk != nil {
		cr.Validated, cr.Mismatches = chk.offset, chk.errors
	}
	return cr, nil
}

// consume handles the frags of one read: counts them, and validates or
// prints their bytes.
func consume(c *devmem.Conn, fs []devmem.Frag, linear []byte, chk *checker, o *options, out, log io.Writer, pageSize uint32, cr *connResult) error {
	for _, f := range fs {
		b := c.FragBytes(f, linear)
		if b == nil {
			return fmt.Errorf("frag %+v: %w", f, devmem.ErrNoMapping)
		}
		cr.Bytes += uint64(f.Size)
		if f.Kind == cmsg.DMABuf {
			if f.Size%pageSize == 0 {
				cr.PageAlignedFrags++
			} else {
				cr.NonPageAlignedFrags++
			}
			if o.verbose {
				fmt.Fprintf(log, "received frag_page=%d, in_page_offset=%d, frag_offset=%d, frag_size=%d, token=%d, total_received=%d, dmabuf_id=%d\n",
					f.Offset/uint64(pageSize), f.Offset%uint64(pageSize), f.Offset, f.Size, f.Token, cr.Bytes, f.DMABufID)
			}
		} else if o.verbose {
			fmt.Fprintf(log, "SCM_DEVMEM_LINEAR. dmabuf_cmsg->frag_size=%d\n", f.Size)
		}
		if chk != nil {
			if err := chk.check(b); err != nil {
				cr.Validated, cr.Mismatches = chk.offset, chk.errors
				return err
			}
			if !o.jsonOut {
				fmt.Fprintln(out, "Validated buffer")
			}
		} else if !o.jsonOut {
			if _, err := out.Write(b); err != nil {
				return err
			}
		}
	}
	return nil
}

func nbytes(fs []devmem.Frag) int {
	n := 0
	for _, f := range fs {
		n += int(f.Size)
	}
	return n
}

// trimSetup drops the parts of the NIC setup the driver cannot do (RSS,
// n-tuple rules), so that devmem still works where the flows reach the
// queues anyway, and says what it dropped.
func trimSetup(cfg netdev.SetupConfig) (netdev.SetupConfig, []string) {
	rep, err := netdev.Preflight(cfg)
	if err != nil {
		return cfg, nil // Listen reports it
	}
	var notes []string
	for _, c := range rep.Failed() {
		switch c.Check {
		case netdev.CheckRSS:
			if cfg.SteerRSSAway {
				cfg.SteerRSSAway = false
				notes = append(notes, "RSS left as it is: "+c.Detail)
			}
		case netdev.CheckNtuple:
			if cfg.Flows != nil {
				cfg.Flows = nil
				notes = append(notes, "no flow rule: "+c.Detail)
			}
		}
	}
	return cfg, notes
}

// lockedWriter buffers stdout and serialises writes from concurrent
// connections.
type lockedWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newLockedWriter(w io.Writer) *lockedWriter {
	return &lockedWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Flush writes out what is buffered.
func (l *lockedWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Flush()
}
