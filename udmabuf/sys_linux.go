package udmabuf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/internal/fd"
	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

const mib = 1 << 20

func missingDevice(err error) error {
	return fmt.Errorf("udmabuf: %s missing: load the udmabuf driver (modprobe udmabuf) or build the kernel with CONFIG_UDMABUF=y (Linux 4.20 or later): %w: %w",
		DevicePath, ErrNotSupported, err)
}

func permissionHint(err error) error {
	return fmt.Errorf("udmabuf: %w: run as root or give this user read-write access to %s (a udev rule or group)", err, DevicePath)
}

// openDevice opens /dev/udmabuf, with errors that say what to do.
func openDevice() (*fd.FD, error) {
	raw, err := unix.Open(DevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		perr := &os.PathError{Op: "open", Path: DevicePath, Err: err}
		switch err {
		case unix.ENOENT, unix.ENODEV, unix.ENXIO:
			return nil, missingDevice(perr)
		case unix.EACCES, unix.EPERM:
			return nil, permissionHint(perr)
		}
		return nil, fmt.Errorf("udmabuf: %w", perr)
	}
	return fd.New(raw)
}

func sysAvailable() error {
	dev, err := openDevice()
	if err != nil {
		return err
	}
	return dev.Close()
}

// parseParam parses a module parameter file: a decimal integer and a
// newline.
func parseParam(text []byte) (int64, error) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(text)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %q", text)
	}
	return n, nil
}

func readParam(name string) (int64, error) {
	path := ParamsDir + "/" + name
	text, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(DevicePath); serr != nil {
				return 0, missingDevice(err)
			}
		}
		return 0, fmt.Errorf("udmabuf: read udmabuf.%s: %w", name, err)
	}
	n, err := parseParam(text)
	if err != nil {
		return 0, fmt.Errorf("udmabuf: %s: %w", path, err)
	}
	return n, nil
}

func sysLimits() (Params, error) {
	sizeMB, err := readParam("size_limit_mb")
	if err != nil {
		return Params{}, err
	}
	list, err := readParam("list_limit")
	if err != nil {
		return Params{}, err
	}
	return Params{SizeLimit: sizeMB * mib, ListLimit: int(list)}, nil
}

// hugePage describes the huge page size of a HugePages choice.
type hugePage struct {
	size  int64 // bytes
	flags int   // memfd_create flags
}

// hugePageSize resolves h; meminfo is read only for HugePagesDefault.
func hugePageSize(h HugePages) (hugePage, error) {
	switch h {
	case HugePages2MB:
		return hugePage{2 * mib, unix.MFD_HUGETLB | unix.MFD_HUGE_2MB}, nil
	case HugePages1GB:
		return hugePage{1024 * mib, unix.MFD_HUGETLB | unix.MFD_HUGE_1GB}, nil
	case HugePagesDefault:
		text, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			return hugePage{}, fmt.Errorf("udmabuf: default huge page size: %w", err)
		}
		size, err := parseHugepagesize(text)
		if err != nil {
			return hugePage{}, fmt.Errorf("udmabuf: default huge page size: %w: %w", ErrNotSupported, err)
		}
		return hugePage{size, unix.MFD_HUGETLB}, nil
	}
	return hugePage{}, fmt.Errorf("udmabuf: invalid %v: %w", h, os.ErrInvalid)
}

// parseHugepagesize finds "Hugepagesize:    2048 kB" in /proc/meminfo.
func parseHugepagesize(meminfo []byte) (int64, error) {
	for len(meminfo) > 0 {
		var line []byte
		line, meminfo, _ = bytes.Cut(meminfo, []byte{'\n'})
		v, ok := bytes.CutPrefix(line, []byte("Hugepagesize:"))
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(string(v)), " ")
		kb, err := strconv.ParseInt(num, 10, 64)
		if err != nil || unit != "kB" || kb <= 0 || kb > 1<<40 {
			return 0, fmt.Errorf("bad Hugepagesize line %q", line)
		}
		return kb << 10, nil
	}
	return 0, errors.New("/proc/meminfo has no Hugepagesize line: the kernel has no huge pages (CONFIG_HUGETLBFS)")
}

