package devmem

import (
	"context"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/devmem-go/devmem/pagepool"
)

// Conn is a TCP connection of this package: accepted from a Listener (it
// receives into the Listener's buffer) or made by Dial (it sends from its
// own buffer). It implements net.Conn on github.com/mdlayher/socket: reads,
// writes and waits park in Go's network poller, deadlines and Close unblock
// them.
//
// On top of net.Conn, an accepted Conn has the zero-copy receive API:
// ReadFrags hands out the data as frags in the buffer, Release (or Hold and
// Batch.Done) gives them back. Read and WriteTo remain available: they copy
// the data out of the buffer's mapping and release at once, so io.Copy and
// existing code work unchanged. A dialed Conn has the transmit API: Alloc a
// region of its buffer, fill it (RegionBytes, or a device), Send it; the
// region is freed when the kernel reports the send complete.
//
// A Conn is safe for concurrent use: one reader (Read, ReadFrags, WriteTo)
// and one sender (Write, Send) at a time, and any number of Release, Hold,
// Batch.Done, Stats and Close calls from other goroutines. Close must be
// called; it releases the frags still outstanding (the kernel frees their
// tokens with the socket; see Leaks) and the Conn's share of the buffer.
// Frags and regions must not be used after Close.
type Conn struct {
	c *conn
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ syscall.Conn = (*Conn)(nil)
	_ io.WriterTo  = (*Conn)(nil)
)

// Read reads data into p, copying it out of the buffer's mapping in devmem
// mode (the frags are released before Read returns; what does not fit in p
// is kept for the next call, in host memory) and reading it directly in copy
// mode. In devmem mode it fails with ErrNoMapping when the dma-buf cannot
// be mapped. It implements io.Reader.
func (c *Conn) Read(p []byte) (int, error) { return c.c.read(p) }

// WriteTo writes the received data to w until EOF or an error, as io.Copy
// would, but without an intermediate buffer: each frag is written straight
// from the mapping, then released. It implements io.WriterTo, which io.Copy
// uses.
func (c *Conn) WriteTo(w io.Writer) (int64, error) { return c.c.writeTo(w) }

// Write writes p as ordinary TCP data (copied by the kernel), on both kinds
// of Conn. It implements io.Writer.
func (c *Conn) Write(p []byte) (int, error) { return c.c.write(p) }

// ReadFrags receives the next data and appends its frags to dst, in stream
// order: DMABuf frags lie in the buffer (FragBytes gives their bytes when it
// is mapped), Linear frags were copied into linear, back to back from its
// start (the Offset of a Linear frag is its position in linear). It
// returns the extended slice and the number of bytes written to linear.
// It blocks until data arrives, respecting the read deadline, and returns
// io.EOF at the end of the stream.
//
// len(linear) bounds the bytes one call returns, devmem or linear (the
// kernel takes the iov length as the limit), so pass a large one (64 KiB
// to 1 MiB); the spare capacity of dst bounds the frags (cap(dst)-len(dst),
// or 64 if there is none). With room in dst, ReadFrags allocates nothing.
//
// Every frag is checked against the buffer's size and the binding id before
// it is returned, and its token recorded: each DMABuf frag must be given
// back with Release or Hold and Batch.Done. At the bounds of ListenConfig
// (MaxFrags, MaxBytes, ListenerMaxFrags, ListenerMaxBytes) ReadFrags first
// waits for releases (other goroutines must make them), or fails with
// pagepool.ErrBackpressure when FailFast is set.
//
// In strict mode, payload in host memory fails with ErrHostPayload.
func (c *Conn) ReadFrags(dst []Frag, linear []byte) (frags []Frag, nLinear int, err error) {
	return c.c.readFrags(context.Background(), dst, linear)
}

// ReadFragsContext is ReadFrags, also returning when ctx is done (with an
// error wrapping ctx's error). A read deadline still applies.
func (c *Conn) ReadFragsContext(ctx context.Context, dst []Frag, linear []byte) (frags []Frag, nLinear int, err error) {
	return c.c.readFrags(ctx, dst, linear)
}

// Release gives frags back: in devmem mode their tokens return to the kernel
// (now or batched, by ListenConfig.Release), in copy mode their memory to
// the buffer. Linear frags are skipped. Frags that are not outstanding on
// this Conn (released twice, from another Conn, modified, or held by a
// Batch) are skipped and reported in the error (errors.Is with
// pagepool.ErrNotOutstanding, ErrForeignFrag or ErrHeld); the others are
// released. It is safe to call from any goroutine.
func (c *Conn) Release(frags []Frag) error { return c.c.release(frags) }

// Hold puts frags under a done-handle, for a release that happens later and
// elsewhere (when a device has consumed the bytes): call the Batch's Done
// once. owner names the holder in leak reports. It is all or nothing.
func (c *Conn) Hold(owner string, frags []Frag) (Batch, error) { return c.c.hold(owner, frags) }

// FragBytes returns the bytes of f: for a DMABuf frag a slice of the buffer's
// mapping (nil when it is not mapped, in devmem mode without a mappable
// dma-buf), for a Linear frag the slice of linear, the buffer given to
// ReadFrags. The slice is valid until f is released; in devmem mode
// bracket reads with BeginRead and EndRead. It returns nil for a frag that
// lies outside the buffer.
func (c *Conn) FragBytes(f Frag, linear []byte) []byte { return c.c.fragBytes(f, linear) }

