package netdev

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// The encoders below write ndReplies the way the kernel's fill functions do
// (net/core/netdev-genl.c, page_pool_user.c, 7.2): nla_put_uint for YNL
// "uint" attributes (4 bytes when the value fits), nla_put_u64_64bit for
// the dev feature words, NLA_F_NESTED on every nest. The fake kernel of
// the client tests and the fuzz round trips use them.

func ndKPutUint(ae *netlink.AttributeEncoder, typ uint16, v uint64) {
	if v <= math.MaxUint32 {
		ae.Uint32(typ, uint32(v))
		return
	}
	ae.Uint64(typ, v)
}

func ndMustEncode(tb testing.TB, fn func(ae *netlink.AttributeEncoder)) []byte {
	tb.Helper()
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	return b
}

func encodeDev(d *Dev) func(*netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_DEV_IFINDEX, uint32(d.Ifindex))
		ae.Uint64(uapi.NETDEV_A_DEV_XDP_FEATURES, uint64(d.XDPFeatures))
		ae.Uint64(uapi.NETDEV_A_DEV_XDP_RX_METADATA_FEATURES, uint64(d.XDPRxMetadataFeatures))
		ae.Uint64(uapi.NETDEV_A_DEV_XSK_FEATURES, uint64(d.XSKFeatures))
		if d.XDPZCMaxSegs != 0 {
			ae.Uint32(uapi.NETDEV_A_DEV_XDP_ZC_MAX_SEGS, d.XDPZCMaxSegs)
		}
	}
}

func encodeIOURing(ae *netlink.AttributeEncoder, typ uint16, info *IOURingProviderInfo) {
	if info == nil {
		return
	}
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		if info.RxBufLen != 0 {
			ndKPutUint(nae, uapi.NETDEV_A_IO_URING_PROVIDER_INFO_RX_BUF_LEN, info.RxBufLen)
		}
		return nil
	})
}

func encodeQueue(q *Queue) func(*netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_QUEUE_ID, q.ID)
		ae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uint32(q.Type))
		ae.Uint32(uapi.NETDEV_A_QUEUE_IFINDEX, uint32(q.Ifindex))
		if q.NAPIID != 0 {
			ae.Uint32(uapi.NETDEV_A_QUEUE_NAPI_ID, q.NAPIID)
		}
		if l := q.Lease; l != nil {
			ae.Nested(uapi.NETDEV_A_QUEUE_LEASE, func(lae *netlink.AttributeEncoder) error {
				lae.Nested(uapi.NETDEV_A_LEASE_QUEUE, func(qae *netlink.AttributeEncoder) error {
					qae.Uint32(uapi.NETDEV_A_QUEUE_ID, l.Queue.ID)
					qae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uint32(l.Queue.Type))
					return nil
				})
				lae.Uint32(uapi.NETDEV_A_LEASE_IFINDEX, uint32(l.Ifindex))
				if l.NetNSID != -1 {
					lae.Int32(uapi.NETDEV_A_LEASE_NETNS_ID, l.NetNSID)
				}
				return nil
			})
		}
		if q.DMABuf != 0 {
			ae.Uint32(uapi.NETDEV_A_QUEUE_DMABUF, q.DMABuf)
		}
		encodeIOURing(ae, uapi.NETDEV_A_QUEUE_IO_URING, q.IOURing)
		if q.XSK {
			ae.Nested(uapi.NETDEV_A_QUEUE_XSK, func(*netlink.AttributeEncoder) error { return nil })
		}
	}
}

func encodeNAPI(n *NAPI) func(*netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_NAPI_ID, n.ID)
		ae.Uint32(uapi.NETDEV_A_NAPI_IFINDEX, uint32(n.Ifindex))
		if n.IRQ >= 0 {
			ae.Uint32(uapi.NETDEV_A_NAPI_IRQ, uint32(n.IRQ))
		}
		ndKPutUint(ae, uapi.NETDEV_A_NAPI_THREADED, uint64(n.Threaded))
		if n.PID != 0 {
			ae.Uint32(uapi.NETDEV_A_NAPI_PID, uint32(n.PID))
		}
		ae.Int32(uapi.NETDEV_A_NAPI_DEFER_HARD_IRQS, int32(n.DeferHardIRQs))
		ndKPutUint(ae, uapi.NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT, uint64(n.IRQSuspendTimeout))
		ndKPutUint(ae, uapi.NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT, uint64(n.GROFlushTimeout))
	}
}