// checkHugePages checks that enough huge pages of the size are free.
func checkHugePages(hp hugePage, need int64) error {
	dir := fmt.Sprintf("/sys/kernel/mm/hugepages/hugepages-%dkB", hp.size>>10)
	text, err := os.ReadFile(dir + "/free_hugepages")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("udmabuf: the kernel has no %d kB huge pages (%s missing): %w", hp.size>>10, dir, ErrNotSupported)
	}
	if err != nil {
		return nil // cannot tell; the kernel will say
	}
	free, err := parseParam(text)
	if err != nil {
		return nil
	}
	pages := (need + hp.size - 1) / hp.size
	if free < pages {
		total := pages - free
		if text, err := os.ReadFile(dir + "/nr_hugepages"); err == nil {
			if nr, err := parseParam(text); err == nil {
				total += nr
			}
		}
		return fmt.Errorf("udmabuf: need %d free %d kB huge pages, the system has %d: reserve more with `echo %d > %s/nr_hugepages` (as root) or hugepages=N on the kernel command line",
			pages, hp.size>>10, free, total, dir)
	}
	return nil
}

// prepareMemfd makes the memfd a udmabuf needs: MFD_ALLOW_SEALING (plus
// huge page flags), sealed against shrinking (udmabuf refuses a memfd
// without F_SEAL_SHRINK), then sized.
func prepareMemfd(name string, size int64, hugeFlags int) (*os.File, error) {
	raw, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|hugeFlags)
	if err != nil {
		hint := ""
		if hugeFlags != 0 && (err == unix.EINVAL || err == unix.ENOENT) {
			hint = " (the kernel cannot make a hugetlbfs memfd of that page size: CONFIG_HUGETLBFS)"
		}
		return nil, fmt.Errorf("udmabuf: %w%s", os.NewSyscallError("memfd_create", err), hint)
	}
	f, err := fd.New(raw)
	if err != nil {
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(raw), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("udmabuf: seal memfd: %w", os.NewSyscallError("fcntl(F_ADD_SEALS)", err))
	}
	if err := unix.Ftruncate(raw, size); err != nil {
		_ = f.Close()
		hint := ""
		if err == unix.ENOMEM || err == unix.ENOSPC {
			hint = " (not enough memory or huge pages)"
		}
		return nil, fmt.Errorf("udmabuf: size memfd to %d bytes: %w%s", size, os.NewSyscallError("ftruncate", err), hint)
	}
	return f.File("/memfd:" + name), nil
}

// fileFD runs fn with the descriptor of f.
func fileFD(f *os.File, fn func(raw int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(raw uintptr) { opErr = fn(int(raw)) }); err != nil {
		return err
	}
	return opErr
}

