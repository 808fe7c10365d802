//go:build linux

package netdev_test

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devmem-go/devmem/netdev"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// Integration tests against the running kernel. They feature-detect
// (family present, commands in the op list, devices and exporters
// available) and never look at the kernel version. Tests that change
// network state do it in a fresh network namespace.

func ndDial(t *testing.T) *netdev.Client {
	t.Helper()
	c, err := netdev.Dial()
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("kernel lacks the netdev family: %v", err)
	}
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ndNeed(t *testing.T, c *netdev.Client, cmds ...netdev.Command) {
	t.Helper()
	for _, cmd := range cmds {
		if !c.Supports(cmd) {
			t.Skipf("kernel lacks netdev %v", cmd)
		}
	}
}

func TestIntegrationDial(t *testing.T) {
	c := ndDial(t)
	if !c.Supports(netdev.CmdDevGet) {
		t.Fatal("dev-get is missing from the op list")
	}
	if c.Supports(netdev.CmdDevAddNtf) {
		t.Error("notifications should not be listed as supported commands")
	}
	if c.HasBindTX() && !c.HasBindRX() {
		t.Error("bind-tx without bind-rx")
	}
	for i := 0; i < 2; i++ {
		if err := c.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
}

// TestIntegrationLoopback reads lo in the test process's namespace and
// checks the answers against sysfs.
func TestIntegrationLoopback(t *testing.T) {
	c := ndDial(t)
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo: %v", err)
	}
	if got := ndSysInt(t, "/sys/class/net/lo/ifindex"); got != lo.Index {
		t.Fatalf("sysfs ifindex %d, net.InterfaceByName %d", got, lo.Index)
	}
	devs, err := c.Devs()
	if err != nil {
		t.Fatalf("Devs: %v", err)
	}
	i := slices.IndexFunc(devs, func(d *netdev.Dev) bool { return d.Ifindex == lo.Index })
	if i < 0 {
		t.Fatalf("Devs has no lo (ifindex %d): %+v", lo.Index, devs)
	}
	dev, err := c.Dev(lo.Index)
	if err != nil {
		t.Fatalf("Dev: %v", err)
	}
	if diff := cmp.Diff(devs[i], dev); diff != "" {
		t.Errorf("Dev vs Devs (-dump +do):\n%s", diff)
	}
	if _, err := c.Dev(1 << 30); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dev(1<<30): %v, want os.ErrNotExist", err)
	}

	if c.Supports(netdev.CmdQueueGet) && lo.Flags&net.FlagUp != 0 {
		qs, err := c.Queues(lo.Index)
		if err != nil {
			t.Fatalf("Queues: %v", err)
		}
		rx, tx := ndSysQueues(t, "/sys", "lo")
		ndCheckQueues(t, qs, lo.Index, rx, tx)
		q, err := c.Queue(lo.Index, 0, netdev.QueueTypeRX)
		if err != nil {
			t.Fatalf("Queue: %v", err)
		}
		if diff := cmp.Diff(qs[0], q); diff != "" {
			t.Errorf("Queue vs Queues (-dump +do):\n%s", diff)
		}
		_, err = c.Queue(lo.Index, uint32(rx), netdev.QueueTypeRX)
		if diff := cmp.Diff(unix.EINVAL, err, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("Queue beyond the last: (-want +got):\n%s", diff)
		}
	}
	if c.Supports(netdev.CmdNAPIGet) {
		if _, err := c.NAPI(1); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("NAPI(1): %v, want os.ErrNotExist (ids start above NR_CPUS)", err)
		}
	}
	if c.Supports(netdev.CmdPagePoolGet) {
		if _, err := c.PagePools(0); err != nil {
			t.Errorf("PagePools: %v", err)
		}
		if _, err := c.PagePool(1 << 31); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("PagePool(1<<31): %v, want os.ErrNotExist", err)
		}
	}
	if c.Supports(netdev.CmdQStatsGet) {
		st, err := c.QueueStats(lo.Index, netdev.QStatsScopeDevice)
		switch {
		case errors.Is(err, netdev.ErrNotSupported):
			var e *netdev.Error
			if !errors.As(err, &e) || e.Attr != "ifindex" || e.Hint == "" {
				t.Errorf("QueueStats(lo): %v: want the ifindex attribute named and a hint", err)
			}
		case err != nil:
			t.Errorf("QueueStats(lo): %v", err)
		default:
			for _, s := range st {
				if s.Ifindex != lo.Index {
					t.Errorf("QueueStats(lo) returned ifindex %d", s.Ifindex)
				}
			}
		}
	}
	if c.Supports(netdev.CmdNAPISet) && os.Geteuid() == 0 {
		err := c.SetNAPI(1, netdev.NAPIConfig{})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("SetNAPI(1): %v, want os.ErrNotExist", err)
		}
	}
}

