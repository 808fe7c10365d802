package devmem

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

// buffer is the memory a Listener receives into or a Conn sends from: a
// dma-buf (a duplicate of the caller's descriptor, or a udmabuf this package
// created) or, for the copy path when no dma-buf can be had or mapped, a
// memfd. It owns its descriptor and its mapping.
type buffer struct {
	f      *os.File // owned descriptor; a syscall.Conn for netdev.BindRX/BindTX
	size   uint64
	mem    []byte // the whole buffer mapped shared, nil if not mappable
	dmabuf bool   // f is a dma-buf: DMA_BUF_IOCTL_SYNC applies
	owned  bool   // created by this package (not a duplicate of the caller's)
	kind   string // "dma-buf", "udmabuf" or "memfd", for messages
}

// pageSize is the kernel page size: bindings, regions and udmabufs are in
// whole pages.
var pageSize = uint64(os.Getpagesize())

func roundPage(n uint64) uint64 { return (n + pageSize - 1) &^ (pageSize - 1) }

// dupBuffer duplicates the dma-buf descriptor behind c.
func dupBuffer(c syscall.Conn) (*buffer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("devmem: buffer: %w", err)
	}
	var (
		dup  int
		derr error
	)
	if err := rc.Control(func(fd uintptr) {
		dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("devmem: buffer: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("devmem: buffer: duplicate descriptor: %w", os.NewSyscallError("fcntl", derr))
	}
	size, err := unix.Seek(dup, 0, unix.SEEK_END)
	if err == nil {
		_, err = unix.Seek(dup, 0, unix.SEEK_SET)
	}
	if err != nil || size <= 0 {
		_ = unix.Close(dup)
		if err == nil {
			err = fmt.Errorf("size %d", size)
		}
		return nil, fmt.Errorf("devmem: buffer: cannot learn its size (is it a dma-buf?): %w", err)
	}
	return &buffer{f: os.NewFile(uintptr(dup), "dmabuf"), size: uint64(size), dmabuf: true, kind: "dma-buf"}, nil
}

// newMemfd creates an anonymous memfd of size bytes (rounded up to pages).
func newMemfd(size uint64) (*buffer, error) {
	size = roundPage(size)
	fd, err := unix.MemfdCreate("devmem-go", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("devmem: create memfd: %w", os.NewSyscallError("memfd_create", err))
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("devmem: memfd of %d bytes: %w", size, os.NewSyscallError("ftruncate", err))
	}
	return &buffer{f: os.NewFile(uintptr(fd), "memfd:devmem-go"), size: size, owned: true, kind: "memfd"}, nil
}

// newUdmabuf creates a dma-buf of size bytes (rounded up to pages) from a
// sealed memfd through /dev/udmabuf (Linux 4.20+, CONFIG_UDMABUF).
func newUdmabuf(size uint64) (*buffer, error) {
	mb, err := newMemfd(size)
	if err != nil {
		return nil, err
	}
	defer mb.close()
	if err := mb.control(func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK)
		return os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}); err != nil {
		return nil, fmt.Errorf("devmem: udmabuf: %w", err)
	}
	dev, err := unix.Open("/dev/udmabuf", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		err = os.NewSyscallError("open /dev/udmabuf", err)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("devmem: no /dev/udmabuf (kernel without CONFIG_UDMABUF, or the module is not loaded: modprobe udmabuf): %w", err)
		}
		return nil, fmt.Errorf("devmem: udmabuf: %w", err)
	}
	defer unix.Close(dev)
	var dfd int
	err = mb.control(func(memfd int) error {
		arg := uapi.UdmabufCreate{Memfd: uint32(memfd), Flags: uapi.UDMABUF_FLAGS_CLOEXEC, Size: mb.size}
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(dev), uapi.UDMABUF_CREATE, uintptr(unsafe.Pointer(&arg)))
		if e != 0 {
			return os.NewSyscallError("ioctl UDMABUF_CREATE", e)
		}
		dfd = int(r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devmem: udmabuf of %d bytes: %w", mb.size, err)
	}
	return &buffer{f: os.NewFile(uintptr(dfd), "udmabuf"), size: mb.size, dmabuf: true, owned: true, kind: "udmabuf"}, nil
}

// control runs fn with the descriptor.
func (b *buffer) control(fn func(fd int) error) error {
	rc, err := b.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// SyscallConn makes a buffer a syscall.Conn, for netdev.BindRX/BindTX.
func (b *buffer) SyscallConn() (syscall.RawConn, error) { return b.f.SyscallConn() }

// mmap maps the whole buffer shared, read-write if it can, else read-only
// when write is false.
func (b *buffer) mmap(write bool) error {
	if b.mem != nil {
		return nil
	}
	if b.size > uint64(^uint(0)>>1) {
		return fmt.Errorf("devmem: %s of %d bytes does not fit the address space", b.kind, b.size)
	}
	return b.control(func(fd int) error {
		mem, err := unix.Mmap(fd, 0, int(b.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil && !write {
			mem, err = unix.Mmap(fd, 0, int(b.size), unix.PROT_READ, unix.MAP_SHARED)
		}
		if err != nil {
			return fmt.Errorf("devmem: map %s of %d bytes: %w: %w", b.kind, b.size, os.NewSyscallError("mmap", err), ErrNoMapping)
		}
		b.mem = mem
		return nil
	})
}

// sync brackets CPU access to a dma-buf (DMA_BUF_IOCTL_SYNC); it does
// nothing for a memfd.
func (b *buffer) sync(flags uint64) error {
	if !b.dmabuf {
		return nil
	}
	return b.control(func(fd int) error {
		arg := uapi.DmaBufSync{Flags: flags}
		for {
			_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uapi.DMA_BUF_IOCTL_SYNC, uintptr(unsafe.Pointer(&arg)))
			runtime.KeepAlive(&arg)
			if e == unix.EINTR || e == unix.EAGAIN {
				continue
			}
			if e != 0 {
				return os.NewSyscallError("ioctl DMA_BUF_IOCTL_SYNC", e)
			}
			return nil
		}
	})
}

// close unmaps and closes the buffer. It is idempotent.
func (b *buffer) close() error {
	if b == nil {
		return nil
	}
	var err error
	if b.mem != nil {
		err = os.NewSyscallError("munmap", unix.Munmap(b.mem))
		b.mem = nil
	}
	if b.f != nil {
		err = errors.Join(err, b.f.Close())
		b.f = nil
	}
	return err
}
