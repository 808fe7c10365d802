package uapi

// From linux/netdev.h (generated from Documentation/netlink/specs/netdev.yaml),
// checked against Linux 7.2.12. The netdev generic netlink family exists since
// Linux 6.3; "since" notes give the first release that carries a value.

// Family.
const (
	NETDEV_FAMILY_NAME     = "netdev"
	NETDEV_FAMILY_VERSION  = 1
	NETDEV_MCGRP_MGMT      = "mgmt"
	NETDEV_MCGRP_PAGE_POOL = "page-pool"
)

// enum netdev_xdp_act (flags).
const (
	NETDEV_XDP_ACT_BASIC        = 1
	NETDEV_XDP_ACT_REDIRECT     = 2
	NETDEV_XDP_ACT_NDO_XMIT     = 4
	NETDEV_XDP_ACT_XSK_ZEROCOPY = 8
	NETDEV_XDP_ACT_HW_OFFLOAD   = 16
	NETDEV_XDP_ACT_RX_SG        = 32
	NETDEV_XDP_ACT_NDO_XMIT_SG  = 64
	NETDEV_XDP_ACT_MASK         = 127
)

// enum netdev_xdp_rx_metadata (flags).
const (
	NETDEV_XDP_RX_METADATA_TIMESTAMP = 1
	NETDEV_XDP_RX_METADATA_HASH      = 2
	NETDEV_XDP_RX_METADATA_VLAN_TAG  = 4
)

// enum netdev_xsk_flags (flags).
const (
	NETDEV_XSK_FLAGS_TX_TIMESTAMP        = 1
	NETDEV_XSK_FLAGS_TX_CHECKSUM         = 2
	NETDEV_XSK_FLAGS_TX_LAUNCH_TIME_FIFO = 4
)

// enum netdev_queue_type.
const (
	NETDEV_QUEUE_TYPE_RX = 0
	NETDEV_QUEUE_TYPE_TX = 1
)

// enum netdev_qstats_scope (flags).
const (
	NETDEV_QSTATS_SCOPE_QUEUE = 1
)

// enum netdev_napi_threaded.
const (
	NETDEV_NAPI_THREADED_DISABLED  = 0
	NETDEV_NAPI_THREADED_ENABLED   = 1
	NETDEV_NAPI_THREADED_BUSY_POLL = 2 // 7.x
)

// Attribute set "dev".
const (
	NETDEV_A_DEV_IFINDEX                  = 1 // u32
	NETDEV_A_DEV_PAD                      = 2
	NETDEV_A_DEV_XDP_FEATURES             = 3 // u64, netdev_xdp_act
	NETDEV_A_DEV_XDP_ZC_MAX_SEGS          = 4 // u32
	NETDEV_A_DEV_XDP_RX_METADATA_FEATURES = 5 // u64, netdev_xdp_rx_metadata
	NETDEV_A_DEV_XSK_FEATURES             = 6 // u64, netdev_xsk_flags
	NETDEV_A_DEV_MAX                      = 6
)

// Attribute set "io-uring-provider-info".
const (
	NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN = 1 // uint, 7.x
	NETDEV_A_IO_URING_PROVIDER_INFO_MAX        = 1
)

// Attribute set "page-pool" ("page-pool-info" is its id/ifindex subset).
const (
	NETDEV_A_PAGE_POOL_ID           = 1 // uint
	NETDEV_A_PAGE_POOL_IFINDEX      = 2 // u32
	NETDEV_A_PAGE_POOL_NAPI_ID      = 3 // uint
	NETDEV_A_PAGE_POOL_INFLIGHT     = 4 // uint
	NETDEV_A_PAGE_POOL_INFLIGHT_MEM = 5 // uint
	NETDEV_A_PAGE_POOL_DETACH_TIME  = 6 // uint
	NETDEV_A_PAGE_POOL_DMABUF       = 7 // u32, 6.12
	NETDEV_A_PAGE_POOL_IO_URING     = 8 // nest io-uring-provider-info
	NETDEV_A_PAGE_POOL_MAX          = 8
)

// Attribute set "page-pool-stats".
const (
	NETDEV_A_PAGE_POOL_STATS_INFO                    = 1 // nest page-pool-info
	NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST              = 8 // uint, all counters below too
	NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW              = 9
	NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW_HIGH_ORDER   = 10
	NETDEV_A_PAGE_POOL_STATS_ALLOC_EMPTY             = 11
	NETDEV_A_PAGE_POOL_STATS_ALLOC_REFILL            = 12
	NETDEV_A_PAGE_POOL_STATS_ALLOC_WAIVE             = 13
	NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHED          = 14
	NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHE_FULL      = 15
	NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING            = 16
	NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING_FULL       = 17
	NETDEV_A_PAGE_POOL_STATS_RECYCLE_RELEASED_REFCNT = 18
	NETDEV_A_PAGE_POOL_STATS_MAX                     = 18
)

// Attribute set "napi".
const (
	NETDEV_A_NAPI_IFINDEX             = 1 // u32
	NETDEV_A_NAPI_ID                  = 2 // u32
	NETDEV_A_NAPI_IRQ                 = 3 // u32
	NETDEV_A_NAPI_PID                 = 4 // u32
	NETDEV_A_NAPI_DEFER_HARD_IRQS     = 5 // u32, 6.13
	NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT   = 6 // uint (ns), 6.13
	NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT = 7 // uint (ns), 6.13
	NETDEV_A_NAPI_THREADED            = 8 // u32 netdev_napi_threaded
	NETDEV_A_NAPI_MAX                 = 8
)

// Attribute set "xsk-info" (empty).
const (
	NETDEV_A_XSK_INFO_MAX = -1 // the set has no attributes
)