// TestIntegrationHostQStats compares the device-scope queue statistics of
// every device of the process's namespace that keeps them with
// /proc/net/dev, read just before and just after: traffic may flow, so
// each counter must lie between the two readings.
func TestIntegrationHostQStats(t *testing.T) {
	c := ndDial(t)
	ndNeed(t, c, netdev.CmdQStatsGet)
	runtime.LockOSThread() // /proc/thread-self must stay this thread
	defer runtime.UnlockOSThread()
	before := ndReadProcNetDev(t)
	st, err := c.QueueStats(0, netdev.QStatsScopeDevice)
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	after := ndReadProcNetDev(t)
	if len(st) == 0 {
		t.Skip("no device here keeps queue statistics")
	}
	for _, s := range st {
		ifi, err := net.InterfaceByIndex(s.Ifindex)
		if err != nil {
			t.Fatalf("ifindex %d: %v", s.Ifindex, err)
		}
		lo, hi := before[ifi.Name], after[ifi.Name]
		for _, c := range []struct {
			name      string
			v, lo, hi uint64
		}{
			{"rx-packets", s.RxPackets, lo.RxPackets, hi.RxPackets},
			{"rx-bytes", s.RxBytes, lo.RxBytes, hi.RxBytes},
			{"tx-packets", s.TxPackets, lo.TxPackets, hi.TxPackets},
			{"tx-bytes", s.TxBytes, lo.TxBytes, hi.TxBytes},
		} {
			if c.v < c.lo || c.v > c.hi {
				t.Errorf("%s %s = %d, /proc/net/dev read %d before and %d after", ifi.Name, c.name, c.v, c.lo, c.hi)
			}
		}
		t.Logf("%s: rx %d packets, tx %d packets", ifi.Name, s.RxPackets, s.TxPackets)
	}
}

func ndCheckQueues(t *testing.T, qs []*netdev.Queue, ifindex, rx, tx int) {
	t.Helper()
	var want []netdev.QueueID
	for i := 0; i < rx; i++ {
		want = append(want, netdev.QueueID{ID: uint32(i), Type: netdev.QueueTypeRX})
	}
	for i := 0; i < tx; i++ {
		want = append(want, netdev.QueueID{ID: uint32(i), Type: netdev.QueueTypeTX})
	}
	var got []netdev.QueueID
	for _, q := range qs {
		if q.Ifindex != ifindex {
			t.Errorf("queue %+v belongs to ifindex %d, want %d", q, q.Ifindex, ifindex)
		}
		if q.DMABuf != 0 || q.IOURing != nil || q.XSK || q.Lease != nil {
			t.Errorf("queue %+v has a memory provider, AF_XDP socket or lease", q)
		}
		got = append(got, netdev.QueueID{ID: q.ID, Type: q.Type})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queues of ifindex %d vs sysfs (-sysfs +netdev):\n%s", ifindex, diff)
	}
}

