//go:build linux

package netdev

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// client is the Linux implementation behind Client.
type client struct {
	conn   *genetlink.Conn
	fam    *ndFamily
	closed atomic.Bool

	// dialSide, when set, replaces connInClientNS for the sockets of
	// bindings and subscriptions (tests).
	dialSide func() (*genetlink.Conn, error)
}

// dial opens the client's socket and resolves the family.
func dial() (*client, error) {
	conn, err := dialConn(0)
	if err != nil {
		return nil, err
	}
	c, err := initClient(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// dialConn opens a genetlink socket with extended acks and strict checking
// (the netdev family is far newer than both), in network namespace netns
// (an fd) or, when netns is 0, in the calling thread's.
func dialConn(netns int) (*genetlink.Conn, error) {
	conn, err := genetlink.Dial(&netlink.Config{Strict: true, NetNS: netns})
	if err != nil {
		return nil, wrapError("dial", 0, err)
	}
	return conn, nil
}

// initClient resolves the netdev family on conn. It is the seam the unit
// tests use to run a Client over a fake socket.
func initClient(conn *genetlink.Conn) (*client, error) {
	fam, err := getNetdevFamily(conn)
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, fam: fam}, nil
}

// errNoFamily is returned when the kernel lacks the netdev family.
var errNoFamily = fmt.Errorf("netdev: the kernel has no %q generic netlink family (Linux 6.3+): %w", uapi.NETDEV_FAMILY_NAME, ErrNotSupported)

// getNetdevFamily asks the generic netlink controller about the netdev family.
func getNetdevFamily(conn *genetlink.Conn) (*ndFamily, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, uapi.NETDEV_FAMILY_NAME)
	b, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	msgs, err := conn.Execute(genetlink.Message{
		Header: genetlink.Header{Command: unix.CTRL_CMD_GETFAMILY, Version: 1},
		Data:   b,
	}, unix.GENL_ID_CTRL, netlink.Request)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%w (%w)", errNoFamily, os.ErrNotExist)
		}
		return nil, wrapError("getfamily", 0, err)
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("netdev: getfamily: %d replies, want 1", len(msgs))
	}
	return parseNetdevFamily(msgs[0].Data)
}

func (c *client) close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	return c.conn.Close()
}

func (c *client) supports(cmd Command) bool { return c.fam.supports(cmd) }

// execute is the one path every request takes: it refuses commands the
// kernel lacks, encodes the attributes, checks them against the command's
// field list (the kernel answers a missing attribute with a bare EINVAL),
// sends the request on conn, and wraps any error once as an *Error that
// names the offending attribute when the kernel points at one.
func execute(conn *genetlink.Conn, fam *ndFamily, cmd Command, flags netlink.HeaderFlags, ifindex int, encode func(*netlink.AttributeEncoder)) ([]genetlink.Message, error) {
	op := cmd.String()
	if !fam.supports(cmd) {
		return nil, &Error{Op: op, Ifindex: ifindex, Err: unix.EOPNOTSUPP, Offset: -1,
			Hint: "the running kernel has no netdev " + op + " command" + since(cmd)}
	}
	ae := netlink.NewAttributeEncoder()
	if encode != nil {
		encode(ae)
	}
	b, err := ae.Encode()
	if err != nil {
		return nil, &Error{Op: op, Ifindex: ifindex, Err: unix.EINVAL, Offset: -1, Hint: "encoding the request: " + err.Error()}
	}
	var fs []field
	if flags&netlink.Dump == netlink.Dump {
		fs = requestFields[cmd][1]
	} else {
		fs = requestFields[cmd][0]
	}
	if name, problem := checkRequest(fs, b); problem != "" {
		return nil, &Error{Op: op, Ifindex: ifindex, Err: unix.EINVAL, Offset: -1, Attr: name,
			Hint: "bug in the request: attribute " + name + " " + problem}
	}
	msgs, err := conn.Execute(genetlink.Message{
		Header: genetlink.Header{Command: uint8(cmd), Version: fam.version},
		Data:   b,
	}, fam.id, netlink.Request|flags)
	if err != nil {
		e := wrapError(op, ifindex, err).(*Error)
		if e.Offset >= genlAttrsOff {
			e.Attr = attrNameAt(fs, b, e.Offset-genlAttrsOff)
		}
		if e.Hint == "" {
			e.Hint = genericHint(cmd, e)
		}
		return nil, e
	}
	return msgs, nil
}

