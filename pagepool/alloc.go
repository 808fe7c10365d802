package pagepool

import (
	"fmt"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
)

// Segment is one contiguous, page-aligned range of a dma-buf that an
// [Allocator] manages: one entry of the dma-buf's scatterlist as the
// application sees it.
type Segment struct {
	// Buf names the dma-buf: any id the caller chooses (an index into its
	// own table of buffers, a binding id). Regions carry it back.
	Buf uint32
	// Offset is the segment's first byte in the dma-buf. It must be a
	// multiple of the page size.
	Offset uint64
	// Len is the segment's length in bytes: a non-zero multiple of the page
	// size.
	Len uint64
}

// Region is a range the [Allocator] handed out: Len bytes at Offset in the
// dma-buf Buf, inside segment number Seg of the allocator. Len is the request
// rounded up to a whole number of pages.
//
// A Region is a small value: copy it freely, and give exactly one copy back
// to [Allocator.Free]. It also carries a hidden generation that lets Free tell
// a double free from a valid one, so build regions only with the allocator.
type Region struct {
	Buf    uint32 // the segment's Segment.Buf
	Seg    uint32 // index of the segment in the list given to NewAllocator
	Offset uint64 // first byte in the dma-buf
	Len    uint64 // bytes, a multiple of the page size

	alloc uint32 // the allocator's id
	gen   uint32 // the allocation's generation
}

// End returns Offset+Len.
func (r Region) End() uint64 { return r.Offset + r.Len }

// String returns "buf B [offset,+len)".
func (r Region) String() string {
	return fmt.Sprintf("buf %d [%#x,+%#x)", r.Buf, r.Offset, r.Len)
}

// AllocatorOptions configures [NewAllocator]. The zero value and nil are the
// defaults.
type AllocatorOptions struct {
	// PageSize is the allocation granule, a power of two: every region
	// starts on a page boundary and is a whole number of pages. The default
	// is the system page size (os.Getpagesize). Use a larger value when the
	// regions must match a larger device page (for example an RX binding
	// with a 16 KiB page size on kernels that support it).
	PageSize uint64
}

// AllocatorStats is a snapshot of an [Allocator]'s occupancy and counters.
// Byte counts are multiples of PageSize.
type AllocatorStats struct {
	PageSize uint64 // allocation granule, bytes
	Capacity uint64 // bytes managed, the sum of the segments' lengths
	InUse    uint64 // bytes handed out and not freed
	Free     uint64 // Capacity - InUse
	Regions  uint64 // regions handed out and not freed

	FreeExtents uint64 // maximal free ranges (free ranges never span segments)
	LargestFree uint64 // bytes in the largest free range: the largest Alloc that can succeed without alignment
	// Fragmentation is 1 - LargestFree/Free: 0 when all free space is one
	// range (or none is free), close to 1 when it is scattered in small
	// pieces.
	Fragmentation float64

	Allocs   uint64 // regions handed out (Alloc, and each region of AllocScatter)
	Frees    uint64 // successful Free calls
	Failures uint64 // Alloc/AllocScatter calls that failed with ErrNoSpace
	BadFrees uint64 // Free calls rejected (double free, foreign, out of range)
}

// Two-level segregated fit (TLSF) over page counts: free extents are kept in
// lists by size class, found through two bitmaps in O(1); boundary tags in
// per-page arrays make coalescing O(1). Nothing is allocated after
// NewAllocator.
const (
	sli      = 4        // log2 of the number of second-level classes
	slCount  = 1 << sli // second-level classes per first-level class
	flCount  = 29       // first-level classes: page counts below 2^32
	freeBit  = 1 << 31  // in head[]: the extent is free
	maxPages = freeBit - 1
	// scanLimit bounds the fallback search for an aligned fit when the
	// O(1) search found nothing.
	scanLimit = 64
)

// mapping returns the class of an extent of n pages (n > 0).
func mapping(n uint64) (fl, sl int) {
	if n < slCount {
		return 0, int(n)
	}
	m := bits.Len64(n) - 1
	return m - sli + 1, int(n>>(m-sli)) - slCount
}

// mappingSearch returns the first class whose every extent has at least n
// pages, and false if there is none.
func mappingSearch(n uint64) (fl, sl int, ok bool) {
	if n >= slCount {
		n += 1<<(bits.Len64(n)-1-sli) - 1
	}
	if n > maxPages {
		return 0, 0, false
	}
	fl, sl = mapping(n)
	return fl, sl, true
}