// TestIntegrationVeth creates a veth pair with 3 RX and 2 TX queues in a
// new namespace and checks every query against sysfs and /proc/net/dev.
func TestIntegrationVeth(t *testing.T) {
	sysfs := ndNetNS(t)
	c := ndDial(t)
	ndNeed(t, c, netdev.CmdQueueGet)
	a, b := ndVeth(t, "ndv0", "ndv1", 3, 2)
	if got := ndSysInt(t, sysfs+"/class/net/ndv0/ifindex"); got != a {
		t.Fatalf("sysfs ifindex of ndv0 %d, rtnetlink %d", got, a)
	}

	devs, err := c.Devs()
	if err != nil {
		t.Fatalf("Devs: %v", err)
	}
	var ifindexes []int
	for _, d := range devs {
		ifindexes = append(ifindexes, d.Ifindex)
	}
	// lo, the pair, and whatever per-namespace devices the kernel adds
	// (tunnel fallback devices, all down).
	for _, want := range []int{1, a, b} {
		if !slices.Contains(ifindexes, want) {
			t.Errorf("Devs in the new namespace lacks ifindex %d: %v", want, ifindexes)
		}
	}

	// Down devices have no queues in the answer.
	if qs, err := c.Queues(a); err != nil || len(qs) != 0 {
		t.Errorf("Queues of a down device: %v, %v; want none", qs, err)
	}
	if _, err := c.Queue(a, 0, netdev.QueueTypeRX); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Queue of a down device: %v, want os.ErrNotExist (ENOENT)", err)
	}

	ndLinkUp(t, a, true)
	ndLinkUp(t, b, true)
	qs, err := c.Queues(a)
	if err != nil {
		t.Fatalf("Queues: %v", err)
	}
	rx, tx := ndSysQueues(t, sysfs, "ndv0")
	if rx != 3 || tx != 2 {
		t.Fatalf("sysfs shows %d RX and %d TX queues, want 3 and 2", rx, tx)
	}
	ndCheckQueues(t, qs, a, rx, tx)
	all, err := c.Queues(0)
	if err != nil {
		t.Fatalf("Queues(0): %v", err)
	}
	n := 0
	for _, q := range all {
		if !slices.Contains(ifindexes, q.Ifindex) {
			t.Errorf("Queues(0) returned %+v of a device Devs does not list", q)
		}
		if q.Ifindex == a || q.Ifindex == b {
			n++
		}
	}
	if n != 2*(rx+tx) { // the other devices of a new namespace are down
		t.Errorf("Queues(0) returned %d queues of the pair, want %d", n, 2*(rx+tx))
	}
	for i, id := range []netdev.QueueID{{ID: 2, Type: netdev.QueueTypeRX}, {ID: 1, Type: netdev.QueueTypeTX}} {
		q, err := c.Queue(a, id.ID, id.Type)
		if err != nil {
			t.Fatalf("Queue(%v): %v", id, err)
		}
		if q.ID != id.ID || q.Type != id.Type || q.Ifindex != a {
			t.Errorf("Queue #%d = %+v, want %v on %d", i, q, id, a)
		}
	}
	_, err = c.Queue(a, 3, netdev.QueueTypeRX)
	var e *netdev.Error
	if !errors.As(err, &e) || !errors.Is(err, unix.EINVAL) || !strings.Contains(e.Hint, "ndv0") {
		t.Errorf("Queue(ndv0, rx 3): %v: want EINVAL with a hint naming ndv0", err)
	}

	if c.Supports(netdev.CmdNAPIGet) {
		napis, err := c.NAPIs(a)
		if err != nil {
			t.Fatalf("NAPIs: %v", err)
		}
		ids := map[uint32]bool{}
		for _, n := range napis {
			if n.Ifindex != a {
				t.Errorf("NAPIs(ndv0) returned %+v", n)
			}
			ids[n.ID] = true
		}
		for _, q := range qs {
			if q.NAPIID != 0 && !ids[q.NAPIID] {
				t.Errorf("queue %+v names NAPI %d, which NAPIs does not list", q, q.NAPIID)
			}
		}
	}
	if c.Supports(netdev.CmdPagePoolGet) {
		pools, err := c.PagePools(a)
		if err != nil {
			t.Fatalf("PagePools: %v", err)
		}
		for _, p := range pools {
			if p.Ifindex != a {
				t.Errorf("PagePools(ndv0) returned %+v", p)
			}
		}
	}

	// Traffic: frames sent out of a are counted as TX on a and RX on b;
	// qstats, where veth keeps them, must agree with /proc/net/dev.
	const frames = 7
	before := ndReadProcNetDev(t)
	ndSendFrames(t, a, frames)
	after := ndReadProcNetDev(t)
	if got := after["ndv0"].TxPackets - before["ndv0"].TxPackets; got < frames {
		t.Fatalf("/proc/net/dev counted %d frames out of ndv0, want >= %d", got, frames)
	}
	if c.Supports(netdev.CmdQStatsGet) {
		st, err := c.QueueStats(0, netdev.QStatsScopeDevice)
		if err != nil {
			t.Fatalf("QueueStats(0): %v", err)
		}
		proc := ndReadProcNetDev(t)
		for _, s := range st {
			name := map[int]string{a: "ndv0", b: "ndv1"}[s.Ifindex]
			if name == "" {
				continue
			}
			p := proc[name]
			got := ndProcNetDev{RxBytes: s.RxBytes, RxPackets: s.RxPackets, TxBytes: s.TxBytes, TxPackets: s.TxPackets}
			if diff := cmp.Diff(p, got); diff != "" {
				t.Errorf("qstats of %s vs /proc/net/dev (-proc +qstats):\n%s", name, diff)
			}
		}
		perQueue, err := c.QueueStats(a, netdev.QStatsScopeQueue)
		switch {
		case errors.Is(err, netdev.ErrNotSupported):
			t.Logf("veth keeps no queue statistics here: %v", err)
		case err != nil:
			t.Fatalf("QueueStats(ndv0, queue): %v", err)
		default:
			var tx uint64
			for _, s := range perQueue {
				if s.Ifindex != a || s.Scope != netdev.QStatsScopeQueue {
					t.Errorf("per-queue stats entry %+v", s)
				}
				tx += s.TxPackets
			}
			if tx < frames {
				t.Errorf("per-queue TX packets of ndv0 sum to %d, want >= %d", tx, frames)
			}
		}
	}
}