// checkCallerMemfd checks a caller's Range.File the way udmabuf will, and
// returns a duplicate the Buffer owns.
func checkCallerMemfd(i int, r Range) (*os.File, error) {
	var dup *os.File
	err := fileFD(r.File, func(raw int) error {
		seals, err := unix.FcntlInt(uintptr(raw), unix.F_GET_SEALS, 0)
		if err != nil {
			return fmt.Errorf("range %d: %s is not a memfd with sealing (memfd_create with MFD_ALLOW_SEALING): %w (%w)",
				i, r.File.Name(), os.ErrInvalid, os.NewSyscallError("fcntl(F_GET_SEALS)", err))
		}
		if seals&unix.F_SEAL_SHRINK == 0 {
			return fmt.Errorf("range %d: memfd %s lacks F_SEAL_SHRINK, which udmabuf requires: %w: fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)", i, r.File.Name(), os.ErrInvalid)
		}
		if seals&(unix.F_SEAL_WRITE|unix.F_SEAL_FUTURE_WRITE) != 0 {
			return fmt.Errorf("range %d: memfd %s is sealed against writes (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE), which udmabuf refuses: %w", i, r.File.Name(), os.ErrInvalid)
		}
		var st unix.Stat_t
		if err := unix.Fstat(raw, &st); err != nil {
			return fmt.Errorf("range %d: %w", i, os.NewSyscallError("fstat", err))
		}
		if r.Offset+r.Size > st.Size {
			return fmt.Errorf("range %d: bytes %d..%d lie past the end of memfd %s (%d bytes): %w: ftruncate it first",
				i, r.Offset, r.Offset+r.Size, r.File.Name(), st.Size, os.ErrInvalid)
		}
		d, err := fd.DupInt(raw)
		if err != nil {
			return err
		}
		dup = d.File(r.File.Name())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("udmabuf: %w", err)
	}
	return dup, nil
}

// checkLimits checks a request against the driver's parameters, with
// errors that say how to raise them.
func checkLimits(lim Params, total int64, nranges int, single bool) error {
	if total > lim.SizeLimit {
		need := (total + mib - 1) / mib
		return fmt.Errorf("udmabuf: %d bytes exceed the driver's limit udmabuf.size_limit_mb=%d (%d bytes): %w: raise it with `echo %d > %s/size_limit_mb` (as root) or boot with udmabuf.size_limit_mb=%d",
			total, lim.SizeLimit/mib, lim.SizeLimit, os.ErrInvalid, need, ParamsDir, need)
	}
	if !single && nranges > lim.ListLimit {
		return fmt.Errorf("udmabuf: %d ranges exceed the driver's limit udmabuf.list_limit=%d: %w: raise it with `echo %d > %s/list_limit` (as root) or boot with udmabuf.list_limit=%d",
			nranges, lim.ListLimit, os.ErrInvalid, nranges, ParamsDir, nranges)
	}
	return nil
}

func create(ranges []Range, opts *Options, single bool) (_ *Buffer, err error) {
	// Checks that need no system call.
	if len(opts.Name) > dmabuf.MaxNameLen || strings.ContainsAny(opts.Name, "\x00\n/") {
		return nil, fmt.Errorf("udmabuf: name %q: at most %d bytes without NUL, newline or slash: %w", opts.Name, dmabuf.MaxNameLen, os.ErrInvalid)
	}
	align := int64(os.Getpagesize())
	var hp hugePage
	if opts.HugePages != NoHugePages {
		if hp, err = hugePageSize(opts.HugePages); err != nil {
			return nil, err
		}
		align = hp.size
	}
	alignName := "page size"
	if opts.HugePages != NoHugePages {
		alignName = "huge page size"
	}
	var total, memfdSize int64
	for i, r := range ranges {
		if r.Size <= 0 || r.Offset < 0 {
			return nil, fmt.Errorf("udmabuf: range %d: offset %d, size %d: need offset >= 0 and size > 0: %w", i, r.Offset, r.Size, os.ErrInvalid)
		}
		a := align
		if r.File != nil {
			a = int64(os.Getpagesize())
		}
		if r.Size%a != 0 || r.Offset%a != 0 {
			name := alignName
			if r.File != nil {
				name = "page size"
			}
			what := fmt.Sprintf("range %d: ", i)
			if single {
				what = ""
			}
			return nil, fmt.Errorf("udmabuf: %soffset %d, size %d: both must be multiples of the %s %d (round the size up to %d): %w",
				what, r.Offset, r.Size, name, a, (r.Size+a-1)/a*a, os.ErrInvalid)
		}
		if r.Size > 1<<62-total {
			return nil, fmt.Errorf("udmabuf: total size overflows: %w", os.ErrInvalid)
		}
		total += r.Size
		if r.File == nil {
			memfdSize = max(memfdSize, r.Offset+r.Size)
		}
	}

	dev, err := openDevice()
	if err != nil {
		return nil, err
	}
	defer dev.Close()

	if lim, lerr := sysLimits(); lerr == nil {
		if err := checkLimits(lim, total, len(ranges), single); err != nil {
			return nil, err
		}
	}
	if opts.HugePages != NoHugePages && memfdSize > 0 {
		if err := checkHugePages(hp, memfdSize); err != nil {
			return nil, err
		}
	}

	buf := &Buffer{size: total, huge: opts.HugePages != NoHugePages}
	defer func() {
		if err != nil {
			for _, f := range buf.files {
				_ = f.Close()
			}
		}
	}()
	if memfdSize > 0 {
		name := opts.Name
		if name == "" {
			name = "udmabuf"
		}
		if buf.memfd, err = prepareMemfd(name, memfdSize, hp.flags); err != nil {
			return nil, err
		}
		buf.files = append(buf.files, buf.memfd)
	}
	dups := make(map[*os.File]*os.File)
	var bufOff int64
	for i, r := range ranges {
		f := buf.memfd
		if r.File != nil {
			if f = dups[r.File]; f == nil {
				if f, err = checkCallerMemfd(i, r); err != nil {
					return nil, err
				}
				dups[r.File] = f
				buf.files = append(buf.files, f)
			}
		}
		buf.segs = append(buf.segs, segment{file: f, bufOff: bufOff, fileOff: r.Offset, size: r.Size})
		bufOff += r.Size
	}

	var dmaFD int
	if single {
		dmaFD, err = createOne(dev.Int(), buf.segs[0])
	} else {
		dmaFD, err = createList(dev.Int(), buf.segs)
	}
	if err != nil {
		return nil, err
	}
	buf.dma, err = dmabuf.New(dmaFD)
	_ = unix.Close(dmaFD)
	if err != nil {
		return nil, fmt.Errorf("udmabuf: the driver returned %w", err)
	}
	if opts.Name != "" {
		if err = buf.dma.SetName(opts.Name); err != nil {
			_ = buf.dma.Close()
			return nil, fmt.Errorf("udmabuf: %w", err)
		}
	}
	return buf, nil
}

func memfdNum(f *os.File) (uint32, error) {
	var n uint32
	err := fileFD(f, func(raw int) error {
		n = uint32(raw)
		return nil
	})
	return n, err
}

func createOne(dev int, s segment) (int, error) {
	mfd, err := memfdNum(s.file)
	if err != nil {
		return -1, fmt.Errorf("udmabuf: %w", err)
	}
	arg := uapi.UdmabufCreate{
		Memfd:  mfd,
		Flags:  uapi.UDMABUF_FLAGS_CLOEXEC,
		Offset: uint64(s.fileOff),
		Size:   uint64(s.size),
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(dev), uapi.UDMABUF_CREATE, uintptr(unsafe.Pointer(&arg)))
	if e != 0 {
		return -1, ioctlErr("UDMABUF_CREATE", e)
	}
	return int(r), nil
}

func createList(dev int, segs []segment) (int, error) {
	// Header and items in one 8-byte-aligned block.
	words := (uapi.SizeofUdmabufCreateList + len(segs)*uapi.SizeofUdmabufCreateItem) / 8
	block := make([]uint64, words)
	head := (*uapi.UdmabufCreateList)(unsafe.Pointer(&block[0]))
	head.Flags = uapi.UDMABUF_FLAGS_CLOEXEC
	head.Count = uint32(len(segs))
	items := unsafe.Slice((*uapi.UdmabufCreateItem)(unsafe.Pointer(&block[uapi.SizeofUdmabufCreateList/8])), len(segs))
	for i, s := range segs {
		mfd, err := memfdNum(s.file)
		if err != nil {
			return -1, fmt.Errorf("udmabuf: %w", err)
		}
		items[i] = uapi.UdmabufCreateItem{Memfd: mfd, Offset: uint64(s.fileOff), Size: uint64(s.size)}
	}
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(dev), uapi.UDMABUF_CREATE_LIST, uintptr(unsafe.Pointer(&block[0])))
	if e != 0 {
		return -1, ioctlErr("UDMABUF_CREATE_LIST", e)
	}
	return int(r), nil
}

func ioctlErr(name string, e unix.Errno) error {
	hint := ""
	switch e {
	case unix.EINVAL:
		hint = " (udmabuf wants page-aligned offsets and sizes within udmabuf.size_limit_mb and udmabuf.list_limit, and memfds sealed with F_SEAL_SHRINK but not against writes)"
	case unix.EBADFD:
		hint = " (a range's file is not a memfd on shmem or hugetlbfs)"
	case unix.ENOMEM:
		hint = " (the kernel could not pin the pages: not enough memory or huge pages)"
	case unix.ENOTTY:
		hint = " (the driver does not know this ioctl: the kernel is too old)"
	}
	return fmt.Errorf("udmabuf: %w%s", os.NewSyscallError("ioctl("+name+")", e), hint)
}