var allocatorIDs atomic.Uint32

// Allocator hands out page-aligned regions of one or more dma-bufs, given as
// a list of [Segment]s, and takes them back.
//
// Every operation is O(1) but for the segment lookup, O(log segments), and
// allocates nothing; an aligned request that the O(1) search cannot place
// scans at most a few dozen free ranges before it fails. Free ranges are
// coalesced at once, so [AllocatorStats].FreeExtents is exact.
//
// An Allocator is safe for concurrent use. It does not own the dma-bufs:
// it only does the arithmetic of which ranges are in use.
type Allocator struct {
	mu sync.Mutex

	id        uint32
	pageShift uint
	pageSize  uint64
	segs      []segInfo

	// Per page, indexed by global page number. Page 0, the page after each
	// segment and the last page are guards: permanently in use, so extents
	// never merge across segments and index 0 can mean "none".
	head []uint32 // at an extent's first page: its length, |freeBit if free; 0 elsewhere
	foot []uint32 // at a free extent's last page: its first page
	next []uint32 // free list links at a free extent's first page
	prev []uint32
	gen  []uint32 // at an allocated extent's first page: its generation

	flMap  uint32
	slMap  [flCount]uint32
	lists  [flCount][slCount]uint32 // first extent of each class, 0 if empty
	lastGn uint32

	capacity    uint64 // pages
	inUse       uint64 // pages
	regions     uint64
	freeExtents uint64
	allocs      uint64
	frees       uint64
	failures    uint64
	badFrees    uint64
}

type segInfo struct {
	Segment
	base  uint32 // global number of the segment's first page
	pages uint32
}

// NewAllocator returns an allocator over segs. Segments must be non-empty,
// page-aligned, and must not overlap within the same Buf; their order is kept
// (Region.Seg indexes it). opts may be nil.
//
// The allocator keeps 20 bytes of bookkeeping per page, allocated here.
func NewAllocator(segs []Segment, opts *AllocatorOptions) (*Allocator, error) {
	ps := uint64(os.Getpagesize())
	if opts != nil && opts.PageSize != 0 {
		ps = opts.PageSize
	}
	if ps&(ps-1) != 0 {
		return nil, fmt.Errorf("%w: page size %d is not a power of two", ErrSegment, ps)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: no segments", ErrSegment)
	}
	a := &Allocator{
		id:        allocatorIDs.Add(1),
		pageShift: uint(bits.TrailingZeros64(ps)),
		pageSize:  ps,
		segs:      make([]segInfo, len(segs)),
	}
	total := uint64(1) // guard page 0
	for i, s := range segs {
		if s.Len == 0 || s.Offset%ps != 0 || s.Len%ps != 0 || s.Offset+s.Len < s.Offset {
			return nil, fmt.Errorf("%w: segment %d (buf %d [%#x,+%#x)) must be a non-empty multiple of the %d-byte page size", ErrSegment, i, s.Buf, s.Offset, s.Len, ps)
		}
		for j := range i {
			o := segs[j]
			if o.Buf == s.Buf && s.Offset < o.Offset+o.Len && o.Offset < s.Offset+s.Len {
				return nil, fmt.Errorf("%w: segment %d overlaps segment %d in buf %d", ErrSegment, i, j, s.Buf)
			}
		}
		n := s.Len >> a.pageShift
		if n > maxPages || total+n+1 > maxPages {
			return nil, fmt.Errorf("%w: more than %d pages", ErrSegment, uint64(maxPages))
		}
		a.segs[i] = segInfo{Segment: s, base: uint32(total), pages: uint32(n)}
		total += n + 1 // the segment and its guard
		a.capacity += n
	}
	a.head = make([]uint32, total)
	a.foot = make([]uint32, total)
	a.next = make([]uint32, total)
	a.prev = make([]uint32, total)
	a.gen = make([]uint32, total)
	a.head[0] = 1
	for _, s := range a.segs {
		a.head[s.base+s.pages] = 1 // guard after the segment
		a.insert(s.base, s.pages)
	}
	return a, nil
}

// PageSize returns the allocation granule in bytes.
func (a *Allocator) PageSize() uint64 { return a.pageSize }

