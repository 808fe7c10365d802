//go:build linux

package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

// ethtoolIoctler runs SIOCETHTOOL commands. *ethtoolClient implements it;
// tests emulate the kernel's rule table behind it.
type ethtoolIoctler interface {
	// ethtoolIoctl runs the command whose structure is b (cmd in the first
	// u32) on device ifindex.
	ethtoolIoctl(ifindex int, b []byte) error
	// ifname names the device for hints.
	ifname(ifindex int) string
}

// RSS through SIOCETHTOOL, for kernels without ETHTOOL_MSG_RSS_SET/GET.

// rxfhIndir reads the indirection table with ETHTOOL_GRXFHINDIR.
func rxfhIndir(e ethtoolIoctler, ifindex int) ([]uint32, error) {
	size, err := rxfhIndirSize(e, ifindex)
	if err != nil {
		return nil, err
	}
	b := ioctlBuf(uapi.SizeofEthtoolRxfhIndir + 4*int(size))
	h := (*uapi.EthtoolRxfhIndir)(unsafe.Pointer(&b[0]))
	h.Cmd = unix.ETHTOOL_GRXFHINDIR
	h.Size = size
	if err := e.ethtoolIoctl(ifindex, b); err != nil {
		err = wrapError("GRXFHINDIR", ifindex, err)
		return nil, setHint(err, ethtoolHint(err, "ethtool -x "+e.ifname(ifindex)))
	}
	if h.Size != size {
		return nil, fmt.Errorf("netdev: GRXFHINDIR ifindex %d: table size changed from %d to %d", ifindex, size, h.Size)
	}
	indir := make([]uint32, size)
	for i := range indir {
		indir[i] = binary.NativeEndian.Uint32(b[uapi.SizeofEthtoolRxfhIndir+4*i:])
	}
	return indir, nil
}

// rxfhIndirSize asks for the table size (GRXFHINDIR with size 0).
func rxfhIndirSize(e ethtoolIoctler, ifindex int) (uint32, error) {
	b := ioctlBuf(uapi.SizeofEthtoolRxfhIndir)
	h := (*uapi.EthtoolRxfhIndir)(unsafe.Pointer(&b[0]))
	h.Cmd = unix.ETHTOOL_GRXFHINDIR
	if err := e.ethtoolIoctl(ifindex, b); err != nil {
		err = wrapError("GRXFHINDIR", ifindex, err)
		return 0, setHint(err, ethtoolHint(err, "ethtool -x "+e.ifname(ifindex)))
	}
	return h.Size, nil
}

// setRxfhIndir writes the table with ETHTOOL_SRXFHINDIR, which takes the
// full device size (or 0 to reset): indir is repeated to that size, as
// ETHTOOL_MSG_RSS_SET does in the kernel.
func setRxfhIndir(e ethtoolIoctler, ifindex int, indir []uint32) error {
	var size uint32
	if len(indir) > 0 {
		var err error
		size, err = rxfhIndirSize(e, ifindex)
		if err != nil {
			return err
		}
		if size == 0 || int(size)%len(indir) != 0 {
			return &Error{Op: "SRXFHINDIR", Ifindex: ifindex, Err: unix.EINVAL, Offset: -1,
				Message: fmt.Sprintf("table of %d entries does not divide the device's %d", len(indir), size)}
		}
	}
	b := ioctlBuf(uapi.SizeofEthtoolRxfhIndir + 4*int(size))
	h := (*uapi.EthtoolRxfhIndir)(unsafe.Pointer(&b[0]))
	h.Cmd = unix.ETHTOOL_SRXFHINDIR
	h.Size = size
	for i := 0; i < int(size); i++ {
		binary.NativeEndian.PutUint32(b[uapi.SizeofEthtoolRxfhIndir+4*i:], indir[i%len(indir)])
	}
	return wrapError("SRXFHINDIR", ifindex, e.ethtoolIoctl(ifindex, b))
}