// TestIntegrationBindVeth: bind-rx and bind-tx on a veth, which has no
// queue API and no DMA device, fail with ErrNotSupported or, on kernels
// that look at the dma-buf before the device, with EINVAL; the order of
// the checks is asserted per kernel class (7.2: netdev_nl_bind_rx_doit
// refuses a device without the instance lock before it parses queues or
// looks up the fd). Arguments are refused before sending, and no
// descriptor leaks.
func TestIntegrationBindVeth(t *testing.T) {
	ndNetNS(t)
	c := ndDial(t)
	ndNeed(t, c, netdev.CmdBindRX)
	a, _ := ndVeth(t, "ndb0", "ndb1", 2, 2)
	ndLinkUp(t, a, true)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()

	fds := ndFDs(t)
	_, err = c.BindRX(a, pr, []uint32{0})
	var e *netdev.Error
	if !errors.As(err, &e) {
		t.Fatalf("BindRX(veth, pipe): %v, want an *netdev.Error", err)
	}
	if !strings.Contains(e.Hint, "pipe, not a dma-buf") {
		t.Errorf("hint %q does not say the fd is a pipe", e.Hint)
	}
	deviceFirst := errors.Is(err, netdev.ErrNotSupported)
	switch {
	case deviceFirst:
		t.Logf("kernel checks the device first: %v", err)
		if e.Attr != "ifindex" || !strings.Contains(e.Hint, "queue API") {
			t.Errorf("BindRX(veth): %v: want the ifindex attribute named and the queue API hint", err)
		}
	case errors.Is(err, unix.EINVAL):
		t.Logf("kernel checks the dma-buf first: %v", err)
	default:
		t.Fatalf("BindRX(veth, pipe): %v: want ErrNotSupported or EINVAL", err)
	}

	// A queue index out of range meets the same first check.
	_, err = c.BindRX(a, pr, []uint32{99})
	if deviceFirst {
		if !errors.Is(err, netdev.ErrNotSupported) {
			t.Errorf("BindRX(veth, queue 99): %v, want ErrNotSupported (device checked before queues)", err)
		}
	} else if !errors.Is(err, unix.EINVAL) {
		t.Errorf("BindRX(veth, queue 99): %v, want EINVAL (dma-buf checked before queues)", err)
	}

	// Refused before sending.
	closed, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	w.Close()
	for name, tc := range map[string]struct {
		call  func() error
		errno unix.Errno
		attr  string
	}{
		"empty queue list": {func() error { _, err := c.BindRX(a, pr, nil); return err }, unix.EINVAL, "queues"},
		"closed fd":        {func() error { _, err := c.BindRX(a, closed, []uint32{0}); return err }, unix.EBADF, "fd"},
		"nil dma-buf":      {func() error { _, err := c.BindRX(a, nil, []uint32{0}); return err }, unix.EBADF, "fd"},
	} {
		err := tc.call()
		if !errors.As(err, &e) || !errors.Is(err, tc.errno) || e.Attr != tc.attr || e.Hint == "" {
			t.Errorf("%s: %v: want %v on attribute %s with a hint", name, err, tc.errno, tc.attr)
		}
	}

	if c.HasBindTX() {
		_, err = c.BindTX(a, pr)
		if !errors.Is(err, netdev.ErrNotSupported) || !errors.As(err, &e) || e.Message != "Driver does not support netmem TX" {
			t.Errorf("BindTX(veth, pipe): %v: want ErrNotSupported with the kernel's message", err)
		}
	}
	if after := ndFDs(t); after != fds {
		t.Errorf("%d fds open after the failed binds, %d before", after, fds)
	}
}

