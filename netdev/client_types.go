package netdev

import (
	"strconv"
	"strings"
	"time"

	"github.com/devmem-go/devmem/internal/uapi"
)

// Command is a command of the netdev generic netlink family
// (NETDEV_CMD_*). [Client.Supports] reports which ones the running kernel
// has.
type Command uint8

// Commands of the netdev family, with the Linux release that added them.
const (
	CmdDevGet            Command = uapi.NETDEV_CMD_DEV_GET              // 6.3
	CmdDevAddNtf         Command = uapi.NETDEV_CMD_DEV_ADD_NTF          // 6.3, notification
	CmdDevDelNtf         Command = uapi.NETDEV_CMD_DEV_DEL_NTF          // 6.3, notification
	CmdDevChangeNtf      Command = uapi.NETDEV_CMD_DEV_CHANGE_NTF       // 6.3, notification
	CmdPagePoolGet       Command = uapi.NETDEV_CMD_PAGE_POOL_GET        // 6.8
	CmdPagePoolAddNtf    Command = uapi.NETDEV_CMD_PAGE_POOL_ADD_NTF    // 6.8, notification
	CmdPagePoolDelNtf    Command = uapi.NETDEV_CMD_PAGE_POOL_DEL_NTF    // 6.8, notification
	CmdPagePoolChangeNtf Command = uapi.NETDEV_CMD_PAGE_POOL_CHANGE_NTF // 6.8, notification
	CmdPagePoolStatsGet  Command = uapi.NETDEV_CMD_PAGE_POOL_STATS_GET  // 6.8
	CmdQueueGet          Command = uapi.NETDEV_CMD_QUEUE_GET            // 6.10
	CmdNAPIGet           Command = uapi.NETDEV_CMD_NAPI_GET             // 6.10
	CmdQStatsGet         Command = uapi.NETDEV_CMD_QSTATS_GET           // 6.10
	CmdBindRX            Command = uapi.NETDEV_CMD_BIND_RX              // 6.12
	CmdNAPISet           Command = uapi.NETDEV_CMD_NAPI_SET             // 6.13
	CmdBindTX            Command = uapi.NETDEV_CMD_BIND_TX              // 6.16
	CmdQueueCreate       Command = uapi.NETDEV_CMD_QUEUE_CREATE         // 7.x
)

var commandNames = [...]string{
	CmdDevGet:            "dev-get",
	CmdDevAddNtf:         "dev-add-ntf",
	CmdDevDelNtf:         "dev-del-ntf",
	CmdDevChangeNtf:      "dev-change-ntf",
	CmdPagePoolGet:       "page-pool-get",
	CmdPagePoolAddNtf:    "page-pool-add-ntf",
	CmdPagePoolDelNtf:    "page-pool-del-ntf",
	CmdPagePoolChangeNtf: "page-pool-change-ntf",
	CmdPagePoolStatsGet:  "page-pool-stats-get",
	CmdQueueGet:          "queue-get",
	CmdNAPIGet:           "napi-get",
	CmdQStatsGet:         "qstats-get",
	CmdBindRX:            "bind-rx",
	CmdNAPISet:           "napi-set",
	CmdBindTX:            "bind-tx",
	CmdQueueCreate:       "queue-create",
}

// String returns the command's name in the YNL spec, e.g. "bind-rx".
func (c Command) String() string {
	if int(c) < len(commandNames) && commandNames[c] != "" {
		return commandNames[c]
	}
	return "cmd-" + strconv.Itoa(int(c))
}

// QueueType is the direction of a queue (enum netdev_queue_type).
type QueueType uint32

// Queue types.
const (
	QueueTypeRX QueueType = uapi.NETDEV_QUEUE_TYPE_RX
	QueueTypeTX QueueType = uapi.NETDEV_QUEUE_TYPE_TX
)

// String returns "rx" or "tx".
func (t QueueType) String() string {
	switch t {
	case QueueTypeRX:
		return "rx"
	case QueueTypeTX:
		return "tx"
	}
	return "queue-type-" + strconv.FormatUint(uint64(t), 10)
}

// QStatsScope selects how [Client.QueueStats] groups counters (enum
// netdev_qstats_scope).
type QStatsScope uint32

// Statistics scopes.
const (
	// QStatsScopeDevice sums each device's queues into one entry (and adds
	// the driver's base counters for queues that no longer exist).
	QStatsScopeDevice QStatsScope = 0
	// QStatsScopeQueue reports one entry per queue.
	QStatsScopeQueue QStatsScope = uapi.NETDEV_QSTATS_SCOPE_QUEUE
)

// String returns "device" or "queue".
func (s QStatsScope) String() string {
	switch s {
	case QStatsScopeDevice:
		return "device"
	case QStatsScopeQueue:
		return "queue"
	}
	return "qstats-scope-" + strconv.FormatUint(uint64(s), 10)
}

