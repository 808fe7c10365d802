package dmabuf

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"weak"

	"github.com/devmem-go/devmem/internal"
	"github.com/devmem-go/devmem/internal/fd"
)

// ErrNotSupported is returned when the operating system or the kernel lacks
// a feature: every function off Linux, dma-heaps on a kernel built without
// them, sync files without CONFIG_SYNC_FILE. It is the same value as
// netdev.ErrNotSupported and udmabuf.ErrNotSupported.
var ErrNotSupported = internal.ErrNotSupported

// ErrNotDMABuf is returned by [New] and [FromFile] for a descriptor that is
// open but not a dma-buf. The error wrapping it says what the descriptor is.
var ErrNotDMABuf = errors.New("dmabuf: not a dma-buf")

// errClosed is returned by methods of a closed Buffer.
var errClosed = fmt.Errorf("dmabuf: buffer is closed: %w", os.ErrClosed)

// Access says what the CPU does with a dma-buf during a CPU-access window:
// [Read], [Write] or [ReadWrite]. The zero value is invalid, so a sync that
// names no direction (which the kernel refuses) cannot be expressed.
type Access uint8

// The directions of CPU access; they are the DMA_BUF_SYNC_READ and
// DMA_BUF_SYNC_WRITE bits.
const (
	Read      Access = 1 // the CPU reads what a device wrote
	Write     Access = 2 // the CPU writes for a device to read
	ReadWrite Access = Read | Write
)

// String returns "read", "write", "read-write" or "Access(N)".
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case ReadWrite:
		return "read-write"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

func (a Access) valid() error {
	if a == 0 || a > ReadWrite {
		return fmt.Errorf("dmabuf: invalid %v: %w: use dmabuf.Read, dmabuf.Write or dmabuf.ReadWrite", a, os.ErrInvalid)
	}
	return nil
}

// Buffer owns one dma-buf file descriptor.
//
// Make one with [New] (from a descriptor the caller keeps), [FromFile]
// (taking over an *os.File), [AllocHeap] (from a dma-heap) or
// udmabuf.Create, and call [Buffer.Close] when done.
//
// A Buffer is safe for concurrent use. Close waits for calls in flight
// on the descriptor and makes later calls fail with an error wrapping
// os.ErrClosed.
type Buffer struct {
	mu sync.RWMutex // held for reading while the descriptor is used
	fd *fd.FD       // nil once closed

	mapsMu sync.Mutex
	maps   map[weak.Pointer[Mapping]]struct{} // mappings made by Map and not yet closed
}

// New returns a Buffer for a duplicate of the dma-buf descriptor fd. The
// caller keeps ownership of fd and may close it at once; the Buffer's
// duplicate (O_CLOEXEC) is closed by [Buffer.Close].
//
// An fd that is not open gives an error wrapping syscall.EBADF; one that is
// open but not a dma-buf gives an error wrapping [ErrNotDMABuf] that says
// what it is. New requires Linux 5.3 or later to recognise a dma-buf (older
// kernels: through the "anon_inode:dmabuf" link in /proc).
func New(fd int) (*Buffer, error) {
	if fd < 0 {
		return nil, fmt.Errorf("dmabuf: invalid file descriptor %d: %w", fd, syscall.EBADF)
	}
	if err := checkDMABuf(fd); err != nil {
		return nil, err
	}
	return dupBuffer(fd)
}

func dupBuffer(raw int) (*Buffer, error) {
	dup, err := fd.DupInt(raw)
	if err != nil {
		return nil, fmt.Errorf("dmabuf: duplicate fd %d: %w", raw, err)
	}
	return newBuffer(dup), nil
}

func newBuffer(f *fd.FD) *Buffer {
	return &Buffer{fd: f}
}

// FromFile returns a Buffer that takes over the dma-buf open as f. On
// success f is closed (the Buffer holds its own descriptor for the same
// dma-buf) and must not be used again; on error f is left open and still
// belongs to the caller. The checks are those of [New].
func FromFile(f *os.File) (*Buffer, error) {
	if f == nil {
		return nil, fmt.Errorf("dmabuf: FromFile of a nil *os.File: %w", os.ErrInvalid)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dmabuf: %s: %w", f.Name(), err)
	}
	var b *Buffer
	var opErr error
	if err := rc.Control(func(raw uintptr) {
		if opErr = checkDMABuf(int(raw)); opErr == nil {
			b, opErr = dupBuffer(int(raw))
		}
	}); err != nil {
		return nil, fmt.Errorf("dmabuf: %s: %w", f.Name(), err)
	}
	if opErr != nil {
		return nil, opErr
	}
	_ = f.Close()
	return b, nil
}

