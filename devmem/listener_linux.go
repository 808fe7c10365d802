package devmem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/mdlayher/socket"
	"golang.org/x/sys/unix"
)

// copyChunk is the size of the pieces of the buffer each connection
// receives into in copy mode (at most a quarter of the buffer).
const copyChunk = 1 << 20

// rxShared is what a Listener shares with its connections: the buffer, the
// binding's identity, the limiter and, in copy mode, the copy pool. The
// Listener and every open connection hold a reference; the last one frees
// the buffer.
type rxShared struct {
	mode      Mode
	reason    error
	buf       *buffer
	ifindex   int
	bindingID uint32
	queues    []uint32
	limiter   *pagepool.Limiter // ListenerMaxFrags/Bytes
	pool      *copyPool         // copy mode
	cfg       ListenConfig
	refs      atomic.Int64
}

func (s *rxShared) acquire() { s.refs.Add(1) }

func (s *rxShared) release() {
	if s.refs.Add(-1) == 0 {
		_ = s.buf.close()
	}
}

type listener struct {
	sock *socket.Conn
	addr *net.TCPAddr
	sh   *rxShared

	nl   *netdev.Client // devmem mode, for Stats
	bind *netdev.Binding
	undo *netdev.Undo

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	conns    map[*conn]struct{}
	accepted uint64
	gone     ConnStats // sums of the closed connections
}