// TestIntegrationBindVethDMABuf repeats the veth binds with a real
// dma-buf, where /dev/udmabuf exists (the VM kernels).
func TestIntegrationBindVethDMABuf(t *testing.T) {
	ndNetNS(t)
	c := ndDial(t)
	ndNeed(t, c, netdev.CmdBindRX)
	buf := ndUdmabuf(t, 16*os.Getpagesize())
	a, _ := ndVeth(t, "ndd0", "ndd1", 2, 2)
	ndLinkUp(t, a, true)

	fds := ndFDs(t)
	for _, queues := range [][]uint32{{0}, {99}} {
		_, err := c.BindRX(a, buf, queues)
		var e *netdev.Error
		if !errors.As(err, &e) {
			t.Fatalf("BindRX(veth, udmabuf, %v): %v", queues, err)
		}
		if strings.Contains(e.Hint, "not a dma-buf") {
			t.Errorf("hint %q calls a udmabuf no dma-buf", e.Hint)
		}
		switch {
		case errors.Is(err, netdev.ErrNotSupported):
			// 7.x: device checked first.
		case errors.Is(err, unix.EINVAL) && e.Message == "Failed to bind dmabuf to device":
			// 6.12: the attach to a device without DMA fails first.
			if !strings.Contains(e.Hint, "6.12") {
				t.Errorf("hint %q", e.Hint)
			}
		default:
			t.Errorf("BindRX(veth, udmabuf, %v): %v: want ErrNotSupported, or EINVAL \"Failed to bind dmabuf to device\"", queues, err)
		}
	}
	if c.HasBindTX() {
		_, err := c.BindTX(a, buf)
		var e *netdev.Error
		if !errors.Is(err, netdev.ErrNotSupported) || !errors.As(err, &e) || e.Message != "Driver does not support netmem TX" {
			t.Errorf("BindTX(veth, udmabuf): %v: want ErrNotSupported with the kernel's message", err)
		}
	}
	if after := ndFDs(t); after != fds {
		t.Errorf("%d fds open after the failed binds, %d before", after, fds)
	}
}

