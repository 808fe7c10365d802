package udmabuf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/internal"
)

// ErrNotSupported is returned when the operating system or the kernel lacks
// udmabuf (including a missing /dev/udmabuf) or the requested huge pages.
// It is the same value as dmabuf.ErrNotSupported.
var ErrNotSupported = internal.ErrNotSupported

// DevicePath is the udmabuf device node.
const DevicePath = "/dev/udmabuf"

// HugePages selects the pages behind the memfd that [Create] and
// [CreateList] make.
type HugePages uint8

const (
	// NoHugePages backs the buffer with ordinary shared memory (shmem)
	// pages.
	NoHugePages HugePages = iota
	// HugePagesDefault uses huge pages of the system's default size
	// (MFD_HUGETLB; "Hugepagesize" in /proc/meminfo).
	HugePagesDefault
	// HugePages2MB uses 2 MiB huge pages (MFD_HUGETLB|MFD_HUGE_2MB).
	HugePages2MB
	// HugePages1GB uses 1 GiB huge pages (MFD_HUGETLB|MFD_HUGE_1GB).
	HugePages1GB
)

// String returns "none", "default", "2MB", "1GB" or "HugePages(N)".
func (h HugePages) String() string {
	switch h {
	case NoHugePages:
		return "none"
	case HugePagesDefault:
		return "default"
	case HugePages2MB:
		return "2MB"
	case HugePages1GB:
		return "1GB"
	}
	return fmt.Sprintf("HugePages(%d)", uint8(h))
}

// Options tunes [Create] and [CreateList]. A nil *Options means the
// defaults.
type Options struct {
	// Name names the memfd ("/memfd:NAME" in /proc/<pid>/fd) and, when not
	// empty, the dma-buf (see dmabuf.Buffer.SetName), so that the buffer
	// can be found in /proc. At most dmabuf.MaxNameLen bytes. The memfd is
	// called "udmabuf" when Name is empty.
	Name string

	// HugePages backs the library's memfd with huge pages (hugetlbfs).
	// Sizes and offsets must then be multiples of the huge page size and
	// enough huge pages must be free (see
	// /sys/kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages). Huge pages
	// give the device fewer, larger scatter-gather segments. Buffers on
	// huge pages cannot be written through [Buffer.WriteAt]: hugetlbfs has
	// no write(2); use the mapping.
	HugePages HugePages
}

// Range is one piece of a [CreateList] buffer: Size bytes at Offset of a
// memfd. The pieces follow each other in the dma-buf in the order given.
type Range struct {
	// File is the memfd holding the range. Nil means the memfd that
	// CreateList makes for the buffer, sized to cover every range with a
	// nil File; [Buffer.Memfd] returns it. A caller's file must be a memfd
	// (memfd_create with MFD_ALLOW_SEALING) sealed with F_SEAL_SHRINK and
	// without F_SEAL_WRITE or F_SEAL_FUTURE_WRITE; it stays the caller's
	// (the Buffer keeps a duplicate for ReadAt and WriteAt).
	File *os.File

	// Offset into File and Size of the range, in bytes; both multiples of
	// the page size (of the huge page size on hugetlbfs). Size > 0.
	Offset, Size int64
}

// Params are the udmabuf driver's limits, its module parameters in
// /sys/module/udmabuf/parameters. As root, change them at run time
// (echo N > /sys/module/udmabuf/parameters/size_limit_mb) or at boot
// (udmabuf.size_limit_mb=N on the kernel command line, the driver being
// built in).
type Params struct {
	// SizeLimit is the largest buffer in bytes (size_limit_mb MiB; 64 MiB
	// by default).
	SizeLimit int64
	// ListLimit is the most ranges one CreateList accepts (list_limit;
	// 1024 by default).
	ListLimit int
}

// ParamsDir is where the udmabuf driver's parameters are.
const ParamsDir = "/sys/module/udmabuf/parameters"