func encodePagePool(p *PagePool) func(*netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ndKPutUint(ae, uapi.NETDEV_A_PAGE_POOL_ID, uint64(p.ID))
		if p.Ifindex != 0 {
			ae.Uint32(uapi.NETDEV_A_PAGE_POOL_IFINDEX, uint32(p.Ifindex))
		}
		if p.NAPIID != 0 {
			ndKPutUint(ae, uapi.NETDEV_A_PAGE_POOL_NAPI_ID, uint64(p.NAPIID))
		}
		ndKPutUint(ae, uapi.NETDEV_A_PAGE_POOL_INFLIGHT, p.Inflight)
		ndKPutUint(ae, uapi.NETDEV_A_PAGE_POOL_INFLIGHT_MEM, p.InflightMem)
		if p.DetachTime != 0 {
			ndKPutUint(ae, uapi.NETDEV_A_PAGE_POOL_DETACH_TIME, uint64(p.DetachTime/time.Second))
		}
		if p.DMABuf != 0 {
			ae.Uint32(uapi.NETDEV_A_PAGE_POOL_DMABUF, p.DMABuf)
		}
		encodeIOURing(ae, uapi.NETDEV_A_PAGE_POOL_IO_URING, p.IOURing)
	}
}

func encodePagePoolStats(s *PagePoolStats) func(*netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ae.Nested(uapi.NETDEV_A_PAGE_POOL_STATS_INFO, func(nae *netlink.AttributeEncoder) error {
			ndKPutUint(nae, uapi.NETDEV_A_PAGE_POOL_ID, uint64(s.ID))
			if s.Ifindex != 0 {
				nae.Uint32(uapi.NETDEV_A_PAGE_POOL_IFINDEX, uint32(s.Ifindex))
			}
			return nil
		})
		for _, c := range []struct {
			typ uint16
			v   uint64
		}{
			{uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_FAST, s.AllocFast},
			{uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW, s.AllocSlow},
			{uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_SLOW_HIGH_ORDER, s.AllocSlowHighOrder},
			{uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_EMPTY, s.AllocEmpty},
			{uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_REFILL, s.AllocRefill},
			{uapi.NETDEV_A_PAGE_POOL_STATS_ALLOC_WAIVE, s.AllocWaive},
			{uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHED, s.RecycleCached},
			{uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_CACHE_FULL, s.RecycleCacheFull},
			{uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING, s.RecycleRing},
			{uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_RING_FULL, s.RecycleRingFull},
			{uapi.NETDEV_A_PAGE_POOL_STATS_RECYCLE_RELEASED_REFCNT, s.RecycleReleasedRefcnt},
		} {
			ndKPutUint(ae, c.typ, c.v)
		}
	}
}

func encodeQueueStats(s *QueueStats) func(*netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_QSTATS_IFINDEX, uint32(s.Ifindex))
		if s.Scope == QStatsScopeQueue {
			ae.Uint32(uapi.NETDEV_A_QSTATS_QUEUE_TYPE, uint32(s.QueueType))
			ae.Uint32(uapi.NETDEV_A_QSTATS_QUEUE_ID, s.QueueID)
		}
		c := *s
		for typ := uint16(uapi.NETDEV_A_QSTATS_RX_PACKETS); typ <= uapi.NETDEV_A_QSTATS_MAX; typ++ {
			if p := qstatsField(&c, typ); p != nil && *p != 0 {
				ndKPutUint(ae, typ, *p)
			}
		}
	}
}

