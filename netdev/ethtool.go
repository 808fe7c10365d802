package netdev

import (
	"strconv"

	"github.com/devmem-go/devmem/internal/uapi"
)

// Ethtool is a client for the NIC settings devmem depends on: ring
// parameters (header split), channels, the RSS indirection table and n-tuple
// flow rules. It speaks the kernel's ethtool generic netlink family, and the
// SIOCETHTOOL ioctl where no netlink message exists (flow rules, and RSS on
// kernels without ETHTOOL_MSG_RSS_SET). It never runs the ethtool program.
//
// Devices are named by ifindex, resolved in the network namespace the
// client was created in.
//
// Reads need no privileges; every Set*, InsertFlowRule and DeleteFlowRule
// needs CAP_NET_ADMIN in the device's network namespace (errors.Is(err,
// os.ErrPermission) otherwise). Kernel refusals are returned as *[Error] with
// a Hint that names the equivalent ethtool command.
//
// An Ethtool is safe for concurrent use. It owns a netlink socket and a
// datagram socket; Close must be called to free them.
type Ethtool struct {
	e *ethtoolClient
}

// NewEthtool opens an [Ethtool] client in the calling thread's network
// namespace. Requires Linux 6.0 or later (the ethtool netlink rings
// messages); on other systems it returns an error compatible with
// errors.Is(err, ErrNotSupported).
func NewEthtool() (*Ethtool, error) {
	e, err := newEthtoolClient()
	if err != nil {
		return nil, err
	}
	return &Ethtool{e: e}, nil
}

// Close releases the client's sockets. It is idempotent and nil-safe.
func (c *Ethtool) Close() error {
	if c == nil || c.e == nil {
		return nil
	}
	return c.e.close()
}

// Rings returns the ring parameters of the device (ETHTOOL_MSG_RINGS_GET,
// like "ethtool -g"). A driver without ring parameters (veth, lo) gives an
// error compatible with errors.Is(err, ErrNotSupported); an unknown ifindex
// one compatible with errors.Is(err, os.ErrNotExist).
func (c *Ethtool) Rings(ifindex int) (*Rings, error) { return c.e.rings(ifindex) }

// SetRings changes the ring parameters named by the non-nil fields of u
// (ETHTOOL_MSG_RINGS_SET, like "ethtool -G"). A driver that cannot change a
// requested parameter gives an error compatible with errors.Is(err,
// ErrNotSupported). While a devmem binding (or another memory provider)
// holds one of the device's queues the kernel refuses to disable header
// split or raise hds-thresh (EINVAL): unbind first.
func (c *Ethtool) SetRings(ifindex int, u RingsUpdate) error { return c.e.setRings(ifindex, u) }

// Channels returns the device's channel counts (ETHTOOL_MSG_CHANNELS_GET,
// like "ethtool -l").
func (c *Ethtool) Channels(ifindex int) (*Channels, error) { return c.e.channels(ifindex) }

// SetChannels changes the channel counts named by the non-nil fields of u
// (ETHTOOL_MSG_CHANNELS_SET, like "ethtool -L"). The kernel refuses to drop
// a queue that a devmem binding holds.
func (c *Ethtool) SetChannels(ifindex int, u ChannelsUpdate) error {
	return c.e.setChannels(ifindex, u)
}

// RSS returns the device's default RSS context: indirection table, hash
// function and key (ETHTOOL_MSG_RSS_GET, or ETHTOOL_GRXFHINDIR on kernels
// without it; like "ethtool -x").
func (c *Ethtool) RSS(ifindex int) (*RSS, error) { return c.e.rss(ifindex) }

// SetRSSIndir replaces the indirection table of the device's default RSS
// context (like "ethtool -X"). indir lists queue indices; its length must
// divide the device's table size (the kernel repeats it), which is how
// "ethtool -X dev equal N" is expressed: indir = [0, 1, ..., N-1]. An empty
// indir resets the table to the driver's default spread over all RX rings.
//
// It uses ETHTOOL_MSG_RSS_SET where the kernel has it (about Linux 6.17 and
// later) and the ETHTOOL_SRXFHINDIR ioctl otherwise.
func (c *Ethtool) SetRSSIndir(ifindex int, indir []uint32) error {
	return c.e.setRSSIndir(ifindex, indir)
}

