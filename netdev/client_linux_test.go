//go:build linux

package netdev

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// A fake kernel: it answers the generic netlink controller's GETFAMILY
// with a netdev family (id ndFakeFamilyID, the given commands and both
// multicast groups) and passes every other request to handle.

const ndFakeFamilyID = 0x1d

// ndNoIfindex is an ifindex no test machine has, so that hints name it
// "ifindex 4242".
const ndNoIfindex = 4242

var ndAllCommands = []Command{CmdDevGet, CmdPagePoolGet, CmdPagePoolStatsGet, CmdQueueGet, CmdNAPIGet,
	CmdQStatsGet, CmdBindRX, CmdNAPISet, CmdBindTX, CmdQueueCreate}

type ndRequest struct {
	cmd   Command
	flags netlink.HeaderFlags
	attrs []byte
}

type ndHandler func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error)

func ndSkipBigEndian(tb testing.TB) {
	tb.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		tb.Skip("byte-exact netlink tests are written for little-endian machines")
	}
}

func ndFamilyReply(ops []Command) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(unix.CTRL_ATTR_FAMILY_ID, ndFakeFamilyID)
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, uapi.NETDEV_FAMILY_NAME)
	ae.Uint32(unix.CTRL_ATTR_VERSION, uapi.NETDEV_FAMILY_VERSION)
	ae.Nested(unix.CTRL_ATTR_OPS, func(nae *netlink.AttributeEncoder) error {
		for i, op := range ops {
			nae.Nested(uint16(i+1), func(oae *netlink.AttributeEncoder) error {
				oae.Uint32(unix.CTRL_ATTR_OP_ID, uint32(op))
				oae.Uint32(unix.CTRL_ATTR_OP_FLAGS, unix.GENL_CMD_CAP_DO)
				return nil
			})
		}
		return nil
	})
	ae.Nested(unix.CTRL_ATTR_MCAST_GROUPS, func(nae *netlink.AttributeEncoder) error {
		for i, g := range []string{uapi.NETDEV_MCGRP_MGMT, uapi.NETDEV_MCGRP_PAGE_POOL} {
			nae.Nested(uint16(i+1), func(gae *netlink.AttributeEncoder) error {
				gae.String(unix.CTRL_ATTR_MCAST_GRP_NAME, g)
				gae.Uint32(unix.CTRL_ATTR_MCAST_GRP_ID, uint32(10+i))
				return nil
			})
		}
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// ndFakeConn returns a genetlink.Conn whose requests the fake kernel answers.
func ndFakeConn(t *testing.T, ops []Command, h ndHandler) *genetlink.Conn {
	t.Helper()
	return genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if len(reqs) != 1 {
			return nil, fmt.Errorf("fake: %d requests", len(reqs))
		}
		nreq := reqs[0]
		var gm genetlink.Message
		if err := gm.UnmarshalBinary(nreq.Data); err != nil {
			return nil, err
		}
		if nreq.Header.Type == unix.GENL_ID_CTRL {
			return []netlink.Message{{
				Header: netlink.Header{Sequence: nreq.Header.Sequence, PID: nreq.Header.PID},
				Data:   append([]byte{unix.CTRL_CMD_NEWFAMILY, 2, 0, 0}, ndFamilyReply(ops)...),
			}}, nil
		}
		if nreq.Header.Type != ndFakeFamilyID {
			t.Errorf("fake: request to family %d, want %d", nreq.Header.Type, ndFakeFamilyID)
		}
		if gm.Header.Version != uapi.NETDEV_FAMILY_VERSION {
			t.Errorf("fake: genetlink version %d, want %d", gm.Header.Version, uapi.NETDEV_FAMILY_VERSION)
		}
		return h(ndRequest{cmd: Command(gm.Header.Command), flags: nreq.Header.Flags, attrs: gm.Data}, nreq)
	}))
}

// ndFakeClient returns a Client over the fake kernel; the sockets of its
// bindings and subscriptions go to the same handler.
func ndFakeClient(t *testing.T, ops []Command, h ndHandler) *Client {
	t.Helper()
	c, err := initClient(ndFakeConn(t, ops, h))
	if err != nil {
		t.Fatalf("initClient: %v", err)
	}
	c.dialSide = func() (*genetlink.Conn, error) { return ndFakeConn(t, ops, h), nil }
	cl := &Client{c: c}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// ndReplies builds the kernel's answer to nreq: one message per payload,
// multi-part with a done message for dumps.
func ndReplies(req ndRequest, nreq netlink.Message, payloads ...[]byte) []netlink.Message {
	var out []netlink.Message
	for _, p := range payloads {
		out = append(out, netlink.Message{
			Header: netlink.Header{Type: ndFakeFamilyID, Sequence: nreq.Header.Sequence, PID: nreq.Header.PID},
			Data:   append([]byte{uint8(req.cmd), uapi.NETDEV_FAMILY_VERSION, 0, 0}, p...),
		})
	}
	if req.flags&netlink.Dump == netlink.Dump {
		for i := range out {
			out[i].Header.Flags |= netlink.Multi
		}
		out = append(out, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi,
			Sequence: nreq.Header.Sequence, PID: nreq.Header.PID}, Data: make([]byte, 4)})
	}
	return out
}