// since says which release added cmd.
func since(cmd Command) string {
	switch cmd {
	case CmdPagePoolGet, CmdPagePoolStatsGet:
		return " (Linux 6.8+, CONFIG_PAGE_POOL)"
	case CmdQueueGet, CmdNAPIGet, CmdQStatsGet:
		return " (Linux 6.10+)"
	case CmdBindRX:
		return " (devmem TCP RX needs Linux 6.12+ with CONFIG_NET_DEVMEM)"
	case CmdNAPISet:
		return " (Linux 6.13+)"
	case CmdBindTX:
		return " (devmem TCP TX needs Linux 6.16+)"
	case CmdQueueCreate:
		return " (queue leases need Linux 7.x)"
	}
	return ""
}

// errClosed is returned by the methods of a closed Client.
var errClosed = fmt.Errorf("netdev: client is closed: %w", net.ErrClosed)

// run is execute on the client's own socket.
func (c *client) run(cmd Command, flags netlink.HeaderFlags, ifindex int, encode func(*netlink.AttributeEncoder)) ([]genetlink.Message, error) {
	if c.closed.Load() {
		return nil, errClosed
	}
	return execute(c.conn, c.fam, cmd, flags, ifindex, encode)
}

func (c *client) do(cmd Command, ifindex int, encode func(*netlink.AttributeEncoder)) (genetlink.Message, error) {
	msgs, err := c.run(cmd, 0, ifindex, encode)
	if err != nil {
		return genetlink.Message{}, err
	}
	if len(msgs) != 1 {
		return genetlink.Message{}, &Error{Op: cmd.String(), Ifindex: ifindex, Err: unix.EPROTO, Offset: -1,
			Hint: fmt.Sprintf("kernel sent %d replies, want 1", len(msgs))}
	}
	return msgs[0], nil
}

func (c *client) dump(cmd Command, ifindex int, encode func(*netlink.AttributeEncoder)) ([]genetlink.Message, error) {
	return c.run(cmd, netlink.Dump, ifindex, encode)
}

// parseAll decodes every reply of a dump.
func parseAll[T any](msgs []genetlink.Message, parse func([]byte) (*T, error)) ([]*T, error) {
	out := make([]*T, 0, len(msgs))
	for _, m := range msgs {
		v, err := parse(m.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// badArg builds the client-side error for an argument the kernel would
// refuse.
func badArg(cmd Command, ifindex int, attr, hint string) error {
	return &Error{Op: cmd.String(), Ifindex: ifindex, Err: unix.EINVAL, Offset: -1, Attr: attr, Hint: hint}
}

func checkIfindex(cmd Command, ifindex int, zeroOK bool) error {
	if ifindex < 0 || ifindex > math.MaxInt32 || (ifindex == 0 && !zeroOK) {
		want := "ifindex must be positive"
		if zeroOK {
			want = "ifindex must be positive, or 0 for all devices"
		}
		return badArg(cmd, ifindex, "ifindex", want)
	}
	return nil
}

// putUint encodes a YNL uint attribute the way the kernel's nla_put_uint
// does: 4 bytes when the value fits, else 8.
func putUint(ae *netlink.AttributeEncoder, typ uint16, v uint64) {
	if v <= math.MaxUint32 {
		ae.Uint32(typ, uint32(v))
		return
	}
	ae.Uint64(typ, v)
}

func (c *client) dev(ifindex int) (*Dev, error) {
	if err := checkIfindex(CmdDevGet, ifindex, false); err != nil {
		return nil, err
	}
	m, err := c.do(CmdDevGet, ifindex, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_DEV_IFINDEX, uint32(ifindex))
	})
	if err != nil {
		return nil, err
	}
	return parseDev(m.Data)
}

func (c *client) devs() ([]*Dev, error) {
	msgs, err := c.dump(CmdDevGet, 0, nil)
	if err != nil {
		return nil, err
	}
	return parseAll(msgs, parseDev)
}

func (c *client) queue(ifindex int, id uint32, typ QueueType) (*Queue, error) {
	if err := checkIfindex(CmdQueueGet, ifindex, false); err != nil {
		return nil, err
	}
	if typ != QueueTypeRX && typ != QueueTypeTX {
		return nil, badArg(CmdQueueGet, ifindex, "type", "queue type must be QueueTypeRX or QueueTypeTX")
	}
	m, err := c.do(CmdQueueGet, ifindex, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_QUEUE_IFINDEX, uint32(ifindex))
		ae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uint32(typ))
		ae.Uint32(uapi.NETDEV_A_QUEUE_ID, id)
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(e.Err, unix.EINVAL) && e.Hint == "" {
			e.Hint = "queue " + typ.String() + " " + strconv.FormatUint(uint64(id), 10) + " is not configured on " + ifName(ifindex) + ": list the queues with Queues"
		}
		return nil, err
	}
	return parseQueue(m.Data)
}