func (lc *ListenConfig) listen(ctx context.Context, network, address string) (*listener, error) {
	if lc == nil {
		lc = &ListenConfig{}
	}
	if lc.BufferSize < 0 {
		return nil, opError(opListen, nil, nil, fmt.Errorf("devmem: negative BufferSize %d: %w", lc.BufferSize, os.ErrInvalid))
	}
	la, err := resolveAddr(ctx, network, address, true)
	if err != nil {
		return nil, opError(opListen, nil, nil, err)
	}
	sock, err := newSocket(network, address, &la, lc.Control)
	if err != nil {
		return nil, opError(opListen, la.tcp(), nil, err)
	}
	l := &listener{sock: sock, conns: make(map[*conn]struct{})}
	err = func() error {
		if err := sock.SetsockoptInt(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
		if err := sock.Bind(la.sockaddr()); err != nil {
			return err
		}
		if err := sock.Listen(unix.SOMAXCONN); err != nil {
			return err
		}
		sa, err := sock.Getsockname()
		if err != nil {
			return err
		}
		l.addr = sockaddrTCP(sa)
		return nil
	}()
	if err != nil {
		_ = sock.Close()
		return nil, opError(opListen, la.tcp(), nil, err)
	}
	if err := l.setup(ctx, lc); err != nil {
		_ = sock.Close()
		return nil, opError(opListen, l.addr, nil, err)
	}
	return l, nil
}

// setup tries devmem RX and falls back to the copy path as lc allows.
func (l *listener) setup(ctx context.Context, lc *ListenConfig) error {
	sh := &rxShared{cfg: *lc}
	sh.cfg.Queues = slices.Clone(lc.Queues)
	sh.cfg.SetupFlows = slices.Clone(lc.SetupFlows)
	size := uint64(lc.BufferSize)
	if size == 0 {
		size = DefaultBufferSize
	}

	var buf *buffer
	if lc.Interface != "" {
		// A name that names no device is the reason, whatever else
		// is missing too.
		if _, err := interfaceIndex(lc.Interface); err != nil {
			sh.reason = err
		}
	}
	if lc.Buffer != nil {
		b, err := dupBuffer(lc.Buffer)
		if err != nil {
			return err
		}
		buf = b
	} else if sh.reason == nil {
		// Else no devmem RX: the copy path makes its own buffer.
		if b, err := newUdmabuf(size); err != nil {
			sh.reason = err
		} else {
			buf = b
		}
	}
	if sh.reason == nil {
		sh.reason = l.bindRX(ctx, sh, buf, l.addr)
	}
	if sh.reason == nil {
		sh.mode = ModeDevmem
		sh.buf = buf
		// Read and WriteTo need a mapping; ReadFrags does not.
		_ = buf.mmap()
		sh.limiter = pagepool.NewLimiter(lc.ListenerMaxFrags, lc.ListenerMaxBytes)
		sh.acquire()
		l.sh = sh
		return nil
	}
	if lc.Fallback == FallbackNone {
		_ = buf.close()
		return fmt.Errorf("devmem: devmem RX unavailable and Fallback is FallbackNone: %w", sh.reason)
	}

	// Copy mode: receive into the same buffer if it can be mapped
	// writable, else into a memfd of its size.
	sh.mode = ModeCopy
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
	pool, err := newCopyPool(buf.size, min(copyChunk, buf.size/4))
	if err != nil {
		_ = buf.close()
		return err
	}
	sh.buf, sh.pool = buf, pool
	sh.limiter = pagepool.NewLimiter(lc.ListenerMaxFrags, lc.ListenerMaxBytes)
	sh.acquire()
	l.sh = sh
	return nil
}

// errNoInterface is the fallback reason when no device is known.
var errNoInterface = errors.New("devmem: no device to bind: set ListenConfig.Interface (or listen on an address of the device)")

// bindRX binds buf to the device's RX queues; on failure it undoes what it
// did and returns the reason.
func (l *listener) bindRX(ctx context.Context, sh *rxShared, buf *buffer, addr *net.TCPAddr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ifi, err := findInterface(sh.cfg.Interface, addr.IP)
	if err != nil {
		return err
	}
	nl, err := netdev.Dial()
	if err != nil {
		return err
	}
	// A queue listed twice is bound once (as netdev's BindRX does), and
	// set up once.
	queues := slices.Compact(slices.Sorted(slices.Values(sh.cfg.Queues)))
	if len(queues) == 0 {
		q, err := chooseQueue(nl, ifi)
		if err != nil {
			_ = nl.Close()
			return err
		}
		queues = []uint32{q}
	}
	var undo *netdev.Undo
	if sh.cfg.Setup {
		flows := sh.cfg.SetupFlows
		for i := range flows {
			if !slices.Contains(queues, flows[i].Queue) {
				flows[i].Queue = queues[0]
			}
		}
		undo, err = netdev.Apply(netdev.SetupConfig{Ifindex: ifi, Queues: queues, Flows: flows, SteerRSSAway: sh.cfg.SteerRSSAway})
		if err != nil {
			_ = nl.Close()
			return err
		}
	}
	b, err := nl.BindRX(ifi, buf, queues)
	if err != nil {
		_ = nl.Close()
		return errors.Join(err, undo.Restore())
	}
	sh.ifindex, sh.bindingID, sh.queues = ifi, b.ID(), b.Queues()
	l.nl, l.bind, l.undo = nl, b, undo
	return nil
}

// noInterfaceError is the error for a device name that names no network
// device. It matches os.ErrNotExist and wraps the system's error (ENODEV).
type noInterfaceError struct {
	name string
	err  error
}

func (e *noInterfaceError) Error() string {
	return fmt.Sprintf("devmem: no network interface %q in this network namespace (list them with ip link): %v", e.name, e.err)
}

func (e *noInterfaceError) Unwrap() []error { return []error{e.err, os.ErrNotExist} }

// interfaceIndex returns the index of the network device named name
// (SIOCGIFINDEX). A name that names no device gives a *noInterfaceError.
func interfaceIndex(name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		// Too long for a device name (IFNAMSIZ): no device has it.
		return 0, &noInterfaceError{name: name, err: fmt.Errorf("name longer than %d bytes: %w", unix.IFNAMSIZ-1, unix.ENODEV)}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("devmem: interface %q: %w", name, os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		err = os.NewSyscallError("ioctl SIOCGIFINDEX", err)
		if errors.Is(err, unix.ENODEV) {
			return 0, &noInterfaceError{name: name, err: err}
		}
		return 0, fmt.Errorf("devmem: interface %q: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// findInterface returns the index of the named device, or of the device
// that owns ip.
func findInterface(name string, ip net.IP) (int, error) {
	if name != "" {
		return interfaceIndex(name)
	}
	if ip == nil || ip.IsUnspecified() {
		return 0, errNoInterface
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return 0, fmt.Errorf("devmem: list interfaces: %w", err)
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return ifi.Index, nil
			}
		}
	}
	return 0, fmt.Errorf("%w (no device has address %v)", errNoInterface, ip)
}

// chooseQueue picks the highest-numbered RX queue of the device that no
// memory provider or AF_XDP socket uses.
func chooseQueue(nl *netdev.Client, ifindex int) (uint32, error) {
	qs, err := nl.Queues(ifindex)
	if err != nil {
		return 0, fmt.Errorf("devmem: choosing an RX queue: %w", err)
	}
	best, found := uint32(0), false
	for _, q := range qs {
		if q.Type != netdev.QueueTypeRX || q.DMABuf != 0 || q.IOURing != nil || q.XSK || q.Lease != nil {
			continue
		}
		if !found || q.ID > best {
			best, found = q.ID, true
		}
	}
	if !found {
		return 0, fmt.Errorf("devmem: ifindex %d has no free RX queue (is it up?); set ListenConfig.Queues", ifindex)
	}
	return best, nil
}

func (l *listener) accept(ctx context.Context) (*Conn, error) {
	if l == nil {
		return nil, opError(opAccept, nil, nil, syscall.EINVAL)
	}
	ns, sa, err := l.sock.Accept(ctx, 0)
	if err != nil {
		return nil, opError(opAccept, l.addr, nil, err)
	}
	c, err := newRXConn(ns, sockaddrTCP(sa), l)
	if err != nil {
		_ = ns.Close()
		return nil, opError(opAccept, l.addr, nil, err)
	}
	return &Conn{c: c}, nil
}

// register adds c to the open connections; it fails once the buffer is gone.
func (l *listener) register(c *conn) {
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.accepted++
	l.mu.Unlock()
}

// unregister removes a closed connection, keeping its counters.
func (l *listener) unregister(c *conn, st *ConnStats) {
	l.mu.Lock()
	delete(l.conns, c)
	st.OutstandingFrags, st.OutstandingBytes = 0, 0
	st.Ledger.OutstandingFrags, st.Ledger.OutstandingBytes = 0, 0
	st.Ledger.HeldFrags, st.Ledger.PendingFrags, st.Ledger.PendingBytes = 0, 0, 0
	l.gone.add(st)
	l.mu.Unlock()
}

func (l *listener) close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		err := l.sock.Close()
		// Unbind before undoing the setup: the kernel refuses to turn
		// header split off while a binding holds a queue.
		err = errors.Join(err, l.bind.Close())
		err = errors.Join(err, l.undo.Restore())
		err = errors.Join(err, l.nl.Close())
		l.sh.release()
		l.closeErr = opError(opClose, l.addr, nil, err)
	})
	return l.closeErr
}

