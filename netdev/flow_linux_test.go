//go:build linux

package netdev

import (
	"encoding/binary"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// Offsets of struct ethtool_rxnfc (LP64) from devmem-uapi.md §7.3, written
// out independently of internal/uapi so that the encoder is checked against
// the reference, not against itself.
const (
	refCmd        = 0
	refFs         = 16              // struct ethtool_rx_flow_spec
	refFlowType   = refFs + 0       // fs.flow_type
	refHU         = refFs + 4       // fs.h_u
	refMU         = refFs + 76      // fs.m_u
	refRingCookie = 168             // fs.ring_cookie
	refLocation   = 176             // fs.location
	refRuleCnt    = 184             // rule_cnt
	refRuleLocs   = 188             // rule_locs[]
	refData       = 8               // data
	refSize       = 192             // sizeof(struct ethtool_rxnfc)
	refTCP4Src    = 0               // ethtool_tcpip4_spec.ip4src
	refTCP4Dst    = 4               // .ip4dst
	refTCP4Psrc   = 8               // .psrc
	refTCP4Pdst   = 10              // .pdst
	refTCP6Src    = 0               // ethtool_tcpip6_spec.ip6src
	refTCP6Dst    = 16              // .ip6dst
	refTCP6Psrc   = 32              // .psrc
	refTCP6Pdst   = 34              // .pdst
	refTCPV4Flow  = 1               // TCP_V4_FLOW
	refTCPV6Flow  = 5               // TCP_V6_FLOW
	refLocAny     = 0xffffffff      // RX_CLS_LOC_ANY
	refLocSpecial = uint64(1) << 31 // RX_CLS_LOC_SPECIAL
)

// refRxnfc builds the expected bytes: cmd, flow type, queue, location, and
// the match and mask fields of h_u/m_u given as (offset in the union, bytes).
func refRxnfc(cmd, flowType uint32, queue uint64, loc uint32, fields ...refField) []byte {
	b := make([]byte, refSize)
	le := binary.LittleEndian
	le.PutUint32(b[refCmd:], cmd)
	le.PutUint32(b[refFlowType:], flowType)
	le.PutUint64(b[refRingCookie:], queue)
	le.PutUint32(b[refLocation:], loc)
	for _, f := range fields {
		copy(b[refHU+f.off:], f.val)
		for i := range f.val {
			b[refMU+f.off+i] = 0xff
		}
	}
	return b
}

type refField struct {
	off int
	val []byte
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func TestEncodeFlowRule(t *testing.T) {
	ethtoolSkipBigEndian(t)
	v4 := func(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
	v6 := func(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }
	const ins = 0x32 // ETHTOOL_SRXCLSRLINS

	tests := []struct {
		name    string
		f       FlowSpec
		withSrc bool
		loc     uint32
		want    []byte
	}{
		{
			name:    "tcp4 5-tuple",
			f:       FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:5201"), Src: netip.MustParseAddrPort("198.51.100.7:40000"), Queue: 3},
			withSrc: true, loc: refLocAny,
			want: refRxnfc(ins, refTCPV4Flow, 3, refLocAny,
				refField{refTCP4Src, v4("198.51.100.7")}, refField{refTCP4Dst, v4("192.0.2.1")},
				refField{refTCP4Psrc, be16(40000)}, refField{refTCP4Pdst, be16(5201)}),
		},
		{
			name:    "tcp4 3-tuple of the same flow",
			f:       FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:5201"), Src: netip.MustParseAddrPort("198.51.100.7:40000"), Queue: 3},
			withSrc: false, loc: 1023,
			want: refRxnfc(ins, refTCPV4Flow, 3, 1023,
				refField{refTCP4Dst, v4("192.0.2.1")}, refField{refTCP4Pdst, be16(5201)}),
		},
		{
			name:    "v4-mapped peer is TCP_V4_FLOW",
			f:       FlowSpec{Dst: netip.MustParseAddrPort("[::ffff:192.0.2.1]:5201"), Src: netip.MustParseAddrPort("[::ffff:198.51.100.7]:0"), Queue: 1},
			withSrc: true, loc: refLocAny,
			want: refRxnfc(ins, refTCPV4Flow, 1, refLocAny,
				refField{refTCP4Src, v4("198.51.100.7")}, refField{refTCP4Dst, v4("192.0.2.1")},
				refField{refTCP4Pdst, be16(5201)}),
		},
		{
			name:    "tcp4 any local address",
			f:       FlowSpec{Dst: netip.MustParseAddrPort("0.0.0.0:80"), Queue: 2},
			withSrc: true, loc: 7,
			want: refRxnfc(ins, refTCPV4Flow, 2, 7, refField{refTCP4Pdst, be16(80)}),
		},
		{
			name:    "tcp6 5-tuple",
			f:       FlowSpec{Dst: netip.MustParseAddrPort("[2001:db8::1]:5201"), Src: netip.MustParseAddrPort("[2001:db8::2]:1234"), Queue: 9},
			withSrc: true, loc: refLocAny,
			want: refRxnfc(ins, refTCPV6Flow, 9, refLocAny,
				refField{refTCP6Src, v6("2001:db8::2")}, refField{refTCP6Dst, v6("2001:db8::1")},
				refField{refTCP6Psrc, be16(1234)}, refField{refTCP6Pdst, be16(5201)}),
		},
		{
			name:    "tcp6 3-tuple",
			f:       FlowSpec{Dst: netip.MustParseAddrPort("[2001:db8::1]:5201"), Src: netip.MustParseAddrPort("[2001:db8::2]:1234"), Queue: 9},
			withSrc: false, loc: 0,
			want: refRxnfc(ins, refTCPV6Flow, 9, 0,
				refField{refTCP6Dst, v6("2001:db8::1")}, refField{refTCP6Pdst, be16(5201)}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			got := encodeFlowRule(tt.f, tt.withSrc, tt.loc)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rxnfc bytes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlowSpecValidate(t *testing.T) {
	for _, tt := range []struct {
		f    FlowSpec
		want string // substring of the error, "" for valid
	}{
		{FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:1")}, ""},
		{FlowSpec{Dst: netip.MustParseAddrPort("[::]:1"), Src: netip.MustParseAddrPort("[2001:db8::2]:0")}, ""},
		{FlowSpec{}, "destination address is missing"},
		{FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:0")}, "destination port is missing"},
		{FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:1"), Src: netip.MustParseAddrPort("[2001:db8::2]:5")}, "different address families"},
		{FlowSpec{Dst: netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 1)}, "zone"},
		{FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:1"), Src: netip.AddrPortFrom(netip.Addr{}, 5)}, "needs a source address"},
	} {
		err := tt.f.validate()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("validate(%v) = %v, want %q", tt.f, err, tt.want)
		}
	}
}

// fakeRuleKernel emulates a driver's n-tuple rule table behind
// SIOCETHTOOL, reading and writing the structure at the reference offsets.
type fakeRuleKernel struct {
	size     uint32
	special  bool              // supports RX_CLS_LOC_ANY
	noGet    bool              // no get_rxnfc: GRXCLSRL* are EOPNOTSUPP
	noSet    bool              // no set_rxnfc
	no5Tuple bool              // refuses rules that match the source (EINVAL)
	rules    map[uint32][]byte // location -> request bytes
	requests [][]byte
}

func (k *fakeRuleKernel) ifname(int) string { return "eth9" }

func (k *fakeRuleKernel) ethtoolIoctl(ifindex int, b []byte) error {
	le := binary.LittleEndian
	k.requests = append(k.requests, slices.Clone(b))
	switch le.Uint32(b[refCmd:]) {
	case unix.ETHTOOL_GRXCLSRLCNT:
		if k.noGet {
			return unix.EOPNOTSUPP
		}
		data := uint64(k.size)
		if k.special {
			data |= refLocSpecial
		}
		le.PutUint64(b[refData:], data)
		le.PutUint32(b[refRuleCnt:], uint32(len(k.rules)))
	case unix.ETHTOOL_GRXCLSRLALL:
		if k.noGet {
			return unix.EOPNOTSUPP
		}
		if int(le.Uint32(b[refRuleCnt:])) < len(k.rules) {
			return unix.EMSGSIZE
		}
		le.PutUint64(b[refData:], uint64(k.size))
		locs := slices.Sorted(maps.Keys(k.rules))
		for i, l := range locs {
			le.PutUint32(b[refRuleLocs+4*i:], l)
		}
		le.PutUint32(b[refRuleCnt:], uint32(len(locs)))
	case unix.ETHTOOL_SRXCLSRLINS:
		if k.noSet {
			return unix.EOPNOTSUPP
		}
		if k.no5Tuple && !allZero(b[refMU+refTCP4Src:refMU+refTCP4Src+4]) {
			return unix.EINVAL
		}
		loc := le.Uint32(b[refLocation:])
		if loc == refLocAny {
			if !k.special {
				return unix.EINVAL
			}
			loc = 0
			for k.rules[loc] != nil {
				loc++
			}
		}
		if loc >= k.size || k.rules[loc] != nil {
			return unix.EINVAL
		}
		k.rules[loc] = slices.Clone(b)
		le.PutUint32(b[refLocation:], loc)
	case unix.ETHTOOL_SRXCLSRLDEL:
		if k.noSet {
			return unix.EOPNOTSUPP
		}
		loc := le.Uint32(b[refLocation:])
		if k.rules[loc] == nil {
			return unix.ENOENT
		}
		delete(k.rules, loc)
	default:
		return unix.EOPNOTSUPP
	}
	return nil
}

func allZero(b []byte) bool { return !slices.ContainsFunc(b, func(x byte) bool { return x != 0 }) }

func TestInsertFlowRule(t *testing.T) {
	ethtoolSkipBigEndian(t)
	five := FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:5201"), Src: netip.MustParseAddrPort("198.51.100.7:0"), Queue: 2}
	three := FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:5201"), Queue: 2}
	tests := []struct {
		name     string
		k        fakeRuleKernel
		used     []uint32
		f        FlowSpec
		want     FlowRule
		wantErr  error
		wantCmds []uint32 // commands issued, in order
	}{
		{
			name: "driver picks the location", k: fakeRuleKernel{size: 16, special: true}, used: []uint32{0},
			f: five, want: FlowRule{Flow: five, Location: 1, FiveTuple: true},
			wantCmds: []uint32{unix.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_SRXCLSRLINS},
		},
		{
			name: "no special locations: highest free slot", k: fakeRuleKernel{size: 8}, used: []uint32{7, 5},
			f: five, want: FlowRule{Flow: five, Location: 6, FiveTuple: true},
			wantCmds: []uint32{unix.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_GRXCLSRLALL, unix.ETHTOOL_SRXCLSRLINS},
		},
		{
			name: "5-tuple refused: 3-tuple fallback", k: fakeRuleKernel{size: 8, special: true, no5Tuple: true},
			f: five, want: FlowRule{Flow: five, Location: 0, FiveTuple: false},
			wantCmds: []uint32{unix.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_SRXCLSRLINS, unix.ETHTOOL_SRXCLSRLINS},
		},
		{
			name: "no source: one 3-tuple insert", k: fakeRuleKernel{size: 8, special: true, no5Tuple: true},
			f: three, want: FlowRule{Flow: three, Location: 0},
			wantCmds: []uint32{unix.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_SRXCLSRLINS},
		},
		{
			name: "unreadable table: RX_CLS_LOC_ANY", k: fakeRuleKernel{size: 8, special: true, noGet: true},
			f: three, want: FlowRule{Flow: three, Location: 0},
			wantCmds: []uint32{unix.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_SRXCLSRLINS},
		},
		{
			name: "table full", k: fakeRuleKernel{size: 2}, used: []uint32{0, 1},
			f: three, wantErr: unix.ENOSPC,
			wantCmds: []uint32{unix.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_GRXCLSRLALL},
		},
		{
			name: "no n-tuple support", k: fakeRuleKernel{noGet: true, noSet: true},
			f: five, wantErr: ErrNotSupported,
			wantCmds: []uint32{unix.ETHTOOL_GRXCLSRLCNT, unix.ETHTOOL_SRXCLSRLINS, unix.ETHTOOL_SRXCLSRLINS},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.k
			k.rules = map[uint32][]byte{}
			for _, l := range tt.used {
				k.rules[l] = []byte{1}
			}
			got, err := insertFlowRule(&k, 4, tt.f)
			if tt.wantErr != nil {
				var ne *Error
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &ne) || ne.Hint == "" || ne.Ifindex != 4 {
					t.Errorf("error %v, want an *Error with a hint matching %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("insertFlowRule: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("rule (-want +got):\n%s", diff)
			}
			var cmds []uint32
			for _, r := range k.requests {
				cmds = append(cmds, binary.LittleEndian.Uint32(r))
			}
			if diff := cmp.Diff(tt.wantCmds, cmds); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if err == nil {
				// What the kernel stored is the 5- or 3-tuple encoding.
				want := encodeFlowRule(tt.f, got.FiveTuple, binary.LittleEndian.Uint32(k.rules[got.Location][refLocation:]))
				if diff := cmp.Diff(want, k.rules[got.Location]); diff != "" {
					t.Errorf("stored rule (-want +got):\n%s", diff)
				}
				if err := deleteFlowRule(&k, 4, got.Location); err != nil || len(k.rules) != len(tt.used) {
					t.Errorf("deleteFlowRule: %v, %d rules left, want %d", err, len(k.rules), len(tt.used))
				}
				last := k.requests[len(k.requests)-1]
				if c, l := binary.LittleEndian.Uint32(last), binary.LittleEndian.Uint32(last[refLocation:]); c != 0x31 || l != got.Location {
					t.Errorf("delete request: cmd %#x loc %d, want 0x31 (SRXCLSRLDEL) loc %d", c, l, got.Location)
				}
			}
		})
	}

	k := fakeRuleKernel{size: 4, rules: map[uint32][]byte{}}
	if err := deleteFlowRule(&k, 4, 3); !errors.Is(err, unix.ENOENT) {
		t.Errorf("deleting a missing rule: %v, want ENOENT", err)
	} else if !strings.Contains(err.Error(), "ethtool -N eth9 delete 3") {
		t.Errorf("deleting a missing rule: %v, want the ethtool command in the hint", err)
	}
}

func TestFreeSlot(t *testing.T) {
	for _, tt := range []struct {
		size   uint32
		used   []uint32
		want   uint32
		wantOK bool
	}{
		{0, nil, 0, false},
		{1, nil, 0, true},
		{4, []uint32{3}, 2, true},
		{4, []uint32{0, 1, 2, 3}, 0, false},
		{4, []uint32{9, 3, 2}, 1, true},
	} {
		got, ok := freeSlot(tt.size, tt.used)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("freeSlot(%d, %v) = %d, %v; want %d, %v", tt.size, tt.used, got, ok, tt.want, tt.wantOK)
		}
	}
}

// fakeRSSKernel emulates ETHTOOL_GRXFHINDIR/SRXFHINDIR (struct
// ethtool_rxfh_indir: cmd @0, size @4, ring_index[] @8) and
// ETHTOOL_GRXRINGS (data @8) as net/ethtool/ioctl.c implements them.
type fakeRSSKernel struct {
	table    []uint32
	rings    uint32
	requests []uint32
}

func (k *fakeRSSKernel) ifname(int) string { return "eth9" }

func (k *fakeRSSKernel) ethtoolIoctl(_ int, b []byte) error {
	le := binary.LittleEndian
	cmd := le.Uint32(b)
	k.requests = append(k.requests, cmd)
	switch cmd {
	case unix.ETHTOOL_GRXRINGS:
		le.PutUint64(b[refData:], uint64(k.rings))
	case unix.ETHTOOL_GRXFHINDIR:
		size := le.Uint32(b[4:])
		le.PutUint32(b[4:], uint32(len(k.table)))
		if size == 0 {
			return nil
		}
		if int(size) < len(k.table) {
			return unix.EINVAL
		}
		for i, q := range k.table {
			le.PutUint32(b[8+4*i:], q)
		}
	case unix.ETHTOOL_SRXFHINDIR:
		size := le.Uint32(b[4:])
		if size != 0 && int(size) != len(k.table) {
			return unix.EINVAL
		}
		next := make([]uint32, len(k.table))
		for i := range next {
			if size == 0 {
				next[i] = uint32(i) % k.rings
				continue
			}
			next[i] = le.Uint32(b[8+4*i:])
			if next[i] >= k.rings {
				return unix.EINVAL
			}
		}
		k.table = next
	default:
		return unix.EOPNOTSUPP
	}
	return nil
}

func TestRxfhIndirIoctl(t *testing.T) {
	ethtoolSkipBigEndian(t)
	k := &fakeRSSKernel{table: []uint32{0, 1, 2, 3, 0, 1, 2, 3}, rings: 4}
	if n, err := rxRings(k, 2); err != nil || n != 4 {
		t.Errorf("rxRings = %d, %v; want 4", n, err)
	}
	got, err := rxfhIndir(k, 2)
	if err != nil || !slices.Equal(got, k.table) {
		t.Errorf("rxfhIndir = %v, %v; want %v", got, err, k.table)
	}
	// "equal 2": two entries, repeated to the device's 8.
	if err := setRxfhIndir(k, 2, []uint32{0, 1}); err != nil {
		t.Fatalf("setRxfhIndir(equal 2): %v", err)
	}
	if want := []uint32{0, 1, 0, 1, 0, 1, 0, 1}; !slices.Equal(k.table, want) {
		t.Errorf("table after equal 2: %v, want %v", k.table, want)
	}
	// A length that does not divide the table is refused before the kernel.
	k.requests = nil
	if err := setRxfhIndir(k, 2, []uint32{0, 1, 2}); !errors.Is(err, unix.EINVAL) || slices.Contains(k.requests, unix.ETHTOOL_SRXFHINDIR) {
		t.Errorf("setRxfhIndir(3 of 8): %v, requests %v; want EINVAL without SRXFHINDIR", err, k.requests)
	}
	// Empty resets to the default spread (size 0).
	if err := setRxfhIndir(k, 2, nil); err != nil {
		t.Fatalf("setRxfhIndir(default): %v", err)
	}
	if want := []uint32{0, 1, 2, 3, 0, 1, 2, 3}; !slices.Equal(k.table, want) {
		t.Errorf("table after reset: %v, want %v", k.table, want)
	}
	// A queue beyond the rings: the kernel's EINVAL, as an *Error.
	err = setRxfhIndir(k, 2, []uint32{7})
	var ne *Error
	if !errors.As(err, &ne) || ne.Op != "SRXFHINDIR" || !errors.Is(err, unix.EINVAL) {
		t.Errorf("setRxfhIndir(queue 7): %v, want an SRXFHINDIR *Error with EINVAL", err)
	}
}