// TestDecodeUint checks the one helper for variable-width integers.
func TestDecodeUint(t *testing.T) {
	attr := func(payload []byte) []byte {
		b := make([]byte, 4, 4+len(payload)+3)
		binary.NativeEndian.PutUint16(b[0:], uint16(4+len(payload)))
		binary.NativeEndian.PutUint16(b[2:], uapi.NETDEV_A_PAGE_POOL_INFLIGHT)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	ndU32 := binary.NativeEndian.AppendUint32(nil, 0xdeadbeef)
	ndU64 := binary.NativeEndian.AppendUint64(nil, 0x1_0000_0002)
	tests := []struct {
		name    string
		b       []byte
		want    uint64
		wantErr bool
	}{
		{"4 bytes", attr(ndU32), 0xdeadbeef, false},
		{"8 bytes", attr(ndU64), 0x1_0000_0002, false},
		{"2 bytes", attr([]byte{1, 2}), 0, true},
		{"0 bytes", attr(nil), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePagePool(tt.b)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsePagePool: got %+v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePagePool: %v", err)
			}
			if diff := cmp.Diff(tt.want, p.Inflight); diff != "" {
				t.Fatalf("Inflight (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeU32Overflow: a 32-bit field sent as an 8-byte uint with a
// larger value is an error, not a silent truncation.
func TestDecodeU32Overflow(t *testing.T) {
	b := ndMustEncode(t, func(ae *netlink.AttributeEncoder) {
		ae.Uint64(uapi.NETDEV_A_PAGE_POOL_ID, 1<<32)
	})
	if p, err := parsePagePool(b); err == nil {
		t.Fatalf("parsePagePool: got %+v, want an overflow error", p)
	}
}

// TestDecodeUnknownAttributes: attributes a newer kernel adds are skipped.
func TestDecodeUnknownAttributes(t *testing.T) {
	want := &Queue{ID: 3, Type: QueueTypeRX, Ifindex: 7, DMABuf: 9}
	b := ndMustEncode(t, func(ae *netlink.AttributeEncoder) {
		encodeQueue(want)(ae)
		ae.Bytes(200, []byte{1, 2, 3})
		ae.Nested(201, func(nae *netlink.AttributeEncoder) error {
			nae.Uint8(1, 1)
			return nil
		})
	})
	got, err := parseQueue(b)
	if err != nil {
		t.Fatalf("parseQueue: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("queue (-want +got):\n%s", diff)
	}
}

// TestDecodeRoundTrip decodes kernel-format ndReplies of every kind.
func TestDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		enc   func(*netlink.AttributeEncoder)
		parse func([]byte) (any, error)
		want  any
	}{
		{
			name: "dev",
			enc: encodeDev(&Dev{Ifindex: 4, XDPFeatures: XDPActBasic | XDPActXSKZeroCopy, XDPZCMaxSegs: 1,
				XDPRxMetadataFeatures: XDPRxMetadataHash, XSKFeatures: XSKFlagsTxChecksum}),
			parse: func(b []byte) (any, error) { return parseDev(b) },
			want: &Dev{Ifindex: 4, XDPFeatures: XDPActBasic | XDPActXSKZeroCopy, XDPZCMaxSegs: 1,
				XDPRxMetadataFeatures: XDPRxMetadataHash, XSKFeatures: XSKFlagsTxChecksum},
		},
		{
			name: "queue with lease, io_uring, xsk",
			enc: encodeQueue(&Queue{ID: 1, Type: QueueTypeRX, Ifindex: 5, NAPIID: 8193, DMABuf: 2,
				IOURing: &IOURingProviderInfo{RxBufLen: 4096}, XSK: true,
				Lease: &Lease{Ifindex: 9, Queue: QueueID{ID: 3}, NetNSID: 2}}),
			parse: func(b []byte) (any, error) { return parseQueue(b) },
			want: &Queue{ID: 1, Type: QueueTypeRX, Ifindex: 5, NAPIID: 8193, DMABuf: 2,
				IOURing: &IOURingProviderInfo{RxBufLen: 4096}, XSK: true,
				Lease: &Lease{Ifindex: 9, Queue: QueueID{ID: 3}, NetNSID: 2}},
		},
		{
			name:  "napi without irq",
			enc:   encodeNAPI(&NAPI{ID: 8193, Ifindex: 2, IRQ: -1, GROFlushTimeout: 20 * time.Microsecond, Threaded: NAPIThreadedBusyPoll}),
			parse: func(b []byte) (any, error) { return parseNAPI(b) },
			want:  &NAPI{ID: 8193, Ifindex: 2, IRQ: -1, GROFlushTimeout: 20 * time.Microsecond, Threaded: NAPIThreadedBusyPoll},
		},
		{
			name: "page pool, 8-byte counters",
			enc: encodePagePool(&PagePool{ID: 12, Ifindex: 3, NAPIID: 8194, Inflight: 1 << 33, InflightMem: 1 << 45,
				DetachTime: 1234 * time.Second, DMABuf: 5}),
			parse: func(b []byte) (any, error) { return parsePagePool(b) },
			want: &PagePool{ID: 12, Ifindex: 3, NAPIID: 8194, Inflight: 1 << 33, InflightMem: 1 << 45,
				DetachTime: 1234 * time.Second, DMABuf: 5},
		},
		{
			name:  "page pool stats",
			enc:   encodePagePoolStats(&PagePoolStats{ID: 12, Ifindex: 3, AllocFast: 1, AllocSlow: 2, RecycleReleasedRefcnt: 1 << 40}),
			parse: func(b []byte) (any, error) { return parsePagePoolStats(b) },
			want:  &PagePoolStats{ID: 12, Ifindex: 3, AllocFast: 1, AllocSlow: 2, RecycleReleasedRefcnt: 1 << 40},
		},
		{
			name:  "qstats queue scope",
			enc:   encodeQueueStats(&QueueStats{Ifindex: 2, Scope: QStatsScopeQueue, QueueType: QueueTypeTX, QueueID: 1, TxPackets: 10, TxWake: 1 << 35}),
			parse: func(b []byte) (any, error) { return parseQueueStats(b) },
			want:  &QueueStats{Ifindex: 2, Scope: QStatsScopeQueue, QueueType: QueueTypeTX, QueueID: 1, TxPackets: 10, TxWake: 1 << 35},
		},
		{
			name:  "qstats device scope",
			enc:   encodeQueueStats(&QueueStats{Ifindex: 2, RxPackets: 1, RxBytes: 2, RxAllocFail: 3, RxHwDropOverruns: 4}),
			parse: func(b []byte) (any, error) { return parseQueueStats(b) },
			want:  &QueueStats{Ifindex: 2, RxPackets: 1, RxBytes: 2, RxAllocFail: 3, RxHwDropOverruns: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(ndMustEncode(t, tt.enc))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestQStatsFieldsCoverAllCounters: every qstats counter attribute of the
// 7.2 header lands in its own field.
func TestQStatsFieldsCoverAllCounters(t *testing.T) {
	var s QueueStats
	seen := make(map[*uint64]uint16)
	for typ := uint16(uapi.NETDEV_A_QSTATS_RX_PACKETS); typ <= uapi.NETDEV_A_QSTATS_MAX; typ++ {
		p := qstatsField(&s, typ)
		if p == nil {
			t.Errorf("attribute %d has no field", typ)
			continue
		}
		if prev, dup := seen[p]; dup {
			t.Errorf("attributes %d and %d share a field", prev, typ)
		}
		seen[p] = typ
	}
	for _, typ := range []uint16{uapi.NETDEV_A_QSTATS_IFINDEX, uapi.NETDEV_A_QSTATS_SCOPE, 5, 7, uapi.NETDEV_A_QSTATS_MAX + 1} {
		if qstatsField(&s, typ) != nil {
			t.Errorf("attribute %d is not a counter but has a field", typ)
		}
	}
}

func TestParseIDMissing(t *testing.T) {
	b := ndMustEncode(t, func(ae *netlink.AttributeEncoder) { ae.Uint32(uapi.NETDEV_A_DMABUF_IFINDEX, 1) })
	if _, err := parseID(b, uapi.NETDEV_A_DMABUF_ID, "bind-rx reply"); err == nil {
		t.Fatal("parseID: want an error for a reply without an id")
	}
}
