package devmem

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal"
	"github.com/devmem-go/devmem/pagepool"
)

// ErrNotSupported is returned where the operating system lacks devmem TCP
// (every OS but Linux). It is the same value as the ErrNotSupported of the
// module's other packages; the fallback Reason of a Listener or Conn in copy
// mode often matches it too (a driver or kernel without devmem).
var ErrNotSupported = internal.ErrNotSupported

var (
	// ErrHostPayload is returned in strict mode (ListenConfig.Strict) when
	// payload arrived in host memory: an SCM_DEVMEM_LINEAR frag (the NIC
	// did not split the packet at the payload), ordinary data (the flow did
	// not land on a bound queue, or the Listener runs in copy mode), or the
	// remainder a Read left. The bytes were consumed; the connection
	// returns this error from then on, so close it.
	ErrHostPayload = errors.New("devmem: payload arrived in host memory (strict mode)")
	// ErrBadFrag is returned when the kernel described a frag the Conn
	// cannot accept: outside the bound dma-buf, from another binding, or
	// frags that do not add up to the bytes received. Its tokens were
	// released; the stream has a gap, and the connection returns this
	// error from then on.
	ErrBadFrag = errors.New("devmem: invalid frag")
	// ErrRegionBusy is returned by Send, SendScatter and FreeRegion for a
	// region a Send still holds (its bytes are in flight, or it is listed
	// twice in one call): the Send frees it once the NIC is done with it,
	// so it can be neither sent again nor freed until then. Alloc a new
	// region, or wait for Flush.
	ErrRegionBusy = errors.New("devmem: region is being sent")
	// ErrNoMapping is returned by Read, WriteTo, Send in copy mode and
	// FragBytes-based helpers when the dma-buf cannot be mapped into the
	// process (many GPU exporters refuse mmap): use ReadFrags and hand the
	// offsets to the device instead.
	ErrNoMapping = errors.New("devmem: dma-buf is not mappable by the CPU")
	// ErrNoBuffer is returned by the receive-side frag methods of a Conn
	// made by Dial and by the transmit-side methods of a Conn accepted from
	// a Listener: each side has a buffer for its own direction only.
	ErrNoBuffer = errors.New("devmem: no buffer for this direction on this connection")
	// ErrLinearTooSmall is returned by ReadFrags when the linear buffer is
	// empty: its length bounds the bytes one call returns, even those that
	// stay in device memory.
	ErrLinearTooSmall = errors.New("devmem: ReadFrags needs a non-empty linear buffer (its length bounds the bytes per call)")
)

// Frag is one piece of received data, in stream order. It is cmsg.Frag:
//
//   - Kind cmsg.DMABuf: Size bytes at Offset in the receive buffer (the
//     dma-buf). In devmem mode Token is the kernel's token and DMABufID the
//     RX binding id; in copy mode Token is issued by this package and
//     DMABufID is 0. Release it (Conn.Release, or Conn.Hold and Batch.Done)
//     when done with the bytes.
//   - Kind cmsg.Linear: Size bytes at Offset in the linear buffer given to
//     ReadFrags (SCM_DEVMEM_LINEAR, or ordinary data). No token; releasing
//     it is a no-op.
type Frag = cmsg.Frag

// Mode says how a Listener or Conn moves data.
type Mode uint8

const (
	// ModeCopy is the fallback: ordinary TCP, with received bytes copied
	// by the kernel into regions of the buffer (or of a memfd) and sent
	// bytes written from it.
	ModeCopy Mode = iota + 1
	// ModeDevmem is device memory TCP: the NIC writes payload into the
	// dma-buf, or reads it from there to send.
	ModeDevmem
)

// String returns "copy" or "devmem".
func (m Mode) String() string {
	switch m {
	case ModeCopy:
		return "copy"
	case ModeDevmem:
		return "devmem"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Fallback says what Listen and Dial do when devmem TCP cannot be set up.
type Fallback uint8

const (
	// FallbackCopy (the default) runs the copy path with the same API and
	// records why in Reason.
	FallbackCopy Fallback = iota
	// FallbackNone makes Listen and Dial fail with the reason instead.
	FallbackNone
)

// String returns "copy" or "none".
func (f Fallback) String() string {
	switch f {
	case FallbackCopy:
		return "copy"
	case FallbackNone:
		return "none"
	}
	return "Fallback(" + strconv.Itoa(int(f)) + ")"
}

// Op names of the *net.OpError values this package returns.
const (
	opAccept     = "accept"
	opClose      = "close"
	opDial       = "dial"
	opFlush      = "flush"
	opListen     = "listen"
	opRawControl = "raw-control"
	opRead       = "read"
	opReadFrags  = "readfrags"
	opRelease    = "release"
	opSend       = "send"
	opSet        = "set"
	opWrite      = "write"
)

// opError wraps err as a *net.OpError, mapping the errors of a closed or
// shut-down socket onto what package net returns: net.ErrClosed and io.EOF.
// Errors that are already *net.OpError, io.EOF and nil pass through.
func opError(op string, local, remote net.Addr, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return io.EOF
	case errors.Is(err, syscall.EBADF), errors.Is(err, os.ErrClosed), errors.Is(err, pagepool.ErrClosed),
		strings.Contains(err.Error(), "use of closed"):
		err = net.ErrClosed
	}
	oe = &net.OpError{Op: op, Net: "tcp", Err: err}
	switch op {
	case opAccept, opListen:
		oe.Addr = local
	case opDial:
		oe.Source, oe.Addr = local, remote
	default:
		oe.Source, oe.Addr = local, remote
	}
	if oe.Source == (*net.TCPAddr)(nil) {
		oe.Source = nil
	}
	if oe.Addr == (*net.TCPAddr)(nil) {
		oe.Addr = nil
	}
	return oe
}
