package devmem

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/pagepool"
)

// The copy path hands out frags with the semantics of the kernel's: each
// received piece of data lies in a region of the buffer, carries a token, and
// stays put until released. copyPool and copyLedger are its counterparts of
// the binding's page pool and of pagepool.Ledger: they issue the tokens, do
// the same accounting (outstanding, peaks, back-pressure, leak reports) and,
// on release, give the memory back to the allocator instead of calling
// SO_DEVMEM_DONTNEED.
//
// Memory is taken from the allocator in chunks. A connection receives into
// the free tail of its current chunk; each read becomes one frag. A chunk
// whose frags are all released is reused from its start while it is
// current, and given back to the allocator once it has been replaced.

// copyPool is the copy path's share of one buffer: the allocator over it and
// the bounds for all connections together (ListenerMaxFrags/Bytes).
type copyPool struct {
	alloc      *pagepool.Allocator
	chunk      uint64 // bytes per chunk, whole pages
	maxF, maxB uint64
	outF, outB atomic.Uint64
	note       notifier // frags released or space freed

	regMu   sync.Mutex
	ledgers map[*copyLedger]struct{}
}

func newCopyPool(size, chunk, maxF, maxB uint64) (*copyPool, error) {
	a, err := pagepool.NewAllocator([]pagepool.Segment{{Len: size}}, nil)
	if err != nil {
		return nil, err
	}
	ps := a.PageSize()
	chunk = max(ps, min(chunk, size)&^(ps-1))
	return &copyPool{alloc: a, chunk: chunk, maxF: maxF, maxB: maxB, ledgers: make(map[*copyLedger]struct{})}, nil
}

// reclaim takes back the chunks of the pool's connections that hold no
// outstanding frag and are not reading into them: connections that stopped
// reading must not starve the others.
func (p *copyPool) reclaim() {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	for l := range p.ledgers {
		l.mu.Lock()
		if !l.reading && l.cur >= 0 && l.chunks[l.cur].refs == 0 {
			l.dropChunk(l.cur)
		}
		l.mu.Unlock()
	}
}

func (p *copyPool) room() bool {
	return (p.maxF == 0 || p.outF.Load() < p.maxF) && (p.maxB == 0 || p.outB.Load() < p.maxB)
}

func (p *copyPool) sub(f, b uint64) {
	if f == 0 {
		return
	}
	p.outF.Add(-f)
	p.outB.Add(-b)
	p.note.wake()
}

// notifier wakes goroutines waiting for a state change. wait returns a
// channel closed by the next wake; wake does nothing (and allocates nothing)
// when nobody waits.
type notifier struct {
	waiters atomic.Int32
	mu      sync.Mutex
	ch      chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) wake() {
	if n.waiters.Load() == 0 {
		return
	}
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}

// Token states of a copyLedger.
const (
	ctFree uint8 = iota
	ctRecorded
	ctHeld
)

type centry struct {
	off   uint64
	size  uint32
	chunk uint32
	hold  uint32 // batch slot while held
	st    uint8
}

type cchunk struct {
	r       pagepool.Region
	used    uint64 // bytes of r handed out as frags, from its start
	refs    uint32 // frags outstanding in it
	retired bool   // replaced as the current chunk: free it at refs 0
	live    bool
}

type cbatch struct {
	gen   uint32
	owner string
	toks  []uint32
}

// errNoSpace: the allocator has no chunk to give now; wait for a release.
var errNoSpace = errors.New("devmem: copy buffer full")

// copyLedger is one connection's frags in copy mode. Its methods mirror
// pagepool.Ledger's and return the same errors. It is safe for concurrent
// use; reserve and commit are for the one reader at a time.
type copyLedger struct {
	pool       *copyPool
	label      string
	maxF, maxB uint64
	fail       bool

	mu      sync.Mutex
	closed  bool     // shut down: no more reads, releases or waits
	done    bool     // Close ran: the memory is back in the pool
	reading bool     // between reserve and commit: a read may be writing the current chunk
	ents    []centry // by token; token 0 is never issued
	freeTok []uint32
	chunks  []cchunk
	freeCh  []uint32
	cur     int // current chunk, -1 if none
	bats    []cbatch
	freeBat []uint32
	outF    uint64
	outB    uint64
	heldF   uint64
	st      pagepool.LedgerStats
	note    notifier
}

