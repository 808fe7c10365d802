//go:build linux

package dmabuf_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/internal/fd/fdtest"
	"github.com/devmem-go/devmem/udmabuf"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// exporter makes real dma-bufs of one kind.
type exporter struct {
	name    string // what fdinfo reports as exp_name
	newBuf  func(t testing.TB, size int64) *dmabuf.Buffer
	missing string // why it cannot run here, "" if it can
}

func exporters() []exporter {
	var ex []exporter
	u := exporter{name: "udmabuf", newBuf: func(t testing.TB, size int64) *dmabuf.Buffer {
		t.Helper()
		ub, err := udmabuf.Create(size, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Keep the dma-buf alone: a Buffer of our own from its descriptor.
		b, err := dmabuf.New(ub.FD())
		if err != nil {
			t.Fatal(err)
		}
		if err := ub.Close(); err != nil {
			t.Fatal(err)
		}
		return b
	}}
	if err := udmabuf.Available(); err != nil {
		u.missing = "no usable /dev/udmabuf on this kernel: " + err.Error()
	}
	h := exporter{name: "system", newBuf: func(t testing.TB, size int64) *dmabuf.Buffer {
		t.Helper()
		b, err := dmabuf.AllocHeap("system", size)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}}
	if _, err := os.Stat(dmabuf.HeapDir + "/system"); err != nil {
		h.missing = "no system dma-heap on this kernel: " + err.Error()
	}
	return append(ex, u, h)
}

// forEach runs fn as a subtest per exporter, skipping those this kernel
// lacks.
func forEach(t *testing.T, fn func(t *testing.T, ex exporter)) {
	for _, ex := range exporters() {
		t.Run(ex.name, func(t *testing.T) {
			if ex.missing != "" {
				t.Skip(ex.missing)
			}
			fdtest.CheckLeaks(t)
			fn(t, ex)
		})
	}
}

func TestIntegrationSizeInfoName(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		size := 4 * int64(os.Getpagesize())
		b := ex.newBuf(t, size)
		defer b.Close()

		got, err := b.Size()
		if err != nil || got != size {
			t.Fatalf("Size = %d, %v; want %d", got, err, size)
		}
		info, err := b.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != size || info.ExpName != ex.name || info.Name != "" || info.Count < 1 {
			t.Errorf("Info = %+v, want size %d, exp_name %q, no name", info, size, ex.name)
		}
		if err := b.SetName("devmem-test rx"); err != nil {
			t.Fatal(err)
		}
		info2, err := b.Info()
		if err != nil {
			t.Fatal(err)
		}
		want := info
		want.Name = "devmem-test rx"
		if diff := cmp.Diff(want, info2); diff != "" {
			t.Errorf("Info after SetName (-want +got)\n%s", diff)
		}
		link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(b.FD()))
		if err != nil || link != "/dmabuf:devmem-test rx" {
			t.Errorf("fd link = %q, %v; want /dmabuf:devmem-test rx", link, err)
		}
		if err := b.SetName(strings.Repeat("x", 32)); err == nil || !strings.Contains(err.Error(), "at most 31") {
			t.Errorf("SetName(32 bytes) = %v", err)
		}
	})
}

func TestIntegrationNewDupsAndFromFile(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		b := ex.newBuf(t, int64(os.Getpagesize()))
		defer b.Close()
		before, _ := b.Info()

		b2, err := dmabuf.New(b.FD())
		if err != nil {
			t.Fatal(err)
		}
		if b2.FD() == b.FD() {
			t.Errorf("New did not duplicate fd %d", b.FD())
		}
		during, _ := b2.Info()
		if during.Inode != before.Inode || during.Count != before.Count+1 {
			t.Errorf("duplicate: inode %d count %d, want inode %d count %d", during.Inode, during.Count, before.Inode, before.Count+1)
		}
		// The caller keeps its fd: closing b2 leaves b working.
		if err := b2.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Size(); err != nil {
			t.Errorf("original unusable after closing the duplicate: %v", err)
		}

		raw, err := unix.FcntlInt(uintptr(b.FD()), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(raw), "dmabuf")
		b3, err := dmabuf.FromFile(f)
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
		defer b3.Close()
		if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("FromFile left the file open: %v", err)
		}
		if s, err := b3.Size(); err != nil || s != int64(os.Getpagesize()) {
			t.Errorf("FromFile buffer Size = %d, %v", s, err)
		}
	})
}