// NAPIThreaded is the threaded mode of a NAPI instance (enum
// netdev_napi_threaded).
type NAPIThreaded uint32

// NAPI threaded modes.
const (
	NAPIThreadedDisabled NAPIThreaded = uapi.NETDEV_NAPI_THREADED_DISABLED
	NAPIThreadedEnabled  NAPIThreaded = uapi.NETDEV_NAPI_THREADED_ENABLED
	// NAPIThreadedBusyPoll runs the NAPI kthread in busy-poll mode (7.x).
	NAPIThreadedBusyPoll NAPIThreaded = uapi.NETDEV_NAPI_THREADED_BUSY_POLL
)

// String returns "disabled", "enabled" or "busy-poll".
func (t NAPIThreaded) String() string {
	switch t {
	case NAPIThreadedDisabled:
		return "disabled"
	case NAPIThreadedEnabled:
		return "enabled"
	case NAPIThreadedBusyPoll:
		return "busy-poll"
	}
	return "napi-threaded-" + strconv.FormatUint(uint64(t), 10)
}

// XDPAct is the set of XDP features of a device (enum netdev_xdp_act).
type XDPAct uint64

// XDP features.
const (
	XDPActBasic       XDPAct = uapi.NETDEV_XDP_ACT_BASIC // XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX
	XDPActRedirect    XDPAct = uapi.NETDEV_XDP_ACT_REDIRECT
	XDPActNDOXmit     XDPAct = uapi.NETDEV_XDP_ACT_NDO_XMIT
	XDPActXSKZeroCopy XDPAct = uapi.NETDEV_XDP_ACT_XSK_ZEROCOPY
	XDPActHWOffload   XDPAct = uapi.NETDEV_XDP_ACT_HW_OFFLOAD
	XDPActRxSG        XDPAct = uapi.NETDEV_XDP_ACT_RX_SG
	XDPActNDOXmitSG   XDPAct = uapi.NETDEV_XDP_ACT_NDO_XMIT_SG
)

var xdpActNames = []string{"basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg"}

// String joins the names of the set flags with "|", e.g. "basic|redirect";
// unknown bits are shown in hex. The empty set is "0".
func (f XDPAct) String() string { return flagString(uint64(f), xdpActNames) }

// XDPRxMetadata is the set of XDP RX metadata a device exposes (enum
// netdev_xdp_rx_metadata).
type XDPRxMetadata uint64

// XDP RX metadata features.
const (
	XDPRxMetadataTimestamp XDPRxMetadata = uapi.NETDEV_XDP_RX_METADATA_TIMESTAMP
	XDPRxMetadataHash      XDPRxMetadata = uapi.NETDEV_XDP_RX_METADATA_HASH
	XDPRxMetadataVLANTag   XDPRxMetadata = uapi.NETDEV_XDP_RX_METADATA_VLAN_TAG
)

var xdpRxMetadataNames = []string{"timestamp", "hash", "vlan-tag"}

// String joins the names of the set flags with "|".
func (f XDPRxMetadata) String() string { return flagString(uint64(f), xdpRxMetadataNames) }

// XSKFlags is the set of AF_XDP TX metadata features of a device (enum
// netdev_xsk_flags).
type XSKFlags uint64

// AF_XDP features.
const (
	XSKFlagsTxTimestamp      XSKFlags = uapi.NETDEV_XSK_FLAGS_TX_TIMESTAMP
	XSKFlagsTxChecksum       XSKFlags = uapi.NETDEV_XSK_FLAGS_TX_CHECKSUM
	XSKFlagsTxLaunchTimeFIFO XSKFlags = uapi.NETDEV_XSK_FLAGS_TX_LAUNCH_TIME_FIFO
)

var xskFlagNames = []string{"tx-timestamp", "tx-checksum", "tx-launch-time-fifo"}

// String joins the names of the set flags with "|".
func (f XSKFlags) String() string { return flagString(uint64(f), xskFlagNames) }

func flagString(v uint64, names []string) string {
	if v == 0 {
		return "0"
	}
	var b strings.Builder
	for i, n := range names {
		if v&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(n)
		v &^= 1 << i
	}
	if v != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(v, 16))
	}
	return b.String()
}

// Dev is a network device as the netdev family reports it (dev-get). The
// family says nothing about devmem support: only a bind attempt tells.
type Dev struct {
	Ifindex               int
	XDPFeatures           XDPAct
	XDPZCMaxSegs          uint32 // most fragments an AF_XDP zero-copy driver takes; 0 unless XDPActXSKZeroCopy
	XDPRxMetadataFeatures XDPRxMetadata
	XSKFeatures           XSKFlags
}

// QueueID names one queue of a device: its index and direction (the
// "queue-id" attribute set).
type QueueID struct {
	ID   uint32
	Type QueueType
}

