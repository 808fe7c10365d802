package netdev

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/netlink"
)

// The reply decoders below parse the attributes of one generic netlink
// message (its payload after the genlmsghdr). Unknown attribute types are
// skipped so that newer kernels keep working; integers are decoded by
// decodeUint, which takes both widths the kernel uses.

// errShortReply is returned when a reply lacks an attribute the caller
// cannot do without.
var errShortReply = errors.New("netdev: reply lacks a required attribute")

// decodeUint decodes an integer attribute that is 4 or 8 bytes long. YNL
// "uint" attributes (nla_put_uint) are 4 bytes when the value fits and 8
// otherwise; some attributes the spec calls u32 are also written with
// nla_put_uint, so every integer goes through here.
func decodeUint(ad *netlink.AttributeDecoder) uint64 {
	var v uint64
	ad.Do(func(b []byte) error {
		switch len(b) {
		case 4:
			v = uint64(ad.ByteOrder.Uint32(b))
		case 8:
			v = ad.ByteOrder.Uint64(b)
		default:
			return fmt.Errorf("netdev: integer attribute %d has %d bytes, want 4 or 8", ad.Type(), len(b))
		}
		return nil
	})
	return v
}

// decodeU32 is decodeUint for attributes whose values must fit 32 bits.
func decodeU32(ad *netlink.AttributeDecoder) uint32 {
	v := decodeUint(ad)
	if v > math.MaxUint32 {
		ad.Do(func([]byte) error {
			return fmt.Errorf("netdev: attribute %d value %d overflows 32 bits", ad.Type(), v)
		})
		return 0
	}
	return uint32(v)
}

// decodeIfindex is decodeU32 for ifindex attributes (int in Go).
func decodeIfindex(ad *netlink.AttributeDecoder) int {
	v := decodeU32(ad)
	if v > math.MaxInt32 {
		ad.Do(func([]byte) error { return fmt.Errorf("netdev: ifindex %d out of range", v) })
		return 0
	}
	return int(v)
}

// decodeS32 decodes a 4-byte signed attribute.
func decodeS32(ad *netlink.AttributeDecoder) int32 {
	var v int32
	ad.Do(func(b []byte) error {
		if len(b) != 4 {
			return fmt.Errorf("netdev: s32 attribute %d has %d bytes", ad.Type(), len(b))
		}
		v = int32(ad.ByteOrder.Uint32(b))
		return nil
	})
	return v
}

// decodeDuration decodes a nanosecond uint attribute.
func decodeDuration(ad *netlink.AttributeDecoder) time.Duration {
	v := decodeUint(ad)
	if v > math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v)
}

func decode(b []byte, what string, fn func(ad *netlink.AttributeDecoder)) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return fmt.Errorf("netdev: decode %s: %w", what, err)
	}
	fn(ad)
	if err := ad.Err(); err != nil {
		return fmt.Errorf("netdev: decode %s: %w", what, err)
	}
	return nil
}

// parseDev decodes one dev-get reply or mgmt notification.
func parseDev(b []byte) (*Dev, error) {
	d := new(Dev)
	err := decode(b, "dev", func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			switch ad.Type() {
			case uapi.NETDEV_A_DEV_IFINDEX:
				d.Ifindex = decodeIfindex(ad)
			case uapi.NETDEV_A_DEV_XDP_FEATURES:
				d.XDPFeatures = XDPAct(decodeUint(ad))
			case uapi.NETDEV_A_DEV_XDP_ZC_MAX_SEGS:
				d.XDPZCMaxSegs = decodeU32(ad)
			case uapi.NETDEV_A_DEV_XDP_RX_METADATA_FEATURES:
				d.XDPRxMetadataFeatures = XDPRxMetadata(decodeUint(ad))
			case uapi.NETDEV_A_DEV_XSK_FEATURES:
				d.XSKFeatures = XSKFlags(decodeUint(ad))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

func decodeQueueID(q *QueueID) func(*netlink.AttributeDecoder) error {
	return func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			switch ad.Type() {
			case uapi.NETDEV_A_QUEUE_ID:
				q.ID = decodeU32(ad)
			case uapi.NETDEV_A_QUEUE_TYPE:
				q.Type = QueueType(decodeU32(ad))
			}
		}
		return nil
	}
}

func decodeIOURing(info *IOURingProviderInfo) func(*netlink.AttributeDecoder) error {
	return func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			if ad.Type() == uapi.NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN {
				info.RxBufLen = decodeUint(ad)
			}
		}
		return nil
	}
}