// FD returns the descriptor number, or -1 after Close (or for a nil
// Buffer). The number is valid only until Close: keep the Buffer reachable
// (runtime.KeepAlive) until the last use of the number, for example a
// netlink request that carries it, has returned. Prefer
// [Buffer.SyscallConn], which holds off Close while it runs.
func (b *Buffer) FD() int {
	if b == nil {
		return -1
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.fd.Int()
}

// use runs fn with the open descriptor, holding off Close.
func (b *Buffer) use(fn func(raw int) error) error {
	if b == nil {
		return errClosed
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.fd == nil {
		return errClosed
	}
	return fn(b.fd.Int())
}

// Size returns the size of the dma-buf in bytes (lseek SEEK_END; the file
// position has no other use for a dma-buf).
func (b *Buffer) Size() (int64, error) {
	var size int64
	err := b.use(func(raw int) error {
		var err error
		size, err = sysSize(raw)
		return err
	})
	return size, err
}

// SyscallConn returns a raw connection to the descriptor for operations
// this package does not wrap. Control runs its function while Close is
// held off. Read and Write call their function until it returns true and
// wait in between with poll(2) for POLLIN or POLLOUT, which on a dma-buf
// mean that its implicit fences (writers, or all users) have signalled;
// Close waits for them. It is the caller's responsibility that operations
// through the RawConn do not conflict with the Buffer's own.
func (b *Buffer) SyscallConn() (syscall.RawConn, error) {
	if b == nil {
		return nil, errClosed
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.fd == nil {
		return nil, errClosed
	}
	return rawConn{b}, nil
}

// BeginCPUAccess starts a CPU-access window on the dma-buf
// (DMA_BUF_IOCTL_SYNC with DMA_BUF_SYNC_START and the direction): the
// exporter makes what devices wrote visible to the CPU (Read) or prepares
// for CPU writes (Write). Every successful BeginCPUAccess must be followed
// by an [Buffer.EndCPUAccess] with the same Access; [Buffer.Sync] does both.
// Requires Linux 4.6 or later; exporters may return their own errors.
func (b *Buffer) BeginCPUAccess(a Access) error {
	return b.sync(a, false)
}

// EndCPUAccess ends a CPU-access window started by
// [Buffer.BeginCPUAccess] (DMA_BUF_SYNC_END): the exporter flushes CPU
// writes for devices. Some exporters refuse an end without a begin: udmabuf
// returns an error wrapping syscall.EINVAL.
func (b *Buffer) EndCPUAccess(a Access) error {
	return b.sync(a, true)
}

func (b *Buffer) sync(a Access, end bool) error {
	if err := a.valid(); err != nil {
		return err
	}
	return b.use(func(raw int) error { return sysSync(raw, a, end) })
}

// Sync runs fn inside a CPU-access window: BeginCPUAccess(a), fn,
// EndCPUAccess(a). The window is ended even when fn fails; the errors of fn
// and EndCPUAccess are joined. fn is not run if BeginCPUAccess fails.
func (b *Buffer) Sync(a Access, fn func() error) (err error) {
	if err := b.BeginCPUAccess(a); err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, b.EndCPUAccess(a))
	}()
	return fn()
}

// MaxNameLen is the longest dma-buf name [Buffer.SetName] accepts, in
// bytes (DMA_BUF_NAME_LEN minus the NUL).
const MaxNameLen = 31

// SetName names the dma-buf (DMA_BUF_SET_NAME). The name shows in
// [Buffer.Info], in /proc/<pid>/fdinfo and in the /proc/<pid>/fd link
// ("/dmabuf:NAME"), which helps to find who holds a buffer. It may have at
// most [MaxNameLen] bytes and no NUL or newline; other names are refused
// before the system call with an error matching os.ErrInvalid.
//
// Requires Linux 5.3 or later. Older kernels refuse to rename a dma-buf
// that is attached to a device with an error wrapping syscall.EBUSY: name
// a buffer before binding it.
func (b *Buffer) SetName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("dmabuf: name %q is %d bytes, the kernel keeps at most %d: %w", name, len(name), MaxNameLen, os.ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 || name[i] == '\n' {
			return fmt.Errorf("dmabuf: name %q has a NUL or newline byte: %w", name, os.ErrInvalid)
		}
	}
	return b.use(func(raw int) error { return sysSetName(raw, name) })
}

// Info describes a dma-buf as the kernel reports it in
// /proc/self/fdinfo/<fd>.
type Info struct {
	Size    int64  // bytes
	Count   int64  // open file references to the dma-buf (descriptors, mappings, kernel users)
	ExpName string // the exporter, e.g. "udmabuf" or "system" (a dma-heap)
	Name    string // set by SetName; empty if none was set
	Inode   uint64 // identifies the dma-buf; 0 if the kernel does not report it
}

// Info reads the dma-buf's fdinfo. Requires Linux 5.3 or later.
func (b *Buffer) Info() (Info, error) {
	var info Info
	err := b.use(func(raw int) error {
		var err error
		info, err = sysInfo(raw)
		return err
	})
	return info, err
}