// ndKernelError builds an error ack with extended-ack TLVs the way the
// kernel does without NETLINK_CAP_ACK: errno, the whole request, then
// NLMSGERR_ATTR_MSG and NLMSGERR_ATTR_OFFS.
func ndKernelError(nreq netlink.Message, errno unix.Errno, msg string, off int) []netlink.Message {
	rb, err := nreq.MarshalBinary()
	if err != nil {
		panic(err)
	}
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	data = append(data, rb...)
	ae := netlink.NewAttributeEncoder()
	if msg != "" {
		ae.String(unix.NLMSGERR_ATTR_MSG, msg)
	}
	if off >= 0 {
		ae.Uint32(unix.NLMSGERR_ATTR_OFFS, uint32(off))
	}
	tlv, _ := ae.Encode()
	flags := netlink.HeaderFlags(0)
	if len(tlv) > 0 {
		flags = netlink.AcknowledgeTLVs
	}
	return []netlink.Message{{
		Header: netlink.Header{Type: netlink.Error, Flags: flags, Sequence: nreq.Header.Sequence, PID: nreq.Header.PID},
		Data:   append(data, tlv...),
	}}
}

// ndNla builds one attribute by hand (not with the netlink package's
// encoder, so that the tests check the encoding independently).
func ndNla(typ uint16, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(p)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, p...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ndU32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func ndU64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

const ndNested = 0x8000

func ndPipeFile(t *testing.T) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r
}

// ndFileFD returns f's descriptor without disturbing its blocking mode
// (f.Fd would).
func ndFileFD(t *testing.T, f *os.File) uint32 {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	if err := rc.Control(func(v uintptr) { fd = v }); err != nil {
		t.Fatal(err)
	}
	return uint32(fd)
}

func ndPtr[T any](v T) *T { return &v }

