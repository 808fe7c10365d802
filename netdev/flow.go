package netdev

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// FlowSpec describes a TCP flow to steer to one RX queue with an n-tuple
// rule (what "ethtool -N dev flow-type tcp4|tcp6 ... action Q" installs).
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d), which dual-stack sockets
// report for IPv4 peers, are matched as IPv4 (TCP_V4_FLOW): that is how the
// packets arrive at the NIC.
type FlowSpec struct {
	// Dst is the local address and port the flow arrives at. The port is
	// required. An unspecified address (0.0.0.0 or ::) matches every local
	// address of that family.
	Dst netip.AddrPort
	// Src optionally narrows the rule to one peer; the zero value matches
	// any peer. A zero port matches any peer port. Src must be of Dst's
	// family.
	Src netip.AddrPort
	// Queue is the RX queue the flow is steered to.
	Queue uint32
}

// addrs returns the addresses to match, v4-mapped ones unmapped.
func (f FlowSpec) addrs() (dst, src netip.Addr) {
	dst = f.Dst.Addr().Unmap()
	if f.Src.Addr().IsValid() {
		src = f.Src.Addr().Unmap()
	}
	return dst, src
}

// hasSrc reports whether the 5-tuple form says more than the 3-tuple one.
func (f FlowSpec) hasSrc() bool {
	_, src := f.addrs()
	return (src.IsValid() && !src.IsUnspecified()) || f.Src.Port() != 0
}

// validate checks f for what the kernel would refuse less clearly.
func (f FlowSpec) validate() error {
	dst, src := f.addrs()
	switch {
	case !dst.IsValid():
		return fmt.Errorf("netdev: flow %v: destination address is missing (use 0.0.0.0 or :: for any): %w", f, os.ErrInvalid)
	case dst.Zone() != "":
		return fmt.Errorf("netdev: flow %v: an address zone cannot be matched: %w", f, os.ErrInvalid)
	case f.Dst.Port() == 0:
		return fmt.Errorf("netdev: flow %v: destination port is missing: %w", f, os.ErrInvalid)
	case f.Src.Port() != 0 && !src.IsValid():
		return fmt.Errorf("netdev: flow %v: a source port needs a source address (0.0.0.0 or :: for any): %w", f, os.ErrInvalid)
	case src.IsValid() && src.Is4() != dst.Is4():
		return fmt.Errorf("netdev: flow %v: source and destination are of different address families: %w", f, os.ErrInvalid)
	}
	return nil
}

// String renders f like "tcp4 192.0.2.1:5201 <- 198.51.100.7:0 queue 2".
func (f FlowSpec) String() string {
	var b strings.Builder
	dst, src := f.addrs()
	if dst.Is4() {
		b.WriteString("tcp4 ")
	} else {
		b.WriteString("tcp6 ")
	}
	b.WriteString(netip.AddrPortFrom(dst, f.Dst.Port()).String())
	if src.IsValid() {
		b.WriteString(" <- ")
		b.WriteString(netip.AddrPortFrom(src, f.Src.Port()).String())
	}
	b.WriteString(" queue ")
	b.WriteString(strconv.FormatUint(uint64(f.Queue), 10))
	return b.String()
}

// command renders the "ethtool -N" equivalent of the rule, with or
// without the source half.
func (f FlowSpec) command(dev string, withSrc bool) string {
	dst, src := f.addrs()
	var b strings.Builder
	b.WriteString("ethtool -N ")
	b.WriteString(dev)
	if dst.Is4() {
		b.WriteString(" flow-type tcp4")
	} else {
		b.WriteString(" flow-type tcp6")
	}
	if withSrc && src.IsValid() && !src.IsUnspecified() {
		b.WriteString(" src-ip " + src.String())
	}
	if !dst.IsUnspecified() {
		b.WriteString(" dst-ip " + dst.String())
	}
	if withSrc && f.Src.Port() != 0 {
		b.WriteString(" src-port " + strconv.Itoa(int(f.Src.Port())))
	}
	b.WriteString(" dst-port " + strconv.Itoa(int(f.Dst.Port())))
	b.WriteString(" action " + strconv.FormatUint(uint64(f.Queue), 10))
	return b.String()
}

// FlowRule is an n-tuple rule installed in a device's rule table.
type FlowRule struct {
	Flow FlowSpec // the flow as requested
	// Location is the rule's slot in the device's table ("ethtool -N dev
	// delete <Location>").
	Location uint32
	// FiveTuple reports whether the rule matches Flow.Src too. It is false
	// when Flow.Src was not set, or when the driver refused the 5-tuple
	// rule and the 3-tuple fallback (destination only) was installed.
	FiveTuple bool
}