func (c *client) queues(ifindex int) ([]*Queue, error) {
	if err := checkIfindex(CmdQueueGet, ifindex, true); err != nil {
		return nil, err
	}
	msgs, err := c.dump(CmdQueueGet, ifindex, func(ae *netlink.AttributeEncoder) {
		if ifindex != 0 {
			ae.Uint32(uapi.NETDEV_A_QUEUE_IFINDEX, uint32(ifindex))
		}
	})
	if err != nil {
		return nil, err
	}
	return parseAll(msgs, parseQueue)
}

func (c *client) napi(id uint32) (*NAPI, error) {
	m, err := c.do(CmdNAPIGet, 0, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_NAPI_ID, id)
	})
	if err != nil {
		return nil, hintNotExist(err, "no NAPI instance "+strconv.FormatUint(uint64(id), 10)+" in this network namespace, or its device is down: list them with NAPIs")
	}
	return parseNAPI(m.Data)
}

func (c *client) napis(ifindex int) ([]*NAPI, error) {
	if err := checkIfindex(CmdNAPIGet, ifindex, true); err != nil {
		return nil, err
	}
	msgs, err := c.dump(CmdNAPIGet, ifindex, func(ae *netlink.AttributeEncoder) {
		if ifindex != 0 {
			ae.Uint32(uapi.NETDEV_A_NAPI_IFINDEX, uint32(ifindex))
		}
	})
	if err != nil {
		return nil, err
	}
	return parseAll(msgs, parseNAPI)
}

func (c *client) setNAPI(id uint32, cfg NAPIConfig) error {
	if v := cfg.DeferHardIRQs; v != nil && *v > math.MaxInt32 {
		return badArg(CmdNAPISet, 0, "defer-hard-irqs", "defer-hard-irqs must be at most math.MaxInt32")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
	}{{"gro-flush-timeout", cfg.GROFlushTimeout}, {"irq-suspend-timeout", cfg.IRQSuspendTimeout}} {
		if d.v != nil && *d.v < 0 {
			return badArg(CmdNAPISet, 0, d.name, d.name+" must not be negative")
		}
	}
	if t := cfg.Threaded; t != nil && *t > NAPIThreadedBusyPoll {
		return badArg(CmdNAPISet, 0, "threaded", "threaded must be disabled, enabled or busy-poll")
	}
	_, err := c.run(CmdNAPISet, netlink.Acknowledge, 0, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_NAPI_ID, id)
		if v := cfg.DeferHardIRQs; v != nil {
			ae.Uint32(uapi.NETDEV_A_NAPI_DEFER_HARD_IRQS, *v)
		}
		if v := cfg.GROFlushTimeout; v != nil {
			putUint(ae, uapi.NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT, uint64(*v))
		}
		if v := cfg.IRQSuspendTimeout; v != nil {
			putUint(ae, uapi.NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT, uint64(*v))
		}
		if v := cfg.Threaded; v != nil {
			ae.Uint32(uapi.NETDEV_A_NAPI_THREADED, uint32(*v))
		}
	})
	return hintNotExist(err, "no NAPI instance "+strconv.FormatUint(uint64(id), 10)+" in this network namespace: list them with NAPIs")
}

// hintNotExist sets hint on an *Error matching os.ErrNotExist that has
// none; it returns err.
func hintNotExist(err error, hint string) error {
	var e *Error
	if errors.As(err, &e) && e.Hint == "" && errors.Is(e, os.ErrNotExist) {
		e.Hint = hint
	}
	return err
}

func checkPoolID(cmd Command, id uint32) error {
	if id == 0 {
		return badArg(cmd, 0, "id", "page pool ids start at 1")
	}
	return nil
}

func (c *client) pagePool(id uint32) (*PagePool, error) {
	if err := checkPoolID(CmdPagePoolGet, id); err != nil {
		return nil, err
	}
	m, err := c.do(CmdPagePoolGet, 0, func(ae *netlink.AttributeEncoder) {
		putUint(ae, uapi.NETDEV_A_PAGE_POOL_ID, uint64(id))
	})
	if err != nil {
		return nil, hintNotExist(err, "no page pool "+strconv.FormatUint(uint64(id), 10)+" in this network namespace: list them with PagePools")
	}
	return parsePagePool(m.Data)
}

