package pagepool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const kib = 1024

// verify checks the allocator's internal invariants: extents tile the page
// space, free extents are coalesced, linked in the right class, and the
// bitmaps and counters agree.
func (a *Allocator) verify() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var free, inUse, regions, freeExt uint64
	prevFree := false
	for p := uint32(0); p < uint32(len(a.head)); {
		h := a.head[p]
		n := h &^ freeBit
		if n == 0 {
			return fmt.Errorf("page %d: extent of length 0", p)
		}
		if p+n > uint32(len(a.head)) {
			return fmt.Errorf("page %d: extent of %d pages runs past the end", p, n)
		}
		for q := p + 1; q < p+n; q++ {
			if a.head[q] != 0 {
				return fmt.Errorf("page %d: interior page %d has head %#x", p, q, a.head[q])
			}
		}
		isFree := h&freeBit != 0
		if isFree {
			if prevFree {
				return fmt.Errorf("page %d: free extent follows a free extent (not coalesced)", p)
			}
			if a.foot[p+n-1] != p {
				return fmt.Errorf("page %d: foot %d", p, a.foot[p+n-1])
			}
			free += uint64(n)
			freeExt++
		} else if i := a.segOf(p); p >= a.segs[i].base && p < a.segs[i].base+a.segs[i].pages {
			inUse += uint64(n)
			regions++
		} else if n != 1 {
			return fmt.Errorf("page %d: guard of length %d", p, n)
		}
		prevFree = isFree
		p += n
	}
	var listed uint64
	for fl := range flCount {
		if (a.flMap>>fl)&1 != min(a.slMap[fl], 1) {
			return fmt.Errorf("fl %d: flMap bit disagrees with slMap %#x", fl, a.slMap[fl])
		}
		for sl := range slCount {
			if (a.slMap[fl]>>sl)&1 == 1 != (a.lists[fl][sl] != 0) {
				return fmt.Errorf("class %d/%d: bitmap disagrees with list", fl, sl)
			}
			prev := uint32(0)
			for p := a.lists[fl][sl]; p != 0; p = a.next[p] {
				if a.head[p]&freeBit == 0 {
					return fmt.Errorf("class %d/%d: page %d listed but not free", fl, sl, p)
				}
				if f, s := mapping(uint64(a.head[p] &^ freeBit)); f != fl || s != sl {
					return fmt.Errorf("page %d: length %d listed in class %d/%d, belongs in %d/%d", p, a.head[p]&^freeBit, fl, sl, f, s)
				}
				if a.prev[p] != prev {
					return fmt.Errorf("page %d: prev %d, want %d", p, a.prev[p], prev)
				}
				prev = p
				listed++
			}
		}
	}
	switch {
	case listed != freeExt || freeExt != a.freeExtents:
		return fmt.Errorf("free extents: %d in lists, %d by walk, counter %d", listed, freeExt, a.freeExtents)
	case inUse != a.inUse || regions != a.regions:
		return fmt.Errorf("in use: walk %d pages/%d regions, counters %d/%d", inUse, regions, a.inUse, a.regions)
	case free+inUse != a.capacity:
		return fmt.Errorf("free %d + in use %d != capacity %d", free, inUse, a.capacity)
	}
	return nil
}

func mustVerify(t testing.TB, a *Allocator) {
	t.Helper()
	if err := a.verify(); err != nil {
		t.Fatalf("allocator invariants: %v", err)
	}
}

func newTestAllocator(t testing.TB, segs []Segment) *Allocator {
	t.Helper()
	a, err := NewAllocator(segs, &AllocatorOptions{PageSize: 4 * kib})
	if err != nil {
		t.Fatalf("NewAllocator: %v", err)
	}
	mustVerify(t, a)
	return a
}

func TestMapping(t *testing.T) {
	// Every class holds a contiguous range of lengths, classes ascend, and
	// mappingSearch's class holds only lengths >= n.
	prevFL, prevSL := 0, 0
	for n := uint64(1); n < 1<<16; n++ {
		fl, sl := mapping(n)
		if fl < prevFL || (fl == prevFL && sl < prevSL) || fl >= flCount || sl >= slCount {
			t.Fatalf("mapping(%d) = %d/%d after %d/%d", n, fl, sl, prevFL, prevSL)
		}
		prevFL, prevSL = fl, sl
		sfl, ssl, ok := mappingSearch(n)
		if !ok {
			t.Fatalf("mappingSearch(%d) failed", n)
		}
		// The smallest length in class (sfl, ssl) must be >= n.
		for m := n - 1; m > 0 && m+64 > n; m-- {
			if f, s := mapping(m); f == sfl && s == ssl {
				t.Fatalf("mappingSearch(%d) = %d/%d, which holds %d", n, sfl, ssl, m)
			}
		}
	}
	if _, _, ok := mappingSearch(maxPages + 1); ok {
		t.Fatal("mappingSearch(maxPages+1) succeeded")
	}
	if fl, _ := mapping(maxPages); fl >= flCount {
		t.Fatalf("mapping(maxPages) fl %d", fl)
	}
}

