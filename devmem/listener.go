package devmem

import (
	"context"
	"net"
)

// Listener is a TCP listener whose connections receive into one buffer: a
// dma-buf bound to RX queues of a NIC (devmem mode), or, when that cannot be
// set up and the fallback allows it, the same buffer or a memfd filled by
// ordinary receives (copy mode). Mode and Reason say which and why.
//
// The Listener owns the socket, the binding, the NIC-setup undo, the
// buffer when it created it, and the ledgers of the accepted connections
// until they close. Close must be called. A Listener is safe for concurrent
// use.
type Listener struct {
	l *listener
}

var _ net.Listener = (*Listener)(nil)

// Listen announces on the local network address: "tcp" (dual-stack IPv6
// with v4-mapped addresses, or IPv4 where the host has no IPv6), "tcp4" or
// "tcp6". ctx bounds the setup (resolving the address and talking to the
// NIC), not the Listener's life. Requires Linux 6.12 for devmem RX; the
// copy path runs on any Linux.
func (lc *ListenConfig) Listen(ctx context.Context, network, address string) (*Listener, error) {
	l, err := lc.listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &Listener{l: l}, nil
}

// Accept waits for and returns the next connection, a *Conn. It implements
// net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.l.accept(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptDevmem is Accept returning the concrete *Conn.
func (l *Listener) AcceptDevmem() (*Conn, error) { return l.l.accept(context.Background()) }

// AcceptContext is AcceptDevmem, also returning when ctx is done.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) { return l.l.accept(ctx) }

// Addr returns the listener's network address, a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.l.address() }

// Close stops listening: Accept calls in progress return net.ErrClosed. It
// unbinds the buffer (connections still open then receive ordinary data,
// delivered as Linear frags or refused in strict mode), undoes the NIC
// setup, and frees the buffer once the last connection is closed.
// Connections already accepted stay open. Close is idempotent.
func (l *Listener) Close() error { return l.l.close() }

// Mode reports whether the Listener runs devmem or the copy path.
func (l *Listener) Mode() Mode { return l.l.modeOf() }

// Reason returns why the Listener runs in copy mode (for example a
// *netdev.Error with a hint, or the error of opening /dev/udmabuf); nil in
// devmem mode.
func (l *Listener) Reason() error { return l.l.reasonOf() }

// Stats returns a snapshot of the Listener and the sums of its
// connections' counters. In devmem mode it asks the kernel for the page
// pools and queues of the binding.
func (l *Listener) Stats() ListenerStats { return l.l.stats() }
