package devmem

import (
	"context"
	"syscall"
	"time"

	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
)

// DefaultBufferSize is the size of the buffer Listen and Dial create when the
// config names neither a Buffer nor a BufferSize. It is the largest udmabuf
// the driver allows by default (its size_limit_mb parameter, see
// udmabuf.Limits).
const DefaultBufferSize = 64 << 20

// DefaultReleaseBatch is the batch of the zero ListenConfig.Release in
// devmem mode: the most tokens the kernel takes in one SO_DEVMEM_DONTNEED
// call, so that a busy stream of 4 KiB frags costs 256 calls per GiB.
const DefaultReleaseBatch = 1024

// DefaultReleaseIdle is how long, by default, a reader waits for data
// before the frags released meanwhile go back to the kernel
// (ListenConfig.ReleaseIdle).
const DefaultReleaseIdle = time.Millisecond

// ListenConfig configures a Listener. The zero value listens in copy mode
// (no Interface) with a buffer of DefaultBufferSize; nil is the zero value.
// A ListenConfig may be reused; Listen does not keep it.
type ListenConfig struct {
	// Interface names the network device whose RX queues receive the
	// devmem traffic, e.g. "eth1". If empty, Listen looks for the device
	// that owns the listening address; an unspecified address leaves it
	// unknown and the Listener in copy mode. A name that names no
	// device is the reason devmem RX is unavailable, an error matching
	// os.ErrNotExist (and ENODEV).
	Interface string

	// Queues are the RX queues of Interface to bind the buffer to. If
	// empty, Listen chooses the highest-numbered RX queue that no other
	// memory provider or AF_XDP socket uses. The flows must reach those
	// queues: with Setup and SetupFlows, or by your own flow steering.
	// A queue listed twice counts once.
	Queues []uint32

	// Buffer is a dma-buf the caller owns, for example one exported by a
	// GPU driver (an *os.File, a *dmabuf.Buffer, a *udmabuf.Buffer: anything
	// whose SyscallConn yields the dma-buf descriptor). Listen duplicates
	// the descriptor, so the caller may close Buffer once Listen has
	// returned; the kernel keeps the memory alive while it is bound or
	// tokens are outstanding. A descriptor that is no dma-buf (a memfd)
	// serves the copy path only. If nil, Listen creates a udmabuf of
	// BufferSize bytes (package udmabuf), which the Listener owns.
	Buffer syscall.Conn
	// BufferSize is the size of the buffer Listen creates when Buffer is
	// nil (default DefaultBufferSize), rounded up to whole pages; more
	// than udmabuf's size_limit_mb makes Listen fall back (Reason says
	// how to raise the limit). It is also the size of the memfd the copy
	// fallback uses when no dma-buf can be had or mapped. A negative
	// BufferSize fails Listen with an error matching os.ErrInvalid.
	BufferSize int64

	// Setup makes Listen prepare the device for devmem RX (netdev.Apply:
	// header split on, hds-thresh 0, and SteerRSSAway and SetupFlows) and
	// undo it when the Listener is closed. Without it the device must
	// already be prepared. Needs CAP_NET_ADMIN.
	Setup bool
	// SteerRSSAway, with Setup, rewrites the RSS indirection table so that
	// ordinary traffic avoids the bound queues (netdev.SetupConfig).
	SteerRSSAway bool
	// SetupFlows, with Setup, are n-tuple rules that steer flows onto the
	// bound queues; a FlowSpec with Queue 0 and only one bound queue is
	// steered to that queue.
	SetupFlows []netdev.FlowSpec

	// Release says when the frags an application releases go back to the
	// kernel in devmem mode (pagepool.ReleasePolicy). The zero value
	// queues them and returns them DefaultReleaseBatch at a time (one full
	// SO_DEVMEM_DONTNEED call), and all of them once the connection's
	// reader has waited ReleaseIdle for data, when a read waits for
	// back-pressure room, and at Close: a busy stream makes the fewest
	// system calls, an idle one holds nothing back. Queued frags count
	// as outstanding (MaxFrags, MaxBytes). BatchFrags 1 returns every
	// Release at once, in its own call(s). Frags released while no read
	// is in progress or waiting stay queued until the next read waits or
	// the connection is closed; after the end of the stream (io.EOF, an
	// error) they go back at once. The copy path always frees at once.
	Release pagepool.ReleasePolicy
	// ReleaseIdle is how long a reader waits for data before the queued
	// releases go back to the kernel, and how long a release made while
	// it waits stays queued at most (0: DefaultReleaseIdle; negative: at
	// once). Unused with BatchFrags 1.
	ReleaseIdle time.Duration
	// MaxFrags and MaxBytes bound the frags and bytes each connection may
	// hold outstanding (received and not released); 0 is no bound. At the
	// bound ReadFrags waits for releases (or fails with
	// pagepool.ErrBackpressure when FailFast is set).
	MaxFrags, MaxBytes uint64
	// ListenerMaxFrags and ListenerMaxBytes bound the same for all
	// connections of the Listener together (pagepool.Limiter), so that
	// they cannot drain the binding's page pool; 0 is no bound.
	ListenerMaxFrags, ListenerMaxBytes uint64
	// FailFast makes ReadFrags return pagepool.ErrBackpressure at a bound
	// instead of waiting.
	FailFast bool

	// Fallback says what to do when devmem cannot be set up: run the copy
	// path (FallbackCopy, the default) or fail (FallbackNone).
	Fallback Fallback

	// Strict makes any payload in host memory an error (ErrHostPayload):
	// SCM_DEVMEM_LINEAR frags and ordinary data, which a devmem socket
	// receives when the NIC does not split a packet or a flow misses the
	// bound queues. In copy mode every read fails, so pair Strict with
	// FallbackNone. The default delivers such bytes as Linear frags.
	Strict bool

	// Control, if not nil, is called after the listening socket is created
	// and before it is bound, as in net.ListenConfig.
	Control func(network, address string, c syscall.RawConn) error
}

// DialConfig configures Dial. nil is the zero value: copy mode unless the
// route's device accepts a TX binding of a udmabuf of DefaultBufferSize.
type DialConfig struct {
	// Interface names the device to send through; Dial binds the socket
	// to it (SO_BINDTODEVICE, which needs CAP_NET_RAW) before connecting.
	// If empty, Dial uses the device of the route the kernel picked for
	// the connection, and binds the socket to it only in devmem mode.
	// A name that names no device fails Dial with an error matching
	// os.ErrNotExist (and ENODEV).
	Interface string

	// Buffer is a dma-buf the caller owns, to send from; see
	// ListenConfig.Buffer. If nil, Dial creates a udmabuf of BufferSize
	// bytes (default DefaultBufferSize), owned by the Conn.
	Buffer syscall.Conn
	// BufferSize is the size of the buffer Dial creates when Buffer is nil.
	// A negative BufferSize fails Dial with an error matching
	// os.ErrInvalid.
	BufferSize int64

	// Fallback says what to do when devmem TX cannot be set up.
	Fallback Fallback

	// Control, if not nil, is called after the socket is created and
	// before it connects, as in net.Dialer.
	Control func(network, address string, c syscall.RawConn) error
}

// Listen announces on the local network address with cfg (nil for the
// defaults). network must be "tcp", "tcp4" or "tcp6". It is
// (*ListenConfig).Listen with context.Background.
func Listen(network, address string, cfg *ListenConfig) (*Listener, error) {
	if cfg == nil {
		cfg = &ListenConfig{}
	}
	return cfg.Listen(context.Background(), network, address)
}