func newCopyLedger(p *copyPool, label string, maxF, maxB uint64, failFast bool) *copyLedger {
	l := &copyLedger{pool: p, label: label, maxF: maxF, maxB: maxB, fail: failFast, cur: -1}
	l.ents = make([]centry, 1, 256)
	l.chunks = make([]cchunk, 0, 8)
	p.regMu.Lock()
	p.ledgers[l] = struct{}{}
	p.regMu.Unlock()
	return l
}

// reserve returns where the next read goes: up to want bytes at off in the
// buffer. It returns errNoSpace when the allocator has nothing now and the
// current chunk is full, and pagepool.ErrClosed after Close.
func (l *copyLedger) reserve(want int) (off uint64, n int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, 0, pagepool.ErrClosed
	}
	var room uint64
	if l.cur >= 0 {
		c := &l.chunks[l.cur]
		if c.refs == 0 {
			c.used = 0
		}
		room = c.r.Len - c.used
		// Keep reading into the current chunk while the tail holds the
		// whole request, or a fair share of a chunk.
		if room >= uint64(want) || room >= l.pool.chunk/4 {
			l.reading = true
			return c.r.Offset + c.used, int(min(room, uint64(want))), nil
		}
	}
	r, aerr := l.pool.alloc.Alloc(l.pool.chunk, 0)
	if aerr != nil {
		if room > 0 {
			c := &l.chunks[l.cur]
			l.reading = true
			return c.r.Offset + c.used, int(min(room, uint64(want))), nil
		}
		if errors.Is(aerr, pagepool.ErrNoSpace) {
			return 0, 0, errNoSpace
		}
		return 0, 0, aerr
	}
	if l.cur >= 0 {
		c := &l.chunks[l.cur]
		if c.refs == 0 {
			l.dropChunk(l.cur)
		} else {
			c.retired = true
		}
	}
	var i int
	if k := len(l.freeCh); k > 0 {
		i = int(l.freeCh[k-1])
		l.freeCh = l.freeCh[:k-1]
	} else {
		l.chunks = append(l.chunks, cchunk{})
		i = len(l.chunks) - 1
	}
	l.chunks[i] = cchunk{r: r, live: true}
	l.cur = i
	l.reading = true
	return r.Offset, int(min(r.Len, uint64(want))), nil
}

// dropChunk gives chunk i back to the allocator; l.mu held.
func (l *copyLedger) dropChunk(i int) {
	c := &l.chunks[i]
	// Free cannot fail for a region the allocator handed out once.
	_ = l.pool.alloc.Free(c.r)
	*c = cchunk{}
	l.freeCh = append(l.freeCh, uint32(i))
	if l.cur == i {
		l.cur = -1
	}
	l.pool.note.wake()
}

// idle lets go of the current chunk: the reader found no data and is about
// to wait, and a waiting connection should hold no memory beyond its
// outstanding frags. A chunk without any is given back to the pool, one
// with some is freed when they are released. It reports whether the reader
// must take a chunk again.
func (l *copyLedger) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reading = false
	if l.cur < 0 {
		return true
	}
	if l.chunks[l.cur].refs == 0 {
		l.dropChunk(l.cur)
	} else {
		l.chunks[l.cur].retired = true
		l.cur = -1
	}
	return true
}

// abort ends a read that got no data (error, end of stream).
func (l *copyLedger) abort() {
	l.mu.Lock()
	l.reading = false
	l.mu.Unlock()
}

// commit records the n bytes just read at off (from reserve) as a frag.
func (l *copyLedger) commit(off uint64, n int) (Frag, error) {
	l.mu.Lock()
	l.reading = false
	if l.closed {
		l.mu.Unlock()
		return Frag{}, pagepool.ErrClosed
	}
	var t uint32
	if k := len(l.freeTok); k > 0 {
		t = l.freeTok[k-1]
		l.freeTok = l.freeTok[:k-1]
	} else {
		l.ents = append(l.ents, centry{})
		t = uint32(len(l.ents) - 1)
	}
	c := &l.chunks[l.cur]
	c.refs++
	c.used = off + uint64(n) - c.r.Offset
	l.ents[t] = centry{off: off, size: uint32(n), chunk: uint32(l.cur), st: ctRecorded}
	l.outF++
	l.outB += uint64(n)
	l.st.Recorded++
	l.st.RecordedBytes += uint64(n)
	l.st.PeakFrags = max(l.st.PeakFrags, l.outF)
	l.st.PeakBytes = max(l.st.PeakBytes, l.outB)
	l.mu.Unlock()
	l.pool.outF.Add(1)
	l.pool.outB.Add(uint64(n))
	return Frag{Offset: off, Size: uint32(n), Token: t, Kind: cmsg.DMABuf}, nil
}

