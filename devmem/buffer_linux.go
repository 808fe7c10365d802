package devmem

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/devmem-go/devmem/udmabuf"
	"golang.org/x/sys/unix"
)

// buffer is the memory a Listener receives into or a Conn sends from: a
// dma-buf (a duplicate of the caller's, or a udmabuf this package created)
// or, for the copy path when no dma-buf can be had or mapped, a memfd. It
// owns its descriptors and its mapping.
type buffer struct {
	ub   *udmabuf.Buffer // created here; owns db and mp
	db   *dmabuf.Buffer  // the dma-buf, nil for a plain file
	mp   *dmabuf.Mapping // the dma-buf's mapping, if mapped
	f    *os.File        // a memfd, or a caller's descriptor that is no dma-buf
	size uint64
	mem  []byte // the whole buffer mapped shared, nil if not mappable
	kind string // "dma-buf", "udmabuf", "memfd" or "file", for messages
}

// pageSize is the kernel page size: bindings, regions and udmabufs are in
// whole pages.
var pageSize = uint64(os.Getpagesize())

func roundPage(n uint64) uint64 { return (n + pageSize - 1) &^ (pageSize - 1) }

// dupBuffer duplicates the descriptor behind c: a dma-buf, or (for the copy
// path only) any file with a size, such as a memfd.
func dupBuffer(c syscall.Conn) (*buffer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("devmem: buffer: %w", err)
	}
	var (
		b    *buffer
		berr error
	)
	if err := rc.Control(func(fd uintptr) { b, berr = dupFD(int(fd)) }); err != nil {
		return nil, fmt.Errorf("devmem: buffer: %w", err)
	}
	return b, berr
}

func dupFD(fd int) (*buffer, error) {
	db, err := dmabuf.New(fd)
	if err == nil {
		size, err := db.Size()
		if err != nil || size <= 0 {
			_ = db.Close()
			return nil, fmt.Errorf("devmem: buffer: cannot learn the dma-buf's size (%d): %w", size, err)
		}
		return &buffer{db: db, size: uint64(size), kind: "dma-buf"}, nil
	}
	if !errors.Is(err, dmabuf.ErrNotDMABuf) {
		return nil, fmt.Errorf("devmem: buffer: %w", err)
	}
	// Not a dma-buf: usable by the copy path only.
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("devmem: buffer: duplicate descriptor: %w", os.NewSyscallError("fcntl", err))
	}
	f := os.NewFile(uintptr(dup), "buffer")
	size, err := f.Seek(0, 2)
	if err != nil || size <= 0 {
		_ = f.Close()
		return nil, fmt.Errorf("devmem: buffer: cannot learn its size (%d): %w", size, err)
	}
	return &buffer{f: f, size: uint64(size), kind: "file"}, nil
}

// newMemfd creates an anonymous memfd of size bytes (rounded up to pages).
func newMemfd(size uint64) (*buffer, error) {
	size = roundPage(size)
	fd, err := unix.MemfdCreate("devmem-go", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("devmem: create memfd: %w", os.NewSyscallError("memfd_create", err))
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("devmem: memfd of %d bytes: %w", size, os.NewSyscallError("ftruncate", err))
	}
	return &buffer{f: os.NewFile(uintptr(fd), "memfd:devmem-go"), size: size, kind: "memfd"}, nil
}

// newUdmabuf creates a dma-buf of size bytes (rounded up to pages) with
// package udmabuf.
func newUdmabuf(size uint64) (*buffer, error) {
	ub, err := udmabuf.Create(int64(roundPage(size)), nil)
	if err != nil {
		return nil, err
	}
	return &buffer{ub: ub, db: ub.DMABuf(), size: uint64(ub.Size()), kind: "udmabuf"}, nil
}

// SyscallConn makes a buffer a syscall.Conn, for netdev.BindRX/BindTX.
func (b *buffer) SyscallConn() (syscall.RawConn, error) {
	if b.db != nil {
		return b.db.SyscallConn()
	}
	return b.f.SyscallConn()
}

// mmap maps the whole buffer shared and writable.
func (b *buffer) mmap() error {
	if b.mem != nil {
		return nil
	}
	if b.size > uint64(^uint(0)>>1) {
		return fmt.Errorf("devmem: %s of %d bytes does not fit the address space", b.kind, b.size)
	}
	if b.db != nil {
		var (
			mp  *dmabuf.Mapping
			err error
		)
		if b.ub != nil {
			mp, err = b.ub.Map()
		} else {
			mp, err = b.db.Map()
		}
		if err != nil {
			return fmt.Errorf("devmem: map %s of %d bytes: %w: %w", b.kind, b.size, err, ErrNoMapping)
		}
		b.mp, b.mem = mp, mp.Bytes()
		return nil
	}
	rc, err := b.f.SyscallConn()
	if err != nil {
		return err
	}
	var merr error
	if err := rc.Control(func(fd uintptr) {
		b.mem, merr = unix.Mmap(int(fd), 0, int(b.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	}); err != nil {
		return err
	}
	if merr != nil {
		// A plain file (the copy path's memfd) is always mappable: a
		// failure here is the system's (ENOMEM: too large for the address
		// space or the overcommit policy), not ErrNoMapping.
		return fmt.Errorf("devmem: map %s of %d bytes: %w", b.kind, b.size, os.NewSyscallError("mmap", merr))
	}
	return nil
}

// sync brackets CPU access to a dma-buf (DMA_BUF_IOCTL_SYNC with the
// DMA_BUF_SYNC_* flags); it does nothing for a plain file.
func (b *buffer) sync(flags uint64) error {
	if b.db == nil {
		return nil
	}
	var a dmabuf.Access
	if flags&uapi.DMA_BUF_SYNC_READ != 0 {
		a |= dmabuf.Read
	}
	if flags&uapi.DMA_BUF_SYNC_WRITE != 0 {
		a |= dmabuf.Write
	}
	if flags&uapi.DMA_BUF_SYNC_END != 0 {
		return b.db.EndCPUAccess(a)
	}
	return b.db.BeginCPUAccess(a)
}

// close unmaps and closes the buffer. It is idempotent and nil-safe.
func (b *buffer) close() error {
	if b == nil {
		return nil
	}
	var err error
	switch {
	case b.ub != nil:
		err = b.ub.Close() // with its dma-buf and mapping
	case b.db != nil:
		err = errors.Join(b.mp.Close(), b.db.Close())
	case b.f != nil:
		if b.mem != nil {
			err = os.NewSyscallError("munmap", unix.Munmap(b.mem))
		}
		err = errors.Join(err, b.f.Close())
	}
	b.ub, b.db, b.mp, b.f, b.mem = nil, nil, nil, nil, nil
	return err
}
