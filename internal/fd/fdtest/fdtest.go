// Package fdtest finds leaked file descriptors in tests.
//
// Use [Main] as the TestMain of a package that owns descriptors, and call
// [CheckLeaks] first thing in each test that opens any:
//
//	func TestMain(m *testing.M) { fdtest.Main(m) }
//
//	func TestCreate(t *testing.T) {
//		fdtest.CheckLeaks(t)
//		...
//	}
//
// Main turns on [fd.StartTracing], runs the tests and then fails the binary
// if an internal fd.FD was reclaimed by the garbage collector instead of
// being closed, if one is still open, or if /proc/self/fd holds descriptors
// that were not there before the tests ran. CheckLeaks compares
// /proc/self/fd before the test with after it and its cleanups (it runs
// last, being registered first); it cannot tell a parallel test's
// descriptors from the test's own, so do not use it in tests that call
// t.Parallel.
//
// Both read /proc/self/fd, so they need Linux with /proc mounted; elsewhere
// CheckLeaks does nothing and Main only runs the tests.
package fdtest

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/devmem-go/devmem/internal/fd"
)

// Main runs the package's tests with fd tracing on and exits; it fails the
// run when a descriptor leaked. Call it as the whole body of TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	warmUp()
	before, snapErr := Snapshot()

	var mu sync.Mutex
	var reclaimed []fd.Leak
	fd.StartTracing(func(l fd.Leak) {
		mu.Lock()
		reclaimed = append(reclaimed, l)
		mu.Unlock()
	})
	code := m.Run()
	// Reclaim unreachable FDs so they are reported with their stacks. Any
	// FD not closed is a leak whether or not its cleanup has run yet.
	runtime.GC()
	open := fd.StopTracing()

	var report []string
	mu.Lock()
	for _, l := range reclaimed {
		report = append(report, "fd.FD reclaimed by the garbage collector, never closed: "+l.String())
	}
	mu.Unlock()
	for _, l := range open {
		report = append(report, "fd.FD still open after the tests: "+l.String())
	}
	if snapErr == nil {
		after, err := Snapshot()
		if err == nil {
			for _, d := range after.Since(before) {
				report = append(report, "descriptor opened during the tests and still open: "+d)
			}
		}
	}
	if len(report) > 0 {
		fmt.Fprintf(os.Stderr, "fdtest: %d descriptor leak(s):\n%s\n", len(report), strings.Join(report, "\n"))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// warmUp makes the runtime open the descriptors it keeps for its lifetime
// (the netpoller's epoll instance and wake-up eventfd) before the first
// snapshot, so they do not count as leaks.
func warmUp() {
	r, w, err := os.Pipe()
	if err == nil {
		_ = r.Close()
		_ = w.Close()
	}
}

// Fds is a snapshot of the process's open descriptors: number to what
// /proc/self/fd/N links to.
type Fds map[int]string

// Snapshot lists the open descriptors of the process, leaving out the one
// it uses to read /proc/self/fd.
func Snapshot() (Fds, error) {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	self := -1
	if rc, err := dir.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { self = int(fd) })
	}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	fds := make(Fds, len(names))
	for _, n := range names {
		num, err := strconv.Atoi(n)
		if err != nil || num == self {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			// Closed between the listing and now.
			continue
		}
		fds[num] = target
	}
	return fds, nil
}

// Since returns the descriptors in now that are not in before, or that
// now link elsewhere, as "N -> target" in ascending order.
func (now Fds) Since(before Fds) []string {
	var nums []int
	for n, target := range now {
		if old, ok := before[n]; !ok || old != target {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	out := make([]string, 0, len(nums))
	for _, n := range nums {
		out = append(out, fmt.Sprintf("%d -> %s", n, now[n]))
	}
	return out
}

// CheckLeaks fails t if the test, including its cleanups registered after
// this call, leaves descriptors open that were not open before. Call it
// first in the test. It skips the check where /proc/self/fd cannot be read.
func CheckLeaks(t testing.TB) {
	t.Helper()
	warmUp()
	before, err := Snapshot()
	if err != nil {
		t.Logf("fdtest: not checking descriptor leaks: %v", err)
		return
	}
	t.Cleanup(func() {
		after, err := Snapshot()
		if err != nil {
			t.Errorf("fdtest: %v", err)
			return
		}
		if leaked := after.Since(before); len(leaked) > 0 {
			t.Errorf("fdtest: %d descriptor(s) leaked by the test:\n\t%s", len(leaked), strings.Join(leaked, "\n\t"))
		}
	})
}