func (l *listener) address() net.Addr { return l.addr }
func (l *listener) modeOf() Mode      { return l.sh.mode }
func (l *listener) reasonOf() error   { return l.sh.reason }

func (l *listener) stats() ListenerStats {
	sh := l.sh
	st := ListenerStats{
		Mode: sh.mode, Reason: sh.reason, Ifindex: sh.ifindex, BindingID: sh.bindingID,
		Queues: slices.Clone(sh.queues), BufferSize: sh.buf.size, BufferKind: sh.buf.kind,
	}
	l.mu.Lock()
	st.Accepted = l.accepted
	st.Open = len(l.conns)
	st.Conns = l.gone
	open := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		cs := c.stats()
		st.Conns.add(&cs)
	}
	if sh.limiter != nil {
		st.LimitedFrags, st.LimitedBytes = sh.limiter.Outstanding()
	}
	if sh.pool != nil {
		as := sh.pool.alloc.Stats()
		st.Copy = &as
	}
	if sh.mode == ModeDevmem && l.nl != nil {
		st.PagePools, st.QueueStates, st.NetdevErr = l.netdevState()
	}
	return st
}

// netdevState asks the kernel for the binding's page pools and queues.
func (l *listener) netdevState() ([]netdev.PagePool, []netdev.Queue, error) {
	sh := l.sh
	pools, err := l.nl.PagePools(sh.ifindex)
	var pp []netdev.PagePool
	for _, p := range pools {
		if p.DMABuf == sh.bindingID {
			pp = append(pp, *p)
		}
	}
	var qs []netdev.Queue
	for _, id := range sh.queues {
		q, qerr := l.nl.Queue(sh.ifindex, id, netdev.QueueTypeRX)
		if qerr != nil {
			err = errors.Join(err, qerr)
			continue
		}
		qs = append(qs, *q)
	}
	return pp, qs, err
}