// rxRings returns the RX ring count RSS spreads over (ETHTOOL_GRXRINGS).
func rxRings(e ethtoolIoctler, ifindex int) (uint32, error) {
	b := ioctlBuf(uapi.SizeofEthtoolRxnfc)
	n := (*uapi.EthtoolRxnfc)(unsafe.Pointer(&b[0]))
	n.Cmd = unix.ETHTOOL_GRXRINGS
	if err := e.ethtoolIoctl(ifindex, b); err != nil {
		err = wrapError("GRXRINGS", ifindex, err)
		return 0, setHint(err, ethtoolHint(err, "ethtool -x "+e.ifname(ifindex)))
	}
	return uint32(n.Data), nil
}

// errRxnfc386 reports the one architecture whose struct ethtool_rxnfc
// layout (u64 aligned to 4) differs from uapi.EthtoolRxnfc.
func errRxnfc386(op string, ifindex int) error {
	if runtime.GOARCH != "386" {
		return nil
	}
	return &Error{Op: op, Ifindex: ifindex, Err: unix.EOPNOTSUPP, Offset: -1,
		Message: "struct ethtool_rxnfc has a different layout on 386; flow rules are not implemented there"}
}

// rxnfc views b (from ioctlBuf, at least SizeofEthtoolRxnfc bytes) as the
// structure.
func rxnfc(b []byte) *uapi.EthtoolRxnfc {
	_ = b[uapi.SizeofEthtoolRxnfc-1]
	return (*uapi.EthtoolRxnfc)(unsafe.Pointer(&b[0]))
}

