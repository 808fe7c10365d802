//go:build linux

package udmabuf_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/internal/fd/fdtest"
	"github.com/devmem-go/devmem/udmabuf"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

var page = int64(os.Getpagesize())

// needUdmabuf skips the test where udmabuf cannot be used and turns on the
// leak check.
func needUdmabuf(t *testing.T) {
	t.Helper()
	if err := udmabuf.Available(); err != nil {
		t.Skipf("no usable /dev/udmabuf on this kernel: %v", err)
	}
	fdtest.CheckLeaks(t)
}

func TestIntegrationAvailableAndLimits(t *testing.T) {
	needUdmabuf(t)
	lim, err := udmabuf.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if lim.SizeLimit < 1<<20 || lim.SizeLimit%(1<<20) != 0 || lim.ListLimit < 1 {
		t.Errorf("Limits = %+v, want whole MiB and a positive list limit", lim)
	}
}

func TestIntegrationCreate(t *testing.T) {
	needUdmabuf(t)
	size := 8 * page
	b, err := udmabuf.Create(size, &udmabuf.Options{Name: "devmem-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	if b.Size() != size {
		t.Errorf("Size() = %d, want %d", b.Size(), size)
	}
	if got, err := b.DMABuf().Size(); err != nil || got != size {
		t.Errorf("dma-buf Size = %d, %v; want %d", got, err, size)
	}
	info, err := b.DMABuf().Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.ExpName != "udmabuf" || info.Name != "devmem-test" || info.Size != size {
		t.Errorf("Info = %+v, want exp_name udmabuf, name devmem-test, size %d", info, size)
	}
	if st, err := b.Memfd().Stat(); err != nil || st.Size() != size {
		t.Errorf("memfd size %v, %v; want %d", st, err, size)
	}
	// The dma-buf descriptor is close-on-exec (UDMABUF_FLAGS_CLOEXEC).
	if fl, err := unix.FcntlInt(uintptr(b.FD()), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("dma-buf F_GETFD = %#x, %v; want FD_CLOEXEC", fl, err)
	}

	m, err := b.Map()
	if err != nil {
		t.Fatal(err)
	}
	// Mapping -> memfd view.
	msg := []byte("written through the dma-buf mapping")
	if err := b.DMABuf().Sync(dmabuf.Write, func() error { _, err := m.WriteAt(msg, 3*page-5); return err }); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := b.Memfd().ReadAt(got, 3*page-5); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("memfd reads %q, %v; want %q", got, err, msg)
	}
	clear(got)
	if _, err := b.ReadAt(got, 3*page-5); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("Buffer.ReadAt reads %q, %v; want %q", got, err, msg)
	}
	// memfd view -> mapping.
	msg2 := []byte("written through the memfd")
	if _, err := b.WriteAt(msg2, size-int64(len(msg2))); err != nil {
		t.Fatal(err)
	}
	got2 := make([]byte, len(msg2))
	if err := b.DMABuf().Sync(dmabuf.Read, func() error { _, err := m.ReadAt(got2, size-int64(len(msg2))); return err }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got2, msg2) {
		t.Errorf("mapping reads %q, want %q", got2, msg2)
	}
	// Bounds of the memfd view.
	if n, err := b.ReadAt(make([]byte, 10), size-4); n != 4 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d, %v; want 4, EOF", n, err)
	}
	if _, err := b.WriteAt(make([]byte, 10), size-4); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("WriteAt past the end = %v, want io.ErrShortWrite", err)
	}

	// Close closes the dma-buf, its mapping and the memfd.
	memfd := b.Memfd()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 0 || b.FD() != -1 {
		t.Errorf("after Close: mapping %d bytes, FD %d", m.Len(), b.FD())
	}
	if _, err := memfd.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("memfd after Close: %v, want closed", err)
	}
	if _, err := b.ReadAt(got, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want os.ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestIntegrationEndWithoutBegin(t *testing.T) {
	needUdmabuf(t)
	b, err := udmabuf.Create(page, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.DMABuf().EndCPUAccess(dmabuf.Read); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("EndCPUAccess without Begin = %v, want EINVAL", err)
	}
	if err := b.DMABuf().Sync(dmabuf.ReadWrite, func() error { return nil }); err != nil {
		t.Errorf("Sync: %v", err)
	}
}

// sealedMemfd makes a caller-side memfd the way udmabuf wants it.
func sealedMemfd(t *testing.T, size int64, seals int) *os.File {
	t.Helper()
	raw, err := unix.MemfdCreate("caller", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(raw), "caller-memfd")
	if err := unix.Ftruncate(raw, size); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if seals != 0 {
		if _, err := unix.FcntlInt(uintptr(raw), unix.F_ADD_SEALS, seals); err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	return f
}

func TestIntegrationCreateList(t *testing.T) {
	needUdmabuf(t)
	caller := sealedMemfd(t, 2*page, unix.F_SEAL_SHRINK)
	defer caller.Close()
	if _, err := caller.WriteAt([]byte("caller page 1"), page); err != nil {
		t.Fatal(err)
	}
	// dma-buf layout: [lib page 2][lib page 0][caller page 1][lib page 2 again]
	ranges := []udmabuf.Range{
		{Offset: 2 * page, Size: page},
		{Offset: 0, Size: page},
		{File: caller, Offset: page, Size: page},
		{Offset: 2 * page, Size: page},
	}
	b, err := udmabuf.CreateList(ranges, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Size() != 4*page {
		t.Errorf("Size = %d, want %d", b.Size(), 4*page)
	}
	if st, _ := b.Memfd().Stat(); st.Size() != 3*page {
		t.Errorf("library memfd is %d bytes, want %d (covering its ranges)", st.Size(), 3*page)
	}
	if _, err := b.Memfd().WriteAt([]byte("lib page 0"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Memfd().WriteAt([]byte("lib page 2"), 2*page); err != nil {
		t.Fatal(err)
	}
	m, err := b.Map()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = b.DMABuf().Sync(dmabuf.Read, func() error {
		for i := range 4 {
			p := make([]byte, 13)
			if _, err := m.ReadAt(p, int64(i)*page); err != nil {
				return err
			}
			got = append(got, string(bytes.TrimRight(p, "\x00")))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"lib page 2", "lib page 0", "caller page 1", "lib page 2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dma-buf pages (-want +got)\n%s", diff)
	}
	// ReadAt through the segments reads the same, across a boundary.
	p := make([]byte, 2*page)
	if _, err := b.ReadAt(p, page); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(p, []byte("lib page 0")) || !bytes.HasPrefix(p[page:], []byte("caller page 1")) {
		t.Errorf("ReadAt across ranges: %q ... %q", p[:10], p[page:page+13])
	}
	// The same library page is twice in the dma-buf: a write through the
	// mapping at page 3 shows at page 0.
	if err := b.DMABuf().Sync(dmabuf.ReadWrite, func() error {
		if _, err := m.WriteAt([]byte("LIB"), 3*page); err != nil {
			return err
		}
		if got := string(m.Bytes()[:3]); got != "LIB" {
			t.Errorf("aliased page reads %q, want LIB", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The caller's file stays the caller's.
	b.Close()
	if _, err := caller.Stat(); err != nil {
		t.Errorf("caller's memfd closed by Buffer.Close: %v", err)
	}
}

func TestIntegrationCreateListCallerMemfdChecks(t *testing.T) {
	needUdmabuf(t)
	unsealed := sealedMemfd(t, page, 0)
	defer unsealed.Close()
	writeSealed := sealedMemfd(t, page, unix.F_SEAL_SHRINK|unix.F_SEAL_WRITE)
	defer writeSealed.Close()
	short := sealedMemfd(t, page, unix.F_SEAL_SHRINK)
	defer short.Close()
	notMemfd, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer notMemfd.Close()

	for _, tt := range []struct {
		name string
		r    udmabuf.Range
		want string
	}{
		{"unsealed", udmabuf.Range{File: unsealed, Size: page}, "lacks F_SEAL_SHRINK"},
		{"write sealed", udmabuf.Range{File: writeSealed, Size: page}, "sealed against writes"},
		{"past the end", udmabuf.Range{File: short, Offset: page, Size: page}, "past the end"},
		{"not a memfd", udmabuf.Range{File: notMemfd, Size: page}, "not a memfd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := udmabuf.CreateList([]udmabuf.Range{{Size: page}, tt.r}, nil)
			if err == nil {
				b.Close()
				t.Fatal("CreateList succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !errors.Is(err, os.ErrInvalid) {
				t.Errorf("error %q lacks %q or does not match os.ErrInvalid", err, tt.want)
			}
		})
	}
}

func TestIntegrationLimits(t *testing.T) {
	needUdmabuf(t)
	lim, err := udmabuf.Limits()
	if err != nil {
		t.Fatal(err)
	}
	_, err = udmabuf.Create(lim.SizeLimit+page, nil)
	if err == nil || !strings.Contains(err.Error(), "udmabuf.size_limit_mb") || !strings.Contains(err.Error(), "/sys/module/udmabuf/parameters/size_limit_mb") {
		t.Errorf("Create over the size limit: %v", err)
	}
	ranges := make([]udmabuf.Range, lim.ListLimit+1)
	for i := range ranges {
		ranges[i] = udmabuf.Range{Size: page}
	}
	if int64(len(ranges))*page <= lim.SizeLimit {
		_, err = udmabuf.CreateList(ranges, nil)
		if err == nil || !strings.Contains(err.Error(), "udmabuf.list_limit") {
			t.Errorf("CreateList over the list limit: %v", err)
		}
	}
	// The driver agrees with the limit the library read: the largest
	// allowed buffer is accepted.
	if lim.SizeLimit <= 64<<20 {
		b, err := udmabuf.Create(lim.SizeLimit, nil)
		if err != nil {
			t.Fatalf("Create at the size limit: %v", err)
		}
		b.Close()
	}
}

func TestIntegrationHugePages(t *testing.T) {
	needUdmabuf(t)
	const huge = 2 << 20
	b, err := udmabuf.Create(huge, &udmabuf.Options{HugePages: udmabuf.HugePages2MB})
	if errors.Is(err, udmabuf.ErrNotSupported) || (err != nil && strings.Contains(err.Error(), "huge pages")) {
		t.Skipf("no 2 MiB huge pages: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := b.Map()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.DMABuf().Sync(dmabuf.Write, func() error { _, err := m.WriteAt([]byte("huge"), huge-4); return err }); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := b.ReadAt(got, huge-4); err != nil || string(got) != "huge" {
		t.Errorf("ReadAt = %q, %v", got, err)
	}
	if _, err := b.WriteAt([]byte("x"), 0); !errors.Is(err, udmabuf.ErrNotSupported) {
		t.Errorf("WriteAt on hugetlbfs = %v, want ErrNotSupported", err)
	}
}

func TestIntegrationReadAtAllocs(t *testing.T) {
	needUdmabuf(t)
	b, err := udmabuf.Create(4*page, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := make([]byte, 2*page)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := b.ReadAt(p, page/2); err != nil {
			t.Fatal(err)
		}
		if _, err := b.WriteAt(p[:100], page); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadAt+WriteAt allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkReadAt(b *testing.B) {
	if err := udmabuf.Available(); err != nil {
		b.Skipf("no usable /dev/udmabuf on this kernel: %v", err)
	}
	buf, err := udmabuf.Create(64*page, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	p := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		if _, err := buf.ReadAt(p, int64(i%63)*4096); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	if err := udmabuf.Available(); err != nil {
		b.Skipf("no usable /dev/udmabuf on this kernel: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf, err := udmabuf.Create(16*page, nil)
		if err != nil {
			b.Fatal(err)
		}
		buf.Close()
	}
}
