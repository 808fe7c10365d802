//go:build linux

package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// linuxNIC is the nic of Preflight, Apply and Undo: the ethtool client plus
// rtnetlink (link name, XDP) and the netdev family's queue-get.
type linuxNIC struct {
	*ethtoolClient
}

func openNIC() (nic, error) {
	e, err := newEthtoolClient()
	if err != nil {
		return nil, err
	}
	return linuxNIC{e}, nil
}

// link asks rtnetlink (RTM_GETLINK) for the device's name and XDP state.
func (l linuxNIC) link(ifindex int) (setupLink, error) {
	if ifindex <= 0 {
		return setupLink{}, errBadIfindex("getlink", ifindex)
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{Strict: true})
	if err != nil {
		return setupLink{}, wrapError("getlink", ifindex, err)
	}
	defer c.Close()
	req := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(req[4:], uint32(ifindex)) // ifi_index
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
		Data:   req,
	})
	if err != nil {
		err = wrapError("getlink", ifindex, err)
		if errors.Is(err, os.ErrNotExist) {
			err = setHint(err, "no device with this ifindex in the caller's network namespace (ip link show)")
		}
		return setupLink{}, err
	}
	if len(msgs) != 1 {
		return setupLink{}, fmt.Errorf("netdev: getlink ifindex %d: %d replies, want 1", ifindex, len(msgs))
	}
	ls, err := parseSetupLink(msgs[0].Data)
	if err != nil {
		return setupLink{}, fmt.Errorf("netdev: getlink ifindex %d: %w", ifindex, err)
	}
	return ls, nil
}

// parseSetupLink decodes an RTM_NEWLINK message body: struct ifinfomsg, then
// IFLA_* attributes.
func parseSetupLink(b []byte) (setupLink, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return setupLink{}, fmt.Errorf("link message of %d bytes is shorter than ifinfomsg", len(b))
	}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return setupLink{}, err
	}
	var ls setupLink
	for ad.Next() {
		switch ad.Type() {
		case unix.IFLA_IFNAME:
			ls.name = ad.String()
		case unix.IFLA_XDP:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == unix.IFLA_XDP_ATTACHED {
						ls.xdp = nad.Uint8()
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return setupLink{}, err
	}
	return ls, nil
}

// netdevFamily resolves the netdev family once.
func (e *ethtoolClient) netdevFamily() (genlOps, error) {
	e.netdevOnce.Do(func() {
		e.netdev, e.netdevErr = resolveGenlOps(e.c, uapi.NETDEV_FAMILY_NAME)
		if e.netdevErr != nil && errors.Is(e.netdevErr, os.ErrNotExist) {
			e.netdevErr = fmt.Errorf("netdev: the kernel has no netdev netlink family (Linux 6.3+): %w", ErrNotSupported)
		}
	})
	return e.netdev, e.netdevErr
}

// rxQueues lists the device's RX queues with their memory providers
// (netdev queue-get dump filtered by ifindex; Linux 6.10+).
func (e *ethtoolClient) rxQueues(ifindex int) ([]setupQueue, error) {
	fam, err := e.netdevFamily()
	if err != nil {
		return nil, err
	}
	if !fam.has(uapi.NETDEV_CMD_QUEUE_GET) {
		return nil, fmt.Errorf("netdev: the kernel's netdev family has no queue-get (Linux 6.10+): %w", ErrNotSupported)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(uapi.NETDEV_A_QUEUE_IFINDEX, uint32(ifindex))
	b, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	msgs, err := e.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: uapi.NETDEV_CMD_QUEUE_GET, Version: fam.version},
		Data:   b,
	}, fam.id, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, wrapError("queue-get", ifindex, err)
	}
	var qs []setupQueue
	for _, m := range msgs {
		q, rx, err := parseSetupQueue(m.Data)
		if err != nil {
			return nil, fmt.Errorf("netdev: queue-get ifindex %d: %w", ifindex, err)
		}
		if rx {
			qs = append(qs, q)
		}
	}
	return qs, nil
}

// parseSetupQueue decodes one queue-get reply; rx reports an RX queue.
func parseSetupQueue(b []byte) (q setupQueue, rx bool, err error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return setupQueue{}, false, err
	}
	typ := uint32(1 << 31) // none seen
	for ad.Next() {
		switch ad.Type() {
		case uapi.NETDEV_A_QUEUE_ID:
			q.id = ad.Uint32()
		case uapi.NETDEV_A_QUEUE_TYPE:
			typ = ad.Uint32()
		case uapi.NETDEV_A_QUEUE_DMABUF:
			q.dmabuf = ad.Uint32()
		case uapi.NETDEV_A_QUEUE_IO_URING:
			q.ioURing = true
		case uapi.NETDEV_A_QUEUE_XSK:
			q.xsk = true
		}
	}
	if err := ad.Err(); err != nil {
		return setupQueue{}, false, err
	}
	return q, typ == uapi.NETDEV_QUEUE_TYPE_RX, nil
}