// encodeFlowRule builds the ETHTOOL_SRXCLSRLINS request for f at location
// loc. withSrc adds the source address and port (the 5-tuple form).
// Addresses and ports are in network byte order; a set mask bit means
// "match this bit".
func encodeFlowRule(f FlowSpec, withSrc bool, loc uint32) []byte {
	b := ioctlBuf(uapi.SizeofEthtoolRxnfc)
	n := rxnfc(b)
	n.Cmd = unix.ETHTOOL_SRXCLSRLINS
	dst, src := f.addrs()
	useSrcIP := withSrc && src.IsValid() && !src.IsUnspecified()
	useSrcPort := withSrc && f.Src.Port() != 0
	if dst.Is4() {
		n.Fs.FlowType = unix.TCP_V4_FLOW
		h := (*uapi.EthtoolTcpip4Spec)(unsafe.Pointer(&n.Fs.HU))
		m := (*uapi.EthtoolTcpip4Spec)(unsafe.Pointer(&n.Fs.MU))
		if !dst.IsUnspecified() {
			h.Ip4dst = dst.As4()
			m.Ip4dst = [4]byte{0xff, 0xff, 0xff, 0xff}
		}
		binary.BigEndian.PutUint16(h.Pdst[:], f.Dst.Port())
		m.Pdst = [2]byte{0xff, 0xff}
		if useSrcIP {
			h.Ip4src = src.As4()
			m.Ip4src = [4]byte{0xff, 0xff, 0xff, 0xff}
		}
		if useSrcPort {
			binary.BigEndian.PutUint16(h.Psrc[:], f.Src.Port())
			m.Psrc = [2]byte{0xff, 0xff}
		}
	} else {
		n.Fs.FlowType = unix.TCP_V6_FLOW
		h := (*uapi.EthtoolTcpip6Spec)(unsafe.Pointer(&n.Fs.HU))
		m := (*uapi.EthtoolTcpip6Spec)(unsafe.Pointer(&n.Fs.MU))
		ones := [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		if !dst.IsUnspecified() {
			h.Ip6dst = dst.As16()
			m.Ip6dst = ones
		}
		binary.BigEndian.PutUint16(h.Pdst[:], f.Dst.Port())
		m.Pdst = [2]byte{0xff, 0xff}
		if useSrcIP {
			h.Ip6src = src.As16()
			m.Ip6src = ones
		}
		if useSrcPort {
			binary.BigEndian.PutUint16(h.Psrc[:], f.Src.Port())
			m.Psrc = [2]byte{0xff, 0xff}
		}
	}
	n.Fs.RingCookie = uint64(f.Queue)
	n.Fs.Location = loc
	return b
}

// flowRuleTable is a device's n-tuple rule table.
type flowRuleTable struct {
	size    uint32   // table size
	special bool     // the driver picks locations (RX_CLS_LOC_ANY etc.)
	count   uint32   // rules in use
	locs    []uint32 // their locations, when asked for
}

// ruleTable reads the table size and rule count with ETHTOOL_GRXCLSRLCNT
// and, when withLocs, the locations in use.
func ruleTable(io ethtoolIoctler, ifindex int, withLocs bool) (flowRuleTable, error) {
	if err := errRxnfc386("GRXCLSRLCNT", ifindex); err != nil {
		return flowRuleTable{}, err
	}
	b := ioctlBuf(uapi.SizeofEthtoolRxnfc)
	n := rxnfc(b)
	n.Cmd = unix.ETHTOOL_GRXCLSRLCNT
	if err := io.ethtoolIoctl(ifindex, b); err != nil {
		err = wrapError("GRXCLSRLCNT", ifindex, err)
		return flowRuleTable{}, setHint(err, ethtoolHint(err, "ethtool -n "+io.ifname(ifindex)))
	}
	t := flowRuleTable{
		size:    uint32(n.Data) &^ uapi.RX_CLS_LOC_SPECIAL,
		special: n.Data&uapi.RX_CLS_LOC_SPECIAL != 0,
		count:   n.RuleCnt,
	}
	if withLocs {
		var err error
		t.locs, err = ruleLocs(io, ifindex, t.count)
		if err != nil {
			return flowRuleTable{}, err
		}
	}
	return t, nil
}

// ruleLocs reads the locations of count rules with ETHTOOL_GRXCLSRLALL.
func ruleLocs(io ethtoolIoctler, ifindex int, count uint32) ([]uint32, error) {
	if count == 0 {
		return nil, nil
	}
	if count > 1<<20 {
		return nil, fmt.Errorf("netdev: GRXCLSRLCNT ifindex %d: implausible rule count %d", ifindex, count)
	}
	b := ioctlBuf(max(uapi.SizeofEthtoolRxnfc, uapi.OffsetofEthtoolRxnfcRuleLocs+4*int(count)))
	n := rxnfc(b)
	n.Cmd = unix.ETHTOOL_GRXCLSRLALL
	n.RuleCnt = count
	if err := io.ethtoolIoctl(ifindex, b); err != nil {
		err = wrapError("GRXCLSRLALL", ifindex, err)
		return nil, setHint(err, ethtoolHint(err, "ethtool -n "+io.ifname(ifindex)))
	}
	locs := make([]uint32, min(n.RuleCnt, count))
	for i := range locs {
		locs[i] = binary.NativeEndian.Uint32(b[uapi.OffsetofEthtoolRxnfcRuleLocs+4*i:])
	}
	return locs, nil
}

// freeSlot returns the highest free location below size: like the ethtool
// program, an "any location" rule goes last (lowest priority).
func freeSlot(size uint32, used []uint32) (uint32, bool) {
	for loc := int64(size) - 1; loc >= 0; loc-- {
		if !slices.Contains(used, uint32(loc)) {
			return uint32(loc), true
		}
	}
	return 0, false
}

// insertFlowRule installs f: 5-tuple first when f has a source, then the
// 3-tuple. The location is RX_CLS_LOC_ANY when the driver supports special
// locations (or does not say), else the highest free slot.
func insertFlowRule(io ethtoolIoctler, ifindex int, f FlowSpec) (FlowRule, error) {
	if err := f.validate(); err != nil {
		return FlowRule{}, err
	}
	if err := errRxnfc386("SRXCLSRLINS", ifindex); err != nil {
		return FlowRule{}, err
	}
	loc := uint32(uapi.RX_CLS_LOC_ANY)
	if t, err := ruleTable(io, ifindex, false); err == nil && !t.special {
		t.locs, err = ruleLocs(io, ifindex, t.count)
		if err != nil {
			return FlowRule{}, err
		}
		slot, ok := freeSlot(t.size, t.locs)
		if !ok {
			return FlowRule{}, &Error{Op: "SRXCLSRLINS", Ifindex: ifindex, Err: unix.ENOSPC, Offset: -1,
				Message: fmt.Sprintf("all %d n-tuple rule slots are in use", t.size),
				Hint:    "delete unneeded rules (ethtool -n " + io.ifname(ifindex) + " lists them)"}
		}
		loc = slot
	}
	// Without a readable table (no get_rxnfc) try RX_CLS_LOC_ANY: the
	// insert itself says whether the driver takes rules at all.
	var fiveErr error
	if f.hasSrc() {
		r, err := insertOneFlowRule(io, ifindex, f, true, loc)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, ErrNotSupported) {
			return FlowRule{}, err
		}
		fiveErr = err
	}
	r, err := insertOneFlowRule(io, ifindex, f, false, loc)
	if err != nil && fiveErr != nil {
		var ne *Error
		if errors.As(err, &ne) {
			ne.Hint = "the driver refused both the 5-tuple and the 3-tuple rule; " + ne.Hint
		}
	}
	return r, err
}

