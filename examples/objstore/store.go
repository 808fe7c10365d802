//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/devmem-go/devmem/udmabuf"
	"golang.org/x/sys/unix"
)

// segmentSize is the largest piece of the store: udmabuf's default
// size_limit_mb is 64.
const segmentSize = 64 << 20

// store keeps objects in one or more dma-bufs (udmabufs where the kernel has
// /dev/udmabuf, standing in for device memory; memfds otherwise). A
// pagepool.Allocator hands out their pages, and the index maps each key
// to the regions that hold its bytes, in order. Objects are reference
// counted: a GET in progress keeps an overwritten or deleted object's
// pages until it ends. A store is safe for concurrent use.
type store struct {
	kind  string // "udmabuf" or "memfd"
	alloc *pagepool.Allocator
	segs  []*segment

	mu    sync.RWMutex
	index map[string]*object

	puts, gets, dels, badSums, noSpace atomic.Uint64
}

// segment is one dma-buf (or memfd) of the store and its mapping.
type segment struct {
	mem   []byte
	m     *dmabuf.Mapping // keeps mem mapped (a udmabuf's)
	dbuf  *dmabuf.Buffer  // nil for a memfd
	close func() error
}

// object is one stored object.
type object struct {
	key     string
	size    uint64
	crc     uint32
	regions []pagepool.Region
	refs    atomic.Int32
	st      *store
}

// newStore makes a store of size bytes (rounded up to pages), in segments
// of at most segmentSize.
func newStore(size int64) (*store, error) {
	page := int64(os.Getpagesize())
	size = (size + page - 1) / page * page
	if size <= 0 {
		return nil, fmt.Errorf("store size %d", size)
	}
	s := &store{index: make(map[string]*object)}
	var specs []pagepool.Segment
	for off := int64(0); off < size; off += segmentSize {
		n := min(segmentSize, size-off)
		seg, kind, err := newSegment(n)
		if err != nil {
			s.close()
			return nil, err
		}
		if s.kind == "" {
			s.kind = kind
		}
		specs = append(specs, pagepool.Segment{Buf: uint32(len(s.segs)), Offset: 0, Len: uint64(n)})
		s.segs = append(s.segs, seg)
	}
	a, err := pagepool.NewAllocator(specs, nil)
	if err != nil {
		s.close()
		return nil, err
	}
	s.alloc = a
	return s, nil
}

// newSegment makes a udmabuf, or a memfd where there is no /dev/udmabuf
// (or it may not be opened), and maps it.
func newSegment(n int64) (*segment, string, error) {
	if ub, err := udmabuf.Create(n, nil); err == nil {
		m, err := ub.Map()
		if err != nil {
			ub.Close()
			return nil, "", err
		}
		return &segment{mem: m.Bytes(), m: m, dbuf: ub.DMABuf(), close: ub.Close}, "udmabuf", nil
	}
	fd, err := unix.MemfdCreate("objstore", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, "", os.NewSyscallError("memfd_create", err)
	}
	if err := unix.Ftruncate(fd, n); err != nil {
		unix.Close(fd)
		return nil, "", os.NewSyscallError("ftruncate", err)
	}
	mem, err := unix.Mmap(fd, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	unix.Close(fd)
	if err != nil {
		return nil, "", os.NewSyscallError("mmap", err)
	}
	return &segment{mem: mem, close: func() error { return unix.Munmap(mem) }}, "memfd", nil
}

// access runs fn inside a CPU-access window on the segment (a dma-buf
// sync; nothing for a memfd).
func (g *segment) access(a dmabuf.Access, fn func() error) error {
	if g.dbuf == nil {
		return fn()
	}
	return g.dbuf.Sync(a, fn)
}

func (s *store) close() error {
	var err error
	for _, g := range s.segs {
		err = errors.Join(err, g.close())
	}
	s.segs = nil
	return err
}

// errNoSpace is returned when the store cannot hold an object now.
var errNoSpace = errors.New("objstore: the store is full")

// allocate reserves room for an object of size bytes, not yet in the index.
func (s *store) allocate(key string, size uint64, crc uint32) (*object, error) {
	o := &object{key: key, size: size, crc: crc, st: s}
	o.refs.Store(1)
	if size == 0 {
		return o, nil
	}
	rs, err := s.alloc.AllocScatter(nil, size, 0)
	if errors.Is(err, pagepool.ErrNoSpace) || errors.Is(err, pagepool.ErrOutOfRange) {
		s.noSpace.Add(1)
		return nil, fmt.Errorf("%w (%d bytes): %w", errNoSpace, size, err)
	}
	if err != nil {
		return nil, err
	}
	o.regions = rs
	return o, nil
}

// commit puts o in the index, replacing (and unreferencing) an older
// object of its key.
func (s *store) commit(o *object) {
	s.mu.Lock()
	old := s.index[o.key]
	s.index[o.key] = o
	s.mu.Unlock()
	s.puts.Add(1)
	if old != nil {
		old.unref()
	}
}

// get returns the object of key with a reference the caller must drop
// with unref, or nil.
func (s *store) get(key string) *object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.index[key]
	if o != nil {
		o.refs.Add(1)
		s.gets.Add(1)
	}
	return o
}

// del removes key; it reports whether it was there.
func (s *store) del(key string) bool {
	s.mu.Lock()
	o := s.index[key]
	delete(s.index, key)
	s.mu.Unlock()
	if o == nil {
		return false
	}
	s.dels.Add(1)
	o.unref()
	return true
}

func (s *store) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.index)
}

// unref drops a reference; the last one frees the object's pages.
func (o *object) unref() {
	if o.refs.Add(-1) == 0 {
		for _, r := range o.regions {
			_ = o.st.alloc.Free(r)
		}
		o.regions = nil
	}
}

// objWriter fills an object's regions in order.
type objWriter struct {
	o   *object
	i   int    // region
	off uint64 // in the region
	n   uint64 // bytes written
}

// write copies b into the object, inside the segments' write windows.
func (w *objWriter) write(b []byte) error {
	for len(b) > 0 {
		if w.i >= len(w.o.regions) || w.n+uint64(len(b)) > w.o.size {
			return fmt.Errorf("objstore: %d bytes past the %d-byte object", w.n+uint64(len(b))-w.o.size, w.o.size)
		}
		r := w.o.regions[w.i]
		g := w.o.st.segs[r.Buf]
		k := min(uint64(len(b)), r.Len-w.off)
		dst := g.mem[r.Offset+w.off : r.Offset+w.off+k]
		if err := g.access(dmabuf.Write, func() error { copy(dst, b[:k]); return nil }); err != nil {
			return err
		}
		b = b[k:]
		w.off += k
		w.n += k
		if w.off == r.Len {
			w.i, w.off = w.i+1, 0
		}
	}
	return nil
}

// chunks calls fn with the object's bytes from off on, in pieces of at
// most max bytes, inside the segments' read windows.
func (o *object) chunks(off, n uint64, max int, fn func([]byte) error) error {
	end := off + n
	pos := uint64(0)
	for _, r := range o.regions {
		if pos >= end {
			break
		}
		rlen := min(r.Len, o.size-pos)
		if pos+rlen <= off {
			pos += rlen
			continue
		}
		g := o.st.segs[r.Buf]
		from := max64(off, pos) - pos
		to := min(rlen, end-pos)
		for from < to {
			k := min(to-from, uint64(max))
			src := g.mem[r.Offset+from : r.Offset+from+k]
			if err := g.access(dmabuf.Read, func() error { return fn(src) }); err != nil {
				return err
			}
			from += k
		}
		pos += rlen
	}
	return nil
}

func max64(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