// TestClientRequests checks command, flags and the exact attribute bytes
// of every request against the kernel's format.
func TestClientRequests(t *testing.T) {
	ndSkipBigEndian(t)
	pipe := ndPipeFile(t)
	fd := ndFileFD(t, pipe)
	queueIDNest := func(id uint32) []byte {
		return ndNla(ndNested|uapi.NETDEV_A_DMABUF_QUEUES, ndNla(uapi.NETDEV_A_QUEUE_ID, ndU32(id)), ndNla(uapi.NETDEV_A_QUEUE_TYPE, ndU32(0)))
	}
	tests := []struct {
		name  string
		call  func(c *Client) error
		want  ndRequest
		reply []byte // payload of the one reply, if any
	}{
		{
			name: "dev-get do",
			call: func(c *Client) error { _, err := c.Dev(3); return err },
			want: ndRequest{CmdDevGet, netlink.Request, ndNla(1, ndU32(3))},
		},
		{
			name: "dev-get dump",
			call: func(c *Client) error { _, err := c.Devs(); return err },
			want: ndRequest{CmdDevGet, netlink.Request | netlink.Dump, nil},
		},
		{
			name: "queue-get do",
			call: func(c *Client) error { _, err := c.Queue(3, 1, QueueTypeTX); return err },
			want: ndRequest{CmdQueueGet, netlink.Request, bytes.Join([][]byte{ndNla(2, ndU32(3)), ndNla(3, ndU32(1)), ndNla(1, ndU32(1))}, nil)},
		},
		{
			name: "queue-get dump all",
			call: func(c *Client) error { _, err := c.Queues(0); return err },
			want: ndRequest{CmdQueueGet, netlink.Request | netlink.Dump, nil},
		},
		{
			name: "queue-get dump one device",
			call: func(c *Client) error { _, err := c.Queues(3); return err },
			want: ndRequest{CmdQueueGet, netlink.Request | netlink.Dump, ndNla(2, ndU32(3))},
		},
		{
			name: "napi-get do",
			call: func(c *Client) error { _, err := c.NAPI(8193); return err },
			want: ndRequest{CmdNAPIGet, netlink.Request, ndNla(2, ndU32(8193))},
		},
		{
			name: "napi-get dump",
			call: func(c *Client) error { _, err := c.NAPIs(3); return err },
			want: ndRequest{CmdNAPIGet, netlink.Request | netlink.Dump, ndNla(1, ndU32(3))},
		},
		{
			name: "napi-set everything",
			call: func(c *Client) error {
				return c.SetNAPI(8193, NAPIConfig{DeferHardIRQs: ndPtr[uint32](2), GROFlushTimeout: ndPtr(20 * time.Microsecond),
					IRQSuspendTimeout: ndPtr(5 * time.Second), Threaded: ndPtr(NAPIThreadedEnabled)})
			},
			want: ndRequest{CmdNAPISet, netlink.Request | netlink.Acknowledge, bytes.Join([][]byte{
				ndNla(2, ndU32(8193)), ndNla(5, ndU32(2)), ndNla(6, ndU32(20000)), ndNla(7, ndU64(5e9)), ndNla(8, ndU32(1))}, nil)},
		},
		{
			name: "napi-set only threaded",
			call: func(c *Client) error { return c.SetNAPI(8193, NAPIConfig{Threaded: ndPtr(NAPIThreadedDisabled)}) },
			want: ndRequest{CmdNAPISet, netlink.Request | netlink.Acknowledge, bytes.Join([][]byte{ndNla(2, ndU32(8193)), ndNla(8, ndU32(0))}, nil)},
		},
		{
			name: "page-pool-get do",
			call: func(c *Client) error { _, err := c.PagePool(7); return err },
			want: ndRequest{CmdPagePoolGet, netlink.Request, ndNla(1, ndU32(7))},
		},
		{
			name: "page-pool-get dump",
			call: func(c *Client) error { _, err := c.PagePools(3); return err },
			want: ndRequest{CmdPagePoolGet, netlink.Request | netlink.Dump, ndNla(2, ndU32(3))},
		},
		{
			name: "page-pool-stats-get do",
			call: func(c *Client) error { _, err := c.PagePoolStats(7); return err },
			want: ndRequest{CmdPagePoolStatsGet, netlink.Request, ndNla(ndNested|1, ndNla(1, ndU32(7)))},
		},
		{
			name: "page-pool-stats-get dump",
			call: func(c *Client) error { _, err := c.PagePoolsStats(3); return err },
			want: ndRequest{CmdPagePoolStatsGet, netlink.Request | netlink.Dump, ndNla(ndNested|1, ndNla(2, ndU32(3)))},
		},
		{
			name: "qstats-get queue scope",
			call: func(c *Client) error { _, err := c.QueueStats(3, QStatsScopeQueue); return err },
			want: ndRequest{CmdQStatsGet, netlink.Request | netlink.Dump, bytes.Join([][]byte{ndNla(1, ndU32(3)), ndNla(4, ndU32(1))}, nil)},
		},
		{
			name: "qstats-get device scope, all devices",
			call: func(c *Client) error { _, err := c.QueueStats(0, QStatsScopeDevice); return err },
			want: ndRequest{CmdQStatsGet, netlink.Request | netlink.Dump, nil},
		},
		{
			name: "bind-rx, duplicate and unsorted queues",
			call: func(c *Client) error {
				b, err := c.BindRX(3, pipe, []uint32{2, 0, 2})
				if err == nil {
					b.Close()
				}
				return err
			},
			want:  ndRequest{CmdBindRX, netlink.Request, bytes.Join([][]byte{ndNla(1, ndU32(3)), ndNla(3, ndU32(fd)), queueIDNest(0), queueIDNest(2)}, nil)},
			reply: ndNla(uapi.NETDEV_A_DMABUF_ID, ndU32(9)),
		},
		{
			name: "bind-tx",
			call: func(c *Client) error {
				b, err := c.BindTX(3, pipe)
				if err == nil {
					b.Close()
				}
				return err
			},
			want:  ndRequest{CmdBindTX, netlink.Request, bytes.Join([][]byte{ndNla(1, ndU32(3)), ndNla(3, ndU32(fd))}, nil)},
			reply: ndNla(uapi.NETDEV_A_DMABUF_ID, ndU32(10)),
		},
		{
			name: "queue-create",
			call: func(c *Client) error {
				_, err := c.CreateQueue(5, Lease{Ifindex: 3, Queue: QueueID{ID: 1}, NetNSID: -1})
				return err
			},
			want: ndRequest{CmdQueueCreate, netlink.Request, bytes.Join([][]byte{ndNla(2, ndU32(5)), ndNla(3, ndU32(0)),
				ndNla(ndNested|8, ndNla(1, ndU32(3)), ndNla(ndNested|2, ndNla(1, ndU32(1)), ndNla(3, ndU32(0))))}, nil)},
			reply: ndNla(uapi.NETDEV_A_QUEUE_ID, ndU32(4)),
		},
		{
			name: "queue-create in a peer namespace",
			call: func(c *Client) error {
				_, err := c.CreateQueue(5, Lease{Ifindex: 3, Queue: QueueID{ID: 1}, NetNSID: 0})
				return err
			},
			want: ndRequest{CmdQueueCreate, netlink.Request, bytes.Join([][]byte{ndNla(2, ndU32(5)), ndNla(3, ndU32(0)),
				ndNla(ndNested|8, ndNla(1, ndU32(3)), ndNla(ndNested|2, ndNla(1, ndU32(1)), ndNla(3, ndU32(0))), ndNla(3, ndU32(0)))}, nil)},
			reply: ndNla(uapi.NETDEV_A_QUEUE_ID, ndU32(4)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu  sync.Mutex
				got []ndRequest
			)
			c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
				mu.Lock()
				got = append(got, req)
				mu.Unlock()
				if req.flags&netlink.Dump == netlink.Dump {
					return ndReplies(req, nreq), nil
				}
				if tt.reply == nil {
					// An answer that fits every do request: ENOENT
					// (napi-set gets its ack from the error path too).
					if req.cmd == CmdNAPISet {
						return ndKernelError(nreq, 0, "", -1), nil
					}
					return ndKernelError(nreq, unix.ENOENT, "", -1), nil
				}
				return ndReplies(req, nreq, tt.reply), nil
			})
			if err := tt.call(c); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("call: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("kernel saw %d requests, want 1: %+v", len(got), got)
			}
			if diff := cmp.Diff(tt.want, got[0], cmp.AllowUnexported(ndRequest{}), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClientReplies decodes canned kernel ndReplies through the public API.
func TestClientReplies(t *testing.T) {
	devs := []*Dev{{Ifindex: 1}, {Ifindex: 2, XDPFeatures: XDPActBasic | XDPActRedirect}}
	queues := []*Queue{
		{ID: 0, Type: QueueTypeRX, Ifindex: 2, NAPIID: 8193, DMABuf: 4},
		{ID: 1, Type: QueueTypeRX, Ifindex: 2, NAPIID: 8194},
		{ID: 0, Type: QueueTypeTX, Ifindex: 2, NAPIID: 8193, XSK: true},
	}
	napis := []*NAPI{{ID: 8193, Ifindex: 2, IRQ: 33, GROFlushTimeout: time.Millisecond}}
	pools := []*PagePool{{ID: 5, Ifindex: 2, NAPIID: 8193, Inflight: 512, InflightMem: 512 * 4096, DMABuf: 4}}
	ppstats := []*PagePoolStats{{ID: 5, Ifindex: 2, AllocFast: 100, RecycleRing: 7}}
	qstats := []*QueueStats{
		{Ifindex: 2, Scope: QStatsScopeQueue, QueueType: QueueTypeRX, QueueID: 0, RxPackets: 10, RxBytes: 1000, RxAllocFail: 2},
		{Ifindex: 2, Scope: QStatsScopeQueue, QueueType: QueueTypeTX, QueueID: 0, TxPackets: 3, TxStop: 1},
	}
	enc := func(t *testing.T, fns ...func(*netlink.AttributeEncoder)) [][]byte {
		var out [][]byte
		for _, fn := range fns {
			out = append(out, ndMustEncode(t, fn))
		}
		return out
	}
	payloads := map[Command][][]byte{
		CmdDevGet:           enc(t, encodeDev(devs[0]), encodeDev(devs[1])),
		CmdQueueGet:         enc(t, encodeQueue(queues[0]), encodeQueue(queues[1]), encodeQueue(queues[2])),
		CmdNAPIGet:          enc(t, encodeNAPI(napis[0])),
		CmdPagePoolGet:      enc(t, encodePagePool(pools[0])),
		CmdPagePoolStatsGet: enc(t, encodePagePoolStats(ppstats[0])),
		CmdQStatsGet:        enc(t, encodeQueueStats(qstats[0]), encodeQueueStats(qstats[1])),
	}
	c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		p := payloads[req.cmd]
		if req.flags&netlink.Dump != netlink.Dump {
			p = p[:1]
		}
		return ndReplies(req, nreq, p...), nil
	})

	check := func(name string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	gotDevs, err := c.Devs()
	check("Devs", devs, gotDevs, err)
	gotDev, err := c.Dev(1)
	check("Dev", devs[0], gotDev, err)
	gotQueues, err := c.Queues(2)
	check("Queues", queues, gotQueues, err)
	gotQueue, err := c.Queue(2, 0, QueueTypeRX)
	check("Queue", queues[0], gotQueue, err)
	gotNAPIs, err := c.NAPIs(2)
	check("NAPIs", napis, gotNAPIs, err)
	gotNAPI, err := c.NAPI(8193)
	check("NAPI", napis[0], gotNAPI, err)
	gotPools, err := c.PagePools(0)
	check("PagePools", pools, gotPools, err)
	gotPool, err := c.PagePool(5)
	check("PagePool", pools[0], gotPool, err)
	gotPPStats, err := c.PagePoolsStats(0)
	check("PagePoolsStats", ppstats, gotPPStats, err)
	gotPPStat, err := c.PagePoolStats(5)
	check("PagePoolStats", ppstats[0], gotPPStat, err)
	gotQStats, err := c.QueueStats(2, QStatsScopeQueue)
	check("QueueStats", qstats, gotQStats, err)
}

// TestClientSupports: commands missing from the family's op list are
// refused without a request, with an error matching ErrNotSupported.
func TestClientSupports(t *testing.T) {
	ops := []Command{CmdDevGet, CmdQueueGet, CmdBindRX} // a 6.12-like kernel without napi-set, bind-tx
	c := ndFakeClient(t, ops, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		t.Errorf("unexpected request %v", req.cmd)
		return ndKernelError(nreq, unix.EINVAL, "", -1), nil
	})
	want := map[Command]bool{CmdDevGet: true, CmdQueueGet: true, CmdBindRX: true}
	for cmd := Command(0); cmd < 20; cmd++ {
		if got := c.Supports(cmd); got != want[cmd] {
			t.Errorf("Supports(%v) = %v, want %v", cmd, got, want[cmd])
		}
	}
	if !c.HasBindRX() || c.HasBindTX() {
		t.Errorf("HasBindRX, HasBindTX = %v, %v; want true, false", c.HasBindRX(), c.HasBindTX())
	}
	pipe := ndPipeFile(t)
	for name, call := range map[string]func() error{
		"BindTX":      func() error { _, err := c.BindTX(3, pipe); return err },
		"SetNAPI":     func() error { return c.SetNAPI(1, NAPIConfig{}) },
		"PagePools":   func() error { _, err := c.PagePools(0); return err },
		"QueueStats":  func() error { _, err := c.QueueStats(0, QStatsScopeDevice); return err },
		"CreateQueue": func() error { _, err := c.CreateQueue(3, Lease{Ifindex: 2}); return err },
	} {
		err := call()
		if diff := cmp.Diff(ErrNotSupported, err, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", name, diff)
		}
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Hint, "Linux") {
			t.Errorf("%s: error %v should say which Linux release has the command", name, err)
		}
	}
}

