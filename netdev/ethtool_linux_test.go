//go:build linux

package netdev

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The byte strings below are netlink attributes written out by hand from
// the kernel's layout (struct nlattr: u16 len, u16 type, payload padded to
// 4 bytes; NLA_F_NESTED = 0x8000), so they check our encoder rather than
// mirror it. Netlink is host-endian: they are little-endian.

const fakeEthtoolID = 0x21

func ethtoolSkipBigEndian(t *testing.T) {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden netlink bytes are little-endian")
	}
}

// fakeFamilyReply is a CTRL_CMD_NEWFAMILY reply for name with ops.
func fakeFamilyReply(t *testing.T, id uint16, name string, ops []uint32) genetlink.Message {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(unix.CTRL_ATTR_FAMILY_ID, id)
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, name)
	ae.Uint32(unix.CTRL_ATTR_VERSION, 1)
	ae.Nested(unix.CTRL_ATTR_OPS, func(nae *netlink.AttributeEncoder) error {
		for i, op := range ops {
			nae.Nested(uint16(i+1), func(oae *netlink.AttributeEncoder) error {
				oae.Uint32(unix.CTRL_ATTR_OP_ID, op)
				oae.Uint32(unix.CTRL_ATTR_OP_FLAGS, 0)
				return nil
			})
		}
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return genetlink.Message{Header: genetlink.Header{Command: unix.CTRL_CMD_NEWFAMILY, Version: 2}, Data: b}
}

// defaultEthtoolOps is the op list of a kernel with RSS_SET (7.2).
var defaultEthtoolOps = []uint32{
	unix.ETHTOOL_MSG_RINGS_GET, unix.ETHTOOL_MSG_RINGS_SET,
	unix.ETHTOOL_MSG_CHANNELS_GET, unix.ETHTOOL_MSG_CHANNELS_SET,
	unix.ETHTOOL_MSG_FEATURES_GET, unix.ETHTOOL_MSG_FEATURES_SET,
	unix.ETHTOOL_MSG_RSS_GET, 48, // ETHTOOL_MSG_RSS_SET
}

// testEthtool returns a client over a fake ethtool family whose ops are
// ops; requests other than the family lookup go to fn.
func testEthtool(t *testing.T, ops []uint32, fn genltest.Func) *ethtoolClient {
	t.Helper()
	conn := genltest.Dial(func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Type == unix.GENL_ID_CTRL {
			if greq.Header.Command != unix.CTRL_CMD_GETFAMILY {
				t.Errorf("ctrl command %d, want GETFAMILY", greq.Header.Command)
			}
			ad, err := netlink.NewAttributeDecoder(greq.Data)
			if err != nil {
				return nil, err
			}
			for ad.Next() {
				if ad.Type() == unix.CTRL_ATTR_FAMILY_NAME && ad.String() != "ethtool" {
					return nil, genltest.Error(int(unix.ENOENT))
				}
			}
			return []genetlink.Message{fakeFamilyReply(t, fakeEthtoolID, "ethtool", ops)}, nil
		}
		if nreq.Header.Type == 0 {
			return nil, errors.New("fake: receive without a request")
		}
		if got := nreq.Header.Type; got != fakeEthtoolID {
			t.Errorf("request to family %#x, want the ethtool family %#x", got, fakeEthtoolID)
		}
		msgs, err := fn(greq, nreq)
		if err == nil && len(msgs) == 0 && nreq.Header.Flags&netlink.Acknowledge != 0 {
			// What the kernel sends for a successful set: an ack.
			return nil, genltest.Error(0)
		}
		return msgs, err
	})
	e, err := initEthtoolClient(conn, -1)
	if err != nil {
		t.Fatalf("initEthtoolClient: %v", err)
	}
	t.Cleanup(func() { _ = e.close() })
	return e
}

// request is what the fake saw.
type request struct {
	Command uint8
	Flags   netlink.HeaderFlags
	Attrs   []byte
}

// recorder answers every request with replies (or err) and records it.
func recorder(got *[]request, replies func(cmd uint8) ([]genetlink.Message, error)) genltest.Func {
	return func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		*got = append(*got, request{Command: greq.Header.Command, Flags: nreq.Header.Flags, Attrs: greq.Data})
		return replies(greq.Header.Command)
	}
}

