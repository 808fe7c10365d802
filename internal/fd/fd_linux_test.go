package fd

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return p[0], p[1]
}

func isOpen(raw int) bool {
	_, err := unix.FcntlInt(uintptr(raw), unix.F_GETFD, 0)
	return err == nil
}

func inode(t *testing.T, raw int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestNewInvalid(t *testing.T) {
	if _, err := New(-1); err == nil {
		t.Error("New(-1) succeeded")
	}
	if _, err := DupInt(-5); err == nil {
		t.Error("DupInt(-5) succeeded")
	}
	if _, err := DupInt(1 << 20); !errors.Is(err, unix.EBADF) {
		t.Errorf("DupInt(unopened) = %v, want EBADF", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	r, w := pipe(t)
	defer unix.Close(w)
	f, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Int(); got != r {
		t.Fatalf("Int() = %d, want %d", got, r)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if isOpen(r) {
		t.Error("descriptor still open after Close")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if diff := cmp.Diff([]any{-1, "closed", -1}, []any{f.Int(), f.String(), f.Disown()}); diff != "" {
		t.Errorf("closed FD (-want +got)\n%s", diff)
	}
	var nilFD *FD
	if err := nilFD.Close(); err != nil || nilFD.Int() != -1 {
		t.Errorf("nil FD: Close %v, Int %d", err, nilFD.Int())
	}
}

func TestDup(t *testing.T) {
	r, w := pipe(t)
	defer unix.Close(w)
	f, _ := New(r)
	defer f.Close()

	d, err := f.Dup()
	if err != nil {
		t.Fatal(err)
	}
	if d.Int() == f.Int() || d.Int() < 3 {
		t.Fatalf("dup number %d (original %d)", d.Int(), f.Int())
	}
	flags, err := unix.FcntlInt(uintptr(d.Int()), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("dup F_GETFD = %#x, %v; want FD_CLOEXEC", flags, err)
	}
	if inode(t, d.Int()) != inode(t, f.Int()) {
		t.Error("dup refers to another file")
	}
	raw := d.Int()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if isOpen(raw) || !isOpen(f.Int()) {
		t.Errorf("after closing the dup: dup open %v, original open %v", isOpen(raw), isOpen(f.Int()))
	}
	_ = f.Close()
	if _, err := f.Dup(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Dup of closed FD: %v, want os.ErrClosed", err)
	}
}

func TestDupIntLeavesCallerFD(t *testing.T) {
	r, w := pipe(t)
	defer unix.Close(w)
	defer unix.Close(r)
	f, err := DupInt(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !isOpen(r) {
		t.Error("closing the duplicate closed the caller's descriptor")
	}
}

func TestDisown(t *testing.T) {
	r, w := pipe(t)
	defer unix.Close(w)
	f, _ := New(r)
	got := f.Disown()
	defer unix.Close(got)
	if got != r || f.Int() != -1 {
		t.Fatalf("Disown = %d, Int = %d; want %d, -1", got, f.Int(), r)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !isOpen(r) {
		t.Error("Close after Disown closed the descriptor")
	}
}

func TestFile(t *testing.T) {
	r, w := pipe(t)
	f, _ := New(w)
	file := f.File("pipe-w")
	if file == nil {
		t.Fatal("File returned nil")
	}
	if f.Int() != -1 {
		t.Errorf("FD still owns %d after File", f.Int())
	}
	if f.File("again") != nil {
		t.Error("File on a moved FD returned a file")
	}
	if _, err := file.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	if isOpen(w) {
		t.Error("closing the File left the descriptor open")
	}
	var buf [2]byte
	n, err := unix.Read(r, buf[:])
	unix.Close(r)
	if n != 1 || err != nil {
		t.Errorf("read %d, %v from the pipe, want 1 byte", n, err)
	}
}

// gcUntil runs the collector until ch delivers, for at most 5 seconds.
func gcUntil[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		runtime.GC()
		select {
		case v := <-ch:
			return v
		case <-deadline:
			t.Fatal("the garbage collector did not reclaim the FD")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

//go:noinline
func leakFD(raw int) {
	_, _ = New(raw)
}

func TestReclaimReportsLeak(t *testing.T) {
	leaks := make(chan Leak, 1)
	StartTracing(func(l Leak) { leaks <- l })
	defer StopTracing()

	r, w := pipe(t)
	defer unix.Close(w)
	leakFD(r)
	l := gcUntil(t, leaks)
	if l.FD != r || !strings.Contains(l.Stack, "leakFD") {
		t.Errorf("leak = %d at\n%s\nwant fd %d created in leakFD", l.FD, l.Stack, r)
	}
	if isOpen(r) {
		t.Error("the cleanup did not close the leaked descriptor")
	}
}

func TestStopTracingListsOpen(t *testing.T) {
	StartTracing(nil)
	r, w := pipe(t)
	fr, _ := New(r)
	fw, _ := New(w)
	_ = fw.Close()
	open := StopTracing()
	defer fr.Close()
	if len(open) != 1 || open[0].FD != r || !strings.Contains(open[0].Stack, "TestStopTracingListsOpen") {
		t.Errorf("StopTracing = %v, want only fd %d", open, r)
	}
	if again := StopTracing(); again != nil {
		t.Errorf("StopTracing when off = %v, want nil", again)
	}
}