// TestClientArgumentChecks: arguments the kernel would refuse with a bare
// EINVAL are refused before sending, naming the attribute.
func TestClientArgumentChecks(t *testing.T) {
	c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		t.Errorf("unexpected request %v", req.cmd)
		return ndKernelError(nreq, unix.EINVAL, "", -1), nil
	})
	pipe := ndPipeFile(t)
	closed, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	w.Close()
	tests := []struct {
		name  string
		call  func() error
		errno unix.Errno
		attr  string
	}{
		{"Dev(0)", func() error { _, err := c.Dev(0); return err }, unix.EINVAL, "ifindex"},
		{"Dev(-1)", func() error { _, err := c.Dev(-1); return err }, unix.EINVAL, "ifindex"},
		{"Queue bad type", func() error { _, err := c.Queue(1, 0, 7); return err }, unix.EINVAL, "type"},
		{"Queues(-2)", func() error { _, err := c.Queues(-2); return err }, unix.EINVAL, "ifindex"},
		{"PagePool(0)", func() error { _, err := c.PagePool(0); return err }, unix.EINVAL, "id"},
		{"PagePoolStats(0)", func() error { _, err := c.PagePoolStats(0); return err }, unix.EINVAL, "id"},
		{"QueueStats bad scope", func() error { _, err := c.QueueStats(0, 9); return err }, unix.EINVAL, "scope"},
		{"SetNAPI negative timeout", func() error { return c.SetNAPI(1, NAPIConfig{GROFlushTimeout: ndPtr(-time.Second)}) }, unix.EINVAL, "gro-flush-timeout"},
		{"SetNAPI defer too big", func() error { return c.SetNAPI(1, NAPIConfig{DeferHardIRQs: ndPtr[uint32](1 << 31)}) }, unix.EINVAL, "defer-hard-irqs"},
		{"SetNAPI bad threaded", func() error { return c.SetNAPI(1, NAPIConfig{Threaded: ndPtr[NAPIThreaded](3)}) }, unix.EINVAL, "threaded"},
		{"BindRX no queues", func() error { _, err := c.BindRX(3, pipe, nil); return err }, unix.EINVAL, "queues"},
		{"BindRX nil dmabuf", func() error { _, err := c.BindRX(3, nil, []uint32{0}); return err }, unix.EBADF, "fd"},
		{"BindRX closed dmabuf", func() error { _, err := c.BindRX(3, closed, []uint32{0}); return err }, unix.EBADF, "fd"},
		{"BindRX ifindex 0", func() error { _, err := c.BindRX(0, pipe, []uint32{0}); return err }, unix.EINVAL, "ifindex"},
		{"BindTX nil dmabuf", func() error { _, err := c.BindTX(3, nil); return err }, unix.EBADF, "fd"},
		{"CreateQueue no lease device", func() error { _, err := c.CreateQueue(3, Lease{}); return err }, unix.EINVAL, "lease-ifindex"},
		{"CreateQueue TX lease", func() error {
			_, err := c.CreateQueue(3, Lease{Ifindex: 2, Queue: QueueID{Type: QueueTypeTX}})
			return err
		}, unix.EINVAL, "queue-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if diff := cmp.Diff(tt.errno, err, cmpopts.EquateErrors()); diff != "" {
				t.Fatalf("errno (-want +got):\n%s", diff)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.Attr != tt.attr || e.Hint == "" {
				t.Fatalf("Attr %q, Hint %q; want Attr %q and a hint", e.Attr, e.Hint, tt.attr)
			}
		})
	}
}