// InsertFlowRule adds an n-tuple rule that steers the TCP flow f to
// f.Queue (ETHTOOL_SRXCLSRLINS, like "ethtool -N dev flow-type tcp4 ...
// action Q"). When f.Src is set it first tries the 5-tuple rule and falls
// back to the 3-tuple (destination address and port) if the driver refuses
// it. The driver picks the rule's location where it supports that;
// otherwise the highest free slot of the rule table is used, as the ethtool
// program does. The returned rule carries the location to pass to
// [Ethtool.DeleteFlowRule].
//
// Most drivers need the ntuple feature on ("ethtool -K dev ntuple on");
// drivers without n-tuple filters (veth) give an error compatible with
// errors.Is(err, ErrNotSupported).
func (c *Ethtool) InsertFlowRule(ifindex int, f FlowSpec) (FlowRule, error) {
	return c.e.insertFlowRule(ifindex, f)
}

// DeleteFlowRule removes the n-tuple rule at location loc
// (ETHTOOL_SRXCLSRLDEL, like "ethtool -N dev delete loc").
func (c *Ethtool) DeleteFlowRule(ifindex int, loc uint32) error {
	return c.e.deleteFlowRule(ifindex, loc)
}

// FlowRuleLocations returns the size of the device's rule table and the
// locations in use (ETHTOOL_GRXCLSRLCNT and ETHTOOL_GRXCLSRLALL).
func (c *Ethtool) FlowRuleLocations(ifindex int) (size uint32, locs []uint32, err error) {
	return c.e.flowRuleLocations(ifindex)
}

// TCPDataSplit is the header-split setting of a device's RX rings
// (ETHTOOL_A_RINGS_TCP_DATA_SPLIT). Devmem needs [TCPDataSplitEnabled].
type TCPDataSplit uint8

// Header-split settings.
const (
	// TCPDataSplitUnknown is the driver's default ("auto"); the kernel
	// omits the attribute in that case. It is not enough for devmem, even
	// where the driver splits by default.
	TCPDataSplitUnknown TCPDataSplit = uapi.ETHTOOL_TCP_DATA_SPLIT_UNKNOWN
	// TCPDataSplitDisabled is header split off.
	TCPDataSplitDisabled TCPDataSplit = uapi.ETHTOOL_TCP_DATA_SPLIT_DISABLED
	// TCPDataSplitEnabled is header split on.
	TCPDataSplitEnabled TCPDataSplit = uapi.ETHTOOL_TCP_DATA_SPLIT_ENABLED
)

// String returns "unknown", "off" or "on", the words "ethtool -g" prints.
func (s TCPDataSplit) String() string {
	switch s {
	case TCPDataSplitUnknown:
		return "unknown"
	case TCPDataSplitDisabled:
		return "off"
	case TCPDataSplitEnabled:
		return "on"
	}
	return "tcp-data-split(" + strconv.Itoa(int(s)) + ")"
}

// Rings holds a device's RX ring parameters as ETHTOOL_MSG_RINGS_GET reports
// them. Values the driver does not report are zero.
type Rings struct {
	RX, RXMax    uint32       // RX ring size and its maximum
	RXBufLen     uint32       // RX buffer length, 0 if not reported
	TCPDataSplit TCPDataSplit // header split
	// HDSThresh is the header-data-split threshold: payloads shorter than
	// it stay in the header buffer. Devmem needs 0. Valid only when
	// HDSThreshSupported.
	HDSThresh    uint32
	HDSThreshMax uint32 // the largest hds-thresh the driver accepts
	// HDSThreshSupported reports whether the driver exposes (and accepts)
	// hds-thresh. Requires Linux 6.14 or later.
	HDSThreshSupported bool
}

// RingsUpdate names the ring parameters to change; only non-nil fields are
// sent.
type RingsUpdate struct {
	RX           *uint32       // RX ring size ("ethtool -G dev rx N")
	RXBufLen     *uint32       // RX buffer length ("rx-buf-len N")
	TCPDataSplit *TCPDataSplit // header split ("tcp-data-split on|off|auto")
	HDSThresh    *uint32       // header-data-split threshold ("hds-thresh N")
}

// Channels holds a device's channel counts. The RX queues a devmem binding
// can use are RX + Combined (the kernel's real_num_rx_queues).
type Channels struct {
	RX, TX, Other, Combined             uint32 // current counts
	MaxRX, MaxTX, MaxOther, MaxCombined uint32 // the driver's maximums
}

// RXQueues returns the number of RX queues: RX + Combined.
func (c Channels) RXQueues() uint32 { return c.RX + c.Combined }

// ChannelsUpdate names the channel counts to change; only non-nil fields
// are sent.
type ChannelsUpdate struct {
	RX, TX, Other, Combined *uint32 // "ethtool -L dev rx|tx|other|combined N"
}

// RSS is the default RSS context of a device.
type RSS struct {
	// Indir is the indirection table: entry i is the RX queue that packets
	// whose hash selects i go to.
	Indir []uint32
	// HFunc is the hash function as a bit (ETH_RSS_HASH_*), 0 if not reported.
	HFunc uint32
	// Key is the hash key, nil if not reported.
	Key []byte
}