func TestIntegrationMapAndSync(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		size := 16 * int64(os.Getpagesize())
		b := ex.newBuf(t, size)
		defer b.Close()

		w, err := b.Map()
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.Map()
		if err != nil {
			t.Fatal(err)
		}
		if w.Len() != int(size) || len(r.Bytes()) != int(size) {
			t.Fatalf("mapping lengths %d, %d; want %d", w.Len(), len(r.Bytes()), size)
		}
		pattern := bytes.Repeat([]byte("devmem!"), 1000)
		if err := b.Sync(dmabuf.Write, func() error {
			_, err := w.WriteAt(pattern, 123)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(pattern))
		if err := b.Sync(dmabuf.Read, func() error {
			_, err := r.ReadAt(got, 123)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pattern) {
			t.Error("the second mapping does not see the first's writes")
		}

		// Sync ends the window even when fn fails, and reports fn's error.
		boom := errors.New("boom")
		if err := b.Sync(dmabuf.ReadWrite, func() error { return boom }); !errors.Is(err, boom) {
			t.Errorf("Sync = %v, want boom", err)
		}
		if err := b.BeginCPUAccess(dmabuf.ReadWrite); err != nil {
			t.Fatal(err)
		}
		if err := b.EndCPUAccess(dmabuf.ReadWrite); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func mapsHas(t *testing.T, addr uintptr) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(maps, []byte(fmt.Sprintf("\n%08x-", addr))) || bytes.HasPrefix(maps, []byte(fmt.Sprintf("%08x-", addr)))
}

// TestIntegrationCloseUnmaps checks the documented choice: Buffer.Close
// unmaps the mappings the Buffer made.
func TestIntegrationCloseUnmaps(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		b := ex.newBuf(t, int64(os.Getpagesize()))
		m, err := b.Map()
		if err != nil {
			t.Fatal(err)
		}
		closedEarly, err := b.Map()
		if err != nil {
			t.Fatal(err)
		}
		if err := closedEarly.Close(); err != nil {
			t.Fatal(err)
		}
		addr := uintptr(unsafePointer(m.Bytes()))
		if !mapsHas(t, addr) {
			t.Fatalf("mapping at %#x not in /proc/self/maps", addr)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if mapsHas(t, addr) {
			t.Errorf("mapping at %#x survived Buffer.Close", addr)
		}
		if m.Len() != 0 || m.Bytes() != nil {
			t.Errorf("mapping reports %d bytes after Buffer.Close", m.Len())
		}
		if _, err := m.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
			t.Errorf("ReadAt after Buffer.Close: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("Mapping.Close after Buffer.Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Buffer.Close: %v", err)
		}
		if b.FD() != -1 {
			t.Errorf("FD after Close = %d", b.FD())
		}
		if _, err := b.Map(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Map after Close: %v", err)
		}
	})
}

// TestIntegrationConcurrentClose reads through the mapping and syncs from
// several goroutines while the Buffer closes.
func TestIntegrationConcurrentClose(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		b := ex.newBuf(t, 4*int64(os.Getpagesize()))
		m, err := b.Map()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := make([]byte, 256)
				<-start
				for {
					err := b.Sync(dmabuf.Read, func() error {
						_, err := m.ReadAt(p, 100)
						return err
					})
					if err != nil {
						if !errors.Is(err, os.ErrClosed) {
							t.Errorf("Sync/ReadAt: %v", err)
						}
						return
					}
				}
			}()
		}
		close(start)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	})
}

func TestIntegrationSyscallConn(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		b := ex.newBuf(t, int64(os.Getpagesize()))
		rc, err := b.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := rc.Control(func(fd uintptr) { got = int(fd) }); err != nil || got != b.FD() {
			t.Errorf("Control saw fd %d (%v), want %d", got, err, b.FD())
		}
		calls := 0
		if err := rc.Read(func(uintptr) bool { calls++; return calls == 2 }); err != nil || calls != 2 {
			t.Errorf("Read: %v after %d calls; want 2 calls (no fences, poll returns at once)", err, calls)
		}
		b.Close()
		if err := rc.Control(func(uintptr) { t.Error("Control ran after Close") }); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Control after Close: %v", err)
		}
		if _, err := b.SyscallConn(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("SyscallConn after Close: %v", err)
		}
	})
}