// TestExecuteChecksRequests: the one request path refuses requests that
// lack required attributes, carry foreign ones or nests without
// NLA_F_NESTED, before the kernel answers them with a bare EINVAL.
func TestExecuteChecksRequests(t *testing.T) {
	c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		t.Errorf("unexpected request %v", req.cmd)
		return ndKernelError(nreq, unix.EINVAL, "", -1), nil
	})
	tests := []struct {
		name   string
		cmd    Command
		flags  netlink.HeaderFlags
		encode func(ae *netlink.AttributeEncoder)
		attr   string
	}{
		{"bind-rx without fd", CmdBindRX, 0, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DMABUF_IFINDEX, 1)
			ae.Nested(uapi.NETDEV_A_DMABUF_QUEUES, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(uapi.NETDEV_A_QUEUE_ID, 0)
				nae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, 0)
				return nil
			})
		}, "fd"},
		{"bind-rx queue without type", CmdBindRX, 0, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DMABUF_IFINDEX, 1)
			ae.Uint32(uapi.NETDEV_A_DMABUF_FD, 1)
			ae.Nested(uapi.NETDEV_A_DMABUF_QUEUES, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(uapi.NETDEV_A_QUEUE_ID, 0)
				return nil
			})
		}, "queue-type"},
		{"bind-rx nest without NLA_F_NESTED", CmdBindRX, 0, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DMABUF_IFINDEX, 1)
			ae.Uint32(uapi.NETDEV_A_DMABUF_FD, 1)
			ae.Bytes(uapi.NETDEV_A_DMABUF_QUEUES, ndNla(1, ndU32(0)))
		}, "queues"},
		{"bind-tx with queues", CmdBindTX, 0, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DMABUF_IFINDEX, 1)
			ae.Uint32(uapi.NETDEV_A_DMABUF_FD, 1)
			ae.Nested(uapi.NETDEV_A_DMABUF_QUEUES, func(*netlink.AttributeEncoder) error { return nil })
		}, "attribute 2"},
		{"bind-rx with id", CmdBindRX, 0, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DMABUF_ID, 1)
		}, "attribute 4"},
		{"queue-get without type", CmdQueueGet, 0, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_QUEUE_IFINDEX, 1)
			ae.Uint32(uapi.NETDEV_A_QUEUE_ID, 0)
		}, "type"},
		{"queue-create lease without queue", CmdQueueCreate, 0, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_QUEUE_IFINDEX, 1)
			ae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, 0)
			ae.Nested(uapi.NETDEV_A_QUEUE_LEASE, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(uapi.NETDEV_A_LEASE_IFINDEX, 2)
				return nil
			})
		}, "lease-queue"},
		{"page-pool-stats-get without id", CmdPagePoolStatsGet, 0, func(ae *netlink.AttributeEncoder) {
			ae.Nested(uapi.NETDEV_A_PAGE_POOL_STATS_INFO, func(*netlink.AttributeEncoder) error { return nil })
		}, "page-pool-id"},
		{"dev-get dump with ifindex", CmdDevGet, netlink.Dump, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DEV_IFINDEX, 1)
		}, "attribute 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := execute(c.c.conn, c.c.fam, tt.cmd, tt.flags, 0, tt.encode)
			if diff := cmp.Diff(unix.EINVAL, err, cmpopts.EquateErrors()); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			var e *Error
			if !errors.As(err, &e) || e.Attr != tt.attr {
				t.Fatalf("error %v: want Attr %q", err, tt.attr)
			}
		})
	}
}

