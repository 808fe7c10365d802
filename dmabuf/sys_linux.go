package dmabuf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/devmem-go/devmem/internal/fd"
	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

// ioctl runs an ioctl whose argument is a pointer, restarting on EINTR.
func ioctl(raw int, req uint, arg unsafe.Pointer) (int, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(raw), uintptr(req), uintptr(arg))
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return -1, e
	}
}

// checkDMABuf returns nil if raw is a dma-buf. Since Linux 5.3 a dma-buf
// lives on the "dmabuf" pseudo file system (DMA_BUF_MAGIC); before, it was
// an anonymous inode named "dmabuf".
func checkDMABuf(raw int) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(raw, &st); err != nil {
		what := ""
		if err == unix.EBADF {
			what = " is not open"
		}
		return fmt.Errorf("dmabuf: fd %d%s: %w", raw, what, os.NewSyscallError("fstatfs", err))
	}
	if uint32(st.Type) == uint32(unix.DMA_BUF_MAGIC) {
		return nil
	}
	link, linkErr := os.Readlink("/proc/self/fd/" + strconv.Itoa(raw))
	if uint32(st.Type) == uint32(unix.ANON_INODE_FS_MAGIC) && link == "anon_inode:dmabuf" {
		return nil
	}
	what := link
	if linkErr != nil {
		what = fmt.Sprintf("a file on a file system of type %#x", uint32(st.Type))
	}
	return fmt.Errorf("%w: fd %d is %s", ErrNotDMABuf, raw, what)
}

func sysSize(raw int) (int64, error) {
	size, err := unix.Seek(raw, 0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("dmabuf: size: %w", os.NewSyscallError("lseek", err))
	}
	return size, nil
}

func sysSync(raw int, a Access, end bool) error {
	s := uapi.DmaBufSync{Flags: uint64(a)}
	if end {
		s.Flags |= uapi.DMA_BUF_SYNC_END
	}
	_, err := ioctl(raw, uapi.DMA_BUF_IOCTL_SYNC, unsafe.Pointer(&s))
	if err == nil {
		return nil
	}
	op, hint := "begin", ""
	if end {
		op = "end"
	}
	switch {
	case end && err == unix.EINVAL:
		hint = " (udmabuf refuses an end without a begin: call BeginCPUAccess first)"
	case err == unix.ENOTTY:
		hint = " (the kernel has no DMA_BUF_IOCTL_SYNC: it needs Linux 4.6 or later)"
	}
	return fmt.Errorf("dmabuf: %s CPU %s access: %w%s", op, a, os.NewSyscallError("ioctl(DMA_BUF_IOCTL_SYNC)", err), hint)
}

func sysSetName(raw int, name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return fmt.Errorf("dmabuf: name %q: %w", name, err)
	}
	req := uint(uapi.DMA_BUF_SET_NAME_B)
	if unsafe.Sizeof(uintptr(0)) == 4 {
		req = uapi.DMA_BUF_SET_NAME_A
	}
	_, err = ioctl(raw, req, unsafe.Pointer(p))
	if err == nil {
		return nil
	}
	hint := ""
	switch err {
	case unix.EBUSY:
		hint = " (this kernel does not rename a dma-buf attached to a device: set the name before binding it)"
	case unix.ENOTTY:
		hint = " (the kernel has no DMA_BUF_SET_NAME: it needs Linux 5.3 or later)"
	}
	return fmt.Errorf("dmabuf: set name %q: %w%s", name, os.NewSyscallError("ioctl(DMA_BUF_SET_NAME)", err), hint)
}

func sysInfo(raw int) (Info, error) {
	text, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(raw))
	if err != nil {
		return Info{}, fmt.Errorf("dmabuf: info: %w", err)
	}
	return parseFdinfo(text)
}

func syncFileErr(op string, ioctlName string, err error) error {
	se := os.NewSyscallError("ioctl("+ioctlName+")", err)
	if err == unix.ENOTTY {
		return fmt.Errorf("dmabuf: %s: %w: %w (needs Linux 6.0 or later with CONFIG_SYNC_FILE)", op, ErrNotSupported, se)
	}
	return fmt.Errorf("dmabuf: %s: %w", op, se)
}

func sysExportSyncFile(raw int, a Access) (*os.File, error) {
	s := uapi.DmaBufExportSyncFile{Flags: uint32(a)}
	if _, err := ioctl(raw, uapi.DMA_BUF_IOCTL_EXPORT_SYNC_FILE, unsafe.Pointer(&s)); err != nil {
		return nil, syncFileErr("export "+a.String()+" sync file", "DMA_BUF_IOCTL_EXPORT_SYNC_FILE", err)
	}
	return os.NewFile(uintptr(s.Fd), "sync_file"), nil
}

