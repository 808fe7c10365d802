package uapi

import (
	"structs"
	"unsafe"
)

// NIC setup for devmem: the ethtool generic netlink family and the
// SIOCETHTOOL ioctl. golang.org/x/sys/unix has most ETHTOOL_* commands and
// attributes (ETHTOOL_MSG_RINGS_*, ETHTOOL_A_RINGS_*, ETHTOOL_SRXCLSRLINS,
// SIOCETHTOOL, TCP_V4_FLOW, ...); only what it lacks is declared here.

// From linux/ethtool_netlink_generated.h (Linux 7.2).
const (
	// ETHTOOL_TCP_DATA_SPLIT_* are the values of ETHTOOL_A_RINGS_TCP_DATA_SPLIT (u8).
	ETHTOOL_TCP_DATA_SPLIT_UNKNOWN  = 0 // driver default ("auto")
	ETHTOOL_TCP_DATA_SPLIT_DISABLED = 1
	ETHTOOL_TCP_DATA_SPLIT_ENABLED  = 2

	// ETHTOOL_MSG_RSS_SET and friends (user to kernel). RSS_SET appeared
	// after 6.12; feature-detect it through the family's op list.
	ETHTOOL_MSG_RSS_SET        = 48
	ETHTOOL_MSG_RSS_CREATE_ACT = 49
	ETHTOOL_MSG_RSS_DELETE_ACT = 50

	// ETHTOOL_A_RSS_* attributes of ETHTOOL_MSG_RSS_GET/SET.
	ETHTOOL_A_RSS_HEADER        = 1 // nest: ETHTOOL_A_HEADER_*
	ETHTOOL_A_RSS_CONTEXT       = 2 // u32
	ETHTOOL_A_RSS_HFUNC         = 3 // u32
	ETHTOOL_A_RSS_INDIR         = 4 // binary: array of u32 queue indices
	ETHTOOL_A_RSS_HKEY          = 5 // binary
	ETHTOOL_A_RSS_INPUT_XFRM    = 6 // u32
	ETHTOOL_A_RSS_START_CONTEXT = 7 // u32
	ETHTOOL_A_RSS_FLOW_HASH     = 8 // nest
)

// From linux/ethtool.h.
const (
	// FLOW_EXT, FLOW_MAC_EXT and FLOW_RSS are flags or-ed into
	// ethtool_rx_flow_spec.flow_type.
	FLOW_EXT     = 0x80000000
	FLOW_MAC_EXT = 0x40000000
	FLOW_RSS     = 0x20000000

	// RX_CLS_LOC_SPECIAL is set in ETHTOOL_GRXCLSRLCNT's data when the
	// driver chooses rule locations itself (RX_CLS_LOC_ANY/FIRST/LAST).
	RX_CLS_LOC_SPECIAL = 0x80000000
	RX_CLS_LOC_ANY     = 0xffffffff
	RX_CLS_LOC_FIRST   = 0xfffffffe
	RX_CLS_LOC_LAST    = 0xfffffffd

	// RX_CLS_FLOW_DISC (drop) and RX_CLS_FLOW_WAKE are special ring_cookie values.
	RX_CLS_FLOW_DISC = 0xffffffffffffffff
	RX_CLS_FLOW_WAKE = 0xfffffffffffffffe

	ETH_RXFH_CONTEXT_ALLOC   = 0xffffffff
	ETH_RXFH_INDIR_NO_CHANGE = 0xffffffff
)

// From linux/if_link.h and linux/veth.h (rtnetlink; used to read a device's
// XDP state and, in tests, to create veth pairs).
const (
	XDP_ATTACHED_NONE  = 0
	XDP_ATTACHED_DRV   = 1
	XDP_ATTACHED_SKB   = 2
	XDP_ATTACHED_HW    = 3
	XDP_ATTACHED_MULTI = 4

	VETH_INFO_PEER = 1
)

// EthtoolTcpip4Spec is struct ethtool_tcpip4_spec, the TCP_V4_FLOW member of
// union ethtool_flow_union. All fields are in network byte order.
type EthtoolTcpip4Spec struct {
	_      structs.HostLayout
	Ip4src [4]byte
	Ip4dst [4]byte
	Psrc   [2]byte
	Pdst   [2]byte
	Tos    uint8
	_      [3]byte
}

// SizeofEthtoolTcpip4Spec is sizeof(struct ethtool_tcpip4_spec).
const SizeofEthtoolTcpip4Spec = 16