// TestIntegrationBindNetdevsim binds a udmabuf to a netdevsim queue. It
// succeeds on the devmem test kernel (a netdevsim with DMA and netmem
// support); stock netdevsim refuses with "Device doesn't support DMA".
func TestIntegrationBindNetdevsim(t *testing.T) {
	sysfs := ndNetNS(t)
	c := ndDial(t)
	ndNeed(t, c, netdev.CmdBindRX)
	buf := ndUdmabuf(t, 64*os.Getpagesize())
	name, ifi := ndNetdevsim(t, sysfs, 500+os.Getpid()%500, 2)
	ndLinkUp(t, ifi, true)
	if err := ndSetRings(t, ifi); err != nil {
		t.Skipf("cannot enable header split on %s: %v", name, err)
	}

	var pools *netdev.Subscription
	if c.Supports(netdev.CmdPagePoolGet) {
		s, err := c.Subscribe(netdev.GroupPagePool)
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		defer s.Close()
		pools = s
	}
	fds := ndFDs(t)
	b, err := c.BindRX(ifi, buf, []uint32{1})
	var e *netdev.Error
	switch {
	case errors.As(err, &e) && errors.Is(err, netdev.ErrNotSupported) && strings.Contains(e.Message, "DMA"):
		if !strings.Contains(e.Hint, "no DMA device") {
			t.Errorf("hint %q", e.Hint)
		}
		t.Skipf("stock netdevsim: %v", err)
	case errors.As(err, &e) && errors.Is(err, unix.ENODATA):
		// A DMA-capable netdevsim whose page pools take no memory
		// provider: the kernel unwinds the binding.
		if !strings.Contains(e.Hint, "ignored the dma-buf memory provider") {
			t.Errorf("hint %q", e.Hint)
		}
		if q, err := c.Queue(ifi, 1, netdev.QueueTypeRX); err != nil || q.DMABuf != 0 {
			t.Errorf("after the refused bind queue 1: %+v, %v; want unbound", q, err)
		}
		t.Skipf("netdevsim without unreadable page pools: %v", err)
	}
	if err != nil {
		t.Fatalf("BindRX(%s): %v", name, err)
	}
	defer b.Close()
	if b.ID() == 0 || b.Ifindex() != ifi || !slices.Equal(b.Queues(), []uint32{1}) {
		t.Fatalf("binding %v", b)
	}
	q, err := c.Queue(ifi, 1, netdev.QueueTypeRX)
	if err != nil {
		t.Fatalf("Queue: %v", err)
	}
	if q.DMABuf != b.ID() {
		t.Errorf("queue 1 reports binding %d, want %d", q.DMABuf, b.ID())
	}
	if q0, err := c.Queue(ifi, 0, netdev.QueueTypeRX); err != nil || q0.DMABuf != 0 {
		t.Errorf("queue 0: %+v, %v; want no binding", q0, err)
	}
	if c.Supports(netdev.CmdPagePoolGet) {
		pools, err := c.PagePools(ifi)
		if err != nil {
			t.Fatalf("PagePools: %v", err)
		}
		if !slices.ContainsFunc(pools, func(p *netdev.PagePool) bool { return p.DMABuf == b.ID() }) {
			t.Errorf("no page pool of %s uses binding %d: %+v", name, b.ID(), pools)
		}
	}

	if pools != nil {
		// Restarting the queue made a page pool backed by the binding.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for {
			ev, err := pools.Receive(ctx)
			if err != nil {
				t.Fatalf("waiting for the bound queue's page pool: %v", err)
			}
			if ev.Type == netdev.PagePoolAdded && ev.PagePool.DMABuf == b.ID() {
				if ev.PagePool.Ifindex != ifi {
					t.Errorf("page pool %+v: want ifindex %d", ev.PagePool, ifi)
				}
				break
			}
		}
	}

	// The same queue again: refused, and the refusal is explained.
	_, err = c.BindRX(ifi, buf, []uint32{1})
	if !errors.As(err, &e) || !errors.Is(err, unix.EEXIST) || !strings.Contains(e.Hint, "already bound") {
		t.Errorf("second BindRX of queue 1: %v: want EEXIST with a hint", err)
	}
	// A queue out of range: 7.2 names the queue-id attribute.
	_, err = c.BindRX(ifi, buf, []uint32{0, 7})
	if !errors.As(err, &e) || !strings.Contains(e.Hint, "2 RX queues") {
		t.Errorf("BindRX(queue 7): %v: want a hint with the queue count", err)
	}

	if got := ndFDs(t); got != fds+1 {
		t.Errorf("%d fds open with one binding, %d before: want the binding's one socket", got, fds)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if q, err := c.Queue(ifi, 1, netdev.QueueTypeRX); err != nil || q.DMABuf != 0 {
		t.Errorf("after Close queue 1: %+v, %v; want unbound", q, err)
	}
	if got := ndFDs(t); got != fds {
		t.Errorf("%d fds open after Close, %d before the bind", got, fds)
	}

	if c.HasBindTX() {
		tx, err := c.BindTX(ifi, buf)
		if errors.Is(err, netdev.ErrNotSupported) {
			t.Logf("netdevsim without netmem TX: %v", err)
			return
		}
		if err != nil {
			t.Fatalf("BindTX: %v", err)
		}
		if tx.ID() == 0 || !tx.TX() {
			t.Errorf("tx binding %v", tx)
		}
		if err := tx.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// ndWaitEvents receives until every (type, ifindex) in want was seen.
func ndWaitEvents(t *testing.T, s *netdev.Subscription, typ netdev.EventType, ifindexes ...int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	left := map[int]bool{}
	for _, i := range ifindexes {
		left[i] = true
	}
	for len(left) > 0 {
		ev, err := s.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive while waiting for %v of %v: %v", typ, ifindexes, err)
		}
		if ev.Type == typ && ev.Dev != nil {
			delete(left, ev.Dev.Ifindex)
		}
	}
}

// TestIntegrationSubscribe: creating and deleting a veth pair in a new
// namespace gives dev-add-ntf and dev-del-ntf for both ends.
func TestIntegrationSubscribe(t *testing.T) {
	ndNetNS(t)
	c := ndDial(t)
	s, err := c.Subscribe(netdev.GroupMgmt)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer s.Close()
	a, b := ndVeth(t, "nds0", "nds1", 1, 1)
	ndWaitEvents(t, s, netdev.DevAdded, a, b)
	ndLinkDel(t, a)
	ndWaitEvents(t, s, netdev.DevDeleted, a, b)
}

// TestIntegrationSubscribeOtherThread: a subscription made from a thread
// in another network namespace still listens in the Client's namespace.
func TestIntegrationSubscribeOtherThread(t *testing.T) {
	ndNetNS(t)
	c := ndDial(t)
	type result struct {
		s   *netdev.Subscription
		err error
	}
	ch := make(chan result)
	go func() { // an unlocked goroutine: runs in the process's namespace
		s, err := c.Subscribe(netdev.GroupMgmt)
		ch <- result{s, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("Subscribe from another thread: %v", r.err)
	}
	defer r.s.Close()
	a, b := ndVeth(t, "ndo0", "ndo1", 1, 1)
	ndWaitEvents(t, r.s, netdev.DevAdded, a, b)
}

// TestIntegrationSubscriptionClose: Close unblocks Receive, a context
// deadline ends it, and nothing leaks.
func TestIntegrationSubscriptionClose(t *testing.T) {
	c := ndDial(t)
	fds := ndFDs(t)
	s, err := c.Subscribe()
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for {
		_, err = s.Receive(ctx)
		if err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive with an expired context: %v, want context.DeadlineExceeded", err)
	}

	done := make(chan error)
	go func() {
		for {
			if _, err := s.Receive(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Receive after Close: %v, want net.ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if after := ndFDs(t); after != fds {
		t.Errorf("%d fds open after Close, %d before", after, fds)
	}
}
