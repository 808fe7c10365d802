// Package netdev is a client of the Linux kernel's "netdev" generic netlink
// family (https://docs.kernel.org/netlink/specs/netdev.html): device,
// queue, NAPI and page pool introspection, queue statistics,
// notifications, and the bind-rx and bind-tx commands that attach a
// dma-buf to a NIC for device memory TCP
// (https://docs.kernel.org/networking/devmem.html).
//
// The same package also prepares NICs for devmem through ethtool ([Apply],
// [Preflight], [Ethtool]); this part of the documentation covers the
// netdev family.
//
// # Walk-through: list queues, bind, unbind
//
// Open a [Client], find the RX queues of a device, bind a dma-buf to some
// of them, and close the [Binding] to unbind:
//
//	c, err := netdev.Dial()
//	if err != nil {
//		return err // errors.Is(err, netdev.ErrNotSupported) before Linux 6.3
//	}
//	defer c.Close()
//
//	ifi, err := net.InterfaceByName("eth0")
//	if err != nil {
//		return err
//	}
//	queues, err := c.Queues(ifi.Index)
//	if err != nil {
//		return err
//	}
//	for _, q := range queues {
//		fmt.Println(q.Type, q.ID, "napi", q.NAPIID, "binding", q.DMABuf)
//	}
//
//	// buf is a dma-buf: an *os.File from udmabuf, a dma-heap or a GPU.
//	b, err := c.BindRX(ifi.Index, buf, []uint32{14, 15})
//	if err != nil {
//		var e *netdev.Error
//		if errors.As(err, &e) {
//			log.Print(e.Hint) // e.g. "enable header split: ethtool -G eth0 tcp-data-split on"
//		}
//		return err
//	}
//	defer b.Close() // unbinds
//	fmt.Println("binding", b.ID(), "on queues", b.Queues())
//
// Received devmem fragments carry b.ID() as their dma-buf id; for
// transmit, [Client.BindTX] gives the id to put in the SCM_DEVMEM_DMABUF
// control message.
//
// # Bindings and their lifetime
//
// The kernel ties a binding to the netlink socket that created it and has
// no unbind command: closing the socket unbinds. Each [Binding] therefore
// owns its own socket, separate from the Client's, and [Binding.Close]
// is the unbind. A Binding that becomes unreachable is unbound when the
// garbage collector closes its socket, so keep it referenced while the
// NIC may use the dma-buf. The Client can be closed while bindings live.
//
// The dma-buf is passed as a [syscall.Conn] (anything with SyscallConn,
// such as an *os.File); its descriptor is used only for the duration of
// the call, and the caller keeps ownership.
//
// # Errors
//
// Kernel errors come back as [*Error]: the operation, the device, the
// errno (so errors.Is(err, unix.EINVAL) works), the kernel's extended-ack
// message, the name of the attribute the kernel pointed at, and a Hint
// with the fix. errors.Is maps errnos onto portable sentinels:
// os.ErrInvalid (EINVAL), os.ErrNotExist (ENODEV, ENOENT),
// os.ErrPermission (EPERM, EACCES) and [ErrNotSupported] (EOPNOTSUPP and
// the kernel-internal ENOTSUPP). The kernel refuses a request that lacks
// an attribute with a bare EINVAL, so requests are checked before they
// are sent, and bad arguments (no queues, a nil or closed dma-buf) give an
// *Error without a round trip.
//
// # Notifications
//
// [Client.Subscribe] opens a socket that joins the "mgmt" and
// "page-pool" multicast groups and delivers [Event] values: devices and
// page pools added, deleted and changed. There are no notifications for
// bind or unbind; poll [Client.Queues] or [Client.PagePools] instead.
//
// # Namespaces
//
// Device indexes are resolved in the network namespace of the Client's
// socket, which is the namespace of the thread that called [Dial].
// Bindings and subscriptions open their sockets in that same namespace,
// even when called from a thread in another one (entering it needs
// CAP_NET_ADMIN there).
//
// # Concurrency
//
// A Client, a Binding and a Subscription are safe for concurrent use;
// Subscription.Receive calls wait for each other. Every Close is
// idempotent and nil-safe.
//
// # Kernel versions
//
// The family exists since Linux 6.3; page pools since 6.8; queues, NAPI
// and queue statistics since 6.10; bind-rx since 6.12 (CONFIG_NET_DEVMEM);
// napi-set since 6.13; bind-tx since 6.16; queue-create in 7.x. [Dial]
// reads the list of commands the running kernel has, [Client.Supports]
// reports it, and calling a missing command gives an error matching
// [ErrNotSupported] without a request. Whether a driver supports devmem is
// only found by binding: in Linux 7.2 bnxt, gve, mlx5 and fbnic do.
//
// On operating systems other than Linux, Dial returns an error matching
// ErrNotSupported.
package netdev