func attrs(t *testing.T, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reply(cmd uint8, b []byte) []genetlink.Message {
	return []genetlink.Message{{Header: genetlink.Header{Command: cmd, Version: 1}, Data: b}}
}

// hdr3 is the header nest {DEV_INDEX=3} under attribute type 1.
var hdr3 = []byte{0x0c, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestEthtoolWire(t *testing.T) {
	ethtoolSkipBigEndian(t)
	on, off := TCPDataSplitEnabled, TCPDataSplitUnknown
	zero, n4, n1024 := uint32(0), uint32(4), uint32(1024)
	const get = netlink.Request
	const set = netlink.Request | netlink.Acknowledge

	ringsReply := func(t *testing.T) []byte {
		return attrs(t, func(ae *netlink.AttributeEncoder) {
			ae.Nested(unix.ETHTOOL_A_RINGS_HEADER, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(unix.ETHTOOL_A_HEADER_DEV_INDEX, 3)
				nae.String(unix.ETHTOOL_A_HEADER_DEV_NAME, "eth0")
				return nil
			})
			ae.Uint32(unix.ETHTOOL_A_RINGS_RX_MAX, 4096)
			ae.Uint32(unix.ETHTOOL_A_RINGS_RX, 1024)
			ae.Uint32(unix.ETHTOOL_A_RINGS_RX_BUF_LEN, 4096)
			ae.Uint8(unix.ETHTOOL_A_RINGS_TCP_DATA_SPLIT, 1)
			ae.Uint8(unix.ETHTOOL_A_RINGS_TX_PUSH, 0)
			ae.Uint32(unix.ETHTOOL_A_RINGS_HDS_THRESH, 256)
			ae.Uint32(unix.ETHTOOL_A_RINGS_HDS_THRESH_MAX, 1024)
		})
	}

	tests := []struct {
		name    string
		ops     []uint32
		reply   func(t *testing.T) []byte
		do      func(e *ethtoolClient) (any, error)
		want    []request
		wantOut any
	}{
		{
			name:  "rings-get",
			reply: ringsReply,
			do:    func(e *ethtoolClient) (any, error) { return e.rings(3) },
			want:  []request{{unix.ETHTOOL_MSG_RINGS_GET, get, hdr3}},
			wantOut: &Rings{RX: 1024, RXMax: 4096, RXBufLen: 4096, TCPDataSplit: TCPDataSplitDisabled,
				HDSThresh: 256, HDSThreshMax: 1024, HDSThreshSupported: true},
		},
		{
			name: "rings-get without hds-thresh or tcp-data-split",
			reply: func(t *testing.T) []byte {
				return attrs(t, func(ae *netlink.AttributeEncoder) { ae.Uint32(unix.ETHTOOL_A_RINGS_RX, 512) })
			},
			do:      func(e *ethtoolClient) (any, error) { return e.rings(3) },
			want:    []request{{unix.ETHTOOL_MSG_RINGS_GET, get, hdr3}},
			wantOut: &Rings{RX: 512},
		},
		{
			name: "rings-set tcp-data-split on, hds-thresh 0",
			do: func(e *ethtoolClient) (any, error) {
				return nil, e.setRings(3, RingsUpdate{TCPDataSplit: &on, HDSThresh: &zero})
			},
			want: []request{{unix.ETHTOOL_MSG_RINGS_SET, set, cat(hdr3,
				[]byte{0x05, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00}, // TCP_DATA_SPLIT (11) u8 2, padded
				[]byte{0x08, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00}, // HDS_THRESH (17) u32 0
			)}},
		},
		{
			name: "rings-set every field",
			do: func(e *ethtoolClient) (any, error) {
				return nil, e.setRings(3, RingsUpdate{RX: &n1024, RXBufLen: &n1024, TCPDataSplit: &off, HDSThresh: &n4})
			},
			want: []request{{unix.ETHTOOL_MSG_RINGS_SET, set, cat(hdr3,
				[]byte{0x08, 0x00, 0x06, 0x00, 0x00, 0x04, 0x00, 0x00}, // RX (6) 1024
				[]byte{0x08, 0x00, 0x0a, 0x00, 0x00, 0x04, 0x00, 0x00}, // RX_BUF_LEN (10) 1024
				[]byte{0x05, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00}, // TCP_DATA_SPLIT 0 (unknown)
				[]byte{0x08, 0x00, 0x11, 0x00, 0x04, 0x00, 0x00, 0x00}, // HDS_THRESH 4
			)}},
		},
		{
			name: "channels-get",
			reply: func(t *testing.T) []byte {
				return attrs(t, func(ae *netlink.AttributeEncoder) {
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_RX_MAX, 1)
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_TX_MAX, 2)
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_OTHER_MAX, 3)
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_COMBINED_MAX, 64)
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_RX_COUNT, 5)
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_TX_COUNT, 6)
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_OTHER_COUNT, 7)
					ae.Uint32(unix.ETHTOOL_A_CHANNELS_COMBINED_COUNT, 8)
				})
			},
			do:      func(e *ethtoolClient) (any, error) { return e.channels(3) },
			want:    []request{{unix.ETHTOOL_MSG_CHANNELS_GET, get, hdr3}},
			wantOut: &Channels{RX: 5, TX: 6, Other: 7, Combined: 8, MaxRX: 1, MaxTX: 2, MaxOther: 3, MaxCombined: 64},
		},
		{
			name: "channels-set combined 4",
			do:   func(e *ethtoolClient) (any, error) { return nil, e.setChannels(3, ChannelsUpdate{Combined: &n4}) },
			want: []request{{unix.ETHTOOL_MSG_CHANNELS_SET, set, cat(hdr3,
				[]byte{0x08, 0x00, 0x09, 0x00, 0x04, 0x00, 0x00, 0x00}, // COMBINED_COUNT (9) 4
			)}},
		},
		{
			name: "rss-get",
			reply: func(t *testing.T) []byte {
				return attrs(t, func(ae *netlink.AttributeEncoder) {
					ae.Uint32(3, 1) // HFUNC toeplitz
					ae.Bytes(4, []byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
					ae.Bytes(5, []byte{0xaa, 0xbb})
				})
			},
			do:      func(e *ethtoolClient) (any, error) { return e.rss(3) },
			want:    []request{{unix.ETHTOOL_MSG_RSS_GET, get, hdr3}},
			wantOut: &RSS{Indir: []uint32{0, 1, 0, 1}, HFunc: 1, Key: []byte{0xaa, 0xbb}},
		},
		{
			name: "rss-set equal 2",
			do:   func(e *ethtoolClient) (any, error) { return nil, e.setRSSIndir(3, []uint32{0, 1}) },
			want: []request{{48, set, cat(hdr3,
				[]byte{0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}, // INDIR (4) [0 1]
			)}},
		},
		{
			name: "rss-set default",
			do:   func(e *ethtoolClient) (any, error) { return nil, e.setRSSIndir(3, nil) },
			want: []request{{48, set, cat(hdr3,
				[]byte{0x04, 0x00, 0x04, 0x00}, // INDIR, empty: reset
			)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := tt.ops
			if ops == nil {
				ops = defaultEthtoolOps
			}
			var got []request
			e := testEthtool(t, ops, recorder(&got, func(cmd uint8) ([]genetlink.Message, error) {
				if tt.reply == nil {
					return nil, nil
				}
				return reply(cmd+1, tt.reply(t)), nil
			}))
			out, err := tt.do(e)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if tt.wantOut != nil {
				if diff := cmp.Diff(tt.wantOut, out); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestEthtoolFeatures(t *testing.T) {
	ethtoolSkipBigEndian(t)
	// A verbose FEATURES_GET reply as the kernel builds it: HW is a
	// value/mask set listing every feature (VALUE = changeable), ACTIVE a
	// list of the set bits.
	featuresReply := func(t *testing.T, changeable, active bool) []byte {
		bit := func(ae *netlink.AttributeEncoder, idx uint32, name string, value bool) {
			ae.Nested(unix.ETHTOOL_A_BITSET_BITS_BIT, func(bae *netlink.AttributeEncoder) error {
				bae.Uint32(unix.ETHTOOL_A_BITSET_BIT_INDEX, idx)
				bae.String(unix.ETHTOOL_A_BITSET_BIT_NAME, name)
				bae.Flag(unix.ETHTOOL_A_BITSET_BIT_VALUE, value)
				return nil
			})
		}
		return attrs(t, func(ae *netlink.AttributeEncoder) {
			ae.Nested(unix.ETHTOOL_A_FEATURES_HW, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(unix.ETHTOOL_A_BITSET_SIZE, 64)
				nae.Nested(unix.ETHTOOL_A_BITSET_BITS, func(bae *netlink.AttributeEncoder) error {
					bit(bae, 0, "tx-scatter-gather", true)
					bit(bae, 35, ntupleFeature, changeable)
					return nil
				})
				return nil
			})
			ae.Nested(unix.ETHTOOL_A_FEATURES_ACTIVE, func(nae *netlink.AttributeEncoder) error {
				nae.Flag(unix.ETHTOOL_A_BITSET_NOMASK, true)
				nae.Uint32(unix.ETHTOOL_A_BITSET_SIZE, 64)
				nae.Nested(unix.ETHTOOL_A_BITSET_BITS, func(bae *netlink.AttributeEncoder) error {
					bit(bae, 0, "tx-scatter-gather", false)
					if active {
						bit(bae, 35, ntupleFeature, false)
					}
					return nil
				})
				return nil
			})
		})
	}
	for _, tt := range []struct {
		changeable, active bool
	}{{false, false}, {true, false}, {true, true}} {
		f, err := parseFeature(featuresReply(t, tt.changeable, tt.active), ntupleFeature)
		if err != nil {
			t.Fatal(err)
		}
		want := featureState{Known: true, Changeable: tt.changeable, Active: tt.active}
		if diff := cmp.Diff(want, f); diff != "" {
			t.Errorf("parseFeature (-want +got):\n%s", diff)
		}
	}

	// setFeature: one FEATURES_SET with OMIT_REPLY and a one-bit
	// value/mask WANTED set, then a FEATURES_GET to check it took.
	var got []request
	active := false
	e := testEthtool(t, defaultEthtoolOps, recorder(&got, func(cmd uint8) ([]genetlink.Message, error) {
		switch cmd {
		case unix.ETHTOOL_MSG_FEATURES_SET:
			active = true
			return nil, nil
		case unix.ETHTOOL_MSG_FEATURES_GET:
			return reply(unix.ETHTOOL_MSG_FEATURES_GET_REPLY, featuresReply(t, true, active)), nil
		}
		return nil, genltest.Error(int(unix.EOPNOTSUPP))
	}))
	if err := e.setFeature(3, ntupleFeature, true); err != nil {
		t.Fatalf("setFeature: %v", err)
	}
	name := append([]byte(ntupleFeature), 0)                              // NUL-terminated, 17 bytes
	bitNest := cat([]byte{0x15, 0x00, 0x02, 0x00}, name, []byte{0, 0, 0}, // BIT_NAME (2), len 4+17, padded
		[]byte{0x04, 0x00, 0x03, 0x00}) // BIT_VALUE (3) flag
	wanted := cat(
		[]byte{byte(4 + 4 + 4 + len(bitNest)), 0x00, 0x03, 0x80}, // WANTED (3) nest
		[]byte{byte(4 + 4 + len(bitNest)), 0x00, 0x03, 0x80},     // BITSET_BITS (3) nest
		[]byte{byte(4 + len(bitNest)), 0x00, 0x01, 0x80},         // BITS_BIT (1) nest
		bitNest)
	hdrOmit := []byte{0x14, 0x00, 0x01, 0x80, 0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00,
		0x08, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00} // header {DEV_INDEX 3, FLAGS OMIT_REPLY}
	want := []request{
		{unix.ETHTOOL_MSG_FEATURES_SET, netlink.Request | netlink.Acknowledge, cat(hdrOmit, wanted)},
		{unix.ETHTOOL_MSG_FEATURES_GET, netlink.Request, hdr3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// A kernel that accepts the wish but leaves the feature off.
	active = false
	e = testEthtool(t, defaultEthtoolOps, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		if greq.Header.Command == unix.ETHTOOL_MSG_FEATURES_GET {
			return reply(unix.ETHTOOL_MSG_FEATURES_GET_REPLY, featuresReply(t, true, false)), nil
		}
		return nil, nil
	})
	err := e.setFeature(3, ntupleFeature, true)
	var ne *Error
	if !errors.As(err, &ne) || !errors.Is(err, ErrNotSupported) || !strings.Contains(ne.Hint, "ntuple on") {
		t.Errorf("setFeature that did not take: %v, want *Error with ErrNotSupported and an ntuple hint", err)
	}
}

func TestEthtoolErrors(t *testing.T) {
	on := TCPDataSplitEnabled
	tests := []struct {
		name     string
		errno    unix.Errno
		do       func(e *ethtoolClient) error
		is       error
		op       string
		wantHint string
	}{
		{"rings-get EOPNOTSUPP", unix.EOPNOTSUPP, func(e *ethtoolClient) error { _, err := e.rings(3); return err },
			ErrNotSupported, "rings-get", "the device's driver does not support this; equivalent command: ethtool -g <ifindex 3>"},
		{"rings-set EOPNOTSUPP", unix.EOPNOTSUPP, func(e *ethtoolClient) error { return e.setRings(3, RingsUpdate{TCPDataSplit: &on}) },
			ErrNotSupported, "rings-set", "the device's driver does not support this; equivalent command: ethtool -G <ifindex 3> tcp-data-split on"},
		{"rings-set EPERM", unix.EPERM, func(e *ethtoolClient) error { return e.setRings(3, RingsUpdate{TCPDataSplit: &on}) },
			os.ErrPermission, "rings-set", "needs CAP_NET_ADMIN in the device's network namespace; equivalent command: ethtool -G <ifindex 3> tcp-data-split on"},
		{"channels-get ENODEV", unix.ENODEV, func(e *ethtoolClient) error { _, err := e.channels(3); return err },
			os.ErrNotExist, "channels-get", "no such device in this network namespace; equivalent command: ethtool -l <ifindex 3>"},
		{"rss-set EINVAL", unix.EINVAL, func(e *ethtoolClient) error { return e.setRSSIndir(3, []uint32{0, 1, 2}) },
			unix.EINVAL, "rss-set", "equivalent command: ethtool -X <ifindex 3> equal 3"},
		{"features-set EOPNOTSUPP", unix.EOPNOTSUPP, func(e *ethtoolClient) error { return e.setFeature(3, ntupleFeature, true) },
			ErrNotSupported, "features-set", "the device's driver does not support this; equivalent command: ethtool -K <ifindex 3> ntuple on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEthtool(t, defaultEthtoolOps, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return nil, genltest.Error(int(tt.errno))
			})
			err := tt.do(e)
			if !errors.Is(err, tt.is) || !errors.Is(err, tt.errno) {
				t.Fatalf("error %v: want errors.Is %v and %v", err, tt.is, tt.errno)
			}
			var ne *Error
			if !errors.As(err, &ne) {
				t.Fatalf("error %T is not an *Error", err)
			}
			got := Error{Op: ne.Op, Ifindex: ne.Ifindex, Hint: ne.Hint}
			want := Error{Op: tt.op, Ifindex: 3, Hint: tt.wantHint}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("*Error (-want +got):\n%s", diff)
			}
		})
	}

	// A bad ifindex never reaches the kernel.
	called := false
	e := testEthtool(t, defaultEthtoolOps, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		called = true
		return nil, nil
	})
	if _, err := e.rings(0); !errors.Is(err, unix.EINVAL) || called {
		t.Errorf("rings(0) = %v (kernel asked: %v), want EINVAL without a request", err, called)
	}
}