// TestBindErrors maps every bind refusal the 7.2 and 6.12 kernels give
// (devmem-uapi.md §2.4, §2.5) to its errno class, attribute and hint.
func TestBindErrors(t *testing.T) {
	// Offsets count from the request's nlmsghdr: attributes start at 20;
	// bind-rx sends ifindex (8 bytes), fd (8), then one 20-byte nest per
	// queue whose id attribute sits 4 bytes in.
	const (
		offIfindex     = 20
		offSecondQueue = 20 + 8 + 8 + 20 + 4
	)
	tests := []struct {
		name  string
		cmd   Command
		errno unix.Errno
		msg   string
		off   int
		is    error // what errors.Is must match
		attr  string
		hint  string // substring of the hint
	}{
		{"no queue API", CmdBindRX, unix.EOPNOTSUPP, "", offIfindex, ErrNotSupported, "ifindex", "lacks the queue API; devmem RX needs bnxt, gve, mlx5 or fbnic"},
		{"ENOTSUPP leak", CmdBindRX, uapi.ENOTSUPP, "", -1, ErrNotSupported, "", "queue API"},
		{"no device", CmdBindRX, unix.ENODEV, "", offIfindex, os.ErrNotExist, "ifindex", "no device ifindex 4242"},
		{"no privilege", CmdBindRX, unix.EPERM, "", -1, os.ErrPermission, "", "CAP_NET_ADMIN"},
		{"header split off", CmdBindRX, unix.EINVAL, "tcp-data-split is disabled", -1, unix.EINVAL, "", "ethtool -G <dev> tcp-data-split on"},
		{"hds-thresh", CmdBindRX, unix.EINVAL, "hds-thresh is not zero", -1, unix.EINVAL, "", "ethtool -G <dev> hds-thresh 0"},
		{"XDP 7.2", CmdBindRX, unix.EEXIST, "unable to custom memory provider to device with XDP program attached", -1, unix.EEXIST, "", "xdp off"},
		{"XDP 6.12", CmdBindRX, unix.EEXIST, "unable to bind dmabuf to device with XDP program attached", -1, unix.EEXIST, "", "xdp off"},
		{"queue already bound", CmdBindRX, unix.EEXIST, "designated queue already memory provider bound", -1, unix.EEXIST, "", "close that binding"},
		{"AF_XDP", CmdBindRX, unix.EBUSY, "designated queue already in use by AF_XDP", -1, unix.EBUSY, "", "AF_XDP socket"},
		{"leased queue", CmdBindRX, unix.EBUSY, "rx queue leased to a virtual netdev", -1, unix.EBUSY, "", "leased to a virtual device"},
		{"virtual queue", CmdBindRX, unix.EOPNOTSUPP, "rx queue belongs to a virtual netdev", -1, ErrNotSupported, "", "CreateQueue"},
		{"queue out of range 7.2", CmdBindRX, unix.EINVAL, "", offSecondQueue, unix.EINVAL, "queue-id", "has 2 RX queues (0..1)"},
		{"queue out of range ERANGE", CmdBindRX, unix.ERANGE, "rx queue index out of range", -1, unix.ERANGE, "", "has 2 RX queues"},
		{"multi-PF", CmdBindRX, unix.EOPNOTSUPP, "DMA device mismatch between queue 1 and 0 (multi-PF device?)", -1, ErrNotSupported, "", "different DMA devices"},
		{"no DMA", CmdBindRX, unix.EOPNOTSUPP, "Device doesn't support DMA", -1, ErrNotSupported, "", "no DMA device"},
		{"attach fails (6.12 veth)", CmdBindRX, unix.EINVAL, "Failed to bind dmabuf to device", -1, unix.EINVAL, "", "Linux 6.12"},
		{"map fails", CmdBindRX, unix.EFAULT, "Failed to map dmabuf attachment", -1, unix.EFAULT, "", "could not map"},
		{"SG alignment", CmdBindRX, unix.EINVAL, "dma-buf SG length must be PAGE_SIZE aligned", -1, unix.EINVAL, "", "multiple of the page size"},
		{"driver ignored provider", CmdBindRX, unix.ENODATA, "", -1, unix.ENODATA, "", "ignored the dma-buf memory provider"},
		{"not a dma-buf", CmdBindRX, unix.EINVAL, "", -1, unix.EINVAL, "", "is a pipe, not a dma-buf"},
		{"bad fd", CmdBindRX, unix.EBADF, "", -1, unix.EBADF, "", "is a pipe"},
		{"no netmem TX", CmdBindTX, unix.EOPNOTSUPP, "Driver does not support netmem TX", -1, ErrNotSupported, "", "no devmem TX support"},
		{"virtual TX", CmdBindTX, unix.EOPNOTSUPP, "No DMA-capable device found for netmem TX", -1, ErrNotSupported, "", "lease an RX queue"},
		{"TX size", CmdBindTX, unix.EINVAL, "TX dma-buf size must be a multiple of PAGE_SIZE", -1, unix.EINVAL, "", "multiple of the page size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
				switch req.cmd {
				case tt.cmd:
					return ndKernelError(nreq, tt.errno, tt.msg, tt.off), nil
				case CmdQueueGet: // the queue count for the out-of-range hint
					return ndReplies(req, nreq,
						ndMustEncode(t, encodeQueue(&Queue{ID: 0, Type: QueueTypeRX, Ifindex: ndNoIfindex})),
						ndMustEncode(t, encodeQueue(&Queue{ID: 1, Type: QueueTypeRX, Ifindex: ndNoIfindex})),
						ndMustEncode(t, encodeQueue(&Queue{ID: 0, Type: QueueTypeTX, Ifindex: ndNoIfindex}))), nil
				}
				t.Errorf("unexpected request %v", req.cmd)
				return ndKernelError(nreq, unix.EINVAL, "", -1), nil
			})
			pipe := ndPipeFile(t)
			before := ndCountFDs(t)
			var (
				b   *Binding
				err error
			)
			if tt.cmd == CmdBindRX {
				b, err = c.BindRX(ndNoIfindex, pipe, []uint32{0, 5})
			} else {
				b, err = c.BindTX(ndNoIfindex, pipe)
			}
			if b != nil {
				t.Fatalf("got binding %v, want an error", b)
			}
			if diff := cmp.Diff(tt.is, err, cmpopts.EquateErrors()); diff != "" {
				t.Fatalf("errors.Is (-want +got):\n%s", diff)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			want := &Error{Op: tt.cmd.String(), Ifindex: ndNoIfindex, Err: tt.errno, Message: tt.msg, Offset: max(tt.off, -1), Attr: tt.attr}
			if diff := cmp.Diff(*want, *e, cmpopts.IgnoreFields(Error{}, "Hint"), cmpopts.EquateErrors()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("hint %q does not contain %q", e.Hint, tt.hint)
			}
			if !strings.Contains(e.Error(), e.Hint) {
				t.Errorf("Error() %q does not show the hint", e.Error())
			}
			if after := ndCountFDs(t); after != before {
				t.Errorf("%d fds open after the failed bind, %d before", after, before)
			}
		})
	}
}

func ndCountFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestBinding: a successful bind gives a Binding with the kernel's id and
// the normalised queues; Close is idempotent and nil-safe.
func TestBinding(t *testing.T) {
	var sockets int
	c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		return ndReplies(req, nreq, ndNla(uapi.NETDEV_A_DMABUF_ID, ndU32(77))), nil
	})
	side := c.c.dialSide
	c.c.dialSide = func() (*genetlink.Conn, error) { sockets++; return side() }
	pipe := ndPipeFile(t)
	b, err := c.BindRX(3, pipe, []uint32{3, 1, 3, 2})
	if err != nil {
		t.Fatalf("BindRX: %v", err)
	}
	if sockets != 1 {
		t.Fatalf("BindRX opened %d sockets, want its own one", sockets)
	}
	if diff := cmp.Diff([]uint32{1, 2, 3}, b.Queues()); diff != "" {
		t.Errorf("Queues (-want +got):\n%s", diff)
	}
	b.Queues()[0] = 99 // a copy
	if b.ID() != 77 || b.Ifindex() != 3 || b.TX() || b.Queues()[0] != 1 {
		t.Errorf("binding %v: want rx binding 77 on ifindex 3 queues [1 2 3]", b)
	}
	if got, want := b.String(), "rx binding 77 on ifindex 3 queues [1 2 3]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for i := 0; i < 2; i++ {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if b.conn != nil {
		t.Error("Close left the socket in place")
	}
	var nilBinding *Binding
	if err := nilBinding.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}

	tx, err := c.BindTX(3, pipe)
	if err != nil {
		t.Fatalf("BindTX: %v", err)
	}
	defer tx.Close()
	if !tx.TX() || tx.Queues() != nil || tx.String() != "tx binding 77 on ifindex 3" {
		t.Errorf("tx binding %v", tx)
	}
}