func insertOneFlowRule(io ethtoolIoctler, ifindex int, f FlowSpec, withSrc bool, loc uint32) (FlowRule, error) {
	b := encodeFlowRule(f, withSrc, loc)
	if err := io.ethtoolIoctl(ifindex, b); err != nil {
		err = wrapError("SRXCLSRLINS", ifindex, err)
		hint := ethtoolHint(err, f.command(io.ifname(ifindex), withSrc))
		if errors.Is(err, unix.EINVAL) || errors.Is(err, ErrNotSupported) {
			hint = "n-tuple filtering may be off (ethtool -K " + io.ifname(ifindex) + " ntuple on), or the driver cannot match this rule; " + hint
		}
		return FlowRule{}, setHint(err, hint)
	}
	return FlowRule{Flow: f, Location: rxnfc(b).Fs.Location, FiveTuple: withSrc}, nil
}

// deleteFlowRule removes the rule at loc (ETHTOOL_SRXCLSRLDEL).
func deleteFlowRule(io ethtoolIoctler, ifindex int, loc uint32) error {
	if err := errRxnfc386("SRXCLSRLDEL", ifindex); err != nil {
		return err
	}
	b := ioctlBuf(uapi.SizeofEthtoolRxnfc)
	n := rxnfc(b)
	n.Cmd = unix.ETHTOOL_SRXCLSRLDEL
	n.Fs.Location = loc
	if err := io.ethtoolIoctl(ifindex, b); err != nil {
		err = wrapError("SRXCLSRLDEL", ifindex, err)
		return setHint(err, ethtoolHint(err, "ethtool -N "+io.ifname(ifindex)+" delete "+strconv.FormatUint(uint64(loc), 10)))
	}
	return nil
}

func (e *ethtoolClient) insertFlowRule(ifindex int, f FlowSpec) (FlowRule, error) {
	return insertFlowRule(e, ifindex, f)
}

func (e *ethtoolClient) deleteFlowRule(ifindex int, loc uint32) error {
	return deleteFlowRule(e, ifindex, loc)
}

func (e *ethtoolClient) flowRuleLocations(ifindex int) (uint32, []uint32, error) {
	t, err := ruleTable(e, ifindex, true)
	return t.size, t.locs, err
}