func (c *client) pagePools(ifindex int) ([]*PagePool, error) {
	if err := checkIfindex(CmdPagePoolGet, ifindex, true); err != nil {
		return nil, err
	}
	msgs, err := c.dump(CmdPagePoolGet, ifindex, func(ae *netlink.AttributeEncoder) {
		if ifindex != 0 {
			ae.Uint32(uapi.NETDEV_A_PAGE_POOL_IFINDEX, uint32(ifindex))
		}
	})
	if err != nil {
		return nil, err
	}
	return parseAll(msgs, parsePagePool)
}

func (c *client) pagePoolStats(id uint32) (*PagePoolStats, error) {
	if err := checkPoolID(CmdPagePoolStatsGet, id); err != nil {
		return nil, err
	}
	m, err := c.do(CmdPagePoolStatsGet, 0, func(ae *netlink.AttributeEncoder) {
		ae.Nested(uapi.NETDEV_A_PAGE_POOL_STATS_INFO, func(nae *netlink.AttributeEncoder) error {
			putUint(nae, uapi.NETDEV_A_PAGE_POOL_ID, uint64(id))
			return nil
		})
	})
	if err != nil {
		return nil, hintNotExist(err, "no page pool "+strconv.FormatUint(uint64(id), 10)+" in this network namespace: list them with PagePools")
	}
	return parsePagePoolStats(m.Data)
}

func (c *client) pagePoolsStats(ifindex int) ([]*PagePoolStats, error) {
	if err := checkIfindex(CmdPagePoolStatsGet, ifindex, true); err != nil {
		return nil, err
	}
	msgs, err := c.dump(CmdPagePoolStatsGet, ifindex, func(ae *netlink.AttributeEncoder) {
		if ifindex != 0 {
			ae.Nested(uapi.NETDEV_A_PAGE_POOL_STATS_INFO, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(uapi.NETDEV_A_PAGE_POOL_IFINDEX, uint32(ifindex))
				return nil
			})
		}
	})
	if err != nil {
		return nil, err
	}
	return parseAll(msgs, parsePagePoolStats)
}

func (c *client) queueStats(ifindex int, scope QStatsScope) ([]*QueueStats, error) {
	if err := checkIfindex(CmdQStatsGet, ifindex, true); err != nil {
		return nil, err
	}
	if scope != QStatsScopeDevice && scope != QStatsScopeQueue {
		return nil, badArg(CmdQStatsGet, ifindex, "scope", "scope must be QStatsScopeDevice or QStatsScopeQueue")
	}
	msgs, err := c.dump(CmdQStatsGet, ifindex, func(ae *netlink.AttributeEncoder) {
		if ifindex != 0 {
			ae.Uint32(uapi.NETDEV_A_QSTATS_IFINDEX, uint32(ifindex))
		}
		if scope != QStatsScopeDevice {
			putUint(ae, uapi.NETDEV_A_QSTATS_SCOPE, uint64(scope))
		}
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && errors.Is(e, ErrNotSupported) && e.Hint == "" {
			e.Hint = "the driver of " + ifName(ifindex) + " keeps no per-queue statistics"
		}
		return nil, err
	}
	return parseAll(msgs, parseQueueStats)
}

func (c *client) createQueue(ifindex int, lease Lease) (uint32, error) {
	if err := checkIfindex(CmdQueueCreate, ifindex, false); err != nil {
		return 0, err
	}
	if lease.Ifindex <= 0 || lease.Ifindex > math.MaxInt32 {
		return 0, badArg(CmdQueueCreate, ifindex, "lease-ifindex", "the lease needs the physical device's ifindex")
	}
	if lease.Queue.Type != QueueTypeRX {
		return 0, badArg(CmdQueueCreate, ifindex, "queue-type", "only RX queues can be leased")
	}
	m, err := c.do(CmdQueueCreate, ifindex, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_QUEUE_IFINDEX, uint32(ifindex))
		ae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uint32(QueueTypeRX))
		ae.Nested(uapi.NETDEV_A_QUEUE_LEASE, func(lae *netlink.AttributeEncoder) error {
			lae.Uint32(uapi.NETDEV_A_LEASE_IFINDEX, uint32(lease.Ifindex))
			lae.Nested(uapi.NETDEV_A_LEASE_QUEUE, func(qae *netlink.AttributeEncoder) error {
				qae.Uint32(uapi.NETDEV_A_QUEUE_ID, lease.Queue.ID)
				qae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uint32(QueueTypeRX))
				return nil
			})
			if lease.NetNSID >= 0 {
				lae.Int32(uapi.NETDEV_A_LEASE_NETNS_ID, lease.NetNSID)
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return parseID(m.Data, uapi.NETDEV_A_QUEUE_ID, "queue-create reply")
}
