package udmabuf

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/devmem-go/devmem/internal/fd/fdtest"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { fdtest.Main(m) }

var page = int64(os.Getpagesize())

func rawFD(t *testing.T, f *os.File) int {
	t.Helper()
	n, err := memfdNum(f)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// TestPrepareMemfd runs the memfd step of Create for real: it needs no
// /dev/udmabuf.
func TestPrepareMemfd(t *testing.T) {
	fdtest.CheckLeaks(t)
	f, err := prepareMemfd("devmem-test", 3*page, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw := rawFD(t, f)

	seals, err := unix.FcntlInt(uintptr(raw), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	fdflags, _ := unix.FcntlInt(uintptr(raw), unix.F_GETFD, 0)
	var st unix.Stat_t
	if err := unix.Fstat(raw, &st); err != nil {
		t.Fatal(err)
	}
	link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(raw))
	type facts struct {
		Seals   int
		Cloexec bool
		Size    int64
		Link    string
	}
	want := facts{unix.F_SEAL_SHRINK, true, 3 * page, "/memfd:devmem-test (deleted)"}
	got := facts{seals, fdflags&unix.FD_CLOEXEC != 0, st.Size, link}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("memfd (-want +got)\n%s", diff)
	}
	// The seal works: shrinking is refused, growing is not.
	if err := unix.Ftruncate(raw, page); !errors.Is(err, unix.EPERM) {
		t.Errorf("shrink: %v, want EPERM", err)
	}
	if err := unix.Ftruncate(raw, 4*page); err != nil {
		t.Errorf("grow: %v", err)
	}
	// The memfd is writable through the file: that is what ReadAt and
	// WriteAt use.
	if _, err := f.WriteAt([]byte("hello"), page-2); err != nil {
		t.Fatal(err)
	}
	got5 := make([]byte, 5)
	if _, err := f.ReadAt(got5, page-2); err != nil || string(got5) != "hello" {
		t.Errorf("read back %q, %v", got5, err)
	}
}

func TestPrepareMemfdHuge(t *testing.T) {
	fdtest.CheckLeaks(t)
	hp, err := hugePageSize(HugePages2MB)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkHugePages(hp, hp.size); err != nil {
		t.Skipf("no free 2 MiB huge pages: %v", err)
	}
	f, err := prepareMemfd("devmem-huge", hp.size, hp.flags)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(rawFD(t, f), &sfs); err != nil {
		t.Fatal(err)
	}
	if uint32(sfs.Type) != uint32(unix.HUGETLBFS_MAGIC) {
		t.Errorf("memfd on file system %#x, want hugetlbfs", sfs.Type)
	}
}

// TestCreateArgumentErrors checks that bad arguments fail before any
// system call, with errors that say what to do: they come before the
// "missing /dev/udmabuf" error on kernels without udmabuf.
func TestCreateArgumentErrors(t *testing.T) {
	fdtest.CheckLeaks(t)
	p := page
	tests := []struct {
		name   string
		create func() (*Buffer, error)
		want   string
	}{
		{"zero", func() (*Buffer, error) { return Create(0, nil) }, "a buffer needs a positive size"},
		{"negative", func() (*Buffer, error) { return Create(-p, nil) }, "a buffer needs a positive size"},
		{"unaligned", func() (*Buffer, error) { return Create(p+1, nil) },
			fmt.Sprintf("offset 0, size %d: both must be multiples of the page size %d (round the size up to %d)", p+1, p, 2*p)},
		{"half page", func() (*Buffer, error) { return Create(p/2, nil) },
			fmt.Sprintf("multiples of the page size %d (round the size up to %d)", p, p)},
		{"huge unaligned", func() (*Buffer, error) { return Create(p, &Options{HugePages: HugePages2MB}) },
			"multiples of the huge page size 2097152 (round the size up to 2097152)"},
		{"bad huge", func() (*Buffer, error) { return Create(p, &Options{HugePages: 9}) }, "invalid HugePages(9)"},
		{"long name", func() (*Buffer, error) { return Create(p, &Options{Name: strings.Repeat("n", 32)}) }, "at most 31 bytes"},
		{"slash name", func() (*Buffer, error) { return Create(p, &Options{Name: "a/b"}) }, "without NUL, newline or slash"},
		{"empty list", func() (*Buffer, error) { return CreateList(nil, nil) }, "at least one range"},
		{"list negative offset", func() (*Buffer, error) { return CreateList([]Range{{Offset: -p, Size: p}}, nil) },
			"range 0: offset -4096, size 4096: need offset >= 0 and size > 0"},
		{"list zero size", func() (*Buffer, error) { return CreateList([]Range{{Size: p}, {Offset: p}}, nil) },
			"range 1: offset 4096, size 0: need offset >= 0 and size > 0"},
		{"list unaligned offset", func() (*Buffer, error) { return CreateList([]Range{{Size: p}, {Offset: 1, Size: p}}, nil) },
			"range 1: offset 1, size 4096: both must be multiples of the page size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.create()
			if err == nil {
				b.Close()
				t.Fatal("succeeded")
			}
			if errors.Is(err, ErrNotSupported) || !errors.Is(err, os.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want an argument error (os.ErrInvalid) containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	lim := Params{SizeLimit: 64 << 20, ListLimit: 1024}
	tests := []struct {
		name   string
		total  int64
		n      int
		single bool
		want   string
	}{
		{"at size limit", 64 << 20, 1, true, ""},
		{"over size limit", 64<<20 + 4096, 1, true,
			"udmabuf: 67112960 bytes exceed the driver's limit udmabuf.size_limit_mb=64 (67108864 bytes): invalid argument: raise it with `echo 65 > /sys/module/udmabuf/parameters/size_limit_mb` (as root) or boot with udmabuf.size_limit_mb=65"},
		{"at list limit", 4096, 1024, false, ""},
		{"over list limit", 4096 * 1025, 1025, false,
			"udmabuf: 1025 ranges exceed the driver's limit udmabuf.list_limit=1024: invalid argument: raise it with `echo 1025 > /sys/module/udmabuf/parameters/list_limit` (as root) or boot with udmabuf.list_limit=1025"},
		{"single ignores list limit", 4096, 5000, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := checkLimits(lim, tt.total, tt.n, tt.single); err != nil {
				got = err.Error()
				if !errors.Is(err, os.ErrInvalid) {
					t.Errorf("%v does not match os.ErrInvalid", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestMissingDevice checks the errors on a kernel without udmabuf.
func TestMissingDevice(t *testing.T) {
	if _, err := os.Stat(DevicePath); err == nil {
		t.Skipf("%s exists; the integration tests cover it", DevicePath)
	}
	fdtest.CheckLeaks(t)
	_, createErr := Create(page, nil)
	_, listErr := CreateList([]Range{{Size: page}}, nil)
	_, limErr := Limits()
	for name, err := range map[string]error{"Available": Available(), "Create": createErr, "CreateList": listErr, "Limits": limErr} {
		if !errors.Is(err, ErrNotSupported) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want ErrNotSupported and os.ErrNotExist", name, err)
		}
		for _, s := range []string{"/dev/udmabuf missing", "modprobe udmabuf", "CONFIG_UDMABUF=y"} {
			if err != nil && !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q lacks %q", name, err, s)
			}
		}
	}
}

func TestParseParam(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{{"64\n", 64, true}, {"1024", 1024, true}, {" 7 \n", 7, true}, {"", 0, false}, {"x\n", 0, false}, {"99999999999999999999", 0, false}} {
		got, err := parseParam([]byte(tt.in))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseParam(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func TestParseHugepagesize(t *testing.T) {
	const meminfo = "MemTotal:       24578012 kB\nHugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\nHugetlb:               0 kB\n"
	for _, tt := range []struct {
		in   string
		want int64
		err  string
	}{
		{meminfo, 2 << 20, ""},
		{"Hugepagesize:    1048576 kB\n", 1 << 30, ""},
		{"Hugepagesize:    64 kB", 64 << 10, ""},
		{"MemTotal: 1 kB\n", 0, "no Hugepagesize line"},
		{"Hugepagesize: 2 MB\n", 0, "bad Hugepagesize line"},
		{"Hugepagesize: 0 kB\n", 0, "bad Hugepagesize line"},
	} {
		got, err := parseHugepagesize([]byte(tt.in))
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || !strings.Contains(gotErr, tt.err) || (tt.err == "") != (err == nil) {
			t.Errorf("parseHugepagesize(%q) = %d, %v; want %d, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseHugepagesize(f *testing.F) {
	f.Add([]byte("MemTotal: 1 kB\nHugepagesize:       2048 kB\n"))
	f.Add([]byte("Hugepagesize: 1099511627776 kB"))
	f.Fuzz(func(t *testing.T, in []byte) {
		size, err := parseHugepagesize(in)
		if err != nil {
			return
		}
		if size <= 0 || size%1024 != 0 {
			t.Fatalf("size %d from %q", size, in)
		}
		again, err := parseHugepagesize(fmt.Appendf(nil, "Hugepagesize:   %d kB\n", size>>10))
		if err != nil || again != size {
			t.Fatalf("round trip %d: %d, %v", size, again, err)
		}
	})
}

func FuzzParseParam(f *testing.F) {
	f.Add([]byte("64\n"))
	f.Add([]byte("-1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := parseParam(in)
		if err != nil {
			return
		}
		again, err := parseParam(strconv.AppendInt(nil, n, 10))
		if err != nil || again != n {
			t.Fatalf("round trip %d: %d, %v", n, again, err)
		}
	})
}

func TestHugePagesString(t *testing.T) {
	got := []string{NoHugePages.String(), HugePagesDefault.String(), HugePages2MB.String(), HugePages1GB.String(), HugePages(7).String()}
	if diff := cmp.Diff([]string{"none", "default", "2MB", "1GB", "HugePages(7)"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestNilAndClosedBuffer(t *testing.T) {
	var b *Buffer
	if b.Close() != nil || b.FD() != -1 || b.Size() != 0 || b.Memfd() != nil || b.DMABuf() != nil {
		t.Error("nil Buffer misbehaves")
	}
	if _, err := b.ReadAt(nil, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("nil ReadAt: %v", err)
	}
	if _, err := b.Map(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("nil Map: %v", err)
	}
}