// TestErrorIs covers the sentinel mapping of *Error.
func TestErrorIs(t *testing.T) {
	tests := []struct {
		err  unix.Errno
		want []error
		not  []error
	}{
		{unix.ENODEV, []error{os.ErrNotExist, unix.ENODEV}, []error{os.ErrPermission, ErrNotSupported, os.ErrInvalid}},
		{unix.ENOENT, []error{os.ErrNotExist}, []error{ErrNotSupported}},
		{unix.EPERM, []error{os.ErrPermission}, []error{os.ErrNotExist}},
		{unix.EACCES, []error{os.ErrPermission}, nil},
		{unix.EOPNOTSUPP, []error{ErrNotSupported, unix.EOPNOTSUPP}, []error{os.ErrNotExist}},
		{uapi.ENOTSUPP, []error{ErrNotSupported}, nil},
		{unix.EINVAL, []error{unix.EINVAL, os.ErrInvalid}, []error{ErrNotSupported, os.ErrNotExist, os.ErrPermission}},
		{unix.EBADF, []error{unix.EBADF}, []error{os.ErrInvalid}},
	}
	for _, tt := range tests {
		err := wrapError("op", 1, &netlink.OpError{Op: "receive", Err: tt.err, Message: "m", Offset: 24})
		for _, w := range tt.want {
			if !errors.Is(err, w) {
				t.Errorf("%v: errors.Is(%v) = false", tt.err, w)
			}
		}
		for _, w := range tt.not {
			if errors.Is(err, w) {
				t.Errorf("%v: errors.Is(%v) = true", tt.err, w)
			}
		}
	}
	if wrapError("op", 0, nil) != nil {
		t.Error("wrapError(nil) != nil")
	}
	e := wrapError("bind-rx", 3, &netlink.OpError{Op: "receive", Err: unix.EINVAL, Message: "tcp-data-split is disabled", Offset: 24}).(*Error)
	if diff := cmp.Diff(Error{Op: "bind-rx", Ifindex: 3, Err: unix.EINVAL, Message: "tcp-data-split is disabled", Offset: 24}, *e, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("lifted OpError (-want +got):\n%s", diff)
	}
	e2 := wrapError("send", 0, &netlink.OpError{Op: "send", Err: os.NewSyscallError("sendmsg", unix.ENOBUFS)}).(*Error)
	if e2.Err != unix.ENOBUFS || e2.Offset != -1 {
		t.Errorf("syscall error lifted to Err %v Offset %d, want ENOBUFS, -1", e2.Err, e2.Offset)
	}
	if got, want := (&Error{Op: "bind-rx", Ifindex: 3, Err: unix.EINVAL, Message: "m", Attr: "queue-id", Hint: "h"}).Error(),
		`netdev bind-rx ifindex 3: invalid argument: "m" (attribute queue-id); hint: h`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestClientClose: Close is idempotent and nil-safe.
func TestClientClose(t *testing.T) {
	c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		return nil, nil
	})
	for i := 0; i < 2; i++ {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	var nilClient *Client
	if err := nilClient.Close(); err != nil {
		t.Fatalf("nil Close: %v", err)
	}
}

// TestSubscriptionFake delivers multicast notifications through the fake
// socket and checks the family filter and decoding.
func TestSubscriptionFake(t *testing.T) {
	dev := ndMustEncode(t, encodeDev(&Dev{Ifindex: 7}))
	pool := ndMustEncode(t, encodePagePool(&PagePool{ID: 3, Ifindex: 7}))
	var calls int
	conn := genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if reqs != nil {
			return nil, fmt.Errorf("unexpected request")
		}
		calls++
		if calls > 1 {
			return nil, unix.EBADF
		}
		msg := func(typ netlink.HeaderType, cmd Command, p []byte) netlink.Message {
			return netlink.Message{Header: netlink.Header{Type: typ}, Data: append([]byte{uint8(cmd), 1, 0, 0}, p...)}
		}
		return []netlink.Message{
			msg(ndFakeFamilyID, CmdDevAddNtf, dev),
			msg(ndFakeFamilyID+1, CmdDevDelNtf, dev), // another family: ignored
			msg(ndFakeFamilyID, 99, dev),             // unknown command: ignored
			msg(ndFakeFamilyID, CmdPagePoolDelNtf, pool),
		}, nil
	}))
	s, err := subscribeConn(conn, ndFakeFamilyID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []Event{
		{Type: DevAdded, Dev: &Dev{Ifindex: 7}},
		{Type: PagePoolDeleted, PagePool: &PagePool{ID: 3, Ifindex: 7}},
	}
	for i, w := range want {
		got, err := s.Receive(context.Background())
		if err != nil {
			t.Fatalf("Receive #%d: %v", i, err)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Fatalf("event #%d (-want +got):\n%s", i, diff)
		}
	}
	if got, want := want[1].Type.String(), "page-pool-del-ntf"; got != want {
		t.Errorf("EventType.String() = %q, want %q", got, want)
	}
}

// TestClientClosed: a closed Client refuses requests, binds and
// subscriptions with net.ErrClosed, and sends nothing.
func TestClientClosed(t *testing.T) {
	c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		t.Errorf("unexpected request %v", req.cmd)
		return nil, nil
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	pipe := ndPipeFile(t)
	for name, call := range map[string]func() error{
		"Devs":      func() error { _, err := c.Devs(); return err },
		"Queue":     func() error { _, err := c.Queue(1, 0, QueueTypeRX); return err },
		"SetNAPI":   func() error { return c.SetNAPI(1, NAPIConfig{}) },
		"BindRX":    func() error { _, err := c.BindRX(1, pipe, []uint32{0}); return err },
		"BindTX":    func() error { _, err := c.BindTX(1, pipe); return err },
		"Subscribe": func() error { _, err := c.Subscribe(); return err },
	} {
		if err := call(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
	}
}

// TestNotExistHints: ENOENT answers about NAPI instances and page pools
// name the missing object.
func TestNotExistHints(t *testing.T) {
	c := ndFakeClient(t, ndAllCommands, func(req ndRequest, nreq netlink.Message) ([]netlink.Message, error) {
		return ndKernelError(nreq, unix.ENOENT, "", -1), nil
	})
	for name, tc := range map[string]struct {
		call func() error
		hint string
	}{
		"NAPI":          {func() error { _, err := c.NAPI(8200); return err }, "no NAPI instance 8200"},
		"SetNAPI":       {func() error { return c.SetNAPI(8200, NAPIConfig{}) }, "no NAPI instance 8200"},
		"PagePool":      {func() error { _, err := c.PagePool(9); return err }, "no page pool 9"},
		"PagePoolStats": {func() error { _, err := c.PagePoolStats(9); return err }, "no page pool 9"},
	} {
		err := tc.call()
		var e *Error
		if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &e) || !strings.Contains(e.Hint, tc.hint) {
			t.Errorf("%s: %v: want os.ErrNotExist with a hint containing %q", name, err, tc.hint)
		}
	}
}
