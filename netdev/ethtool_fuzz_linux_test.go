//go:build linux

package netdev

import (
	"encoding/binary"
	"testing"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The fuzz targets check more than "no panic": whatever a decoder accepts,
// re-encoded the way the kernel would send it, must decode to the same
// value.

func fuzzEncode(t *testing.T, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatalf("re-encoding: %v", err)
	}
	return b
}

func encodeRingsReply(t *testing.T, r *Rings) []byte {
	return fuzzEncode(t, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(unix.ETHTOOL_A_RINGS_RX_MAX, r.RXMax)
		ae.Uint32(unix.ETHTOOL_A_RINGS_RX, r.RX)
		ae.Uint32(unix.ETHTOOL_A_RINGS_RX_BUF_LEN, r.RXBufLen)
		ae.Uint8(unix.ETHTOOL_A_RINGS_TCP_DATA_SPLIT, uint8(r.TCPDataSplit))
		if r.HDSThreshSupported {
			ae.Uint32(unix.ETHTOOL_A_RINGS_HDS_THRESH, r.HDSThresh)
			ae.Uint32(unix.ETHTOOL_A_RINGS_HDS_THRESH_MAX, r.HDSThreshMax)
		}
	})
}

func FuzzParseRings(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x00, 0x06, 0x00, 0x00, 0x04, 0x00, 0x00, 0x05, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00})
	f.Add([]byte{0x08, 0x00, 0x11, 0x00, 0x00, 0x01, 0x00, 0x00, 0x08, 0x00, 0x12, 0x00, 0x00, 0x04, 0x00, 0x00})
	f.Add([]byte{0x0c, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x0b, 0x00, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRings(b)
		if err != nil {
			return
		}
		// Half-reported hds-thresh is dropped; zero HDS fields unless supported.
		if !r.HDSThreshSupported {
			r.HDSThresh, r.HDSThreshMax = 0, 0
		}
		r2, err := parseRings(encodeRingsReply(t, r))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(r, r2); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseChannels(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x00, 0x09, 0x00, 0x04, 0x00, 0x00, 0x00, 0x08, 0x00, 0x05, 0x00, 0x40, 0x00, 0x00, 0x00})
	f.Add([]byte{0x06, 0x00, 0x06, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseChannels(b)
		if err != nil {
			return
		}
		enc := fuzzEncode(t, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_RX_MAX, c.MaxRX)
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_TX_MAX, c.MaxTX)
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_OTHER_MAX, c.MaxOther)
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_COMBINED_MAX, c.MaxCombined)
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_RX_COUNT, c.RX)
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_TX_COUNT, c.TX)
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_OTHER_COUNT, c.Other)
			ae.Uint32(unix.ETHTOOL_A_CHANNELS_COMBINED_COUNT, c.Combined)
		})
		c2, err := parseChannels(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(c, c2); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
		if c.RXQueues() != c.RX+c.Combined {
			t.Error("RXQueues")
		}
	})
}

func FuzzParseRSS(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00})
	f.Add([]byte{0x07, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00}) // 3-byte table
	f.Add([]byte{0x06, 0x00, 0x05, 0x00, 0xaa, 0xbb, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRSS(b)
		if err != nil {
			return
		}
		enc := fuzzEncode(t, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.ETHTOOL_A_RSS_HFUNC, r.HFunc)
			if r.Indir != nil {
				tb := make([]byte, 4*len(r.Indir))
				for i, q := range r.Indir {
					binary.NativeEndian.PutUint32(tb[4*i:], q)
				}
				ae.Bytes(uapi.ETHTOOL_A_RSS_INDIR, tb)
			}
			if r.Key != nil {
				ae.Bytes(uapi.ETHTOOL_A_RSS_HKEY, r.Key)
			}
		})
		r2, err := parseRSS(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(r, r2, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseFeature(f *testing.F) {
	f.Add([]byte{}, ntupleFeature)
	// HW {BITS {BIT {NAME "x", VALUE}}}
	f.Add([]byte{0x18, 0x00, 0x02, 0x80, 0x14, 0x00, 0x03, 0x80, 0x10, 0x00, 0x01, 0x80,
		0x06, 0x00, 0x02, 0x00, 'x', 0x00, 0x00, 0x00, 0x04, 0x00, 0x03, 0x00}, "x")
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		fs, err := parseFeature(b, name)
		if err != nil {
			return
		}
		if fs.Changeable && !fs.Known {
			t.Errorf("%+v: changeable but not listed", fs)
		}
	})
}

func FuzzParseGenlOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x06, 0x00, 0x01, 0x00, 0x21, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x06, 0x80,
		0x08, 0x00, 0x01, 0x80, 0x04, 0x00, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		fam, err := parseGenlOps(b)
		if err != nil {
			return
		}
		if fam.id == 0 {
			t.Fatal("accepted a family without an id")
		}
		enc := fuzzEncode(t, func(ae *netlink.AttributeEncoder) {
			ae.Uint16(unix.CTRL_ATTR_FAMILY_ID, fam.id)
			ae.String(unix.CTRL_ATTR_FAMILY_NAME, fam.name)
			ae.Uint32(unix.CTRL_ATTR_VERSION, uint32(fam.version))
			ae.Nested(unix.CTRL_ATTR_OPS, func(nae *netlink.AttributeEncoder) error {
				i := uint16(1)
				for op := range fam.ops {
					nae.Nested(i, func(oae *netlink.AttributeEncoder) error {
						oae.Uint32(unix.CTRL_ATTR_OP_ID, op)
						return nil
					})
					i++
				}
				return nil
			})
		})
		fam2, err := parseGenlOps(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(fam, fam2, cmp.AllowUnexported(genlOps{})); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseSetupLink(f *testing.F) {
	f.Add(make([]byte, 16))
	f.Add(append(make([]byte, 16), 0x09, 0x00, 0x03, 0x00, 'e', 't', 'h', '0', 0x00, 0x00, 0x00, 0x00,
		0x0c, 0x00, 0x2b, 0x80, 0x05, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00))
	f.Fuzz(func(t *testing.T, b []byte) {
		ls, err := parseSetupLink(b)
		if err != nil {
			return
		}
		enc := append(make([]byte, unix.SizeofIfInfomsg), fuzzEncode(t, func(ae *netlink.AttributeEncoder) {
			ae.String(unix.IFLA_IFNAME, ls.name)
			ae.Nested(unix.IFLA_XDP, func(nae *netlink.AttributeEncoder) error {
				nae.Uint8(unix.IFLA_XDP_ATTACHED, ls.xdp)
				return nil
			})
		})...)
		ls2, err := parseSetupLink(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(ls, ls2, cmp.AllowUnexported(setupLink{})); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseSetupQueue(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x08, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, rx, err := parseSetupQueue(b)
		if err != nil {
			return
		}
		enc := fuzzEncode(t, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_QUEUE_ID, q.id)
			if rx {
				ae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uapi.NETDEV_QUEUE_TYPE_RX)
			}
			ae.Uint32(uapi.NETDEV_A_QUEUE_DMABUF, q.dmabuf)
			if q.ioURing {
				ae.Nested(uapi.NETDEV_A_QUEUE_IO_URING, func(*netlink.AttributeEncoder) error { return nil })
			}
			if q.xsk {
				ae.Nested(uapi.NETDEV_A_QUEUE_XSK, func(*netlink.AttributeEncoder) error { return nil })
			}
		})
		q2, rx2, err := parseSetupQueue(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if diff := cmp.Diff(q, q2, cmp.AllowUnexported(setupQueue{})); diff != "" || rx != rx2 {
			t.Errorf("round trip (rx %v, %v) (-first +second):\n%s", rx, rx2, diff)
		}
	})
}
