package testutil

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// NetNS is a network namespace held by one OS thread that does nothing but
// run [NetNS.Do] calls. The namespace lives until Close: closing ends the
// thread (it is never handed back to the Go scheduler, so no other
// goroutine ever runs in the namespace) and releases the namespace fd.
//
// A NetNS is safe for concurrent use; Do calls run one at a time.
type NetNS struct {
	fd   int
	reqs chan func()
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// ErrNetNSClosed is returned by Do after Close.
var ErrNetNSClosed = errors.New("testutil: network namespace closed")

// NewNetNS creates a network namespace for t, closed in t's cleanup. It
// skips the test when the process may not create namespaces (not root).
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	SkipUnlessRoot(t)
	ns, err := OpenNetNS()
	if err != nil {
		t.Fatalf("creating a network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// OpenNetNS creates a network namespace; the caller must Close it.
// Creating one needs CAP_SYS_ADMIN.
func OpenNetNS() (*NetNS, error) {
	ns := &NetNS{
		fd:   -1,
		reqs: make(chan func()),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	ready := make(chan error, 1)
	go ns.serve(ready)
	if err := <-ready; err != nil {
		<-ns.done
		return nil, err
	}
	return ns, nil
}

func (ns *NetNS) serve(ready chan<- error) {
	defer close(ns.done)
	// Never unlocked: when this goroutine returns, the runtime ends the
	// thread along with its namespace.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		ready <- fmt.Errorf("testutil: unshare(CLONE_NEWNET): %w", err)
		return
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		ready <- fmt.Errorf("testutil: opening the new namespace: %w", err)
		return
	}
	ns.fd = fd
	// Like a fresh machine: loopback up.
	if err := linkUpIoctl("lo"); err != nil {
		unix.Close(fd)
		ns.fd = -1
		ready <- fmt.Errorf("testutil: bringing lo up in the new namespace: %w", err)
		return
	}
	ready <- nil
	for {
		select {
		case f := <-ns.reqs:
			f()
		case <-ns.quit:
			return
		}
	}
}

// linkUpIoctl sets IFF_UP on the named link of the calling thread's
// namespace.
func linkUpIoctl(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// Do runs f on the namespace's thread and returns its error. Sockets and
// netlink connections f creates belong to the namespace for their whole
// life and may be used from any goroutine afterwards; goroutines f starts
// run in the test process's own namespace. A panic in f is re-raised in the
// caller.
func (ns *NetNS) Do(f func() error) error {
	type result struct {
		err   error
		panic any
	}
	res := make(chan result, 1)
	run := func() {
		var r result
		defer func() {
			r.panic = recover()
			res <- r
		}()
		r.err = f()
	}
	select {
	case ns.reqs <- run:
	case <-ns.quit:
		return ErrNetNSClosed
	}
	r := <-res
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

// FD is the namespace's file descriptor (for setns, IFLA_NET_NS_FD, or
// netlink.Config.NetNS). It is owned by ns and valid until Close.
func (ns *NetNS) FD() int { return ns.fd }

// Close ends the namespace's thread and closes its fd; the kernel frees the
// namespace when nothing else holds it. Close waits for a Do in progress.
// It is idempotent.
func (ns *NetNS) Close() error {
	var err error
	ns.once.Do(func() {
		close(ns.quit)
		<-ns.done
		if ns.fd >= 0 {
			err = unix.Close(ns.fd)
		}
	})
	return err
}