// insert makes [p, p+n) one free extent and links it into its class.
func (a *Allocator) insert(p, n uint32) {
	a.head[p] = n | freeBit
	a.foot[p+n-1] = p
	fl, sl := mapping(uint64(n))
	h := a.lists[fl][sl]
	a.next[p], a.prev[p] = h, 0
	if h != 0 {
		a.prev[h] = p
	}
	a.lists[fl][sl] = p
	a.flMap |= 1 << fl
	a.slMap[fl] |= 1 << sl
	a.freeExtents++
}

// remove unlinks the free extent at p; the caller rewrites head[p].
func (a *Allocator) remove(p uint32) {
	n := a.head[p] &^ freeBit
	fl, sl := mapping(uint64(n))
	nx, pv := a.next[p], a.prev[p]
	if pv != 0 {
		a.next[pv] = nx
	} else {
		a.lists[fl][sl] = nx
		if nx == 0 {
			a.slMap[fl] &^= 1 << sl
			if a.slMap[fl] == 0 {
				a.flMap &^= 1 << fl
			}
		}
	}
	if nx != 0 {
		a.prev[nx] = pv
	}
	a.freeExtents--
}

// findSuitable returns a free extent of class (fl, sl) or above, or 0.
func (a *Allocator) findSuitable(fl, sl int) uint32 {
	bm := a.slMap[fl] & (^uint32(0) << sl)
	if bm == 0 {
		fm := a.flMap & (^uint32(0) << (fl + 1))
		if fm == 0 {
			return 0
		}
		fl = bits.TrailingZeros32(fm)
		bm = a.slMap[fl]
	}
	return a.lists[fl][bits.TrailingZeros32(bm)]
}