// ExportSyncFile returns a sync file (DMA_BUF_IOCTL_EXPORT_SYNC_FILE) that
// signals when the dma-buf's current implicit fences do: for Read, its
// writers; for Write or ReadWrite, all its users. Poll it for POLLIN or
// hand it to an API that takes sync files. The caller owns and must close
// the file. Requires Linux 6.0 or later with CONFIG_SYNC_FILE; otherwise
// the error wraps [ErrNotSupported].
func (b *Buffer) ExportSyncFile(a Access) (*os.File, error) {
	if err := a.valid(); err != nil {
		return nil, err
	}
	var f *os.File
	err := b.use(func(raw int) error {
		var err error
		f, err = sysExportSyncFile(raw, a)
		return err
	})
	return f, err
}

// ImportSyncFile adds the fence of sync file f to the dma-buf
// (DMA_BUF_IOCTL_IMPORT_SYNC_FILE): as a read fence for Read, as a write
// fence for Write or ReadWrite. f stays the caller's. Requires Linux 6.0 or
// later with CONFIG_SYNC_FILE; otherwise the error wraps [ErrNotSupported].
func (b *Buffer) ImportSyncFile(a Access, f *os.File) error {
	if err := a.valid(); err != nil {
		return err
	}
	if f == nil {
		return fmt.Errorf("dmabuf: ImportSyncFile of a nil *os.File: %w", os.ErrInvalid)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("dmabuf: import sync file: %w", err)
	}
	return b.use(func(raw int) error {
		var opErr error
		if err := rc.Control(func(sf uintptr) { opErr = sysImportSyncFile(raw, a, int(sf)) }); err != nil {
			return fmt.Errorf("dmabuf: import sync file: %w", err)
		}
		return opErr
	})
}

// Close unmaps every [Mapping] made by [Buffer.Map] that is still mapped,
// then closes the descriptor. Slices from those mappings' Bytes must not be
// used afterwards. Close waits for calls in flight; closing a closed or nil
// Buffer returns nil. The dma-buf itself is freed when its last user (other
// descriptors, a device binding) lets go.
func (b *Buffer) Close() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fd == nil {
		return nil
	}
	b.mapsMu.Lock()
	maps := b.maps
	b.maps = nil
	b.mapsMu.Unlock()
	var errs []error
	for p := range maps {
		if m := p.Value(); m != nil {
			errs = append(errs, m.unmap())
		}
	}
	if err := b.fd.Close(); err != nil {
		errs = append(errs, fmt.Errorf("dmabuf: %w", err))
	}
	b.fd = nil
	return errors.Join(errs...)
}

// Map maps the whole dma-buf into memory, shared and readable and writable
// (mmap MAP_SHARED, PROT_READ|PROT_WRITE). The Buffer must be open for
// reading and writing, and the exporter must support mmap: udmabuf and
// dma-heap buffers do, GPU memory usually does not (the error then wraps
// syscall.EINVAL or syscall.ENODEV).
//
// The Mapping belongs to the Buffer: [Buffer.Close] unmaps it. Close it
// earlier with [Mapping.Close]. Wrap CPU access in [Buffer.Sync] so that
// device writes are visible and CPU writes reach the device.
func (b *Buffer) Map() (*Mapping, error) {
	var m *Mapping
	err := b.use(func(raw int) error {
		size, err := sysSize(raw)
		if err != nil {
			return err
		}
		if size <= 0 || size != int64(int(size)) {
			return fmt.Errorf("dmabuf: cannot map a dma-buf of %d bytes", size)
		}
		data, err := sysMmap(raw, int(size))
		if err != nil {
			return err
		}
		m = newMapping(data, b)
		b.mapsMu.Lock()
		if b.maps == nil {
			b.maps = make(map[weak.Pointer[Mapping]]struct{})
		}
		for p := range b.maps {
			if p.Value() == nil {
				delete(b.maps, p)
			}
		}
		b.maps[weak.Make(m)] = struct{}{}
		b.mapsMu.Unlock()
		return nil
	})
	return m, err
}

// forget drops a mapping closed by its own Close.
func (b *Buffer) forget(m *Mapping) {
	b.mapsMu.Lock()
	delete(b.maps, weak.Make(m))
	b.mapsMu.Unlock()
}

// rawConn is the Buffer's syscall.RawConn.
type rawConn struct{ b *Buffer }

func (c rawConn) Control(f func(fd uintptr)) error {
	return c.b.use(func(raw int) error {
		f(uintptr(raw))
		return nil
	})
}

func (c rawConn) Read(f func(fd uintptr) bool) error {
	return c.b.use(func(raw int) error { return waitLoop(raw, f, false) })
}

func (c rawConn) Write(f func(fd uintptr) bool) error {
	return c.b.use(func(raw int) error { return waitLoop(raw, f, true) })
}

func waitLoop(raw int, f func(fd uintptr) bool, write bool) error {
	for !f(uintptr(raw)) {
		if err := sysPoll(raw, write); err != nil {
			return err
		}
	}
	return nil
}