func TestEthtoolFeatureDetection(t *testing.T) {
	// Without RSS_SET/RSS_GET in the family's ops, RSS goes through the
	// SIOCETHTOOL ioctl, which this client (no socket) cannot run: the
	// fake must not see a netlink request.
	called := false
	e := testEthtool(t, []uint32{unix.ETHTOOL_MSG_RINGS_GET}, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		called = true
		return nil, nil
	})
	if e.fam.has(48) || !e.fam.has(unix.ETHTOOL_MSG_RINGS_GET) {
		t.Errorf("ops %v: RSS_SET detected or RINGS_GET missing", e.fam.ops)
	}
	if err := e.setRSSIndir(3, []uint32{0}); !errors.Is(err, unix.EBADF) {
		t.Errorf("setRSSIndir via ioctl without a socket: %v, want EBADF", err)
	}
	if _, err := e.rss(3); !errors.Is(err, unix.EBADF) {
		t.Errorf("rss via ioctl without a socket: %v, want EBADF", err)
	}
	if called {
		t.Error("a netlink request was sent although the kernel lacks the op")
	}

	// A kernel without the family at all.
	conn := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	defer conn.Close()
	if _, err := initEthtoolClient(conn, -1); !errors.Is(err, ErrNotSupported) {
		t.Errorf("initEthtoolClient without the family: %v, want ErrNotSupported", err)
	}
}

func TestEthtoolClose(t *testing.T) {
	e := testEthtool(t, defaultEthtoolOps, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, nil
	})
	if err := e.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := e.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := e.rings(3); err == nil {
		t.Error("rings after close succeeded")
	}
	var c *Ethtool
	if err := c.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}
}

func TestRSSCommand(t *testing.T) {
	for _, tt := range []struct {
		indir []uint32
		want  string
	}{
		{nil, "ethtool -X eth0 default"},
		{[]uint32{0, 1, 2}, "ethtool -X eth0 equal 3"},
		{[]uint32{0, 1, 0, 1, 0, 1}, "ethtool -X eth0 equal 2"},
		{[]uint32{0, 2, 0, 2}, "ethtool -X eth0 weight 1 0 1"},
		{[]uint32{0, 2, 3, 0, 2, 3, 0, 2}, "ethtool -X eth0 weight 3 0 3 2"},
		{[]uint32{1000}, "ethtool -X eth0 weight ..."}, // not 1,001 weights
	} {
		if got := rssCommand("eth0", tt.indir); got != tt.want {
			t.Errorf("rssCommand(%v) = %q, want %q", tt.indir, got, tt.want)
		}
	}
}