// BeginRead and EndRead bracket CPU reads of frags in the mapping
// (DMA_BUF_IOCTL_SYNC with DMA_BUF_SYNC_START/END and READ), so that the
// CPU sees what the NIC wrote where DMA is not cache-coherent. They do
// nothing in copy mode. Read and WriteTo call them themselves.
func (c *Conn) BeginRead() error { return c.c.syncRX(false) }

// EndRead ends what BeginRead started.
func (c *Conn) EndRead() error { return c.c.syncRX(true) }

// Alloc returns a region of at least size bytes (rounded up to pages) of the
// Conn's send buffer, for the application (or a device) to fill and Send.
// When the buffer is full it waits for completions of earlier sends to free
// space, until ctx is done; if nothing is in flight it fails with
// pagepool.ErrNoSpace at once. Only on a Conn from Dial.
func (c *Conn) Alloc(ctx context.Context, size int) (pagepool.Region, error) {
	return c.c.alloc(ctx, size)
}

// RegionBytes returns the memory of r in the send buffer's mapping, to fill
// it (nil when the buffer is not mappable). In devmem mode it starts a CPU
// write window on the dma-buf, which Send ends.
func (c *Conn) RegionBytes(r pagepool.Region) []byte { return c.c.regionBytes(r) }

// FreeRegion gives back a region from Alloc that will not be sent. A region
// a Send holds is refused with ErrRegionBusy: the Send frees it.
func (c *Conn) FreeRegion(r pagepool.Region) error { return c.c.freeRegion(r) }

// Send sends the first n bytes of region r, taking ownership of r: the
// Conn frees it once the kernel reports the transmission complete (devmem
// mode: the NIC has read it and the peer acknowledged it; copy mode: at
// once). It blocks until all n bytes are queued, respecting the write
// deadline and ctx. In devmem mode the bytes go from the dma-buf to the
// NIC without a copy (sendmsg with MSG_ZEROCOPY and SCM_DEVMEM_DMABUF);
// in copy mode they are written from the mapping. Requires Linux 6.16
// for devmem TX.
//
// r must come from this Conn's Alloc and be neither freed (FreeRegion, or
// the completion of an earlier Send) nor forged: Send rejects such a region
// with an error matching pagepool.ErrDoubleFree or pagepool.ErrForeignRegion
// and sends nothing. A region an earlier Send still holds (in flight) is
// refused with ErrRegionBusy. An n that is not positive or exceeds the
// region's length gives an error matching os.ErrInvalid.
func (c *Conn) Send(ctx context.Context, r pagepool.Region, n int) (int, error) {
	return c.c.send(ctx, []pagepool.Region{r}, n)
}

// SendScatter sends the first n bytes of the regions rs, in order, as one
// stream, taking ownership of all of them like Send. A region listed twice
// is refused with ErrRegionBusy.
func (c *Conn) SendScatter(ctx context.Context, rs []pagepool.Region, n int) (int, error) {
	return c.c.send(ctx, rs, n)
}

// Flush waits until every Send is complete and its regions freed, or ctx is
// done.
func (c *Conn) Flush(ctx context.Context) error { return c.c.flush(ctx) }

// Close closes the connection: it unblocks reads, sends and waits in
// progress (they return net.ErrClosed), releases the frags still
// outstanding and, for a dialed Conn, unbinds its TX binding and frees its
// buffer once the sends in flight no longer need it. It is idempotent.
func (c *Conn) Close() error { return c.c.close() }

// CloseRead shuts down the reading side of the connection.
func (c *Conn) CloseRead() error { return c.c.shutdown(true) }

// CloseWrite shuts down the writing side of the connection.
func (c *Conn) CloseWrite() error { return c.c.shutdown(false) }

// LocalAddr returns the local network address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.c.localAddr() }

// RemoteAddr returns the remote network address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.c.remoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.c.setDeadline(t, true, true) }

// SetReadDeadline sets the deadline for Read, ReadFrags and WriteTo,
// including their waits for releases; past it they fail with an error
// matching os.ErrDeadlineExceeded.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.setDeadline(t, true, false) }

// SetWriteDeadline sets the deadline for Write and Send.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.c.setDeadline(t, false, true) }

// SyscallConn returns a raw connection to the socket, for socket options
// this package does not set. Operations through it must not conflict with
// the Conn's own.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.c.syscallConn() }

// Mode reports whether the connection runs devmem or the copy path.
func (c *Conn) Mode() Mode { return c.c.modeOf() }

// Reason returns why the connection runs in copy mode, nil in devmem mode.
func (c *Conn) Reason() error { return c.c.reasonOf() }

// BindingID returns the id of the binding the Conn uses: the Listener's RX
// binding for an accepted Conn, its TX binding for a dialed one; 0 in copy
// mode.
func (c *Conn) BindingID() uint32 { return c.c.bindingID() }

// Stats returns a snapshot of the connection's counters.
func (c *Conn) Stats() ConnStats { return c.c.stats() }

// Leaks returns, after Close, the frags that were still outstanding when
// the connection closed (never released by the application); empty before
// Close and when everything was released.
func (c *Conn) Leaks() pagepool.LeakReport { return c.c.leakReport() }

// Batch is a done-handle for frags put aside with Conn.Hold. It is a small
// value; Done may be called once, from any goroutine. The zero Batch is
// invalid.
type Batch struct {
	c  *conn
	pb pagepool.Batch
}

// Done releases the batch's frags, as Conn.Release would. A second Done
// returns an error matching pagepool.ErrBatchDone.
func (b Batch) Done() error {
	if b.c == nil {
		return pagepool.ErrBatchDone
	}
	return b.c.done(b)
}
