package netdev

import (
	"testing"
	"time"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
)

// fuzzRoundTrip checks a reply decoder on arbitrary bytes: it must not
// panic, and whatever it accepts must survive a trip through the
// kernel-format encoder unchanged.
func fuzzRoundTrip[T any](f *testing.F, seeds []func(*netlink.AttributeEncoder), parse func([]byte) (*T, error), enc func(*T) func(*netlink.AttributeEncoder)) {
	for _, s := range seeds {
		f.Add(ndMustEncode(f, s))
	}
	f.Add([]byte{})
	f.Add([]byte{4, 0, 1, 0})
	f.Add([]byte{8, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parse(b)
		if err != nil {
			return
		}
		b2 := ndMustEncode(t, enc(v))
		v2, err := parse(b2)
		if err != nil {
			t.Fatalf("re-decoding %x (from %+v): %v", b2, v, err)
		}
		if diff := cmp.Diff(v, v2); diff != "" {
			t.Fatalf("round trip changed the value (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeDev(f *testing.F) {
	fuzzRoundTrip(f, []func(*netlink.AttributeEncoder){
		encodeDev(&Dev{Ifindex: 1}),
		encodeDev(&Dev{Ifindex: 4, XDPFeatures: 0x2b, XDPZCMaxSegs: 1, XSKFeatures: 7}),
	}, parseDev, encodeDev)
}

func FuzzDecodeQueue(f *testing.F) {
	fuzzRoundTrip(f, []func(*netlink.AttributeEncoder){
		encodeQueue(&Queue{ID: 0, Type: QueueTypeTX, Ifindex: 1}),
		encodeQueue(&Queue{ID: 1, Type: QueueTypeRX, Ifindex: 5, NAPIID: 8193, DMABuf: 2,
			IOURing: &IOURingProviderInfo{RxBufLen: 4096}, XSK: true,
			Lease: &Lease{Ifindex: 9, Queue: QueueID{ID: 3}, NetNSID: -1}}),
	}, parseQueue, encodeQueue)
}

func FuzzDecodeNAPI(f *testing.F) {
	fuzzRoundTrip(f, []func(*netlink.AttributeEncoder){
		encodeNAPI(&NAPI{ID: 8193, Ifindex: 2, IRQ: 40, PID: 99, DeferHardIRQs: 2,
			GROFlushTimeout: time.Millisecond, IRQSuspendTimeout: time.Second, Threaded: NAPIThreadedEnabled}),
	}, parseNAPI, encodeNAPI)
}

func FuzzDecodePagePool(f *testing.F) {
	fuzzRoundTrip(f, []func(*netlink.AttributeEncoder){
		encodePagePool(&PagePool{ID: 1}),
		encodePagePool(&PagePool{ID: 12, Ifindex: 3, NAPIID: 8194, Inflight: 1 << 33, InflightMem: 1 << 45,
			DetachTime: time.Hour, DMABuf: 5, IOURing: &IOURingProviderInfo{}}),
	}, parsePagePool, encodePagePool)
}

func FuzzDecodePagePoolStats(f *testing.F) {
	fuzzRoundTrip(f, []func(*netlink.AttributeEncoder){
		encodePagePoolStats(&PagePoolStats{ID: 12, Ifindex: 3, AllocFast: 1, RecycleRing: 1 << 40}),
	}, parsePagePoolStats, encodePagePoolStats)
}

func FuzzDecodeQueueStats(f *testing.F) {
	fuzzRoundTrip(f, []func(*netlink.AttributeEncoder){
		encodeQueueStats(&QueueStats{Ifindex: 2, RxPackets: 1, RxBytes: 1 << 40}),
		encodeQueueStats(&QueueStats{Ifindex: 2, Scope: QStatsScopeQueue, QueueType: QueueTypeTX, QueueID: 3, TxStop: 4}),
	}, parseQueueStats, encodeQueueStats)
}

// FuzzDecodeEvent feeds notifications of every command through parseEvent.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(uint8(CmdDevAddNtf), ndMustEncode(f, encodeDev(&Dev{Ifindex: 3})))
	f.Add(uint8(CmdPagePoolDelNtf), ndMustEncode(f, encodePagePool(&PagePool{ID: 3, DetachTime: time.Second})))
	f.Add(uint8(99), []byte{4, 0, 1, 0})
	f.Fuzz(func(t *testing.T, cmd uint8, b []byte) {
		ev, ok, err := parseEvent(cmd, b)
		if err != nil || !ok {
			if ok {
				t.Fatal("ok with an error")
			}
			return
		}
		if (ev.Dev != nil) == (ev.PagePool != nil) {
			t.Fatalf("event %v carries dev %v and page pool %v: want exactly one", ev.Type, ev.Dev, ev.PagePool)
		}
		if c, known := eventCommand(ev.Type); !known || uint8(c) != cmd {
			t.Fatalf("command %d decoded as event %v", cmd, ev.Type)
		}
	})
}

// FuzzCheckRequest runs the ndRequest checker and the extack attribute
// locator over arbitrary attribute bytes and offsets: no panics, and a
// ndRequest the checker accepts has every required attribute.
func FuzzCheckRequest(f *testing.F) {
	f.Add(uint8(CmdBindRX), ndMustEncode(f, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(1, 2)
		ae.Uint32(3, 5)
		ae.Nested(2, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(1, 0)
			nae.Uint32(3, 0)
			return nil
		})
	}), 28)
	f.Add(uint8(CmdQueueCreate), []byte{}, 0)
	f.Fuzz(func(t *testing.T, cmd uint8, b []byte, off int) {
		fs := requestFields[Command(cmd)][0]
		_ = attrNameAt(fs, b, off)
		name, problem := checkRequest(fs, b)
		if problem != "" {
			if name == "" && problem != "malformed attributes" {
				t.Fatalf("problem %q without an attribute name", problem)
			}
			return
		}
		ad, err := netlink.NewAttributeDecoder(b)
		if err != nil {
			t.Fatalf("checker accepted bytes the decoder refuses: %v", err)
		}
		seen := map[uint16]bool{}
		for ad.Next() {
			seen[ad.Type()] = true
		}
		for _, f := range fs {
			if f.required && !seen[f.typ] {
				t.Fatalf("accepted a ndRequest without %s", f.name)
			}
		}
	})
}

// FuzzDecodeID feeds the decoder of the bind-rx, bind-tx and queue-create
// replies (one u32 attribute): it must not panic, must find the attribute
// whenever it reports success, and what it accepts must survive a trip
// through the kernel-format encoder.
func FuzzDecodeID(f *testing.F) {
	for _, id := range []uint32{0, 1, 7, 1<<32 - 1} {
		f.Add(uint16(uapi.NETDEV_A_DMABUF_ID), ndMustEncode(f, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DMABUF_ID, id)
		}))
	}
	f.Add(uint16(uapi.NETDEV_A_QUEUE_ID), ndMustEncode(f, func(ae *netlink.AttributeEncoder) {
		ae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uapi.NETDEV_QUEUE_TYPE_RX)
		ae.Uint32(uapi.NETDEV_A_QUEUE_ID, 3)
	}))
	f.Add(uint16(uapi.NETDEV_A_DMABUF_ID), []byte{})
	f.Add(uint16(uapi.NETDEV_A_DMABUF_ID), []byte{6, 0, 5, 0, 1, 0})
	f.Fuzz(func(t *testing.T, typ uint16, b []byte) {
		id, err := parseID(b, typ, "reply")
		if err != nil {
			return
		}
		again, err := parseID(ndMustEncode(t, func(ae *netlink.AttributeEncoder) { ae.Uint32(typ, id) }), typ, "reply")
		if err != nil || again != id {
			t.Fatalf("id %d re-encoded decodes to %d, %v", id, again, err)
		}
	})
}