// Available returns nil if this process can create udmabufs: the kernel
// has udmabuf and DevicePath opens for reading and writing. Otherwise its
// error says why: a missing device wraps both [ErrNotSupported] and
// os.ErrNotExist, a device the user may not open wraps os.ErrPermission.
func Available() error {
	return sysAvailable()
}

// Limits reads the driver's limits. Without udmabuf the error wraps
// [ErrNotSupported] and os.ErrNotExist.
func Limits() (Params, error) {
	return sysLimits()
}

// Buffer is a udmabuf: a dma-buf over the pages of a memfd. Devices reach
// the memory through the dma-buf ([Buffer.DMABuf], [Buffer.FD]), the CPU
// through its mapping ([Buffer.Map]) or through the memfd ([Buffer.Memfd],
// [Buffer.ReadAt], [Buffer.WriteAt]), which sees the same pages.
//
// The Buffer owns the dma-buf, the memfd it made and its duplicates of
// callers' memfds; [Buffer.Close] closes them all. It is safe for
// concurrent use.
type Buffer struct {
	dma   *dmabuf.Buffer
	memfd *os.File   // the library's memfd, nil if every range had a File
	files []*os.File // every file the Buffer owns (memfd and duplicates)
	segs  []segment
	size  int64
	huge  bool

	closeMu sync.Mutex
	closed  bool
}

// segment maps bytes [bufOff, bufOff+size) of the dma-buf to file at
// fileOff.
type segment struct {
	file            *os.File
	bufOff, fileOff int64
	size            int64
}

// Create makes a udmabuf of size bytes over a new memfd (memfd_create with
// MFD_ALLOW_SEALING, sealed with F_SEAL_SHRINK, then UDMABUF_CREATE). size
// must be a positive multiple of the page size (of the huge page size with
// Options.HugePages) and within the driver's size_limit_mb ([Limits]);
// these are checked before any system call, and the errors match
// os.ErrInvalid and say how to fix them. The caller must Close the Buffer.
//
// Requires Linux 4.20 or later built with CONFIG_UDMABUF=y and access to
// DevicePath (see [Available] for the errors); huge pages need a kernel
// whose udmabuf accepts hugetlbfs memfds, such as 6.12.
func Create(size int64, opts *Options) (*Buffer, error) {
	if opts == nil {
		opts = &Options{}
	}
	if size <= 0 {
		return nil, fmt.Errorf("udmabuf: size %d: a buffer needs a positive size: %w", size, os.ErrInvalid)
	}
	return create([]Range{{Offset: 0, Size: size}}, opts, true)
}

// CreateList makes one udmabuf from several ranges (UDMABUF_CREATE_LIST),
// laid out one after the other in the order given. Ranges with a nil File
// come from a memfd CreateList makes; the same bytes may appear in more
// than one range (for example, to map a ring twice). The checks of
// [Create] apply to every range and to the total, len(ranges) must be
// within the driver's list_limit, and a caller's File must be a memfd as
// [Range] says; an error of these checks matches os.ErrInvalid. The caller
// must Close the Buffer.
func CreateList(ranges []Range, opts *Options) (*Buffer, error) {
	if opts == nil {
		opts = &Options{}
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("udmabuf: CreateList needs at least one range: %w", os.ErrInvalid)
	}
	return create(ranges, opts, false)
}

// DMABuf returns the dma-buf, which the Buffer owns: do not close it
// separately.
func (b *Buffer) DMABuf() *dmabuf.Buffer {
	if b == nil {
		return nil
	}
	return b.dma
}

// Memfd returns the memfd the Buffer made, or nil if every range of a
// CreateList came from the caller. The Buffer owns it: do not close it.
// Reads and writes through it see the dma-buf's pages (the pages are
// pinned; the memfd cannot shrink).
func (b *Buffer) Memfd() *os.File {
	if b == nil {
		return nil
	}
	return b.memfd
}

// FD returns the dma-buf descriptor number, or -1 after Close; see
// dmabuf.Buffer.FD.
func (b *Buffer) FD() int {
	if b == nil {
		return -1
	}
	return b.dma.FD()
}