// lookup finds the entry of a frag to release or hold; l.mu held.
func (l *copyLedger) lookup(f *Frag) (*centry, error) {
	t := f.Token
	if t == 0 || int(t) >= len(l.ents) || l.ents[t].st == ctFree {
		return nil, fmt.Errorf("%w: token %d (offset %#x)", pagepool.ErrNotOutstanding, t, f.Offset)
	}
	e := &l.ents[t]
	if e.off != f.Offset || e.size != f.Size || f.DMABufID != 0 {
		return nil, fmt.Errorf("%w: token %d is [%#x,+%d), frag is binding %d [%#x,+%d)",
			pagepool.ErrForeignFrag, t, e.off, e.size, f.DMABufID, f.Offset, f.Size)
	}
	if e.st == ctHeld {
		return nil, fmt.Errorf("%w: token %d (owner %q)", pagepool.ErrHeld, t, l.bats[e.hold].owner)
	}
	return e, nil
}

// free returns token t's memory; l.mu held.
func (l *copyLedger) free(t uint32) {
	e := &l.ents[t]
	c := &l.chunks[e.chunk]
	c.refs--
	if c.refs == 0 && c.retired {
		l.dropChunk(int(e.chunk))
	}
	l.outF--
	l.outB -= uint64(e.size)
	l.st.Released++
	l.st.ReleasedBytes += uint64(e.size)
	l.st.Freed++
	*e = centry{}
	l.freeTok = append(l.freeTok, t)
}

// Release gives the DMABuf frags of frags back, as pagepool.Ledger.Release.
func (l *copyLedger) Release(frags []Frag) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return pagepool.ErrClosed
	}
	var (
		bad       int
		first     error
		nf, nb, k uint64
	)
	for i := range frags {
		f := &frags[i]
		if f.Kind != cmsg.DMABuf {
			continue
		}
		e, err := l.lookup(f)
		if err != nil {
			bad++
			if first == nil {
				first = err
			}
			continue
		}
		nf++
		nb += uint64(e.size)
		l.free(f.Token)
		k++
	}
	if k > 0 {
		l.st.Calls++
		l.st.Ranges += k
	}
	l.st.Rejected += uint64(bad)
	l.mu.Unlock()
	l.pool.sub(nf, nb)
	l.note.wake()
	return rejected(first, bad)
}

func rejected(first error, bad int) error {
	switch bad {
	case 0:
		return nil
	case 1:
		return first
	}
	return fmt.Errorf("%w (and %d more frags rejected)", first, bad-1)
}

// Hold puts frags under a batch, as pagepool.Ledger.Hold.
func (l *copyLedger) Hold(owner string, frags []Frag) (slot, gen uint32, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, 0, pagepool.ErrClosed
	}
	if k := len(l.freeBat); k > 0 {
		slot = l.freeBat[k-1]
		l.freeBat = l.freeBat[:k-1]
	} else {
		l.bats = append(l.bats, cbatch{gen: 1})
		slot = uint32(len(l.bats) - 1)
	}
	b := &l.bats[slot]
	b.toks = b.toks[:0]
	for i := range frags {
		f := &frags[i]
		if f.Kind != cmsg.DMABuf {
			continue
		}
		e, err := l.lookup(f)
		if err != nil {
			for _, t := range b.toks {
				l.ents[t].st = ctRecorded
			}
			l.heldF -= uint64(len(b.toks))
			b.toks = b.toks[:0]
			l.freeBat = append(l.freeBat, slot)
			l.st.Rejected++
			return 0, 0, err
		}
		e.st = ctHeld
		e.hold = slot
		b.toks = append(b.toks, f.Token)
		l.heldF++
	}
	b.owner = owner
	return slot, b.gen, nil
}

// Done releases a batch, as pagepool.Batch.Done.
func (l *copyLedger) Done(slot, gen uint32) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return pagepool.ErrClosed
	}
	if int(slot) >= len(l.bats) || l.bats[slot].gen != gen || gen == 0 {
		l.mu.Unlock()
		return pagepool.ErrBatchDone
	}
	b := &l.bats[slot]
	var nf, nb uint64
	for _, t := range b.toks {
		nf++
		nb += uint64(l.ents[t].size)
		l.free(t)
	}
	if nf > 0 {
		l.st.Calls++
		l.st.Ranges += nf
	}
	l.heldF -= nf
	b.toks = b.toks[:0]
	b.owner = ""
	if b.gen++; b.gen == 0 {
		b.gen = 1
	}
	l.freeBat = append(l.freeBat, slot)
	l.mu.Unlock()
	l.pool.sub(nf, nb)
	l.note.wake()
	return nil
}