// segOf returns the index of the segment that holds global page p.
func (a *Allocator) segOf(p uint32) int {
	lo, hi := 0, len(a.segs)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if a.segs[m].base <= p {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// alignedStart returns the first page at or after p whose dma-buf offset is
// a multiple of align bytes (align a power of two above the page size).
func (a *Allocator) alignedStart(p uint32, align uint64) uint64 {
	s := &a.segs[a.segOf(p)]
	off := s.Offset + uint64(p-s.base)<<a.pageShift
	aligned := (off + align - 1) &^ (align - 1)
	return uint64(p) + (aligned-off)>>a.pageShift
}

// fits reports where n pages aligned to align fit in the free extent at p.
func (a *Allocator) fits(p uint32, n uint64, align uint64) (uint32, bool) {
	l := uint64(a.head[p] &^ freeBit)
	q := uint64(p)
	if align > a.pageSize {
		q = a.alignedStart(p, align)
	}
	if q+n > uint64(p)+l {
		return 0, false
	}
	return uint32(q), true
}

// take allocates n pages aligned to align bytes, and returns the first page,
// or 0.
func (a *Allocator) take(n uint64, align uint64) uint32 {
	need := n
	if align > a.pageSize {
		need += align>>a.pageShift - 1
	}
	if fl, sl, ok := mappingSearch(need); ok {
		if p := a.findSuitable(fl, sl); p != 0 {
			if q, ok := a.fits(p, n, align); ok {
				a.carve(p, q, uint32(n))
				return q
			}
		}
	}
	// Fallback: extents of n's own class and up are not all large enough
	// (or alignment may cost less than the worst case); look at a few.
	if n > maxPages {
		return 0
	}
	fl, sl := mapping(n)
	budget := scanLimit
	for budget > 0 {
		bm := a.slMap[fl] & (^uint32(0) << sl)
		for bm != 0 && budget > 0 {
			c := bits.TrailingZeros32(bm)
			bm &^= 1 << c
			for p := a.lists[fl][c]; p != 0 && budget > 0; p = a.next[p] {
				budget--
				if q, ok := a.fits(p, n, align); ok {
					a.carve(p, q, uint32(n))
					return q
				}
			}
		}
		fm := a.flMap & (^uint32(0) << (fl + 1))
		if fm == 0 {
			break
		}
		fl, sl = bits.TrailingZeros32(fm), 0
	}
	return 0
}

// carve allocates [q, q+n) out of the free extent at p, giving the head and
// tail back to the free lists.
func (a *Allocator) carve(p, q, n uint32) {
	l := a.head[p] &^ freeBit
	a.remove(p)
	a.head[p] = 0
	if q > p {
		a.insert(p, q-p)
	}
	a.head[q] = n
	a.lastGn++
	if a.lastGn == 0 {
		a.lastGn = 1
	}
	a.gen[q] = a.lastGn
	if end, tail := q+n, p+l; end < tail {
		a.insert(end, tail-end)
	}
	a.inUse += uint64(n)
	a.regions++
	a.allocs++
}

// region describes the allocated extent at global page q.
func (a *Allocator) region(q uint32) Region {
	i := a.segOf(q)
	s := &a.segs[i]
	return Region{
		Buf:    s.Buf,
		Seg:    uint32(i),
		Offset: s.Offset + uint64(q-s.base)<<a.pageShift,
		Len:    uint64(a.head[q]) << a.pageShift,
		alloc:  a.id,
		gen:    a.gen[q],
	}
}

// pages converts a byte size to pages, rounding up, or reports that it can
// never be satisfied.
func (a *Allocator) pages(size uint64) (uint64, error) {
	if size == 0 {
		return 0, ErrZeroSize
	}
	n := size>>a.pageShift + min(size&(a.pageSize-1), 1)
	if n > a.capacity {
		return 0, fmt.Errorf("%w: %d bytes requested, the allocator has %d", ErrOutOfRange, size, a.capacity<<a.pageShift)
	}
	return n, nil
}

// Alloc hands out one contiguous region of at least size bytes (rounded up
// to whole pages) whose dma-buf offset is a multiple of align. align 0 means
// the page size; an align below the page size is raised to it; it must be a
// power of two.
//
// Errors: [ErrZeroSize]; [ErrAlignment]; [ErrOutOfRange] if size exceeds
// the allocator's capacity; [ErrNoSpace] if no free range fits now
// ([Allocator.AllocScatter] may still succeed).
func (a *Allocator) Alloc(size, align uint64) (Region, error) {
	if align&(align-1) != 0 {
		return Region{}, fmt.Errorf("%w: %d", ErrAlignment, align)
	}
	align = max(align, a.pageSize)
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.pages(size)
	if err != nil {
		return Region{}, err
	}
	q := a.take(n, align)
	if q == 0 {
		a.failures++
		return Region{}, fmt.Errorf("%w: no free range of %d bytes aligned to %d (%d bytes free)", ErrNoSpace, n<<a.pageShift, align, (a.capacity-a.inUse)<<a.pageShift)
	}
	return a.region(q), nil
}

// AllocScatter hands out at least size bytes (rounded up to whole pages) as
// a scatterlist: one region if a free range is large enough, otherwise
// several, taken from the largest free ranges first, at most maxSegs of them
// (0: no limit). The regions are appended to dst, which is returned; with
// enough capacity in dst nothing is allocated. Each region must be freed
// with [Allocator.Free].
//
// On failure nothing is allocated and dst is returned unchanged, with
// [ErrZeroSize], [ErrOutOfRange] (size exceeds the capacity, or maxSegs < 0),
// or [ErrNoSpace] (not enough free space, or it would take more than maxSegs
// regions).
func (a *Allocator) AllocScatter(dst []Region, size uint64, maxSegs int) ([]Region, error) {
	if maxSegs < 0 {
		return dst, fmt.Errorf("%w: maxSegs %d", ErrOutOfRange, maxSegs)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.pages(size)
	if err != nil {
		return dst, err
	}
	if n > a.capacity-a.inUse {
		a.failures++
		return dst, fmt.Errorf("%w: %d bytes requested, %d free", ErrNoSpace, n<<a.pageShift, (a.capacity-a.inUse)<<a.pageShift)
	}
	if q := a.take(n, a.pageSize); q != 0 {
		return append(dst, a.region(q)), nil
	}
	orig := len(dst)
	for n > 0 {
		if maxSegs > 0 && len(dst)-orig == maxSegs {
			for _, r := range dst[orig:] {
				a.release(a.pageOf(r))
			}
			a.allocs -= uint64(len(dst) - orig)
			a.frees -= uint64(len(dst) - orig)
			a.failures++
			return dst[:orig], fmt.Errorf("%w: %d bytes would take more than %d regions (largest free range is %d bytes)", ErrNoSpace, size, maxSegs, a.largestFree()<<a.pageShift)
		}
		fl := 31 - bits.LeadingZeros32(a.flMap)
		sl := 31 - bits.LeadingZeros32(a.slMap[fl])
		p := a.lists[fl][sl]
		m := min(uint64(a.head[p]&^freeBit), n)
		a.carve(p, p, uint32(m))
		dst = append(dst, a.region(p))
		n -= m
	}
	return dst, nil
}

// Free gives a region back. Errors, which leave the allocator unchanged:
// [ErrDoubleFree] if the region was freed already; [ErrForeignRegion] if it
// comes from another allocator or was modified; [ErrOutOfRange] if it lies
// outside its segment or is not page-aligned.
func (a *Allocator) Free(r Region) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, err := a.check(r)
	if err != nil {
		a.badFrees++
		return err
	}
	a.release(p)
	return nil
}

// Check reports whether r is a region the allocator handed out and has not
// freed since, without changing anything: it returns the error Free would
// ([ErrDoubleFree], [ErrForeignRegion], [ErrOutOfRange]), or nil. Use it to
// validate a region before handing it to code that will free it later. The
// answer can change as soon as Check returns if another goroutine frees r.
func (a *Allocator) Check(r Region) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err := a.check(r)
	return err
}

// check validates r and returns its first global page.
func (a *Allocator) check(r Region) (uint32, error) {
	if r.alloc != a.id || int(r.Seg) >= len(a.segs) || a.segs[r.Seg].Buf != r.Buf {
		return 0, fmt.Errorf("%w: %v", ErrForeignRegion, r)
	}
	s := &a.segs[r.Seg]
	segLen := uint64(s.pages) << a.pageShift
	if r.Offset < s.Offset || r.Offset-s.Offset >= segLen || r.Len == 0 || r.Len > segLen-(r.Offset-s.Offset) ||
		r.Offset%a.pageSize != 0 || r.Len%a.pageSize != 0 {
		return 0, fmt.Errorf("%w: %v is not page-aligned inside segment %d (buf %d [%#x,+%#x))", ErrOutOfRange, r, r.Seg, s.Buf, s.Offset, segLen)
	}
	p := a.pageOf(r)
	h := a.head[p]
	if h == 0 || h&freeBit != 0 || a.gen[p] != r.gen {
		return 0, fmt.Errorf("%w: %v", ErrDoubleFree, r)
	}
	if uint64(h) != r.Len>>a.pageShift {
		return 0, fmt.Errorf("%w: %v was handed out with length %#x", ErrForeignRegion, r, uint64(h)<<a.pageShift)
	}
	return p, nil
}

// pageOf returns the global page number of a region's first page; r must
// lie inside its segment.
func (a *Allocator) pageOf(r Region) uint32 {
	s := &a.segs[r.Seg]
	return s.base + uint32((r.Offset-s.Offset)>>a.pageShift)
}

// release frees the allocated extent at global page p and coalesces it with
// its free neighbours.
func (a *Allocator) release(p uint32) {
	n := a.head[p]
	a.inUse -= uint64(n)
	a.regions--
	a.frees++
	a.head[p] = 0
	if q := p + n; a.head[q]&freeBit != 0 {
		n += a.head[q] &^ freeBit
		a.remove(q)
		a.head[q] = 0
	}
	if l := a.foot[p-1]; a.head[l]&freeBit != 0 && l+a.head[l]&^freeBit == p {
		n += a.head[l] &^ freeBit
		a.remove(l)
		p = l
	}
	a.insert(p, n)
}

// largestFree returns the length in pages of the largest free extent.
func (a *Allocator) largestFree() uint64 {
	if a.flMap == 0 {
		return 0
	}
	fl := 31 - bits.LeadingZeros32(a.flMap)
	sl := 31 - bits.LeadingZeros32(a.slMap[fl])
	var m uint32
	for p := a.lists[fl][sl]; p != 0; p = a.next[p] {
		m = max(m, a.head[p]&^freeBit)
	}
	return uint64(m)
}

// Stats returns a snapshot of the allocator's occupancy and counters. It
// costs O(free ranges in the largest size class).
func (a *Allocator) Stats() AllocatorStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AllocatorStats{
		PageSize:    a.pageSize,
		Capacity:    a.capacity << a.pageShift,
		InUse:       a.inUse << a.pageShift,
		Free:        (a.capacity - a.inUse) << a.pageShift,
		Regions:     a.regions,
		FreeExtents: a.freeExtents,
		LargestFree: a.largestFree() << a.pageShift,
		Allocs:      a.allocs,
		Frees:       a.frees,
		Failures:    a.failures,
		BadFrees:    a.badFrees,
	}
	if st.Free > 0 {
		st.Fragmentation = 1 - float64(st.LargestFree)/float64(st.Free)
	}
	return st
}