func sysImportSyncFile(raw int, a Access, sf int) error {
	s := uapi.DmaBufImportSyncFile{Flags: uint32(a), Fd: int32(sf)}
	if _, err := ioctl(raw, uapi.DMA_BUF_IOCTL_IMPORT_SYNC_FILE, unsafe.Pointer(&s)); err != nil {
		hint := ""
		if err == unix.EINVAL {
			hint = " (the file is not a sync file)"
		}
		return fmt.Errorf("%w%s", syncFileErr("import "+a.String()+" sync file", "DMA_BUF_IOCTL_IMPORT_SYNC_FILE", err), hint)
	}
	return nil
}

func sysMmap(raw int, size int) ([]byte, error) {
	data, err := unix.Mmap(raw, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err == nil {
		return data, nil
	}
	hint := ""
	switch err {
	case unix.EINVAL, unix.ENODEV:
		hint = " (the exporter does not support mmap; device memory such as GPU VRAM usually cannot be mapped)"
	case unix.EACCES:
		hint = " (the dma-buf descriptor is not open for both reading and writing)"
	}
	return nil, fmt.Errorf("dmabuf: map %d bytes: %w%s", size, os.NewSyscallError("mmap", err), hint)
}

func sysMunmap(data []byte) error {
	if err := unix.Munmap(data); err != nil {
		return fmt.Errorf("dmabuf: unmap: %w", os.NewSyscallError("munmap", err))
	}
	return nil
}

func sysPoll(raw int, write bool) error {
	ev := int16(unix.POLLIN)
	if write {
		ev = unix.POLLOUT
	}
	pfd := []unix.PollFd{{Fd: int32(raw), Events: ev}}
	for {
		_, err := unix.Poll(pfd, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("poll", err)
		}
		return nil
	}
}

func noHeapsErr(err error) error {
	return fmt.Errorf("dmabuf: %s missing: the kernel has no dma-heaps (build it with CONFIG_DMABUF_HEAPS=y and CONFIG_DMABUF_HEAPS_SYSTEM=y, Linux 5.6 or later) or /dev is not a devtmpfs: %w: %w",
		HeapDir, ErrNotSupported, err)
}

func sysHeaps() ([]string, error) {
	entries, err := os.ReadDir(HeapDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noHeapsErr(err)
	}
	if err != nil {
		return nil, fmt.Errorf("dmabuf: list dma-heaps: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

func sysAllocHeap(heap string, size int64) (*Buffer, error) {
	path := HeapDir + "/" + heap
	hfd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		perr := &os.PathError{Op: "open", Path: path, Err: err}
		switch {
		case err == unix.ENOENT:
			have, herr := sysHeaps()
			if herr != nil {
				return nil, noHeapsErr(perr)
			}
			fix := "check the name against dmabuf.Heaps"
			if heap == "system" {
				fix = "build the kernel with CONFIG_DMABUF_HEAPS_SYSTEM=y"
			}
			return nil, fmt.Errorf("dmabuf: dma-heap %q not found (heaps: %s): %s: %w", heap, strings.Join(have, ", "), fix, perr)
		case err == unix.EACCES || err == unix.EPERM:
			return nil, fmt.Errorf("dmabuf: %w: run as root or let this user open %s (udev rule or group)", perr, path)
		}
		return nil, fmt.Errorf("dmabuf: %w", perr)
	}
	defer unix.Close(hfd)

	data := uapi.DmaHeapAllocationData{
		Len:     uint64(size),
		FdFlags: unix.O_RDWR | unix.O_CLOEXEC,
	}
	if _, err := ioctl(hfd, uapi.DMA_HEAP_IOCTL_ALLOC, unsafe.Pointer(&data)); err != nil {
		hint := ""
		if err == unix.ENOMEM {
			hint = " (the heap could not supply that much memory)"
		}
		return nil, fmt.Errorf("dmabuf: allocate %d bytes from dma-heap %q: %w%s", size, heap, os.NewSyscallError("ioctl(DMA_HEAP_IOCTL_ALLOC)", err), hint)
	}
	f, err := fd.New(int(data.Fd))
	if err != nil {
		return nil, fmt.Errorf("dmabuf: dma-heap %q returned %w", heap, err)
	}
	return newBuffer(f), nil
}