func TestIntegrationSyncFile(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		b := ex.newBuf(t, int64(os.Getpagesize()))
		defer b.Close()
		sf, err := b.ExportSyncFile(dmabuf.Read)
		if errors.Is(err, dmabuf.ErrNotSupported) {
			t.Skipf("kernel without sync files: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer sf.Close()
		rc, _ := sf.SyscallConn()
		var n int
		var perr error
		_ = rc.Control(func(fd uintptr) {
			n, perr = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		})
		if n != 1 || perr != nil {
			t.Errorf("poll of an idle buffer's sync file = %d, %v; want ready", n, perr)
		}
		if err := b.ImportSyncFile(dmabuf.Write, sf); err != nil {
			t.Errorf("ImportSyncFile: %v", err)
		}
		r, w, _ := os.Pipe()
		defer r.Close()
		defer w.Close()
		if err := b.ImportSyncFile(dmabuf.Read, r); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ImportSyncFile(pipe) = %v, want EINVAL", err)
		}
	})
}

// TestIntegrationUdmabufEndWithoutBegin checks the udmabuf behaviour the
// docs promise: an end without a begin on a fresh buffer fails.
func TestIntegrationUdmabufEndWithoutBegin(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		if ex.name != "udmabuf" {
			t.Skip("only udmabuf refuses an end without a begin")
		}
		b := ex.newBuf(t, int64(os.Getpagesize()))
		defer b.Close()
		err := b.EndCPUAccess(dmabuf.Read)
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "BeginCPUAccess first") {
			t.Errorf("EndCPUAccess without Begin = %v, want EINVAL with a hint", err)
		}
	})
}

func TestIntegrationHeaps(t *testing.T) {
	if _, err := os.Stat(dmabuf.HeapDir); err != nil {
		t.Skipf("no dma-heaps on this kernel: %v", err)
	}
	fdtest.CheckLeaks(t)
	heaps, err := dmabuf.Heaps()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(heaps, ","), "system") {
		t.Errorf("Heaps = %q, want system among them", heaps)
	}
	_, err = dmabuf.AllocHeap("no-such-heap", 4096)
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, dmabuf.ErrNotSupported) || !strings.Contains(err.Error(), "system") {
		t.Errorf("AllocHeap(no-such-heap) = %v, want os.ErrNotExist listing the heaps", err)
	}
	b, err := dmabuf.AllocHeap("system", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if size, err := b.Size(); err != nil || size != int64(os.Getpagesize()) {
		t.Errorf("1-byte allocation has size %d, %v; want one page", size, err)
	}
}

// TestIntegrationSyncAllocs checks that the per-batch hot path (a CPU
// access window around a read from the mapping) does not allocate.
func TestIntegrationSyncAllocs(t *testing.T) {
	forEach(t, func(t *testing.T, ex exporter) {
		b := ex.newBuf(t, int64(os.Getpagesize()))
		defer b.Close()
		m, err := b.Map()
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 64)
		fn := func() error { _, err := m.ReadAt(p, 0); return err }
		allocs := testing.AllocsPerRun(100, func() {
			if err := b.BeginCPUAccess(dmabuf.Read); err != nil {
				t.Fatal(err)
			}
			if err := b.EndCPUAccess(dmabuf.Read); err != nil {
				t.Fatal(err)
			}
			if err := b.Sync(dmabuf.Read, fn); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Begin+End+Sync allocate %v times per run, want 0", allocs)
		}
	})
}

func BenchmarkSync(b *testing.B) {
	for _, ex := range exporters() {
		b.Run(ex.name, func(b *testing.B) {
			if ex.missing != "" {
				b.Skip(ex.missing)
			}
			buf := ex.newBuf(b, int64(os.Getpagesize()))
			defer buf.Close()
			b.ReportAllocs()
			for b.Loop() {
				if err := buf.Sync(dmabuf.Read, func() error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
