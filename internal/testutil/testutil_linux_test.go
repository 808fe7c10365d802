package testutil

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func nsInode(t *testing.T, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestNetNS(t *testing.T) {
	CheckGoroutineLeak(t)
	CheckFDLeak(t)
	ns := NewNetNS(t)

	// Not /proc/self: that is the main thread's, which may be the one a
	// NetNS ran on (the runtime keeps the main thread when its locked
	// goroutine ends).
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if nsInode(t, ns.FD()) == nsInode(t, int(self.Fd())) {
		t.Fatal("NetNS.FD refers to the process's own namespace")
	}

	var got []string
	var loUp bool
	if err := ns.Do(func() error {
		ifs, err := net.Interfaces()
		for _, ifi := range ifs {
			got = append(got, ifi.Name)
			if ifi.Name == "lo" {
				loUp = ifi.Flags&net.FlagUp != 0
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// A new namespace has lo, plus the fallback devices of built-in
	// tunnel drivers (sit0 with CONFIG_IPV6_SIT=y, ...), nothing else.
	fallback := map[string]bool{"lo": true, "sit0": true, "tunl0": true, "ip6tnl0": true,
		"gre0": true, "gretap0": true, "erspan0": true, "ip6gre0": true, "ip_vti0": true, "ip6_vti0": true}
	var other []string
	for _, n := range got {
		if !fallback[n] {
			other = append(other, n)
		}
	}
	if diff := cmp.Diff([]string(nil), other); diff != "" || !slices.Contains(got, "lo") {
		t.Errorf("links in a new namespace: %q, want lo and tunnel fallback devices only", got)
	}
	if !loUp {
		t.Error("lo is down in the new namespace")
	}

	// Do runs on one thread, in the namespace, every time.
	for range 3 {
		if err := ns.Do(func() error {
			fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if nsInode(t, fd) != nsInode(t, ns.FD()) {
				return errors.New("Do ran outside the namespace")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	want := errors.New("from f")
	if err := ns.Do(func() error { return want }); err != want {
		t.Errorf("Do returned %v, want f's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want f's panic re-raised", r)
			}
		}()
		ns.Do(func() error { panic("boom") })
	}()

	if err := ns.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ns.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := ns.Do(func() error { return nil }); !errors.Is(err, ErrNetNSClosed) {
		t.Errorf("Do after Close = %v, want ErrNetNSClosed", err)
	}
}

// exchange listens on addr in lns (nil: own namespace), dials from dns and
// checks a message goes through.
func exchange(t *testing.T, lns, dns *NetNS, addr netip.Addr) {
	t.Helper()
	do := func(ns *NetNS, f func() error) error {
		if ns == nil {
			return f()
		}
		return ns.Do(f)
	}
	var ln net.Listener
	if err := do(lns, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listen on %v: %v", addr, err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		defer close(got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close() // before the send, so no descriptor outlives the test
		got <- string(b)
	}()
	msg := "hello over " + addr.String()
	if err := do(dns, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.WriteString(c, msg)
		return err
	}); err != nil {
		t.Fatalf("dial %v: %v", ln.Addr(), err)
	}
	if s := <-got; s != msg {
		t.Errorf("received %q, want %q", s, msg)
	}
}

func TestVeth(t *testing.T) {
	CheckGoroutineLeak(t)
	CheckFDLeak(t)
	a, b := NewNetNS(t), NewNetNS(t)
	ra, rb := NewRTNL(t, a), NewRTNL(t, b)

	if err := ra.AddVeth("va", "vb", b); err != nil {
		t.Fatal(err)
	}
	ia, err := ra.LinkIndex("va")
	if err != nil {
		t.Fatal(err)
	}
	ib, err := rb.LinkIndex("vb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.LinkIndex("vb"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("peer end visible in the first namespace: LinkIndex = %v, want ENODEV", err)
	}
	for _, s := range []struct {
		r     *RTNL
		idx   int
		addrs []string
	}{
		{ra, ia, []string{"192.0.2.1/24", "2001:db8::1/64"}},
		{rb, ib, []string{"192.0.2.2/24", "2001:db8::2/64"}},
	} {
		for _, p := range s.addrs {
			if err := s.r.AddAddr(s.idx, netip.MustParsePrefix(p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.r.SetUp(s.idx); err != nil {
			t.Fatal(err)
		}
	}
	if err := ra.AddAddr(ia, netip.MustParsePrefix("192.0.2.1/24")); !errors.Is(err, unix.EEXIST) {
		t.Errorf("adding an address twice: %v, want EEXIST", err)
	}
	if err := ra.AddAddr(ia, netip.Prefix{}); err == nil {
		t.Error("adding an invalid prefix succeeded")
	}

	exchange(t, b, a, netip.MustParseAddr("192.0.2.2"))
	exchange(t, a, b, netip.MustParseAddr("2001:db8::1"))

	if err := ra.DelLink(ia); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.LinkIndex("vb"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("after deleting one end, LinkIndex(peer) = %v, want ENODEV", err)
	}
}

func TestMoveLink(t *testing.T) {
	CheckFDLeak(t)
	a, b := NewNetNS(t), NewNetNS(t)
	ra, rb := NewRTNL(t, a), NewRTNL(t, b)
	if err := ra.AddVeth("m0", "m1", nil); err != nil {
		t.Fatal(err)
	}
	i1, err := ra.LinkIndex("m1")
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.MoveLink(i1, b); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.LinkIndex("m1"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("moved link still in its old namespace: %v", err)
	}
	if _, err := rb.LinkIndex("m1"); err != nil {
		t.Errorf("moved link not in its new namespace: %v", err)
	}
}

func TestRTNLErrors(t *testing.T) {
	SkipUnlessRoot(t)
	ns := NewNetNS(t)
	r := NewRTNL(t, ns)
	if _, err := r.LinkIndex("nosuchlink0"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("LinkIndex(missing) = %v, want ENODEV", err)
	}
	if err := r.SetUp(9999); !errors.Is(err, unix.ENODEV) {
		t.Errorf("SetUp(missing) = %v, want ENODEV", err)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// fakeTB records what the helpers report instead of failing the real test.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errs     []string
	skipped  string
}

type skipPanic struct{}

func (f *fakeTB) Helper()             {}
func (f *fakeTB) Cleanup(fn func())   { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Logf(string, ...any) {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	panic(skipPanic{})
}
func (f *fakeTB) Skip(args ...any) { f.Skipf("%s", fmt.Sprint(args...)) }

// runCleanups runs the recorded cleanups, last first, like testing does.
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

// skips runs fn with f and reports whether it skipped.
func (f *fakeTB) skips(fn func(testing.TB)) (skipped bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(skipPanic); !ok {
				panic(r)
			}
			skipped = true
		}
	}()
	fn(f)
	return false
}

func shortLeakWait(t *testing.T) {
	old := LeakWait
	LeakWait = 200 * time.Millisecond
	t.Cleanup(func() { LeakWait = old })
}

func TestCheckFDLeak(t *testing.T) {
	shortLeakWait(t)
	f := &fakeTB{TB: t}
	CheckFDLeak(f)
	leak, err := os.Open(filepath.Join(t.TempDir(), "."))
	if err != nil {
		t.Fatal(err)
	}
	f.runCleanups()
	if len(f.errs) != 1 || !strings.Contains(f.errs[0], leak.Name()) {
		t.Errorf("leak report = %q, want one naming %s", f.errs, leak.Name())
	}
	leak.Close()

	f = &fakeTB{TB: t}
	CheckFDLeak(f)
	c, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	f.runCleanups()
	if len(f.errs) != 0 {
		t.Errorf("closed fd reported as leaked: %q", f.errs)
	}
}

func leakyGoroutine(stop chan struct{}) { <-stop }

func TestCheckGoroutineLeak(t *testing.T) {
	shortLeakWait(t)
	f := &fakeTB{TB: t}
	CheckGoroutineLeak(f)
	stop := make(chan struct{})
	go leakyGoroutine(stop)
	f.runCleanups()
	if len(f.errs) != 1 || !strings.Contains(f.errs[0], "leakyGoroutine") {
		t.Errorf("leak report = %q, want one with leakyGoroutine's stack", f.errs)
	}
	close(stop)

	f = &fakeTB{TB: t}
	CheckGoroutineLeak(f)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	f.runCleanups()
	if len(f.errs) != 0 {
		t.Errorf("finished goroutine reported as leaked: %q", f.errs)
	}
}

func TestSkips(t *testing.T) {
	_, err := os.Stat(UdmabufPath)
	hasUdmabuf := err == nil && os.Geteuid() == 0
	_, err = os.Stat("/sys/bus/netdevsim/new_device")
	hasNetdevsim := err == nil && os.Geteuid() == 0
	for _, tt := range []struct {
		name     string
		fn       func(testing.TB)
		wantSkip bool
		mention  string
	}{
		{"root", SkipUnlessRoot, os.Geteuid() != 0, "root"},
		{"udmabuf", SkipIfNoUdmabuf, !hasUdmabuf, UdmabufPath},
		{"netdevsim", SkipIfNoNetdevsim, !hasNetdevsim, "netdevsim"},
		{"vm", SkipUnlessVM, !InVM(), "VM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTB{TB: t}
			if got := f.skips(tt.fn); got != tt.wantSkip {
				t.Fatalf("skipped = %v, want %v (%s)", got, tt.wantSkip, f.skipped)
			}
			if tt.wantSkip && !strings.Contains(f.skipped, tt.mention) {
				t.Errorf("skip reason %q does not mention %q", f.skipped, tt.mention)
			}
		})
	}
}

func TestNetdevsimPair(t *testing.T) {
	CheckGoroutineLeak(t)
	CheckFDLeak(t)
	SkipIfNoNetdevsim(t)
	var ids []int
	t.Run("pair", func(t *testing.T) {
		p := NetdevsimPair(t, NetdevsimOptions{Queues: 2})
		ids = []int{p.Local.ID, p.Peer.ID}
		if p.Local.ID == p.Peer.ID || p.Local.Name == "" || p.Peer.Name == "" ||
			p.Local.Ifindex <= 0 || p.Peer.Ifindex <= 0 {
			t.Fatalf("bad pair: %+v", p)
		}
		rt := NewRTNL(t, nil)
		if idx, err := rt.LinkIndex(p.Local.Name); err != nil || idx != p.Local.Ifindex {
			t.Errorf("local link %s: ifindex %d, %v; want %d", p.Local.Name, idx, err, p.Local.Ifindex)
		}
		if _, err := rt.LinkIndex(p.Peer.Name); !errors.Is(err, unix.ENODEV) {
			t.Errorf("peer link visible in the local namespace: %v", err)
		}
		prt := NewRTNL(t, p.PeerNS)
		if idx, err := prt.LinkIndex(p.Peer.Name); err != nil || idx != p.Peer.Ifindex {
			t.Errorf("peer link %s: ifindex %d, %v; want %d", p.Peer.Name, idx, err, p.Peer.Ifindex)
		}
		q, err := os.ReadDir(filepath.Join("/sys/class/net", p.Local.Name, "queues"))
		if err != nil {
			t.Fatal(err)
		}
		if len(q) != 4 { // rx-0 rx-1 tx-0 tx-1
			t.Errorf("local device has queues %v, want 2 RX and 2 TX", q)
		}
		if !pollFor(10*time.Second, func() bool {
			b, err := os.ReadFile(filepath.Join("/sys/class/net", p.Local.Name, "carrier"))
			return err == nil && strings.TrimSpace(string(b)) == "1"
		}) {
			t.Errorf("%s has no carrier: not linked to its peer", p.Local.Name)
		}
		exchange(t, p.PeerNS, nil, p.Peer.Addr4.Addr())
		exchange(t, nil, p.PeerNS, p.Local.Addr6.Addr())
	})
	for _, id := range ids {
		if _, err := os.Stat(fmt.Sprintf("/sys/bus/netdevsim/devices/netdevsim%d", id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("netdevsim %d still exists after the test: %v", id, err)
		}
	}
}