// Queue is one configured queue of a device (queue-get).
type Queue struct {
	ID      uint32
	Type    QueueType
	Ifindex int
	NAPIID  uint32 // NAPI instance serving the queue; 0 if none
	// DMABuf is the id of the devmem RX binding that provides this queue's
	// memory; 0 if none. It is the [Binding.ID] of the binding (Linux 6.12+).
	DMABuf uint32
	// IOURing is set when an io_uring zero-copy RX area provides the queue's
	// memory (Linux 6.15+).
	IOURing *IOURingProviderInfo
	// XSK is true when an AF_XDP socket uses the queue.
	XSK bool
	// Lease describes the other end of a queue lease (netkit, Linux 7.x):
	// on a physical device, the virtual device the queue is leased to.
	Lease *Lease
}

// IOURingProviderInfo describes an io_uring zero-copy RX memory provider.
type IOURingProviderInfo struct {
	RxBufLen uint64 // receive buffer size in bytes; 0 where the kernel does not report it (before 7.x)
}

// Lease is the "lease" attribute set: the device and queue at the other end
// of a queue lease (Linux 7.x).
type Lease struct {
	Ifindex int
	Queue   QueueID
	NetNSID int32 // peer network namespace id of that device; -1 if it is in the caller's namespace
}

// NAPI is one NAPI instance (napi-get). Fields the running kernel does not
// report are zero (defer-hard-irqs, gro-flush-timeout and
// irq-suspend-timeout since Linux 6.13, threaded later).
type NAPI struct {
	ID                uint32
	Ifindex           int
	IRQ               int // -1 if the instance has no IRQ
	PID               int // pid of the NAPI kthread in the caller's pid namespace; 0 if not threaded
	DeferHardIRQs     uint32
	GROFlushTimeout   time.Duration
	IRQSuspendTimeout time.Duration
	Threaded          NAPIThreaded
}

// NAPIConfig holds the settings [Client.SetNAPI] changes. Only non-nil
// fields are sent, and only those are modified.
type NAPIConfig struct {
	DeferHardIRQs     *uint32        // at most math.MaxInt32
	GROFlushTimeout   *time.Duration // not negative
	IRQSuspendTimeout *time.Duration // not negative
	Threaded          *NAPIThreaded
}

// PagePool is a page pool (page-pool-get). Only pools the driver linked to
// a device are listed.
type PagePool struct {
	ID      uint32
	Ifindex int    // 0 once the device is gone (the pool is then listed under lo)
	NAPIID  uint32 // 0 if none
	// Inflight is the number of buffers the pool has handed out and not got
	// back: held by the stack, by sockets, or as unreleased devmem tokens.
	Inflight    uint64
	InflightMem uint64 // Inflight in bytes
	// DetachTime is the CLOCK_BOOTTIME time, in whole seconds, at which the
	// driver detached the pool; 0 while attached.
	DetachTime time.Duration
	// DMABuf is the id of the devmem binding providing the pool's memory;
	// 0 if none (Linux 6.12+).
	DMABuf  uint32
	IOURing *IOURingProviderInfo // set when io_uring zero-copy RX provides the memory
}

// PagePoolStats are the counters of one page pool (page-pool-stats-get,
// needs a kernel built with CONFIG_PAGE_POOL_STATS).
type PagePoolStats struct {
	ID      uint32
	Ifindex int // 0 once the device is gone

	AllocFast             uint64
	AllocSlow             uint64
	AllocSlowHighOrder    uint64
	AllocEmpty            uint64
	AllocRefill           uint64
	AllocWaive            uint64
	RecycleCached         uint64
	RecycleCacheFull      uint64
	RecycleRing           uint64
	RecycleRingFull       uint64
	RecycleReleasedRefcnt uint64
}

// QueueStats are the counters of qstats-get: one device (scope device) or
// one queue (scope queue). Counters the driver does not keep are zero.
type QueueStats struct {
	Ifindex int
	// QueueType and QueueID identify the queue in scope queue; both are
	// zero in scope device.
	QueueType QueueType
	QueueID   uint32
	Scope     QStatsScope

	RxPackets          uint64
	RxBytes            uint64
	TxPackets          uint64
	TxBytes            uint64
	RxAllocFail        uint64 // buffer allocation failures; rises when a devmem dma-buf runs dry
	RxHwDrops          uint64
	RxHwDropOverruns   uint64
	RxCsumComplete     uint64
	RxCsumUnnecessary  uint64
	RxCsumNone         uint64
	RxCsumBad          uint64
	RxHwGroPackets     uint64
	RxHwGroBytes       uint64
	RxHwGroWirePackets uint64
	RxHwGroWireBytes   uint64
	RxHwDropRatelimits uint64
	TxHwDrops          uint64
	TxHwDropErrors     uint64
	TxCsumNone         uint64
	TxNeedsCsum        uint64
	TxHwGsoPackets     uint64
	TxHwGsoBytes       uint64
	TxHwGsoWirePackets uint64
	TxHwGsoWireBytes   uint64
	TxHwDropRatelimits uint64
	TxStop             uint64
	TxWake             uint64
}