func TestNewAllocatorErrors(t *testing.T) {
	tests := []struct {
		name string
		segs []Segment
		ps   uint64
	}{
		{"no segments", nil, 0},
		{"page size not a power of two", []Segment{{Len: 12 * kib}}, 3 * kib},
		{"empty segment", []Segment{{Offset: 0, Len: 0}}, 0},
		{"unaligned offset", []Segment{{Offset: 100, Len: 4 * kib}}, 4 * kib},
		{"unaligned length", []Segment{{Offset: 0, Len: 5 * kib}}, 4 * kib},
		{"overlap", []Segment{{Buf: 1, Offset: 0, Len: 16 * kib}, {Buf: 1, Offset: 12 * kib, Len: 8 * kib}}, 4 * kib},
		{"wraps", []Segment{{Offset: 1<<64 - 4*kib, Len: 8 * kib}}, 4 * kib},
		{"too many pages", []Segment{{Offset: 0, Len: 1 << 62}}, 4 * kib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAllocator(tt.segs, &AllocatorOptions{PageSize: tt.ps})
			if !errors.Is(err, ErrSegment) {
				t.Fatalf("err = %v, want ErrSegment", err)
			}
		})
	}
	// Same range in another buffer is fine.
	newTestAllocator(t, []Segment{{Buf: 1, Len: 16 * kib}, {Buf: 2, Len: 16 * kib}})
}

func TestAllocAlignment(t *testing.T) {
	// A segment that starts at 12 KiB: aligned offsets are absolute
	// dma-buf offsets, not segment-relative.
	a := newTestAllocator(t, []Segment{{Buf: 3, Offset: 12 * kib, Len: 256 * kib}})
	var last Region
	for _, align := range []uint64{0, 1, 512, 4 * kib, 8 * kib, 16 * kib, 64 * kib} {
		r, err := a.Alloc(10*kib, align)
		last = r
		if err != nil {
			t.Fatalf("Alloc(10K, %d): %v", align, err)
		}
		if r.Offset%max(align, 4*kib) != 0 || r.Len != 12*kib || r.Buf != 3 || r.Seg != 0 {
			t.Fatalf("Alloc(10K, %d) = %v", align, r)
		}
		if r.Offset < 12*kib || r.End() > 268*kib {
			t.Fatalf("Alloc(10K, %d) = %v outside the segment", align, r)
		}
		mustVerify(t, a)
	}
	// The last one sits at 128K. With it in place no 128K-aligned 64K range
	// is free; once it is freed the fallback search finds 128K, although
	// no free range covers the worst case (64K + 124K).
	if _, err := a.Alloc(64*kib, 128*kib); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Alloc(64K, 128K) err = %v, want ErrNoSpace", err)
	}
	if err := a.Free(last); err != nil {
		t.Fatal(err)
	}
	r, err := a.Alloc(64*kib, 128*kib)
	if err != nil || r.Offset != 128*kib {
		t.Fatalf("Alloc(64K, 128K) = %v, %v; want offset 128K", r, err)
	}
	if _, err := a.Alloc(4*kib, 3*kib); !errors.Is(err, ErrAlignment) {
		t.Fatalf("Alloc(align 3K) err = %v, want ErrAlignment", err)
	}
	if _, err := a.Alloc(4*kib, 1<<40); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Alloc(align 1T) err = %v, want ErrNoSpace", err)
	}
	mustVerify(t, a)
}

