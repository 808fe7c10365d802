package fd

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by operations on a closed or disowned FD.
var ErrClosed = fmt.Errorf("fd: %w", os.ErrClosed)

// FD owns a file descriptor. The zero value is not usable; make one with
// [New] or [DupInt].
type FD struct {
	raw     int
	id      uint64 // tracing id, 0 when untraced
	cleanup runtime.Cleanup
}

// New takes ownership of raw: from now on the FD closes it, and the caller
// must not close it itself. raw must be >= 0.
func New(raw int) (*FD, error) {
	if raw < 0 {
		return nil, fmt.Errorf("fd: invalid file descriptor %d", raw)
	}
	return newFD(raw), nil
}

// DupInt duplicates raw, which the caller keeps owning, into a new FD with
// O_CLOEXEC set (fcntl F_DUPFD_CLOEXEC).
func DupInt(raw int) (*FD, error) {
	if raw < 0 {
		return nil, fmt.Errorf("fd: invalid file descriptor %d", raw)
	}
	dup, err := dupRaw(raw)
	if err != nil {
		return nil, err
	}
	return newFD(dup), nil
}

type cleanupArg struct {
	raw int
	id  uint64
}

func newFD(raw int) *FD {
	f := &FD{raw: raw}
	if t := tracer.Load(); t != nil {
		f.id = t.add(raw)
	}
	f.cleanup = runtime.AddCleanup(f, reclaim, cleanupArg{raw, f.id})
	return f
}

// reclaim runs when an FD became unreachable without Close, Disown or File.
func reclaim(a cleanupArg) {
	_ = closeRaw(a.raw)
	if a.id != 0 {
		if t := tracer.Load(); t != nil {
			t.leaked(a.id)
		}
	}
}

// Int returns the descriptor number, or -1 once the FD is closed or
// disowned. The number is valid only while the FD is open: keep the FD
// reachable (runtime.KeepAlive) until the last system call that uses it has
// returned.
func (f *FD) Int() int {
	if f == nil {
		return -1
	}
	return f.raw
}

// String returns the number in decimal, or "closed".
func (f *FD) String() string {
	if f == nil || f.raw < 0 {
		return "closed"
	}
	return strconv.Itoa(f.raw)
}

// Close closes the descriptor. Closing a closed, disowned or nil FD returns
// nil.
func (f *FD) Close() error {
	if f == nil || f.raw < 0 {
		return nil
	}
	return closeRaw(f.Disown())
}

// Disown ends the ownership without closing: it returns the number, which
// the caller now owns, and leaves the FD closed. It returns -1 if the FD
// was already closed or disowned.
func (f *FD) Disown() int {
	if f == nil || f.raw < 0 {
		return -1
	}
	raw := f.raw
	f.raw = -1
	f.cleanup.Stop()
	if f.id != 0 {
		if t := tracer.Load(); t != nil {
			t.remove(f.id)
		}
	}
	return raw
}

// Dup returns a new FD for a duplicate of the descriptor with O_CLOEXEC set.
// The two are closed independently.
func (f *FD) Dup() (*FD, error) {
	if f == nil || f.raw < 0 {
		return nil, ErrClosed
	}
	return DupInt(f.raw)
}

// File moves ownership into an *os.File named name and leaves the FD
// closed. It returns nil if the FD was already closed or disowned.
func (f *FD) File(name string) *os.File {
	raw := f.Disown()
	if raw < 0 {
		return nil
	}
	return os.NewFile(uintptr(raw), name)
}

// A Leak describes a traced FD that was not closed.
type Leak struct {
	FD    int    // the descriptor number
	Stack string // where the FD was created
}

func (l Leak) String() string {
	return fmt.Sprintf("fd %d created at:\n%s", l.FD, l.Stack)
}

type trace struct {
	raw int
	pcs []uintptr
}

type traceState struct {
	onLeak func(Leak)
	mu     sync.Mutex
	open   map[uint64]trace
}

var (
	tracer  atomic.Pointer[traceState]
	traceID atomic.Uint64
)

func (t *traceState) add(raw int) uint64 {
	pcs := make([]uintptr, 32)
	pcs = pcs[:runtime.Callers(3, pcs)]
	id := traceID.Add(1)
	t.mu.Lock()
	t.open[id] = trace{raw, pcs}
	t.mu.Unlock()
	return id
}

func (t *traceState) take(id uint64) (trace, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr, ok := t.open[id]
	delete(t.open, id)
	return tr, ok
}

func (t *traceState) remove(id uint64) { t.take(id) }

func (t *traceState) leaked(id uint64) {
	if tr, ok := t.take(id); ok && t.onLeak != nil {
		t.onLeak(tr.leak())
	}
}

func (tr trace) leak() Leak {
	var b strings.Builder
	frames := runtime.CallersFrames(tr.pcs)
	for {
		fr, more := frames.Next()
		fmt.Fprintf(&b, "\t%s\n\t\t%s:%d\n", fr.Function, fr.File, fr.Line)
		if !more {
			break
		}
	}
	return Leak{FD: tr.raw, Stack: b.String()}
}

// StartTracing records the creating stack of every FD made from now on.
// When the garbage collector reclaims such an FD without Close, onLeak (if
// not nil) is called with it, on a runtime goroutine. It replaces a tracer
// already running; FDs made under that one are no longer tracked.
func StartTracing(onLeak func(Leak)) {
	tracer.Store(&traceState{onLeak: onLeak, open: make(map[uint64]trace)})
}

// StopTracing stops tracing and returns the FDs made while it ran that are
// still open: neither closed, disowned nor reclaimed. It returns nil if
// tracing was off.
func StopTracing() []Leak {
	t := tracer.Swap(nil)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var open []Leak
	for _, tr := range t.open {
		open = append(open, tr.leak())
	}
	return open
}

// errNotSupported is returned by the descriptor syscalls where the
// operating system has none.
var errNotSupported = errors.New("fd: not supported on this operating system")