// Size returns the size of the dma-buf in bytes.
func (b *Buffer) Size() int64 {
	if b == nil {
		return 0
	}
	return b.size
}

// Map maps the dma-buf; see dmabuf.Buffer.Map. The mapping is unmapped by
// Close.
func (b *Buffer) Map() (*dmabuf.Mapping, error) {
	if b == nil {
		return nil, errClosed
	}
	return b.dma.Map()
}

// SyscallConn returns a raw connection to the dma-buf descriptor; see
// dmabuf.Buffer.SyscallConn.
func (b *Buffer) SyscallConn() (syscall.RawConn, error) {
	if b == nil {
		return nil, errClosed
	}
	return b.dma.SyscallConn()
}

var errClosed = fmt.Errorf("udmabuf: buffer is closed: %w", os.ErrClosed)

var (
	_ io.ReaderAt = (*Buffer)(nil)
	_ io.WriterAt = (*Buffer)(nil)
)

// ReadAt reads len(p) bytes at dma-buf offset off through the memfds
// (pread), not through the dma-buf: it needs no mapping and no CPU-access
// sync on cache-coherent systems (x86, most arm64 servers), which makes it
// handy to check what a device wrote. Like io.ReaderAt it returns io.EOF
// when the range runs past the end.
func (b *Buffer) ReadAt(p []byte, off int64) (int, error) {
	if b == nil {
		return 0, errClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("udmabuf: read at negative offset %d: %w", off, os.ErrInvalid)
	}
	n, err := b.segIO(p, off, false)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// WriteAt writes p at dma-buf offset off through the memfds (pwrite). A
// range past the end writes nothing and returns an error wrapping
// io.ErrShortWrite. Buffers on huge pages cannot be written this way
// (hugetlbfs has no write(2)): use [Buffer.Map].
func (b *Buffer) WriteAt(p []byte, off int64) (int, error) {
	if b == nil {
		return 0, errClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("udmabuf: write at negative offset %d: %w", off, os.ErrInvalid)
	}
	if off > b.size || int64(len(p)) > b.size-off {
		return 0, fmt.Errorf("udmabuf: write of %d bytes at offset %d does not fit the %d-byte buffer: %w", len(p), off, b.size, io.ErrShortWrite)
	}
	if b.huge {
		return 0, fmt.Errorf("udmabuf: hugetlbfs memfds cannot be written with write(2): write through Map instead: %w", ErrNotSupported)
	}
	return b.segIO(p, off, true)
}

// segIO copies between p and the segments from dma-buf offset off on,
// until p or the buffer ends.
func (b *Buffer) segIO(p []byte, off int64, write bool) (int, error) {
	done := 0
	for _, s := range b.segs {
		if done == len(p) {
			break
		}
		end := s.bufOff + s.size
		if off >= end {
			continue
		}
		chunk := p[done:]
		if rest := end - off; int64(len(chunk)) > rest {
			chunk = chunk[:rest]
		}
		fo := s.fileOff + (off - s.bufOff)
		var n int
		var err error
		if write {
			n, err = s.file.WriteAt(chunk, fo)
		} else {
			n, err = s.file.ReadAt(chunk, fo)
		}
		done += n
		off += int64(n)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return done, errClosed
			}
			return done, fmt.Errorf("udmabuf: %w", err)
		}
	}
	return done, nil
}

// Close closes the dma-buf (unmapping its mappings), the memfd and the
// duplicates of callers' memfds. The memory is freed once devices that
// still use the dma-buf (a NIC binding) let go. Closing a closed or nil
// Buffer returns nil.
func (b *Buffer) Close() error {
	if b == nil {
		return nil
	}
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	errs := []error{b.dma.Close()}
	for _, f := range b.files {
		if err := f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, fmt.Errorf("udmabuf: %w", err))
		}
	}
	return errors.Join(errs...)
}