func TestAllocErrors(t *testing.T) {
	segs := []Segment{{Buf: 0, Offset: 0, Len: 64 * kib}, {Buf: 1, Offset: 4 * kib, Len: 32 * kib}}
	a := newTestAllocator(t, segs)
	other := newTestAllocator(t, segs)

	r, err := a.Alloc(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Good fit: the smaller segment.
	if diff := cmp.Diff(Region{Buf: 1, Seg: 1, Offset: 4 * kib, Len: 4 * kib}, r, cmpopts.IgnoreUnexported(Region{})); diff != "" {
		t.Fatalf("Alloc(1) (-want +got):\n%s", diff)
	}
	ro, err := other.Alloc(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	moved := r
	moved.Offset += 4 * kib
	longer := r
	longer.Len += 4 * kib
	unaligned := r
	unaligned.Offset++
	wrongBuf := r
	wrongBuf.Buf = 7
	outside := r
	outside.Offset = 64 * kib
	huge := r
	huge.Len = 1 << 63

	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"zero size", func() error { _, err := a.Alloc(0, 0); return err }, ErrZeroSize},
		{"scatter zero size", func() error { _, err := a.AllocScatter(nil, 0, 0); return err }, ErrZeroSize},
		{"larger than capacity", func() error { _, err := a.Alloc(97*kib, 0); return err }, ErrOutOfRange},
		{"scatter larger than capacity", func() error { _, err := a.AllocScatter(nil, 1<<50, 0); return err }, ErrOutOfRange},
		{"scatter negative maxSegs", func() error { _, err := a.AllocScatter(nil, 4*kib, -1); return err }, ErrOutOfRange},
		{"no contiguous space", func() error { _, err := a.Alloc(68*kib, 0); return err }, ErrNoSpace},
		{"zero region", func() error { return a.Free(Region{}) }, ErrForeignRegion},
		{"other allocator's region", func() error { return a.Free(ro) }, ErrForeignRegion},
		{"wrong buf", func() error { return a.Free(wrongBuf) }, ErrForeignRegion},
		{"wrong length", func() error { return a.Free(longer) }, ErrForeignRegion},
		{"moved region", func() error { return a.Free(moved) }, ErrDoubleFree},
		{"unaligned region", func() error { return a.Free(unaligned) }, ErrOutOfRange},
		{"outside segment", func() error { return a.Free(outside) }, ErrOutOfRange},
		{"huge length", func() error { return a.Free(huge) }, ErrOutOfRange},
		{"check valid", func() error { return a.Check(r) }, nil},
		{"check other allocator's region", func() error { return a.Check(ro) }, ErrForeignRegion},
		{"check moved region", func() error { return a.Check(moved) }, ErrDoubleFree},
		{"check outside segment", func() error { return a.Check(outside) }, ErrOutOfRange},
		{"free", func() error { return a.Free(r) }, nil},
		{"double free", func() error { return a.Free(r) }, ErrDoubleFree},
		{"check freed", func() error { return a.Check(r) }, ErrDoubleFree},
	}
	for _, tt := range tests {
		before := a.Stats()
		err := tt.op()
		if diff := cmp.Diff(tt.want, err, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("%s: error (-want +got):\n%s\n(%v)", tt.name, diff, err)
		}
		mustVerify(t, a)
		if after := a.Stats(); tt.want != nil && (after.InUse != before.InUse || after.FreeExtents != before.FreeExtents) {
			t.Errorf("%s: failed call changed the allocator: %+v -> %+v", tt.name, before, after)
		}
	}
	// A stale region whose space was handed out again is a double free,
	// and must not free the new owner's region.
	r1, _ := a.Alloc(4*kib, 0)
	if err := a.Free(r1); err != nil {
		t.Fatal(err)
	}
	r2, _ := a.Alloc(4*kib, 0)
	if r2.Offset != r1.Offset {
		t.Fatalf("expected reuse of %v, got %v", r1, r2)
	}
	if err := a.Free(r1); !errors.Is(err, ErrDoubleFree) {
		t.Fatalf("stale free err = %v, want ErrDoubleFree", err)
	}
	if err := a.Free(r2); err != nil {
		t.Fatalf("Free(new owner) = %v", err)
	}
	st := a.Stats()
	if st.BadFrees != 10 || st.Regions != 0 || st.InUse != 0 || st.FreeExtents != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAllocCoalesceAndStats(t *testing.T) {
	segs := []Segment{{Buf: 0, Offset: 0, Len: 1024 * kib}, {Buf: 0, Offset: 2048 * kib, Len: 512 * kib}}
	a := newTestAllocator(t, segs)
	rng := rand.New(rand.NewPCG(1, 2))
	var rs []Region
	for {
		r, err := a.Alloc(uint64(1+rng.IntN(5))*4*kib, 0)
		if errors.Is(err, ErrNoSpace) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	mustVerify(t, a)
	st := a.Stats()
	if st.Free >= 5*4*kib || st.InUse+st.Free != 1536*kib || st.Regions != uint64(len(rs)) {
		t.Fatalf("full allocator stats %+v", st)
	}
	// Free every other region: fragmented.
	for i := 0; i < len(rs); i += 2 {
		if err := a.Free(rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	mustVerify(t, a)
	st = a.Stats()
	if st.FreeExtents < uint64(len(rs)/2)-2 || st.Fragmentation < 0.9 {
		t.Fatalf("fragmented stats %+v", st)
	}
	rng.Shuffle(len(rs)/2, func(i, j int) { rs[2*i+1], rs[2*j+1] = rs[2*j+1], rs[2*i+1] })
	for i := 1; i < len(rs); i += 2 {
		if err := a.Free(rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	mustVerify(t, a)
	want := AllocatorStats{
		PageSize: 4 * kib, Capacity: 1536 * kib, Free: 1536 * kib,
		FreeExtents: 2, LargestFree: 1024 * kib, Fragmentation: 1.0 / 3,
		Allocs: uint64(len(rs)), Frees: uint64(len(rs)), Failures: 1,
	}
	if diff := cmp.Diff(want, a.Stats(), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Fatalf("stats after freeing all (-want +got):\n%s", diff)
	}
}

func TestAllocScatter(t *testing.T) {
	a := newTestAllocator(t, []Segment{{Buf: 0, Len: 64 * kib}, {Buf: 1, Len: 64 * kib}})
	// Fill, then free a pattern leaving holes of 1, 2, 3 and 4 pages.
	all, err := a.AllocScatter(nil, 128*kib, 0)
	if err != nil || len(all) != 2 {
		t.Fatalf("AllocScatter(all) = %v, %v", all, err)
	}
	for _, r := range all {
		if err := a.Free(r); err != nil {
			t.Fatal(err)
		}
	}
	var pages []Region
	for range 32 {
		r, err := a.Alloc(4*kib, 0)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, r)
	}
	// Segment 0 is 16 pages, all allocated; free pages 0, 2-3, 5-7, 9-12.
	for _, i := range []int{0, 2, 3, 5, 6, 7, 9, 10, 11, 12} {
		if err := a.Free(pages[i]); err != nil {
			t.Fatal(err)
		}
	}
	// 16 pages remain in segment 1 as one range (pages 16..31 were
	// allocated then... free them too, to have one big range).
	for i := 16; i < 32; i++ {
		if err := a.Free(pages[i]); err != nil {
			t.Fatal(err)
		}
	}
	mustVerify(t, a)
	// 20 pages: the 16-page range, then the 4-page hole.
	dst := make([]Region, 1, 8)
	dst[0] = Region{Buf: 99}
	got, err := a.AllocScatter(dst, 20*4*kib-100, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Region{{Buf: 99}, {Buf: 1, Seg: 1, Offset: 0, Len: 64 * kib}, {Buf: 0, Seg: 0, Offset: 9 * 4 * kib, Len: 16 * kib}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Region{})); diff != "" {
		t.Fatalf("AllocScatter (-want +got):\n%s", diff)
	}
	mustVerify(t, a)
	// 6 pages left in holes of 1, 2, 3: more than 2 regions is refused and
	// changes nothing.
	before := a.Stats()
	got2, err := a.AllocScatter(got, 6*4*kib, 2)
	if !errors.Is(err, ErrNoSpace) || len(got2) != len(got) {
		t.Fatalf("AllocScatter(maxSegs 2) = %d regions, %v; want ErrNoSpace", len(got2), err)
	}
	after := a.Stats()
	before.Failures++
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("failed AllocScatter changed stats (-want +got):\n%s", diff)
	}
	mustVerify(t, a)
	got3, err := a.AllocScatter(nil, 6*4*kib, 3)
	if err != nil || len(got3) != 3 {
		t.Fatalf("AllocScatter(maxSegs 3) = %v, %v", got3, err)
	}
	if _, err := a.AllocScatter(nil, 4*kib, 0); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("AllocScatter on a full allocator err = %v", err)
	}
	for _, r := range append(got[1:], got3...) {
		if err := a.Free(r); err != nil {
			t.Fatal(err)
		}
	}
	mustVerify(t, a)
}

// TestAllocConcurrent runs allocators from several goroutines and checks,
// with an ownership map, that no two live regions overlap.
func TestAllocConcurrent(t *testing.T) {
	const pages = 4096
	a := newTestAllocator(t, []Segment{{Buf: 0, Len: pages * 4 * kib}})
	var owner [pages]int32
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var live []Region
			for i := range 3000 {
				if len(live) > 0 && (rng.IntN(2) == 0 || i%500 == 0) {
					k := rng.IntN(len(live))
					r := live[k]
					live[k] = live[len(live)-1]
					live = live[:len(live)-1]
					mu.Lock()
					for p := r.Offset / (4 * kib); p < r.End()/(4*kib); p++ {
						owner[p] = 0
					}
					mu.Unlock()
					if err := a.Free(r); err != nil {
						errc <- err
						return
					}
					continue
				}
				r, err := a.Alloc(uint64(1+rng.IntN(16))*4*kib, 4*kib<<rng.IntN(3))
				if errors.Is(err, ErrNoSpace) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				for p := r.Offset / (4 * kib); p < r.End()/(4*kib); p++ {
					if owner[p] != 0 {
						mu.Unlock()
						errc <- fmt.Errorf("page %d of %v owned by goroutine %d", p, r, owner[p]-1)
						return
					}
					owner[p] = int32(g + 1)
				}
				mu.Unlock()
				live = append(live, r)
			}
			mu.Lock()
			for _, r := range live {
				for p := r.Offset / (4 * kib); p < r.End()/(4*kib); p++ {
					owner[p] = 0
				}
			}
			mu.Unlock()
			for _, r := range live {
				if err := a.Free(r); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	mustVerify(t, a)
	if st := a.Stats(); st.InUse != 0 || st.FreeExtents != 1 || st.Allocs != st.Frees {
		t.Fatalf("stats after concurrent run: %+v", st)
	}
}

// FuzzAllocator runs operation sequences against a page-ownership model: no
// two live regions overlap, regions are aligned and inside their segments,
// every region frees once, double and foreign frees are refused, failures
// change nothing, and the stats agree with the model.
func FuzzAllocator(f *testing.F) {
	f.Add([]byte{0, 3, 0, 0, 10, 1, 1, 0, 2, 0, 3, 40, 0})
	f.Add([]byte{0, 200, 5, 0, 1, 3, 0, 9, 2, 1, 0, 3, 255, 2, 3, 17, 3, 1, 1, 1})
	f.Add([]byte{3, 255, 0, 3, 255, 0, 1, 0, 1, 0, 0, 64, 6, 2, 0, 4, 1, 1})
	segs := []Segment{
		{Buf: 0, Offset: 0, Len: 64 * 4 * kib},
		{Buf: 0, Offset: 67 * 4 * kib, Len: 37 * 4 * kib}, // starts unaligned to 8K+
		{Buf: 1, Offset: 5 * 4 * kib, Len: 100 * 4 * kib},
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		a := newTestAllocator(t, segs)
		// own[buf][page] is 1 + the number of the region that holds the
		// page, 0 if it is free (an array: a map made the model cost more
		// than the allocator); used counts the pages held.
		var own [2][128]int
		used := 0
		var live, dead []Region
		next := 0
		byte_ := func() int {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return int(b)
		}
		// runs returns the model's free runs (pages) per segment.
		runs := func() (count, largest uint64) {
			for _, s := range segs {
				run := uint64(0)
				for p := s.Offset / (4 * kib); p < (s.Offset+s.Len)/(4*kib); p++ {
					if own[s.Buf][p] != 0 {
						if run > 0 {
							count++
						}
						run = 0
						continue
					}
					run++
					largest = max(largest, run)
				}
				if run > 0 {
					count++
				}
			}
			return count, largest
		}
		take := func(r Region, align uint64) {
			t.Helper()
			if r.Offset%align != 0 || r.Len%(4*kib) != 0 || r.Len == 0 {
				t.Fatalf("%v: not aligned to %d", r, align)
			}
			s := segs[r.Seg]
			if r.Buf != s.Buf || r.Offset < s.Offset || r.End() > s.Offset+s.Len {
				t.Fatalf("%v outside segment %d %+v", r, r.Seg, s)
			}
			for p := r.Offset / (4 * kib); p < r.End()/(4*kib); p++ {
				if o := own[r.Buf][p]; o != 0 {
					t.Fatalf("%v overlaps region %d at page %d", r, o-1, p)
				}
				own[r.Buf][p] = next + 1
				used++
			}
			next++
			live = append(live, r)
		}
		for len(ops) > 0 {
			before := a.Stats()
			switch byte_() % 5 {
			case 0: // Alloc
				size := uint64(byte_())*kib + uint64(byte_()%4)*64*kib
				alb := byte_()
				align := uint64(0)
				if alb%8 != 0 {
					align = 4 * kib << (alb % 8)
				}
				if alb == 255 {
					align = 12 * kib
				}
				r, err := a.Alloc(size, align)
				switch {
				case align == 12*kib:
					if !errors.Is(err, ErrAlignment) {
						t.Fatalf("Alloc(align 12K) = %v", err)
					}
				case size == 0:
					if !errors.Is(err, ErrZeroSize) {
						t.Fatalf("Alloc(0) = %v", err)
					}
				case err == nil:
					take(r, max(align, 4*kib))
					if r.Len != (size+4*kib-1)/(4*kib)*(4*kib) {
						t.Fatalf("Alloc(%d) Len %d", size, r.Len)
					}
				case errors.Is(err, ErrNoSpace):
					// The O(1) search guarantees success when a free run
					// covers the worst-case aligned request, rounded up to
					// its class.
					n := (size + 4*kib - 1) / (4 * kib)
					if align > 4*kib {
						n += align/(4*kib) - 1
					}
					fl, sl, _ := mappingSearch(n)
					classMin := n
					for m := n; m < n<<1+16; m++ {
						if f, s := mapping(m); f == fl && s == sl {
							classMin = m
							break
						}
					}
					if _, largest := runs(); largest >= classMin {
						t.Fatalf("Alloc(%d, %d) = ErrNoSpace with a free run of %d pages", size, align, largest)
					}
				default:
					t.Fatalf("Alloc(%d, %d) = %v", size, align, err)
				}
			case 1: // Free
				if len(live) == 0 {
					continue
				}
				k := byte_() % len(live)
				r := live[k]
				if err := a.Free(r); err != nil {
					t.Fatalf("Free(%v) = %v", r, err)
				}
				for p := r.Offset / (4 * kib); p < r.End()/(4*kib); p++ {
					own[r.Buf][p] = 0
					used--
				}
				live = append(live[:k], live[k+1:]...)
				dead = append(dead, r)
			case 2: // Double free
				if len(dead) == 0 {
					continue
				}
				r := dead[byte_()%len(dead)]
				if err := a.Free(r); !errors.Is(err, ErrDoubleFree) {
					t.Fatalf("double Free(%v) = %v", r, err)
				}
			case 3: // AllocScatter
				size := uint64(byte_()) * 4 * kib
				maxSegs := byte_() % 4
				got, err := a.AllocScatter(nil, size, maxSegs)
				freePages := (a.capacity - before.InUse/(4*kib))
				switch {
				case size == 0:
					if !errors.Is(err, ErrZeroSize) {
						t.Fatalf("AllocScatter(0) = %v", err)
					}
				case err == nil:
					var total uint64
					for _, r := range got {
						take(r, 4*kib)
						total += r.Len
					}
					if total != size || (maxSegs > 0 && len(got) > maxSegs) {
						t.Fatalf("AllocScatter(%d, %d) = %v", size, maxSegs, got)
					}
				case errors.Is(err, ErrNoSpace) || errors.Is(err, ErrOutOfRange):
					if maxSegs == 0 && size/(4*kib) <= freePages {
						t.Fatalf("AllocScatter(%d, 0) = %v with %d pages free", size, err, freePages)
					}
				default:
					t.Fatalf("AllocScatter = %v", err)
				}
			case 4: // Foreign: a live region with a different length or buffer.
				if len(live) == 0 {
					continue
				}
				r := live[byte_()%len(live)]
				r.Len += 4 * kib
				if err := a.Free(r); err == nil {
					t.Fatalf("Free(tampered %v) succeeded", r)
				}
			}
			if err := a.verify(); err != nil {
				t.Fatal(err)
			}
			st := a.Stats()
			count, largest := runs()
			if st.InUse != uint64(used)*4*kib || st.Regions != uint64(len(live)) ||
				st.FreeExtents != count || st.LargestFree != largest*4*kib || st.Free+st.InUse != st.Capacity {
				t.Fatalf("stats %+v; model: %d pages used, %d regions, %d free runs, largest %d", st, used, len(live), count, largest)
			}
		}
		for _, r := range live {
			if err := a.Free(r); err != nil {
				t.Fatal(err)
			}
		}
		if st := a.Stats(); st.InUse != 0 || st.FreeExtents != 3 || st.Fragmentation == 0 && st.Free != st.LargestFree {
			t.Fatalf("stats after freeing all: %+v", st)
		}
	})
}
