package dmabuf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/devmem-go/devmem/internal/fd/fdtest"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { fdtest.Main(m) }

// memfdMapping maps a memfd of size bytes as a Mapping, so the Mapping code
// runs for real on kernels without any dma-buf exporter.
func memfdMapping(t testing.TB, size int) (*Mapping, func()) {
	t.Helper()
	raw, err := unix.MemfdCreate("mapping-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(raw)
	if err := unix.Ftruncate(raw, int64(size)); err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(raw, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	b := &Buffer{}
	m := newMapping(data, b)
	return m, func() { _ = m.Close() }
}

func TestMappingBounds(t *testing.T) {
	fdtest.CheckLeaks(t)
	m, done := memfdMapping(t, 4096)
	defer done()
	if _, err := m.WriteAt([]byte("tail"), 4092); err != nil {
		t.Fatal(err)
	}

	type result struct {
		N    int
		Err  string
		Data string
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	tests := []struct {
		name  string
		write bool
		p     []byte
		off   int64
		want  result
	}{
		{"read inside", false, make([]byte, 4), 4092, result{4, "", "tail"}},
		{"read past end", false, make([]byte, 8), 4094, result{2, "EOF", "il\x00\x00\x00\x00\x00\x00"}},
		{"read at end", false, make([]byte, 1), 4096, result{0, "EOF", "\x00"}},
		{"read far", false, make([]byte, 1), 1 << 40, result{0, "EOF", "\x00"}},
		{"read negative", false, make([]byte, 1), -1, result{0, "dmabuf: negative offset: invalid argument", "\x00"}},
		{"read empty at end", false, nil, 4096, result{0, "EOF", ""}},
		{"write inside", true, []byte("ab"), 0, result{2, "", "ab"}},
		{"write exact end", true, []byte("xy"), 4094, result{2, "", "xy"}},
		{"write past end", true, []byte("abc"), 4094, result{0, "dmabuf: write of 3 bytes at offset 4094 does not fit a 4096-byte mapping: short write", "abc"}},
		{"write beyond", true, []byte("a"), 5000, result{0, "dmabuf: write of 1 bytes at offset 5000 does not fit a 4096-byte mapping: short write", "a"}},
		{"write negative", true, []byte("a"), -4, result{0, "dmabuf: negative offset: invalid argument", "a"}},
		{"write huge offset", true, []byte("a"), 1<<63 - 1, result{0, "dmabuf: write of 1 bytes at offset 9223372036854775807 does not fit a 4096-byte mapping: short write", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			var err error
			if tt.write {
				n, err = m.WriteAt(tt.p, tt.off)
			} else {
				n, err = m.ReadAt(tt.p, tt.off)
			}
			got := result{n, errText(err), string(tt.p)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	// The rejected write at 4094 left "xy" in place.
	if got := string(m.Bytes()[4094:]); got != "xy" {
		t.Errorf("tail after rejected write = %q, want %q", got, "xy")
	}
	if !errors.Is(func() error { _, err := m.WriteAt([]byte("abc"), 4094); return err }(), io.ErrShortWrite) {
		t.Error("out-of-range write does not wrap io.ErrShortWrite")
	}
	if !errors.Is(func() error { _, err := m.ReadAt(make([]byte, 1), -1); return err }(), os.ErrInvalid) {
		t.Error("read at a negative offset does not match os.ErrInvalid")
	}
}

func TestMappingClose(t *testing.T) {
	fdtest.CheckLeaks(t)
	m, _ := memfdMapping(t, 8192)
	addr := mappedAddr(m)
	if !mapped(t, addr) {
		t.Fatalf("%#x not in /proc/self/maps", addr)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if mapped(t, addr) {
		t.Errorf("%#x still mapped after Close", addr)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if m.Bytes() != nil || m.Len() != 0 {
		t.Errorf("closed mapping: Bytes %d bytes, Len %d", len(m.Bytes()), m.Len())
	}
	if _, err := m.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want os.ErrClosed", err)
	}
	if _, err := m.WriteAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("WriteAt after Close: %v, want os.ErrClosed", err)
	}
	var nilMap *Mapping
	if nilMap.Close() != nil || nilMap.Len() != 0 || nilMap.Bytes() != nil {
		t.Error("nil Mapping misbehaves")
	}
}

// TestMappingConcurrentClose reads from several goroutines while the
// mapping is closed; the race detector and a crash would catch an access
// after munmap.
func TestMappingConcurrentClose(t *testing.T) {
	m, _ := memfdMapping(t, 1<<16)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 512)
			<-start
			for {
				if _, err := m.ReadAt(p, 1000); err != nil {
					if !errors.Is(err, os.ErrClosed) {
						t.Errorf("ReadAt: %v", err)
					}
					return
				}
			}
		}()
	}
	close(start)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func mappedAddr(m *Mapping) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(m.Bytes())))
}

// mapped reports whether a mapping starts at addr in /proc/self/maps.
func mapped(t *testing.T, addr uintptr) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("%08x-", addr)
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

func TestAccess(t *testing.T) {
	got := map[Access]string{}
	for _, a := range []Access{0, Read, Write, ReadWrite, 4, 7} {
		s := a.String()
		if err := a.valid(); err != nil {
			s += " invalid"
		}
		got[a] = s
	}
	want := map[Access]string{
		0:         "Access(0) invalid",
		Read:      "read",
		Write:     "write",
		ReadWrite: "read-write",
		4:         "Access(4) invalid",
		7:         "Access(7) invalid",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

// TestClosedBuffer runs every method on a closed Buffer: each fails with
// os.ErrClosed (or the argument error, which is checked first).
func TestClosedBuffer(t *testing.T) {
	var nilBuf *Buffer
	for name, b := range map[string]*Buffer{"zero": {}, "nil": nilBuf} {
		t.Run(name, func(t *testing.T) {
			if b.FD() != -1 {
				t.Errorf("FD = %d", b.FD())
			}
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			_, sizeErr := b.Size()
			_, mapErr := b.Map()
			_, infoErr := b.Info()
			_, connErr := b.SyscallConn()
			_, exportErr := b.ExportSyncFile(Read)
			errs := map[string]error{
				"Size":           sizeErr,
				"Map":            mapErr,
				"Info":           infoErr,
				"SyscallConn":    connErr,
				"ExportSyncFile": exportErr,
				"BeginCPUAccess": b.BeginCPUAccess(Read),
				"EndCPUAccess":   b.EndCPUAccess(Write),
				"SetName":        b.SetName("ok"),
				"Sync":           b.Sync(ReadWrite, func() error { t.Error("fn ran"); return nil }),
			}
			for op, err := range errs {
				if !errors.Is(err, os.ErrClosed) {
					t.Errorf("%s: %v, want os.ErrClosed", op, err)
				}
			}
		})
	}
}

func TestArgumentErrorsFirst(t *testing.T) {
	b := &Buffer{}
	tests := map[string]error{
		"SetName long":   b.SetName(strings.Repeat("n", 32)),
		"SetName NUL":    b.SetName("a\x00b"),
		"SetName LF":     b.SetName("a\nb"),
		"Begin zero":     b.BeginCPUAccess(0),
		"End invalid":    b.EndCPUAccess(8),
		"Sync zero":      b.Sync(0, func() error { return nil }),
		"Import invalid": b.ImportSyncFile(0, nil),
		"Import nil":     b.ImportSyncFile(Read, nil),
	}
	for name, err := range tests {
		if !errors.Is(err, os.ErrInvalid) || errors.Is(err, os.ErrClosed) {
			t.Errorf("%s: %v, want an argument error (os.ErrInvalid)", name, err)
		}
	}
	if err := b.SetName(strings.Repeat("n", 31)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("31-byte name: %v, want it accepted (then os.ErrClosed)", err)
	}
	if got := tests["SetName long"].Error(); !strings.Contains(got, "at most 31") {
		t.Errorf("long name error %q does not name the limit", got)
	}
}

func TestNewRejects(t *testing.T) {
	fdtest.CheckLeaks(t)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	mfd, err := unix.MemfdCreate("not-a-dmabuf", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(mfd)
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	closed, _ := unix.Dup(null)
	unix.Close(closed)

	tests := []struct {
		name   string
		fd     int
		is     error
		inText string
	}{
		{"pipe", p[0], ErrNotDMABuf, "is pipe:["},
		{"memfd", mfd, ErrNotDMABuf, "is /memfd:not-a-dmabuf"},
		{"dev null", null, ErrNotDMABuf, "is /dev/null"},
		{"closed", closed, syscall.EBADF, "fstatfs"},
		{"negative", -1, syscall.EBADF, "invalid file descriptor -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.fd)
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.inText) {
				t.Errorf("error %q lacks %q", err, tt.inText)
			}
		})
	}

	// FromFile leaves the file with the caller on error.
	dup, _ := unix.Dup(p[1])
	f := os.NewFile(uintptr(dup), "pipe-w")
	if _, err := FromFile(f); !errors.Is(err, ErrNotDMABuf) {
		t.Errorf("FromFile(pipe) = %v, want ErrNotDMABuf", err)
	}
	if _, err := f.Write([]byte("x")); err != nil {
		t.Errorf("file unusable after failed FromFile: %v", err)
	}
	f.Close()
	if _, err := FromFile(nil); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("FromFile(nil) = %v, want os.ErrInvalid", err)
	}
}

func TestHeapsMissing(t *testing.T) {
	if _, err := os.Stat(HeapDir); err == nil {
		t.Skipf("%s exists on this kernel; the VM tests cover it", HeapDir)
	}
	_, err := Heaps()
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "CONFIG_DMABUF_HEAPS") {
		t.Errorf("Heaps() = %v, want ErrNotSupported and os.ErrNotExist naming CONFIG_DMABUF_HEAPS", err)
	}
	_, err = AllocHeap("system", 4096)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "CONFIG_DMABUF_HEAPS_SYSTEM") {
		t.Errorf("AllocHeap(system) = %v, want os.ErrNotExist naming CONFIG_DMABUF_HEAPS_SYSTEM", err)
	}
}

func TestAllocHeapArguments(t *testing.T) {
	for _, tt := range []struct {
		heap string
		size int64
	}{{"", 4096}, {".", 4096}, {"..", 4096}, {"a/b", 4096}, {"sys\x00tem", 4096}, {"system", 0}, {"system", -1}} {
		if b, err := AllocHeap(tt.heap, tt.size); err == nil || errors.Is(err, os.ErrNotExist) {
			b.Close()
			t.Errorf("AllocHeap(%q, %d) = %v, want an argument error", tt.heap, tt.size, err)
		}
	}
}
