package testutil

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// LeakWait bounds how long the leak checks wait for file descriptors and
// goroutines to go away after the test (closing in the background is
// allowed to finish, hanging is not).
var LeakWait = 5 * time.Second

// pollFor calls done, with pauses growing from 100µs to 20ms, until it
// returns true or d has passed; it returns done's last answer. It waits for
// a condition the kernel or another goroutine makes true, with a bound.
func pollFor(d time.Duration, done func() bool) bool {
	deadline := time.Now().Add(d)
	pause := 100 * time.Microsecond
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		if pause < 20*time.Millisecond {
			pause *= 2
		}
	}
	return true
}

// CheckFDLeak records the process's open file descriptors now and, in the
// test's cleanup, fails the test if any new one is still open, naming each
// with its /proc/self/fd link target (socket:[...], anon_inode:dmabuf,
// /dev/udmabuf, ...). Call it before the test opens anything, so its
// cleanup runs after the test's other cleanups. Not for parallel tests.
// Without /proc (not Linux) it does nothing.
func CheckFDLeak(t testing.TB) {
	t.Helper()
	// Let the runtime open its poller's fds (epoll, eventfd) now, not
	// during the test.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before, err := openFDs()
	if err != nil {
		t.Logf("fd leak check off: %v", err)
		return
	}
	t.Cleanup(func() {
		var leaked []string
		pollFor(LeakWait, func() bool {
			after, err := openFDs()
			if err != nil {
				leaked = []string{err.Error()}
				return false
			}
			leaked = leaked[:0]
			for fd, target := range after {
				if old, ok := before[fd]; !ok || old != target {
					leaked = append(leaked, fmt.Sprintf("fd %d -> %s", fd, target))
				}
			}
			return len(leaked) == 0
		})
		if len(leaked) > 0 {
			sort.Strings(leaked)
			t.Errorf("%d file descriptor(s) leaked (open at the end of the test, not at its start):\n\t%s",
				len(leaked), strings.Join(leaked, "\n\t"))
		}
	})
}

// openFDs maps the process's open fds to their link targets.
func openFDs() (map[int]string, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	self := int(d.Fd())
	fds := make(map[int]string, len(names))
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd == self {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			continue // closed meanwhile
		}
		fds[fd] = target
	}
	return fds, nil
}

// CheckGoroutineLeak records the goroutines running now and, in the
// test's cleanup, waits (at most LeakWait) for every goroutine started
// since to end; if some do not, it fails the test with their stacks. Call it
// first in a test, so its cleanup runs after the test's other cleanups. Not
// for parallel tests.
func CheckGoroutineLeak(t testing.TB) {
	t.Helper()
	known := map[string]bool{}
	for _, g := range goroutines() {
		known[goroutineID(g)] = true
	}
	t.Cleanup(func() {
		var leaked []string
		pollFor(LeakWait, func() bool {
			leaked = leaked[:0]
			for _, g := range goroutines() {
				if !known[goroutineID(g)] {
					leaked = append(leaked, g)
				}
			}
			return len(leaked) == 0
		})
		if len(leaked) > 0 {
			t.Errorf("%d goroutine(s) started during the test still running after it:\n\n%s",
				len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

// goroutines returns the stack of every goroutine, one string each.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if s := strings.TrimSpace(string(g)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// goroutineID is "N" of a stack that starts "goroutine N [...]".
func goroutineID(stack string) string {
	s := strings.TrimPrefix(stack, "goroutine ")
	id, _, _ := strings.Cut(s, " ")
	return id
}
