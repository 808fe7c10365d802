package testutil

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsimNextID hands out netdevsim ids; ids taken by someone else are skipped.
var nsimNextID atomic.Int32

func init() { nsimNextID.Store(int32(1000 + os.Getpid()%1000*8)) }

// NetdevsimPair creates a linked netdevsim pair for t (see SimPair) and
// deletes both devices in t's cleanup. It skips the test without netdevsim
// or root. One pair at a time per test process: a second pair would put the
// same addresses on two links of the same namespace.
func NetdevsimPair(t testing.TB, opts NetdevsimOptions) *SimPair {
	t.Helper()
	SkipIfNoNetdevsim(t)
	p, err := newNetdevsimPair(t, opts)
	if err != nil {
		t.Fatalf("netdevsim pair: %v", err)
	}
	return p
}

func newNetdevsimPair(t testing.TB, opts NetdevsimOptions) (*SimPair, error) {
	queues := opts.Queues
	if queues <= 0 {
		queues = 1
	}
	peerNS := NewNetNS(t)
	p := &SimPair{PeerNS: peerNS}

	for _, port := range []*SimPort{&p.Local, &p.Peer} {
		id, err := newNetdevsim(queues)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			if err := delNetdevsim(id); err != nil {
				t.Errorf("deleting netdevsim %d: %v", id, err)
			}
		})
		port.ID = id
		if port.Name, err = netdevsimName(id); err != nil {
			return nil, err
		}
	}

	rt, err := DialRTNL(nil)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	prt, err := DialRTNL(peerNS)
	if err != nil {
		return nil, err
	}
	defer prt.Close()

	if p.Local.Ifindex, err = rt.LinkIndex(p.Local.Name); err != nil {
		return nil, err
	}
	peerIdx, err := rt.LinkIndex(p.Peer.Name)
	if err != nil {
		return nil, err
	}
	if err := rt.MoveLink(peerIdx, peerNS); err != nil {
		return nil, err
	}
	if p.Peer.Ifindex, err = prt.LinkIndex(p.Peer.Name); err != nil {
		return nil, err
	}

	// This goroutine's thread, not /proc/self (the main thread, which a
	// NetNS may have used: the runtime keeps the main thread when a locked
	// goroutine on it ends).
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening own network namespace: %w", err)
	}
	err = writeSysfs(netdevsimBus+"/link_device",
		fmt.Sprintf("%d:%d %d:%d", self, p.Local.Ifindex, peerNS.FD(), p.Peer.Ifindex))
	unix.Close(self)
	if err != nil {
		return nil, fmt.Errorf("linking %s and %s: %w", p.Local.Name, p.Peer.Name, err)
	}

	p.Local.Addr4, p.Local.Addr6 = SimLocal4, SimLocal6
	p.Peer.Addr4, p.Peer.Addr6 = SimPeer4, SimPeer6
	for _, s := range []struct {
		r    *RTNL
		port *SimPort
	}{{rt, &p.Local}, {prt, &p.Peer}} {
		for _, a := range []netip.Prefix{s.port.Addr4, s.port.Addr6} {
			if err := s.r.AddAddr(s.port.Ifindex, a); err != nil {
				return nil, err
			}
		}
		if err := s.r.SetUp(s.port.Ifindex); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newNetdevsim creates a netdevsim bus device with one port and returns its
// id, skipping ids in use.
func newNetdevsim(queues int) (int, error) {
	for range 64 {
		id := int(nsimNextID.Add(1))
		err := writeSysfs(netdevsimBus+"/new_device", fmt.Sprintf("%d 1 %d", id, queues))
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("creating netdevsim %d: %w", id, err)
		}
		return id, nil
	}
	return 0, errors.New("creating netdevsim: no free device id")
}

func delNetdevsim(id int) error {
	return writeSysfs(netdevsimBus+"/del_device", strconv.Itoa(id))
}

// netdevsimName waits (bounded) for the netdev of device id to show up in
// sysfs and returns its name.
func netdevsimName(id int) (string, error) {
	dir := filepath.Join(netdevsimBus, "devices", fmt.Sprintf("netdevsim%d", id), "net")
	var name string
	var lastErr error
	ok := pollFor(10*time.Second, func() bool {
		ents, err := os.ReadDir(dir)
		lastErr = err
		if err == nil && len(ents) > 0 {
			name = ents[0].Name()
			return true
		}
		return false
	})
	if !ok {
		return "", fmt.Errorf("netdevsim %d: no netdev in %s after 10s (%v)", id, dir, lastErr)
	}
	return name, nil
}

// writeSysfs writes s to the sysfs attribute path in one write, returning
// the kernel's errno on failure.
func writeSysfs(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
