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
// stays put until released. copyPool and copyRX are its counterparts of the
// binding's page pool and of a socket's tokens: copyRX issues the tokens, the
// connection's pagepool.Ledger (NewLedgerFunc) accounts for them as in devmem
// mode (outstanding, bounds, batches, leak reports), and its release function,
// copyRX.release, gives the memory back to the allocator where devmem mode
// calls SO_DEVMEM_DONTNEED.
//
// Memory is taken from the allocator in chunks. A connection receives into
// the free tail of its current chunk; each read becomes one frag. A chunk
// whose frags are all released is reused from its start while it is
// current, and given back to the allocator once it has been replaced.

// copyTokens presizes a copy-mode ledger's token table: copyRX reuses
// tokens, so they stay below the connection's peak of outstanding frags.
const copyTokens = 256

// copyPool is the copy path's share of one buffer: the allocator over it and
// its connections. The bounds for all connections together
// (ListenerMaxFrags/Bytes) are the Listener's pagepool.Limiter, as in devmem
// mode.
type copyPool struct {
	alloc *pagepool.Allocator
	chunk uint64   // bytes per chunk, whole pages
	space notifier // a chunk went back to the allocator, or frags were freed

	regMu sync.Mutex
	rxs   map[*copyRX]struct{}
}

func newCopyPool(size, chunk uint64) (*copyPool, error) {
	a, err := pagepool.NewAllocator([]pagepool.Segment{{Len: size}}, nil)
	if err != nil {
		return nil, err
	}
	ps := a.PageSize()
	chunk = max(ps, min(chunk, size)&^(ps-1))
	return &copyPool{alloc: a, chunk: chunk, rxs: make(map[*copyRX]struct{})}, nil
}

// reclaim takes back the chunks of the pool's connections that hold no
// outstanding frag and are not reading into them: connections that stopped
// reading must not starve the others.
func (p *copyPool) reclaim() {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	for r := range p.rxs {
		r.mu.Lock()
		if !r.reading && r.cur >= 0 && r.chunks[r.cur].refs == 0 {
			r.dropChunk(r.cur)
		}
		r.mu.Unlock()
	}
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

type cchunk struct {
	r       pagepool.Region
	used    uint64 // bytes of r handed out as frags, from its start
	refs    uint32 // frags outstanding in it
	retired bool   // replaced as the current chunk: free it at refs 0
	live    bool
}

// errNoSpace: the allocator has no chunk to give now; wait for a release.
var errNoSpace = errors.New("devmem: copy buffer full")

// copyRX is one connection's share of the copy pool: its chunks and the
// tokens of its frags. It is safe for concurrent use; reserve, commit, idle
// and abort are for the one reader at a time.
type copyRX struct {
	pool  *copyPool
	label string
	fail  bool

	mu      sync.Mutex
	closed  bool     // shut down: no more reads or waits
	done    bool     // close ran: the memory is back in the pool
	reading bool     // between reserve and commit: a read may be writing the current chunk
	tok     []uint32 // by token: 1 + the chunk of its frag; 0 while free (token 0 is never issued)
	freeTok []uint32
	chunks  []cchunk
	freeCh  []uint32
	cur     int // current chunk, -1 if none

	// waitSpace's, added to the ledger's Waits and Backpressured.
	waits, backpressured uint64
}

func newCopyRX(p *copyPool, label string, failFast bool) *copyRX {
	r := &copyRX{pool: p, label: label, fail: failFast, cur: -1}
	r.tok = make([]uint32, 1, copyTokens)
	r.chunks = make([]cchunk, 0, 8)
	p.regMu.Lock()
	p.rxs[r] = struct{}{}
	p.regMu.Unlock()
	return r
}

// reserve returns where the next read goes: up to want bytes at off in the
// buffer. It returns errNoSpace when the allocator has nothing now and the
// current chunk is full, and pagepool.ErrClosed after shutdown.
func (r *copyRX) reserve(want int) (off uint64, n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, 0, pagepool.ErrClosed
	}
	var room uint64
	if r.cur >= 0 {
		c := &r.chunks[r.cur]
		if c.refs == 0 {
			c.used = 0
		}
		room = c.r.Len - c.used
		// Keep reading into the current chunk while the tail holds the
		// whole request, or a fair share of a chunk.
		if room >= uint64(want) || room >= r.pool.chunk/4 {
			r.reading = true
			return c.r.Offset + c.used, int(min(room, uint64(want))), nil
		}
	}
	a, aerr := r.pool.alloc.Alloc(r.pool.chunk, 0)
	if aerr != nil {
		if room > 0 {
			c := &r.chunks[r.cur]
			r.reading = true
			return c.r.Offset + c.used, int(min(room, uint64(want))), nil
		}
		if errors.Is(aerr, pagepool.ErrNoSpace) {
			return 0, 0, errNoSpace
		}
		return 0, 0, aerr
	}
	if r.cur >= 0 {
		c := &r.chunks[r.cur]
		if c.refs == 0 {
			r.dropChunk(r.cur)
		} else {
			c.retired = true
		}
	}
	var i int
	if k := len(r.freeCh); k > 0 {
		i = int(r.freeCh[k-1])
		r.freeCh = r.freeCh[:k-1]
	} else {
		r.chunks = append(r.chunks, cchunk{})
		i = len(r.chunks) - 1
	}
	r.chunks[i] = cchunk{r: a, live: true}
	r.cur = i
	r.reading = true
	return a.Offset, int(min(a.Len, uint64(want))), nil
}

// dropChunk gives chunk i back to the allocator; r.mu held.
func (r *copyRX) dropChunk(i int) {
	c := &r.chunks[i]
	// Free cannot fail for a region the allocator handed out once.
	_ = r.pool.alloc.Free(c.r)
	*c = cchunk{}
	r.freeCh = append(r.freeCh, uint32(i))
	if r.cur == i {
		r.cur = -1
	}
	r.pool.space.wake()
}

