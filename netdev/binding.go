package netdev

import (
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// A Binding is a dma-buf bound to a device for devmem TCP: to RX queues
// ([Client.BindRX]) or for transmit ([Client.BindTX]).
//
// The kernel ties a binding to the netlink socket that created it, so each
// Binding owns its own socket and lives exactly as long as that socket:
// [Binding.Close] closes it, which unbinds. Keep a reference to the Binding
// for as long as the binding is used; if it becomes unreachable, the
// garbage collector closes the socket and the device stops using the
// dma-buf. The socket is close-on-exec, so child processes do not keep the
// binding alive.
//
// Unbinding restarts the bound RX queues with ordinary memory. The kernel
// keeps the dma-buf attached and mapped until every buffer it handed out
// (tokens held by sockets, packets in flight) has come back.
//
// The methods of a Binding are safe for concurrent use.
type Binding struct {
	id      uint32
	ifindex int
	queues  []uint32 // sorted, RX only
	tx      bool

	mu   sync.Mutex
	conn io.Closer // nil after Close
}

// ID returns the binding id the kernel assigned (NETDEV_A_DMABUF_ID). RX
// ids appear in the dmabuf_id of received fragments and in
// [Queue.DMABuf]; TX ids go into the SCM_DEVMEM_DMABUF control message of
// sendmsg. Ids come from one global table and are not reused right away.
func (b *Binding) ID() uint32 { return b.id }

// Ifindex returns the device the dma-buf is bound to.
func (b *Binding) Ifindex() int { return b.ifindex }

// Queues returns a copy of the bound RX queue indexes, sorted and without
// duplicates; nil for a TX binding.
func (b *Binding) Queues() []uint32 { return slices.Clone(b.queues) }

// TX reports whether this is a transmit binding.
func (b *Binding) TX() bool { return b.tx }

// String describes the binding, e.g. "rx binding 3 on ifindex 2 queues [1 2]".
func (b *Binding) String() string {
	var s strings.Builder
	if b.tx {
		s.WriteString("tx binding ")
	} else {
		s.WriteString("rx binding ")
	}
	s.WriteString(strconv.FormatUint(uint64(b.id), 10))
	s.WriteString(" on ifindex ")
	s.WriteString(strconv.Itoa(b.ifindex))
	if !b.tx {
		s.WriteString(" queues [")
		for i, q := range b.queues {
			if i > 0 {
				s.WriteByte(' ')
			}
			s.WriteString(strconv.FormatUint(uint64(q), 10))
		}
		s.WriteByte(']')
	}
	return s.String()
}

// Close unbinds the dma-buf by closing the binding's netlink socket. It is
// idempotent and nil-safe; calls after the first return nil.
func (b *Binding) Close() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close()
	b.conn = nil
	if err != nil {
		return wrapError("unbind", b.ifindex, err)
	}
	return nil
}

// BindRX binds dmabuf to RX queues of device ifindex for devmem TCP
// receive (bind-rx) and returns the binding, which the caller must Close.
//
// dmabuf is anything that yields a dma-buf file descriptor through
// SyscallConn: an *os.File holding a dma-buf works, as do the buffer types
// of this module's dmabuf and udmabuf packages and GPU exporters wrapped in
// an *os.File. BindRX uses the descriptor only during the call; the caller
// keeps ownership and may close it afterwards (the kernel holds its own
// reference to the buffer). queues lists RX queue indexes; duplicates are
// removed, and the order does not matter.
//
// The device must be ready before the call: header split (tcp-data-split)
// enabled, hds-thresh 0, no XDP program, and the queues free of other
// memory providers and AF_XDP sockets. Binding restarts each queue.
//
// BindRX checks its arguments before asking the kernel: an empty queue
// list, a nil or closed dmabuf, or a descriptor that is not a dma-buf give
// an *Error matching unix.EINVAL (and so os.ErrInvalid) or unix.EBADF.
// Kernel refusals come back as an *Error carrying the kernel's message and
// a Hint naming the fix.
// errors.Is(err, ErrNotSupported) is true when the kernel, the driver or
// the device cannot do devmem RX; os.ErrPermission when CAP_NET_ADMIN is
// missing. Requires Linux 6.12.
func (c *Client) BindRX(ifindex int, dmabuf syscall.Conn, queues []uint32) (*Binding, error) {
	return c.c.bindRX(ifindex, dmabuf, queues)
}

// BindTX binds dmabuf to device ifindex for devmem TCP transmit (bind-tx)
// and returns the binding, which the caller must Close. dmabuf is taken as
// for [Client.BindRX]. Its size must be a multiple of the page size.
//
// Errors are reported as for BindRX; errors.Is(err, ErrNotSupported) is
// true when the kernel (before Linux 6.16) or the driver lacks devmem TX.
// In Linux 7.2 bind-tx needs no privilege.
func (c *Client) BindTX(ifindex int, dmabuf syscall.Conn) (*Binding, error) {
	return c.c.bindTX(ifindex, dmabuf)
}

// normalizeQueues returns queues sorted without duplicates.
func normalizeQueues(queues []uint32) []uint32 {
	q := slices.Clone(queues)
	slices.Sort(q)
	return slices.Compact(q)
}
