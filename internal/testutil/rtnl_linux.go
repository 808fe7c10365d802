package testutil

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// RTNL is a minimal rtnetlink client bound to one network namespace, with
// the link and address setup tests need. Errors carry the kernel's extended
// ack message where it sends one. An RTNL is not safe for concurrent use.
type RTNL struct {
	c *netlink.Conn
}

// DialRTNL connects to rtnetlink in ns, or in the process's own namespace
// when ns is nil. The caller must Close it.
func DialRTNL(ns *NetNS) (*RTNL, error) {
	cfg := &netlink.Config{Strict: true}
	if ns != nil {
		cfg.NetNS = ns.FD()
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, cfg)
	if err != nil {
		return nil, fmt.Errorf("testutil: dialing rtnetlink: %w", err)
	}
	return &RTNL{c: c}, nil
}

// NewRTNL is DialRTNL for a test: it fails t on error and closes the
// connection in t's cleanup.
func NewRTNL(t testing.TB, ns *NetNS) *RTNL {
	t.Helper()
	r, err := DialRTNL(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Close closes the connection. It is idempotent.
func (r *RTNL) Close() error {
	if r == nil || r.c == nil {
		return nil
	}
	err := r.c.Close()
	r.c = nil
	return err
}

// ifinfomsg encodes struct ifinfomsg.
func ifinfomsg(family uint8, index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = family
	binary.NativeEndian.PutUint32(b[4:8], uint32(index))
	binary.NativeEndian.PutUint32(b[8:12], flags)
	binary.NativeEndian.PutUint32(b[12:16], change)
	return b
}

func (r *RTNL) execute(what string, typ netlink.HeaderType, flags netlink.HeaderFlags, data []byte) ([]netlink.Message, error) {
	msgs, err := r.c.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | flags},
		Data:   data,
	})
	if err != nil {
		return nil, fmt.Errorf("testutil: %s: %w", what, err)
	}
	return msgs, nil
}

func encodeAttrs(what string, base []byte, f func(ae *netlink.AttributeEncoder)) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	f(ae)
	b, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("testutil: %s: %w", what, err)
	}
	return append(base, b...), nil
}

// LinkIndex returns the ifindex of the link called name.
func (r *RTNL) LinkIndex(name string) (int, error) {
	what := fmt.Sprintf("looking up link %q", name)
	data, err := encodeAttrs(what, ifinfomsg(unix.AF_UNSPEC, 0, 0, 0), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, name)
	})
	if err != nil {
		return 0, err
	}
	msgs, err := r.execute(what, unix.RTM_GETLINK, 0, data)
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 || len(msgs[0].Data) < unix.SizeofIfInfomsg {
		return 0, fmt.Errorf("testutil: %s: unexpected reply (%d messages)", what, len(msgs))
	}
	return int(int32(binary.NativeEndian.Uint32(msgs[0].Data[4:8]))), nil
}

// SetUp brings the link up.
func (r *RTNL) SetUp(ifindex int) error {
	_, err := r.execute(fmt.Sprintf("bringing link %d up", ifindex), unix.RTM_NEWLINK, netlink.Acknowledge,
		ifinfomsg(unix.AF_UNSPEC, int32(ifindex), unix.IFF_UP, unix.IFF_UP))
	return err
}

// AddAddr adds the address p (address and prefix length) to the link. IPv6
// addresses skip duplicate address detection (IFA_F_NODAD), so they are
// usable at once.
func (r *RTNL) AddAddr(ifindex int, p netip.Prefix) error {
	what := fmt.Sprintf("adding %v to link %d", p, ifindex)
	if !p.IsValid() {
		return fmt.Errorf("testutil: %s: invalid prefix", what)
	}
	a := p.Addr().Unmap()
	family, flags := uint8(unix.AF_INET), uint32(0)
	if a.Is6() {
		family, flags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	msg := make([]byte, unix.SizeofIfAddrmsg)
	msg[0] = family
	msg[1] = uint8(p.Bits())
	msg[2] = uint8(flags)
	msg[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(msg[4:8], uint32(ifindex))
	data, err := encodeAttrs(what, msg, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(unix.IFA_LOCAL, a.AsSlice())
		ae.Bytes(unix.IFA_ADDRESS, a.AsSlice())
		if flags != 0 {
			ae.Uint32(unix.IFA_FLAGS, flags)
		}
	})
	if err != nil {
		return err
	}
	_, err = r.execute(what, unix.RTM_NEWADDR, netlink.Acknowledge|netlink.Create|netlink.Excl, data)
	return err
}

// AddVeth creates the veth pair name <-> peer in r's namespace; the peer
// end goes to peerNS when it is not nil. Both ends start down.
func (r *RTNL) AddVeth(name, peer string, peerNS *NetNS) error {
	what := fmt.Sprintf("creating veth pair %s/%s", name, peer)
	peerData, err := encodeAttrs(what, ifinfomsg(unix.AF_UNSPEC, 0, 0, 0), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, peer)
		if peerNS != nil {
			ae.Uint32(unix.IFLA_NET_NS_FD, uint32(peerNS.FD()))
		}
	})
	if err != nil {
		return err
	}
	data, err := encodeAttrs(what, ifinfomsg(unix.AF_UNSPEC, 0, 0, 0), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, name)
		ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
			nae.String(unix.IFLA_INFO_KIND, "veth")
			nae.Nested(unix.IFLA_INFO_DATA, func(dae *netlink.AttributeEncoder) error {
				dae.Bytes(uapi.VETH_INFO_PEER, peerData)
				return nil
			})
			return nil
		})
	})
	if err != nil {
		return err
	}
	_, err = r.execute(what, unix.RTM_NEWLINK, netlink.Acknowledge|netlink.Create|netlink.Excl, data)
	return err
}

// MoveLink moves the link to the namespace to. Its ifindex there may differ;
// look it up by name (the name stays).
func (r *RTNL) MoveLink(ifindex int, to *NetNS) error {
	what := fmt.Sprintf("moving link %d to another namespace", ifindex)
	data, err := encodeAttrs(what, ifinfomsg(unix.AF_UNSPEC, int32(ifindex), 0, 0), func(ae *netlink.AttributeEncoder) {
		ae.Uint32(unix.IFLA_NET_NS_FD, uint32(to.FD()))
	})
	if err != nil {
		return err
	}
	_, err = r.execute(what, unix.RTM_NEWLINK, netlink.Acknowledge, data)
	return err
}

// DelLink deletes the link (for a veth, both ends).
func (r *RTNL) DelLink(ifindex int) error {
	_, err := r.execute(fmt.Sprintf("deleting link %d", ifindex), unix.RTM_DELLINK, netlink.Acknowledge,
		ifinfomsg(unix.AF_UNSPEC, int32(ifindex), 0, 0))
	return err
}