func decodeLease(l *Lease) func(*netlink.AttributeDecoder) error {
	return func(ad *netlink.AttributeDecoder) error {
		for ad.Next() {
			switch ad.Type() {
			case uapi.NETDEV_A_LEASE_IFINDEX:
				l.Ifindex = decodeIfindex(ad)
			case uapi.NETDEV_A_LEASE_QUEUE:
				ad.Nested(decodeQueueID(&l.Queue))
			case uapi.NETDEV_A_LEASE_NETNS_ID:
				l.NetNSID = decodeS32(ad)
			}
		}
		return nil
	}
}

// parseQueue decodes one queue-get reply.
func parseQueue(b []byte) (*Queue, error) {
	q := new(Queue)
	err := decode(b, "queue", func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			switch ad.Type() {
			case uapi.NETDEV_A_QUEUE_ID:
				q.ID = decodeU32(ad)
			case uapi.NETDEV_A_QUEUE_IFINDEX:
				q.Ifindex = decodeIfindex(ad)
			case uapi.NETDEV_A_QUEUE_TYPE:
				q.Type = QueueType(decodeU32(ad))
			case uapi.NETDEV_A_QUEUE_NAPI_ID:
				q.NAPIID = decodeU32(ad)
			case uapi.NETDEV_A_QUEUE_DMABUF:
				q.DMABuf = decodeU32(ad)
			case uapi.NETDEV_A_QUEUE_IO_URING:
				q.IOURing = new(IOURingProviderInfo)
				ad.Nested(decodeIOURing(q.IOURing))
			case uapi.NETDEV_A_QUEUE_XSK:
				q.XSK = true
			case uapi.NETDEV_A_QUEUE_LEASE:
				q.Lease = &Lease{NetNSID: -1}
				ad.Nested(decodeLease(q.Lease))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return q, nil
}

// parseNAPI decodes one napi-get reply.
func parseNAPI(b []byte) (*NAPI, error) {
	n := &NAPI{IRQ: -1}
	err := decode(b, "napi", func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			switch ad.Type() {
			case uapi.NETDEV_A_NAPI_IFINDEX:
				n.Ifindex = decodeIfindex(ad)
			case uapi.NETDEV_A_NAPI_ID:
				n.ID = decodeU32(ad)
			case uapi.NETDEV_A_NAPI_IRQ:
				n.IRQ = int(decodeU32(ad))
			case uapi.NETDEV_A_NAPI_PID:
				n.PID = int(decodeU32(ad))
			case uapi.NETDEV_A_NAPI_DEFER_HARD_IRQS:
				n.DeferHardIRQs = decodeU32(ad)
			case uapi.NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT:
				n.GROFlushTimeout = decodeDuration(ad)
			case uapi.NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT:
				n.IRQSuspendTimeout = decodeDuration(ad)
			case uapi.NETDEV_A_NAPI_THREADED:
				n.Threaded = NAPIThreaded(decodeU32(ad))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// parsePagePool decodes one page-pool-get reply or page-pool notification.
func parsePagePool(b []byte) (*PagePool, error) {
	p := new(PagePool)
	err := decode(b, "page pool", func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			switch ad.Type() {
			case uapi.NETDEV_A_PAGE_POOL_ID:
				p.ID = decodeU32(ad)
			case uapi.NETDEV_A_PAGE_POOL_IFINDEX:
				p.Ifindex = decodeIfindex(ad)
			case uapi.NETDEV_A_PAGE_POOL_NAPI_ID:
				p.NAPIID = decodeU32(ad)
			case uapi.NETDEV_A_PAGE_POOL_INFLIGHT:
				p.Inflight = decodeUint(ad)
			case uapi.NETDEV_A_PAGE_POOL_INFLIGHT_MEM:
				p.InflightMem = decodeUint(ad)
			case uapi.NETDEV_A_PAGE_POOL_DETACH_TIME:
				s := decodeUint(ad)
				if s > math.MaxInt64/uint64(time.Second) {
					s = math.MaxInt64 / uint64(time.Second)
				}
				p.DetachTime = time.Duration(s) * time.Second
			case uapi.NETDEV_A_PAGE_POOL_DMABUF:
				p.DMABuf = decodeU32(ad)
			case uapi.NETDEV_A_PAGE_POOL_IO_URING:
				p.IOURing = new(IOURingProviderInfo)
				ad.Nested(decodeIOURing(p.IOURing))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// parsePagePoolStats decodes one page-pool-stats-get reply.
func parsePagePoolStats(b []byte) (*PagePoolStats, error) {
	s := new(PagePoolStats)
	err := decode(b, "page pool stats", func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			var dst *uint64
			switch ad.Type() {
			case uapi.NETDEV_A_PAGE_POOL_STATS_INFO:
				ad.Nested(func(nad *netlink.AttributeDecoder) error {
					for nad.Next() {
						switch nad.Type() {
						case uapi.NETDEV_A_PAGE_POOL_ID:
							s.ID = decodeU32(nad)
						case uapi.NETDEV_A_PAGE_POOL_IFINDEX:
							s.Ifindex = decodeIfindex(nad)
						}
					}
					return nil
				})
				continue
			case uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST:
				dst = &s.AllocFast
			case uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW:
				dst = &s.AllocSlow
			case uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW_HIGH_ORDER:
				dst = &s.AllocSlowHighOrder
			case uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_EMPTY:
				dst = &s.AllocEmpty
			case uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_REFILL:
				dst = &s.AllocRefill
			case uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_WAIVE:
				dst = &s.AllocWaive
			case uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHED:
				dst = &s.RecycleCached
			case uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHE_FULL:
				dst = &s.RecycleCacheFull
			case uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING:
				dst = &s.RecycleRing
			case uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING_FULL:
				dst = &s.RecycleRingFull
			case uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_RELEASED_REFCNT:
				dst = &s.RecycleReleasedRefcnt
			default:
				continue
			}
			*dst = decodeUint(ad)
		}
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// qstatsField returns the counter of s that qstats attribute typ fills, or
// nil for identity and unknown attributes.
func qstatsField(s *QueueStats, typ uint16) *uint64 {
	switch typ {
	case uapi.NETDEV_A_QSTATS_RX_PACKETS:
		return &s.RxPackets
	case uapi.NETDEV_A_QSTATS_RX_BYTES:
		return &s.RxBytes
	case uapi.NETDEV_A_QSTATS_TX_PACKETS:
		return &s.TxPackets
	case uapi.NETDEV_A_QSTATS_TX_BYTES:
		return &s.TxBytes
	case uapi.NETDEV_A_QSTATS_RX_ALLOC_FAIL:
		return &s.RxAllocFail
	case uapi.NETDEV_A_QSTATS_RX_HW_DROPS:
		return &s.RxHwDrops
	case uapi.NETDEV_A_QSTATS_RX_HW_DROP_OVERRUNS:
		return &s.RxHwDropOverruns
	case uapi.NETDEV_A_QSTATS_RX_CSUM_COMPLETE:
		return &s.RxCsumComplete
	case uapi.NETDEV_A_QSTATS_RX_CSUM_UNNECESSARY:
		return &s.RxCsumUnnecessary
	case uapi.NETDEV_A_QSTATS_RX_CSUM_NONE:
		return &s.RxCsumNone
	case uapi.NETDEV_A_QSTATS_RX_CSUM_BAD:
		return &s.RxCsumBad
	case uapi.NETDEV_A_QSTATS_RX_HW_GRO_PACKETS:
		return &s.RxHwGroPackets
	case uapi.NETDEV_A_QSTATS_RX_HW_GRO_BYTES:
		return &s.RxHwGroBytes
	case uapi.NETDEV_A_QSTATS_RX_HW_GRO_WIRE_PACKETS:
		return &s.RxHwGroWirePackets
	case uapi.NETDEV_A_QSTATS_RX_HW_GRO_WIRE_BYTES:
		return &s.RxHwGroWireBytes
	case uapi.NETDEV_A_QSTATS_RX_HW_DROP_RATELIMITS:
		return &s.RxHwDropRatelimits
	case uapi.NETDEV_A_QSTATS_TX_HW_DROPS:
		return &s.TxHwDrops
	case uapi.NETDEV_A_QSTATS_TX_HW_DROP_ERRORS:
		return &s.TxHwDropErrors
	case uapi.NETDEV_A_QSTATS_TX_CSUM_NONE:
		return &s.TxCsumNone
	case uapi.NETDEV_A_QSTATS_TX_NEEDS_CSUM:
		return &s.TxNeedsCsum
	case uapi.NETDEV_A_QSTATS_TX_HW_GSO_PACKETS:
		return &s.TxHwGsoPackets
	case uapi.NETDEV_A_QSTATS_TX_HW_GSO_BYTES:
		return &s.TxHwGsoBytes
	case uapi.NETDEV_A_QSTATS_TX_HW_GSO_WIRE_PACKETS:
		return &s.TxHwGsoWirePackets
	case uapi.NETDEV_A_QSTATS_TX_HW_GSO_WIRE_BYTES:
		return &s.TxHwGsoWireBytes
	case uapi.NETDEV_A_QSTATS_TX_HW_DROP_RATELIMITS:
		return &s.TxHwDropRatelimits
	case uapi.NETDEV_A_QSTATS_TX_STOP:
		return &s.TxStop
	case uapi.NETDEV_A_QSTATS_TX_WAKE:
		return &s.TxWake
	}
	return nil
}

// parseQueueStats decodes one qstats-get reply. The reply carries no scope:
// entries with a queue id are per-queue.
func parseQueueStats(b []byte) (*QueueStats, error) {
	s := new(QueueStats)
	err := decode(b, "qstats", func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			switch ad.Type() {
			case uapi.NETDEV_A_QSTATS_IFINDEX:
				s.Ifindex = decodeIfindex(ad)
			case uapi.NETDEV_A_QSTATS_QUEUE_TYPE:
				s.QueueType = QueueType(decodeU32(ad))
				s.Scope = QStatsScopeQueue
			case uapi.NETDEV_A_QSTATS_QUEUE_ID:
				s.QueueID = decodeU32(ad)
				s.Scope = QStatsScopeQueue
			default:
				if p := qstatsField(s, ad.Type()); p != nil {
					*p = decodeUint(ad)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parseID decodes the reply of bind-rx, bind-tx (NETDEV_A_DMABUF_ID) or
// queue-create (NETDEV_A_QUEUE_ID); typ is the attribute to look for.
func parseID(b []byte, typ uint16, what string) (uint32, error) {
	var (
		id    uint32
		found bool
	)
	err := decode(b, what, func(ad *netlink.AttributeDecoder) {
		for ad.Next() {
			if ad.Type() == typ {
				id = decodeU32(ad)
				found = true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("netdev: decode %s: %w", what, errShortReply)
	}
	return id, nil
}