// idle lets go of the current chunk: the reader found no data and is about
// to wait, and a waiting connection should hold no memory beyond its
// outstanding frags. A chunk without any is given back to the pool, one
// with some is freed when they are released. It reports whether the reader
// must take a chunk again.
func (r *copyRX) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reading = false
	if r.cur < 0 {
		return true
	}
	if r.chunks[r.cur].refs == 0 {
		r.dropChunk(r.cur)
	} else {
		r.chunks[r.cur].retired = true
		r.cur = -1
	}
	return true
}

// abort ends a read that got no data (error, end of stream).
func (r *copyRX) abort() {
	r.mu.Lock()
	r.reading = false
	r.mu.Unlock()
}

// commit makes the n bytes just read at off (from reserve) a frag with a
// token of its own, records it in led and appends it to dst.
func (r *copyRX) commit(led *pagepool.Ledger, dst []Frag, off uint64, n int) ([]Frag, error) {
	r.mu.Lock()
	r.reading = false
	if r.closed {
		r.mu.Unlock()
		return dst, pagepool.ErrClosed
	}
	var t uint32
	if k := len(r.freeTok); k > 0 {
		t = r.freeTok[k-1]
		r.freeTok = r.freeTok[:k-1]
	} else {
		r.tok = append(r.tok, 0)
		t = uint32(len(r.tok) - 1)
	}
	c := &r.chunks[r.cur]
	c.refs++
	c.used = off + uint64(n) - c.r.Offset
	r.tok[t] = uint32(r.cur) + 1
	r.mu.Unlock()
	dst = append(dst, Frag{Offset: off, Size: uint32(n), Token: t, Kind: cmsg.DMABuf})
	if err := led.Record(dst[len(dst)-1:]); err != nil {
		// The ledger was closed meanwhile: the frag is not handed out.
		_, _ = r.release([]pagepool.TokenRange{{Start: t, Count: 1}})
		return dst[:len(dst)-1], err
	}
	return dst, nil
}

// release is the ledger's release function: it frees the memory of the
// tokens of rs that are outstanding and returns how many it freed, as
// SO_DEVMEM_DONTNEED does for devmem tokens.
func (r *copyRX) release(rs []pagepool.TokenRange) (int, error) {
	r.mu.Lock()
	n := 0
	for _, rg := range rs {
		for t := rg.Start; t-rg.Start < rg.Count && !r.done; t++ {
			if int(t) >= len(r.tok) || r.tok[t] == 0 {
				continue
			}
			i := r.tok[t] - 1
			r.tok[t] = 0
			r.freeTok = append(r.freeTok, t)
			c := &r.chunks[i]
			if c.refs--; c.refs == 0 && c.retired {
				r.dropChunk(int(i))
			}
			n++
		}
	}
	r.mu.Unlock()
	if n > 0 {
		// The current chunk may be free to reuse now.
		r.pool.space.wake()
	}
	return n, nil
}

// waitSpace returns once the allocator may have room for a chunk again, or
// the current chunk has none of its frags outstanding: after reserve
// returned errNoSpace. With FailFast it returns pagepool.ErrBackpressure
// instead of waiting.
func (r *copyRX) waitSpace(ctx context.Context, led *pagepool.Ledger) error {
	const what = "space in the copy buffer"
	if r.isClosed() {
		return pagepool.ErrClosed
	}
	if r.hasSpace() {
		return nil
	}
	if r.fail {
		r.mu.Lock()
		r.backpressured++
		r.mu.Unlock()
		st := led.Stats()
		return fmt.Errorf("%w: waiting for %s; %d frags, %d bytes outstanding on %q", pagepool.ErrBackpressure, what, st.OutstandingFrags, st.OutstandingBytes, r.label)
	}
	p := r.pool
	p.space.waiters.Add(1)
	defer p.space.waiters.Add(-1)
	r.mu.Lock()
	r.waits++
	r.mu.Unlock()
	for {
		ch := p.space.wait()
		if r.isClosed() {
			return pagepool.ErrClosed
		}
		if r.hasSpace() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("devmem: waiting for %s on %q: %w", what, r.label, context.Cause(ctx))
		}
	}
}

func (r *copyRX) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *copyRX) hasSpace() bool {
	r.pool.reclaim()
	r.mu.Lock()
	reuse := r.cur >= 0 && r.chunks[r.cur].refs == 0
	r.mu.Unlock()
	return reuse || r.pool.alloc.Stats().LargestFree >= r.pool.chunk
}

// addStats adds waitSpace's waits to the ledger's stats.
func (r *copyRX) addStats(st *pagepool.LedgerStats) {
	r.mu.Lock()
	st.Waits += r.waits
	st.Backpressured += r.backpressured
	r.mu.Unlock()
}

// shutdown makes reserve, commit and waitSpace fail with
// pagepool.ErrClosed and wakes a waiting reader, but keeps the memory: a
// read may still be writing into it. close gives it back once no read is
// in flight.
func (r *copyRX) shutdown() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.pool.space.wake()
}

// close shuts r down and gives every chunk back to the allocator, the
// frags still outstanding included (the connection's ledger, closed before,
// reported them). No read may be in flight. It is idempotent.
func (r *copyRX) close() {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return
	}
	r.closed, r.done = true, true
	for i := range r.chunks {
		if r.chunks[i].live {
			r.dropChunk(i)
		}
	}
	r.mu.Unlock()
	p := r.pool
	p.regMu.Lock()
	delete(p.rxs, r)
	p.regMu.Unlock()
}
