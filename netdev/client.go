package netdev

// A Client talks to the kernel's netdev generic netlink family.
//
// A Client is safe for concurrent use by multiple goroutines; requests are
// serialised on its one netlink socket. It must be closed with
// [Client.Close] when no longer needed. Device indexes (ifindex) are
// resolved in the network namespace of the thread that called [Dial].
type Client struct {
	c *client // the operating system-specific client
}

// Dial opens a netlink socket with extended acknowledgements and strict
// checking turned on, and resolves the netdev family once: its id, its
// multicast groups and the list of commands the running kernel has.
//
// If the kernel lacks the family (before Linux 6.3), the error matches both
// os.ErrNotExist and ErrNotSupported. On other operating systems Dial
// returns an error matching ErrNotSupported.
func Dial() (*Client, error) {
	c, err := dial()
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// Close closes the client's netlink socket. It does not affect the
// [Binding] and [Subscription] values the client created: each owns its
// own socket. Close is idempotent and nil-safe.
func (c *Client) Close() error {
	if c == nil || c.c == nil {
		return nil
	}
	return c.c.close()
}

// Supports reports whether the running kernel has command cmd, e.g.
// Supports(CmdBindTX) is true on Linux 6.16 and later. The answer comes from
// the family's operation list read by [Dial]; notifications (the *Ntf
// commands) are never listed.
func (c *Client) Supports(cmd Command) bool { return c.c.supports(cmd) }

// HasBindRX reports whether the kernel has bind-rx (devmem TCP receive,
// Linux 6.12+). Whether a device supports it is only found by trying.
func (c *Client) HasBindRX() bool { return c.Supports(CmdBindRX) }

// HasBindTX reports whether the kernel has bind-tx (devmem TCP transmit,
// Linux 6.16+).
func (c *Client) HasBindTX() bool { return c.Supports(CmdBindTX) }

// Dev returns the device with index ifindex. If there is none, the error
// matches os.ErrNotExist.
func (c *Client) Dev(ifindex int) (*Dev, error) { return c.c.dev(ifindex) }

// Devs returns every device of the client's network namespace.
func (c *Client) Devs() ([]*Dev, error) { return c.c.devs() }

// Queue returns queue id of direction typ on device ifindex. The kernel
// reports only configured queues of devices that are up: a queue index
// beyond the configured count gives an error matching unix.EINVAL and
// os.ErrInvalid, a device that is down one matching os.ErrNotExist
// (ENOENT). Requires Linux 6.10.
func (c *Client) Queue(ifindex int, id uint32, typ QueueType) (*Queue, error) {
	return c.c.queue(ifindex, id, typ)
}

// Queues returns the configured queues of device ifindex, RX queues first,
// or of every device that is up when ifindex is 0. A device that is down
// has no queues in the answer. Requires Linux 6.10.
func (c *Client) Queues(ifindex int) ([]*Queue, error) { return c.c.queues(ifindex) }

// NAPI returns NAPI instance id. If there is none (or its device is down),
// the error matches os.ErrNotExist. Requires Linux 6.10.
func (c *Client) NAPI(id uint32) (*NAPI, error) { return c.c.napi(id) }

// NAPIs returns the NAPI instances of device ifindex, or of every device
// when ifindex is 0. Devices that are down have none. Requires Linux 6.10.
func (c *Client) NAPIs(ifindex int) ([]*NAPI, error) { return c.c.napis(ifindex) }

// SetNAPI changes the settings of NAPI instance id that cfg sets (non-nil
// fields). It needs CAP_NET_ADMIN (else the error matches
// os.ErrPermission) and Linux 6.13 (else ErrNotSupported).
func (c *Client) SetNAPI(id uint32, cfg NAPIConfig) error { return c.c.setNAPI(id, cfg) }

// PagePool returns page pool id. If there is none in the client's network
// namespace, the error matches os.ErrNotExist. Requires Linux 6.8 and a
// kernel with CONFIG_PAGE_POOL.
func (c *Client) PagePool(id uint32) (*PagePool, error) { return c.c.pagePool(id) }

// PagePools returns the page pools of device ifindex, or all page pools of
// the network namespace when ifindex is 0. Requires Linux 6.8.
func (c *Client) PagePools(ifindex int) ([]*PagePool, error) { return c.c.pagePools(ifindex) }

// PagePoolStats returns the counters of page pool id. Requires Linux 6.8
// and a kernel with CONFIG_PAGE_POOL_STATS (else ErrNotSupported).
func (c *Client) PagePoolStats(id uint32) (*PagePoolStats, error) { return c.c.pagePoolStats(id) }

// PagePoolsStats returns the counters of the page pools of device ifindex,
// or of all page pools when ifindex is 0.
func (c *Client) PagePoolsStats(ifindex int) ([]*PagePoolStats, error) {
	return c.c.pagePoolsStats(ifindex)
}

// QueueStats dumps the queue statistics (qstats-get) of device ifindex, or
// of every device when ifindex is 0, summed per device or per queue
// depending on scope. Devices whose driver keeps no such counters are left
// out of a full dump; asking for one of them by ifindex gives an error
// matching ErrNotSupported. Requires Linux 6.10.
func (c *Client) QueueStats(ifindex int, scope QStatsScope) ([]*QueueStats, error) {
	return c.c.queueStats(ifindex, scope)
}

// CreateQueue creates a new RX queue on virtual device ifindex (netkit)
// that leases physical RX queue lease.Queue of device lease.Ifindex, and
// returns the new queue's index. Set lease.NetNSID to the peer namespace id
// of the physical device, or to -1 if it is in the client's namespace.
// Needs CAP_NET_ADMIN and Linux 7.x (queue-create).
func (c *Client) CreateQueue(ifindex int, lease Lease) (uint32, error) {
	return c.c.createQueue(ifindex, lease)
}