// room reports whether the connection and the pool are below their bounds.
func (l *copyLedger) room() bool {
	l.mu.Lock()
	ok := (l.maxF == 0 || l.outF < l.maxF) && (l.maxB == 0 || l.outB < l.maxB)
	l.mu.Unlock()
	return ok && l.pool.room()
}

// Wait returns once the connection and the pool are below their bounds, as
// pagepool.Ledger.Wait.
func (l *copyLedger) Wait(ctx context.Context) error {
	return l.wait(ctx, l.room, "frags to be released")
}

// waitSpace returns once the allocator may have room for a chunk again, or
// the current chunk has none of its frags outstanding: after reserve
// returned errNoSpace.
func (l *copyLedger) waitSpace(ctx context.Context) error {
	return l.wait(ctx, l.hasSpace, "space in the copy buffer")
}

func (l *copyLedger) hasSpace() bool {
	l.pool.reclaim()
	l.mu.Lock()
	reuse := l.cur >= 0 && l.chunks[l.cur].refs == 0
	l.mu.Unlock()
	return reuse || l.pool.alloc.Stats().LargestFree >= l.pool.chunk
}

func (l *copyLedger) wait(ctx context.Context, ok func() bool, what string) error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return pagepool.ErrClosed
	}
	if ok() {
		return nil
	}
	if l.fail {
		l.mu.Lock()
		l.st.Backpressured++
		f, b := l.outF, l.outB
		l.mu.Unlock()
		return fmt.Errorf("%w: waiting for %s; %d frags, %d bytes outstanding on %q", pagepool.ErrBackpressure, what, f, b, l.label)
	}
	l.note.waiters.Add(1)
	defer l.note.waiters.Add(-1)
	l.pool.note.waiters.Add(1)
	defer l.pool.note.waiters.Add(-1)
	l.mu.Lock()
	l.st.Waits++
	l.mu.Unlock()
	for {
		c1, c2 := l.note.wait(), l.pool.note.wait()
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return pagepool.ErrClosed
		}
		if ok() {
			return nil
		}
		select {
		case <-c1:
		case <-c2:
		case <-ctx.Done():
			return fmt.Errorf("devmem: waiting for %s on %q: %w", what, l.label, context.Cause(ctx))
		}
	}
}

// Stats returns the ledger's counters, in the terms of pagepool.LedgerStats:
// Calls counts Release and Done calls that freed memory, Freed the frags
// they freed.
func (l *copyLedger) Stats() pagepool.LedgerStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.st
	st.OutstandingFrags, st.OutstandingBytes = l.outF, l.outB
	st.HeldFrags = l.heldF
	return st
}

// shutdown makes every later call fail with pagepool.ErrClosed and wakes
// waiting readers, but keeps the memory: a read may still be writing into
// it. Close gives it back once no read is in flight.
func (l *copyLedger) shutdown() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.note.wake()
}

// Close shuts the ledger down, frees every chunk and reports the frags never
// released. No read may be in flight. It is idempotent: a second Close
// returns an empty report.
func (l *copyLedger) Close() pagepool.LeakReport {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return pagepool.LeakReport{}
	}
	l.closed, l.done = true, true
	rep := pagepool.LeakReport{Label: l.label}
	for t := range l.ents {
		e := &l.ents[t]
		if e.st == ctFree {
			continue
		}
		lf := pagepool.LeakedFrag{
			Frag:  Frag{Offset: e.off, Size: e.size, Token: uint32(t), Kind: cmsg.DMABuf},
			State: pagepool.StateRecorded,
		}
		if e.st == ctHeld {
			lf.State = pagepool.StateHeld
			lf.Owner = l.bats[e.hold].owner
		}
		rep.Frags = append(rep.Frags, lf)
		rep.Bytes += uint64(e.size)
	}
	for i := range l.chunks {
		if l.chunks[i].live {
			l.dropChunk(i)
		}
	}
	f, b := l.outF, l.outB
	l.mu.Unlock()
	l.pool.regMu.Lock()
	delete(l.pool.ledgers, l)
	l.pool.regMu.Unlock()
	l.pool.sub(f, b)
	l.note.wake()
	return rep
}