// Attribute set "queue" ("queue-id" is its id/type subset).
const (
	NETDEV_A_QUEUE_ID       = 1 // u32
	NETDEV_A_QUEUE_IFINDEX  = 2 // u32
	NETDEV_A_QUEUE_TYPE     = 3 // u32 netdev_queue_type
	NETDEV_A_QUEUE_NAPI_ID  = 4 // u32
	NETDEV_A_QUEUE_DMABUF   = 5 // u32, 6.12
	NETDEV_A_QUEUE_IO_URING = 6 // nest io-uring-provider-info
	NETDEV_A_QUEUE_XSK      = 7 // nest xsk-info
	NETDEV_A_QUEUE_LEASE    = 8 // nest lease, 7.x
	NETDEV_A_QUEUE_MAX      = 8
)

// Attribute set "qstats".
const (
	NETDEV_A_QSTATS_IFINDEX                = 1 // u32
	NETDEV_A_QSTATS_QUEUE_TYPE             = 2 // u32
	NETDEV_A_QSTATS_QUEUE_ID               = 3 // u32
	NETDEV_A_QSTATS_SCOPE                  = 4 // uint netdev_qstats_scope
	NETDEV_A_QSTATS_RX_PACKETS             = 8 // uint, all counters below too
	NETDEV_A_QSTATS_RX_BYTES               = 9
	NETDEV_A_QSTATS_TX_PACKETS             = 10
	NETDEV_A_QSTATS_TX_BYTES               = 11
	NETDEV_A_QSTATS_RX_ALLOC_FAIL          = 12
	NETDEV_A_QSTATS_RX_HW_DROPS            = 13
	NETDEV_A_QSTATS_RX_HW_DROP_OVERRUNS    = 14
	NETDEV_A_QSTATS_RX_CSUM_COMPLETE       = 15
	NETDEV_A_QSTATS_RX_CSUM_UNNECESSARY    = 16
	NETDEV_A_QSTATS_RX_CSUM_NONE           = 17
	NETDEV_A_QSTATS_RX_CSUM_BAD            = 18
	NETDEV_A_QSTATS_RX_HW_GRO_PACKETS      = 19
	NETDEV_A_QSTATS_RX_HW_GRO_BYTES        = 20
	NETDEV_A_QSTATS_RX_HW_GRO_WIRE_PACKETS = 21
	NETDEV_A_QSTATS_RX_HW_GRO_WIRE_BYTES   = 22
	NETDEV_A_QSTATS_RX_HW_DROP_RATELIMITS  = 23
	NETDEV_A_QSTATS_TX_HW_DROPS            = 24
	NETDEV_A_QSTATS_TX_HW_DROP_ERRORS      = 25
	NETDEV_A_QSTATS_TX_CSUM_NONE           = 26
	NETDEV_A_QSTATS_TX_NEEDS_CSUM          = 27
	NETDEV_A_QSTATS_TX_HW_GSO_PACKETS      = 28
	NETDEV_A_QSTATS_TX_HW_GSO_BYTES        = 29
	NETDEV_A_QSTATS_TX_HW_GSO_WIRE_PACKETS = 30
	NETDEV_A_QSTATS_TX_HW_GSO_WIRE_BYTES   = 31
	NETDEV_A_QSTATS_TX_HW_DROP_RATELIMITS  = 32
	NETDEV_A_QSTATS_TX_STOP                = 33
	NETDEV_A_QSTATS_TX_WAKE                = 34
	NETDEV_A_QSTATS_MAX                    = 34
)

// Attribute set "lease" (7.x, netkit queue leases).
const (
	NETDEV_A_LEASE_IFINDEX  = 1 // u32
	NETDEV_A_LEASE_QUEUE    = 2 // nest queue-id
	NETDEV_A_LEASE_NETNS_ID = 3 // s32
	NETDEV_A_LEASE_MAX      = 3
)

// Attribute set "dmabuf" (bind-rx, bind-tx).
const (
	NETDEV_A_DMABUF_IFINDEX = 1 // u32
	NETDEV_A_DMABUF_QUEUES  = 2 // nest queue-id, multi-attr (bind-rx only)
	NETDEV_A_DMABUF_FD      = 3 // u32
	NETDEV_A_DMABUF_ID      = 4 // u32, reply only
	NETDEV_A_DMABUF_MAX     = 4
)

// Commands. Notifications (*_NTF) arrive on the multicast groups.
const (
	NETDEV_CMD_DEV_GET              = 1
	NETDEV_CMD_DEV_ADD_NTF          = 2
	NETDEV_CMD_DEV_DEL_NTF          = 3
	NETDEV_CMD_DEV_CHANGE_NTF       = 4
	NETDEV_CMD_PAGE_POOL_GET        = 5 // 6.8
	NETDEV_CMD_PAGE_POOL_ADD_NTF    = 6
	NETDEV_CMD_PAGE_POOL_DEL_NTF    = 7
	NETDEV_CMD_PAGE_POOL_CHANGE_NTF = 8
	NETDEV_CMD_PAGE_POOL_STATS_GET  = 9
	NETDEV_CMD_QUEUE_GET            = 10 // 6.10
	NETDEV_CMD_NAPI_GET             = 11
	NETDEV_CMD_QSTATS_GET           = 12
	NETDEV_CMD_BIND_RX              = 13 // 6.12
	NETDEV_CMD_NAPI_SET             = 14 // 6.13
	NETDEV_CMD_BIND_TX              = 15 // 6.16
	NETDEV_CMD_QUEUE_CREATE         = 16 // 7.x
	NETDEV_CMD_MAX                  = 16
)
