//go:build linux

package netdev

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ndFamily is what Dial learns about the netdev family from the generic
// netlink controller.
type ndFamily struct {
	id      uint16
	version uint8
	ops     [256]uint32 // GENL_* op flags per command; 0 = absent
	groups  map[string]uint32
}

func (f *ndFamily) supports(cmd Command) bool { return f.ops[cmd] != 0 }

// parseNetdevFamily decodes a CTRL_CMD_NEWFAMILY reply, including the operation
// list (CTRL_ATTR_OPS) that genetlink.Family leaves out.
func parseNetdevFamily(b []byte) (*ndFamily, error) {
	f := &ndFamily{groups: make(map[string]uint32)}
	var haveID bool
	err := decode(b, "family", func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			switch ad.Type() {
			case unix.CTRL_ATTR_FAMILY_ID:
				f.id = ad.Uint16()
				haveID = true
			case unix.CTRL_ATTR_VERSION:
				v := decodeU32(ad)
				if v > 255 {
					ad.Do(func([]byte) error { return fmt.Errorf("netdev: family version %d", v) })
				}
				f.version = uint8(v)
			case unix.CTRL_ATTR_OPS:
				ad.Nested(func(arr *netlink.AttributeDecoder) error {
					for arr.Next() {
						var id, flags uint32
						arr.Nested(func(op *netlink.AttributeDecoder) error {
							for op.Next() {
								switch op.Type() {
								case unix.CTRL_ATTR_OP_ID:
									id = decodeU32(op)
								case unix.CTRL_ATTR_OP_FLAGS:
									flags = decodeU32(op)
								}
							}
							return nil
						})
						if id > 0 && id < uint32(len(f.ops)) {
							// Keep the entry visible even when the kernel
							// reports no flags.
							f.ops[id] = flags | 1<<31
						}
					}
					return nil
				})
			case unix.CTRL_ATTR_MCAST_GROUPS:
				ad.Nested(func(arr *netlink.AttributeDecoder) error {
					for arr.Next() {
						var (
							name string
							id   uint32
						)
						arr.Nested(func(g *netlink.AttributeDecoder) error {
							for g.Next() {
								switch g.Type() {
								case unix.CTRL_ATTR_MCAST_GRP_NAME:
									name = g.String()
								case unix.CTRL_ATTR_MCAST_GRP_ID:
									id = decodeU32(g)
								}
							}
							return nil
						})
						if name != "" {
							f.groups[name] = id
						}
					}
					return nil
				})
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if !haveID {
		return nil, fmt.Errorf("netdev: decode family: %w", errShortReply)
	}
	return f, nil
}