// EthtoolTcpip6Spec is struct ethtool_tcpip6_spec, the TCP_V6_FLOW member of
// union ethtool_flow_union. All fields are in network byte order.
type EthtoolTcpip6Spec struct {
	_      structs.HostLayout
	Ip6src [16]byte
	Ip6dst [16]byte
	Psrc   [2]byte
	Pdst   [2]byte
	Tclass uint8
	_      [3]byte
}

// SizeofEthtoolTcpip6Spec is sizeof(struct ethtool_tcpip6_spec).
const SizeofEthtoolTcpip6Spec = 40

// SizeofEthtoolFlowUnion is sizeof(union ethtool_flow_union).
const SizeofEthtoolFlowUnion = 52

// EthtoolFlowExt is struct ethtool_flow_ext. VlanEtype, VlanTci and Data are
// big-endian (__be16, __be32) and kept as bytes.
type EthtoolFlowExt struct {
	_         structs.HostLayout
	Padding   [2]byte
	HDest     [6]byte
	VlanEtype [2]byte
	VlanTci   [2]byte
	Data      [8]byte
}

// SizeofEthtoolFlowExt is sizeof(struct ethtool_flow_ext).
const SizeofEthtoolFlowExt = 20

// EthtoolRxFlowSpec is struct ethtool_rx_flow_spec (LP64 layout). HU and MU
// hold union ethtool_flow_union, e.g. an EthtoolTcpip4Spec; a set bit in MU
// means "match this bit".
type EthtoolRxFlowSpec struct {
	_          structs.HostLayout
	FlowType   uint32
	HU         [SizeofEthtoolFlowUnion]byte
	HExt       EthtoolFlowExt
	MU         [SizeofEthtoolFlowUnion]byte
	MExt       EthtoolFlowExt
	_          [4]byte
	RingCookie uint64
	Location   uint32
	_          [4]byte
}

// SizeofEthtoolRxFlowSpec is sizeof(struct ethtool_rx_flow_spec).
const SizeofEthtoolRxFlowSpec = 168

// EthtoolRxnfc is struct ethtool_rxnfc (LP64 layout), the argument of the
// ETHTOOL_{G,S}RXCLSRL*, ETHTOOL_GRXRINGS and ETHTOOL_{G,S}RXFH commands.
// RuleCnt is the union of rss_context and rule_cnt. The flexible array
// rule_locs[] starts at OffsetofEthtoolRxnfcRuleLocs (188), inside the
// struct's tail padding: ETHTOOL_GRXCLSRLALL needs a buffer of
// max(SizeofEthtoolRxnfc, 188+4*rule_cnt) bytes.
type EthtoolRxnfc struct {
	_        structs.HostLayout
	Cmd      uint32
	FlowType uint32
	Data     uint64
	Fs       EthtoolRxFlowSpec
	RuleCnt  uint32
	_        [4]byte
}

// SizeofEthtoolRxnfc is sizeof(struct ethtool_rxnfc).
const SizeofEthtoolRxnfc = 192

// OffsetofEthtoolRxnfcRuleLocs is offsetof(struct ethtool_rxnfc, rule_locs).
const OffsetofEthtoolRxnfcRuleLocs = 188

// EthtoolRxfhIndir is the fixed head of struct ethtool_rxfh_indir
// (ETHTOOL_GRXFHINDIR/SRXFHINDIR); Size u32 ring indices follow it.
type EthtoolRxfhIndir struct {
	_    structs.HostLayout
	Cmd  uint32
	Size uint32
}

// SizeofEthtoolRxfhIndir is sizeof(struct ethtool_rxfh_indir), which is
// also offsetof(struct ethtool_rxfh_indir, ring_index).
const SizeofEthtoolRxfhIndir = 8

// EthtoolChannels is struct ethtool_channels (ETHTOOL_GCHANNELS/SCHANNELS).
type EthtoolChannels struct {
	_             structs.HostLayout
	Cmd           uint32
	MaxRx         uint32
	MaxTx         uint32
	MaxOther      uint32
	MaxCombined   uint32
	RxCount       uint32
	TxCount       uint32
	OtherCount    uint32
	CombinedCount uint32
}

// SizeofEthtoolChannels is sizeof(struct ethtool_channels).
const SizeofEthtoolChannels = 36

// IfreqData is struct ifreq used with ifr_data, as SIOCETHTOOL needs it
// (x/sys/unix's Ifreq cannot carry a pointer). Data points at the ethtool
// command structure.
type IfreqData struct {
	_    structs.HostLayout
	Name [16]byte // IFNAMSIZ
	Data unsafe.Pointer
	_    [unsafe.Sizeof(uintptr(0)) + 8]byte
}

// SizeofIfreq is sizeof(struct ifreq) on 64-bit targets.
const SizeofIfreq = 40
