//go:build linux

package netdev

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// encodeFamily writes a CTRL_CMD_NEWFAMILY reply the way the generic
// netlink controller does (ctrl_fill_info).
func encodeFamily(f *ndFamily) func(*netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ae.String(unix.CTRL_ATTR_FAMILY_NAME, "netdev")
		ae.Uint16(unix.CTRL_ATTR_FAMILY_ID, f.id)
		ae.Uint32(unix.CTRL_ATTR_VERSION, uint32(f.version))
		ae.Uint32(unix.CTRL_ATTR_HDRSIZE, 0)
		ae.Uint32(unix.CTRL_ATTR_MAXATTR, 0)
		ae.Nested(unix.CTRL_ATTR_OPS, func(nae *netlink.AttributeEncoder) error {
			n := uint16(1)
			for id, flags := range f.ops {
				if flags == 0 {
					continue
				}
				nae.Nested(n, func(oae *netlink.AttributeEncoder) error {
					oae.Uint32(unix.CTRL_ATTR_OP_ID, uint32(id))
					oae.Uint32(unix.CTRL_ATTR_OP_FLAGS, flags&^(1<<31))
					return nil
				})
				n++
			}
			return nil
		})
		names := make([]string, 0, len(f.groups))
		for name := range f.groups {
			names = append(names, name)
		}
		slices.Sort(names)
		ae.Nested(unix.CTRL_ATTR_MCAST_GROUPS, func(nae *netlink.AttributeEncoder) error {
			for i, name := range names {
				nae.Nested(uint16(i+1), func(gae *netlink.AttributeEncoder) error {
					gae.Uint32(unix.CTRL_ATTR_MCAST_GRP_ID, f.groups[name])
					gae.String(unix.CTRL_ATTR_MCAST_GRP_NAME, name)
					return nil
				})
			}
			return nil
		})
	}
}

func TestParseFamily(t *testing.T) {
	// The netdev family of a Linux 6.18 machine: ops 1, 5, 9 (page-pool-stats
	// missing: no CONFIG_PAGE_POOL_STATS), 10 .. 15; admin and do/dump flags.
	want := &ndFamily{id: 20, version: 1, groups: map[string]uint32{"mgmt": 5, "page-pool": 6}}
	for _, op := range []struct{ id, flags uint32 }{
		{1, unix.GENL_CMD_CAP_DO | unix.GENL_CMD_CAP_DUMP}, {5, unix.GENL_CMD_CAP_DO | unix.GENL_CMD_CAP_DUMP},
		{10, unix.GENL_CMD_CAP_DO | unix.GENL_CMD_CAP_DUMP}, {11, unix.GENL_CMD_CAP_DO | unix.GENL_CMD_CAP_DUMP},
		{12, unix.GENL_CMD_CAP_DUMP}, {13, unix.GENL_UNS_ADMIN_PERM | unix.GENL_CMD_CAP_DO},
		{14, unix.GENL_ADMIN_PERM | unix.GENL_CMD_CAP_DO}, {15, unix.GENL_CMD_CAP_DO},
	} {
		want.ops[op.id] = op.flags | 1<<31
	}
	got, err := parseNetdevFamily(ndMustEncode(t, encodeFamily(want)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(ndFamily{})); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if !got.supports(CmdBindTX) || got.supports(CmdPagePoolStatsGet) || got.supports(CmdQueueCreate) {
		t.Errorf("supports: bind-tx %v, page-pool-stats-get %v, queue-create %v; want true, false, false",
			got.supports(CmdBindTX), got.supports(CmdPagePoolStatsGet), got.supports(CmdQueueCreate))
	}
	if _, err := parseNetdevFamily(ndMustEncode(t, func(ae *netlink.AttributeEncoder) {
		ae.String(unix.CTRL_ATTR_FAMILY_NAME, "netdev")
	})); err == nil {
		t.Error("a reply without a family id must be refused")
	}
}

func FuzzDecodeFamily(f *testing.F) {
	seed := &ndFamily{id: 20, version: 1, groups: map[string]uint32{"mgmt": 5, "page-pool": 6}}
	seed.ops[13] = unix.GENL_CMD_CAP_DO | 1<<31
	f.Add(ndMustEncode(f, encodeFamily(seed)))
	f.Fuzz(func(t *testing.T, b []byte) {
		fam, err := parseNetdevFamily(b)
		if err != nil {
			return
		}
		b2 := ndMustEncode(t, encodeFamily(fam))
		fam2, err := parseNetdevFamily(b2)
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if diff := cmp.Diff(fam, fam2, cmp.AllowUnexported(ndFamily{})); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