// addr is a resolved TCP address and the socket family to use for it.
type addr struct {
	family int
	ap     netip.AddrPort
	v6only bool
}

func (a addr) tcp() *net.TCPAddr { return net.TCPAddrFromAddrPort(a.ap) }

func (a addr) sockaddr() unix.Sockaddr {
	if a.family == unix.AF_INET {
		return &unix.SockaddrInet4{Port: int(a.ap.Port()), Addr: a.ap.Addr().Unmap().As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(a.ap.Port()), Addr: a.ap.Addr().As16()}
	if z := a.ap.Addr().Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.Atoi(z); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	return sa
}

// resolveAddr resolves address for network ("tcp", "tcp4", "tcp6"). An
// empty host is the unspecified address (listen only); for "tcp" it is
// dual-stack IPv6.
func resolveAddr(ctx context.Context, network, address string, listen bool) (addr, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return addr{}, net.UnknownNetworkError(network)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return addr{}, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "tcp", portStr)
	if err != nil {
		return addr{}, err
	}
	var ip netip.Addr
	switch {
	case host == "" && listen:
		if network == "tcp4" {
			return addr{family: unix.AF_INET, ap: netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port))}, nil
		}
		return addr{family: unix.AF_INET6, ap: netip.AddrPortFrom(netip.IPv6Unspecified(), uint16(port)), v6only: network == "tcp6"}, nil
	case host == "":
		return addr{}, fmt.Errorf("devmem: no host in address %q: %w", address, os.ErrInvalid)
	default:
		if ip, err = netip.ParseAddr(host); err != nil {
			want := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
			ips, lerr := net.DefaultResolver.LookupNetIP(ctx, want, host)
			if lerr != nil {
				return addr{}, lerr
			}
			if len(ips) == 0 {
				return addr{}, fmt.Errorf("devmem: no address for host %q", host)
			}
			ip = ips[0]
		}
	}
	ip = ip.Unmap()
	if ip.Is4() {
		if network == "tcp6" {
			return addr{}, fmt.Errorf("devmem: IPv4 address %v on network tcp6: %w", ip, os.ErrInvalid)
		}
		return addr{family: unix.AF_INET, ap: netip.AddrPortFrom(ip, uint16(port))}, nil
	}
	if network == "tcp4" {
		return addr{}, fmt.Errorf("devmem: IPv6 address %v on network tcp4: %w", ip, os.ErrInvalid)
	}
	return addr{family: unix.AF_INET6, ap: netip.AddrPortFrom(ip, uint16(port)), v6only: network == "tcp6"}, nil
}

// newSocket creates a non-blocking TCP socket for a; an AF_INET6 socket
// for "tcp" is dual-stack, and falls back to AF_INET where the host has no
// IPv6.
func newSocket(network, address string, a *addr, control func(string, string, syscall.RawConn) error) (*socket.Conn, error) {
	sock, err := socket.Socket(a.family, unix.SOCK_STREAM, 0, "devmem-tcp", nil)
	if err != nil && a.family == unix.AF_INET6 && !a.v6only && a.ap.Addr().IsUnspecified() && errors.Is(err, unix.EAFNOSUPPORT) {
		a.family = unix.AF_INET
		a.ap = netip.AddrPortFrom(netip.IPv4Unspecified(), a.ap.Port())
		sock, err = socket.Socket(unix.AF_INET, unix.SOCK_STREAM, 0, "devmem-tcp", nil)
	}
	if err != nil {
		return nil, err
	}
	if a.family == unix.AF_INET6 {
		v6only := 0
		if a.v6only {
			v6only = 1
		}
		if err := sock.SetsockoptInt(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			_ = sock.Close()
			return nil, err
		}
	}
	if control != nil {
		rc, err := sock.SyscallConn()
		if err == nil {
			err = control(network, address, rc)
		}
		if err != nil {
			_ = sock.Close()
			return nil, err
		}
	}
	return sock, nil
}

// sockaddrTCP converts a socket address to a *net.TCPAddr (nil for others).
func sockaddrTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		a := &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			} else {
				a.Zone = strconv.Itoa(int(sa.ZoneId))
			}
		}
		return a
	}
	return nil
}
