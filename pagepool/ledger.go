package pagepool

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal/uapi"
)

// MaxToken is the largest token a [Ledger] accepts: the kernel's own bound
// (it allocates tokens from 1 to INT_MAX, xa_limit_31b). Record rejects
// larger ones, and token 0, with [ErrInvalidToken].
//
// The ledger's token table is indexed by token and grows, by doubling, to the
// largest token recorded: 24 bytes per token, presized to
// [LedgerOptions].InitialTokens. The kernel hands out the lowest free token
// of the socket, so tokens stay about as low as the number of frags
// outstanding on it, and the table takes about 24 bytes per frag outstanding
// at the peak (384 MiB at 16 Mi frags, a 64 GiB binding in 4 KiB pages);
// tokens issued through [NewLedgerFunc] should stay as dense.
const MaxToken = 1<<31 - 1

// ReleasePolicy says when frags handed back to a [Ledger] are returned to the
// kernel. The zero value releases immediately: every Release and Batch.Done
// makes its own SO_DEVMEM_DONTNEED call(s).
//
// With BatchFrags or BatchBytes set, released frags are queued and returned
// together once either threshold is reached, or on [Ledger.Flush]. Batches of
// 1024 frags or more make the fewest system calls: the kernel takes at most
// 1024 tokens (in at most 128 ranges) per call. A flush the threshold starts
// makes only full calls when there is more than one call's worth: the rest,
// which would make a short call, stays queued for the next batch if it is
// below the thresholds. Queued
// frags still count as outstanding, and are flushed at once, all of them,
// while a reader waits for back-pressure room.
type ReleasePolicy struct {
	BatchFrags int    // flush at this many queued frags (0: no frag threshold)
	BatchBytes uint64 // flush at this many queued bytes (0: no byte threshold)
}

// LedgerOptions configures [NewLedger] and [NewLedgerFunc]. nil and the zero
// value are the defaults: immediate release, no bounds.
type LedgerOptions struct {
	// Label names the ledger (for example the connection) in leak reports.
	Label string
	// Policy is when released frags go back to the kernel.
	Policy ReleasePolicy
	// MaxFrags and MaxBytes bound the frags and bytes outstanding on this
	// socket (recorded and not yet returned to the kernel); 0 is no bound.
	// At the bound, Wait and RecordContext block, or fail with
	// ErrBackpressure if FailFast is set. Keep them below what the binding's
	// page pool can spare, so that one socket cannot starve the NIC.
	MaxFrags, MaxBytes uint64
	// Limiter is a bound shared with the other sockets of the same binding;
	// nil for none.
	Limiter *Limiter
	// FailFast makes Wait and RecordContext return ErrBackpressure at the
	// bound instead of blocking.
	FailFast bool
	// InitialTokens presizes the token table (default 4096), so that a
	// stream whose outstanding frags stay below it allocates nothing.
	InitialTokens int
}

// FragState is what a ledger knows of an outstanding frag.
type FragState uint8

// Frag states.
const (
	StateRecorded FragState = iota + 1 // recorded, not yet released by the application
	StateHeld                          // held by a Batch that is not done
	StatePending                       // released, but the kernel has not confirmed it (a flush failed or is queued)
)

// String returns "recorded", "held" or "pending".
func (s FragState) String() string {
	switch s {
	case StateRecorded:
		return "recorded"
	case StateHeld:
		return "held"
	case StatePending:
		return "pending"
	}
	return fmt.Sprintf("FragState(%d)", uint8(s))
}

// LeakedFrag is one outstanding frag in a [LeakReport].
type LeakedFrag struct {
	Frag  cmsg.Frag // as recorded
	State FragState
	Owner string // the owner given to Hold, for a held frag
}

// LeakReport lists the frags a ledger still had outstanding: recorded and
// never released by the application. On socket close the kernel frees them;
// the report is for tests and debugging.
type LeakReport struct {
	Label string       // LedgerOptions.Label
	Frags []LeakedFrag // by token
	Bytes uint64       // sum of the frags' sizes
}

// String summarizes the report, one line per frag (at most 16).
func (r LeakReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger %q: %d frag(s), %d bytes never released", r.Label, len(r.Frags), r.Bytes)
	for i, f := range r.Frags {
		if i == 16 {
			fmt.Fprintf(&b, "\n  ... %d more", len(r.Frags)-i)
			break
		}
		fmt.Fprintf(&b, "\n  token %d: binding %d [%#x,+%d) %s", f.Frag.Token, f.Frag.DMABufID, f.Frag.Offset, f.Frag.Size, f.State)
		if f.Owner != "" {
			fmt.Fprintf(&b, " by %q", f.Owner)
		}
	}
	return b.String()
}

// LedgerStats is a snapshot of a [Ledger]'s counters. Frag counts are DMABuf
// frags; Linear frags carry no token and are ignored.
type LedgerStats struct {
	Recorded, RecordedBytes uint64 // frags recorded
	Released, ReleasedBytes uint64 // frags handed back by the application (Release, Batch.Done)
	// Freed is the number of tokens the kernel reported freed: the sum of
	// SO_DEVMEM_DONTNEED's return values (of the release function's, for a
	// ledger from NewLedgerFunc).
	Freed uint64
	// UnknownTokens is the number of submitted tokens the kernel did not
	// free, even after resubmission (see UnknownTokensError).
	UnknownTokens uint64

	// Outstanding frags and bytes: recorded and not yet returned to the
	// kernel, including held and queued ones. After Close they keep their
	// last value: the kernel frees those frags with the socket.
	OutstandingFrags, OutstandingBytes uint64
	PeakFrags, PeakBytes               uint64 // highest Outstanding values
	HeldFrags                          uint64 // held by batches not yet done
	PendingFrags, PendingBytes         uint64 // released, queued for the next flush

	Calls      uint64 // SO_DEVMEM_DONTNEED system calls (release function calls, NewLedgerFunc)
	Ranges     uint64 // dmabuf_token elements sent
	ShortCalls uint64 // calls that freed fewer tokens than sent
	// Retries counts calls that resubmitted the rest of a short call. A
	// call that freed nothing is not resubmitted (the kernel examined every
	// token and knew none), so it adds to ShortCalls but not here.
	Retries    uint64
	CallErrors uint64 // calls that failed

	Rejected      uint64 // frags refused by Record, Release or Hold
	Waits         uint64 // Wait/RecordContext calls that blocked
	Backpressured uint64 // ErrBackpressure returns
}

// Ledger records the tokens of the devmem frags received on one socket and
// gives them back to the kernel with SO_DEVMEM_DONTNEED ([NewLedger]), or to
// whoever issued them through a release function ([NewLedgerFunc]).
//
// The reader records each batch of frags it receives ([Ledger.Record]); the
// application hands them back when it is done with the bytes, at once
// ([Ledger.Release]) or through a done-handle ([Ledger.Hold],
// [Batch.Done]). The ledger coalesces consecutive tokens into ranges, sends at
// most 128 ranges and 1024 tokens per call (the kernel's limits), reads the
// number of tokens the kernel freed, and resubmits or reports the rest.
//
// A Ledger is safe for concurrent use: typically one goroutine records and
// others (device completion callbacks) release. Record and Release cost a
// few nanoseconds per frag and allocate nothing once the token table has
// grown to the socket's working set.
//
// The Ledger does not own the socket. Close it before closing the socket:
// the kernel frees every outstanding token when the socket is destroyed,
// and Close reports which ones the application never released.
type Ledger struct {
	k      kernel
	label  string
	policy ReleasePolicy
	maxF   uint64
	maxB   uint64
	lim    *Limiter
	fail   bool
	note   notifier

	mu     sync.Mutex
	closed bool
	ents   []entry  // indexed by token
	pend   []uint64 // bitmap of tokens released and queued (state pending)
	plo    uint32   // pend's words [plo, phi) hold every set bit
	phi    uint32
	work   []uint64 // bitmap of the tokens being flushed; written only with fmu and mu held
	pendF  uint64
	pendB  uint64
	outF   uint64
	outB   uint64
	heldF  uint64
	bats   []batchSlot
	free   []uint32 // free batch slots
	st     LedgerStats

	fmu sync.Mutex // serializes flushes; owns fs
	fs  flushState
}

const (
	stFree uint8 = iota
	stRecorded
	stHeld
	stPending
)

const noWord = ^uint32(0)

// entry is what the ledger keeps per token.
type entry struct {
	off  uint64
	size uint32
	id   uint32
	hold uint32 // batch slot, while held
	st   uint8
}

type batchSlot struct {
	gen   uint32
	owner string
	toks  []uint32
}

// flushState is the state of one flush, owned by the goroutine holding fmu.
type flushState struct {
	toks  [uapi.MAX_DONTNEED_TOKENS]uapi.DmabufToken
	nr    int
	slots uint32

	freed, unknown, calls, ranges, shorts, retries, callErrs uint64

	err   error  // first system call error
	cut   uint32 // with err: tokens from cut on were not submitted
	cands []TokenRange

	// whole: submit only full calls, keep the tokens of a last short one
	// queued (from keep on) if an earlier call of this flush went out and
	// they are below the batch thresholds.
	whole bool
	kept  bool
	keep  uint32
}

// NewLedger returns a ledger for the devmem TCP socket behind rc, for
// example from (*net.TCPConn).SyscallConn or socket.Conn.SyscallConn. opts
// may be nil. Call Close when done, before closing the socket.
//
// A nil rc or negative options give an error matching os.ErrInvalid. On
// operating systems other than Linux it returns an error compatible with
// errors.Is(err, ErrNotSupported). Requires Linux 6.12 for the socket option.
func NewLedger(rc syscall.RawConn, opts *LedgerOptions) (*Ledger, error) {
	if rc == nil {
		return nil, fmt.Errorf("pagepool: NewLedger: nil RawConn: %w", os.ErrInvalid)
	}
	o, err := ledgerOptions("NewLedger", opts)
	if err != nil {
		return nil, err
	}
	k, err := newKernel(rc)
	if err != nil {
		return nil, err
	}
	return newLedger(k, &o), nil
}

// NewLedgerFunc returns a ledger that gives tokens back by calling release
// instead of SO_DEVMEM_DONTNEED: for tokens you issue yourself, for example
// a copy-mode fallback that hands out regions of its own buffer as frags
// with the semantics of devmem's, or tests. Everything else (recording,
// batches, release policy, bounds, Limiter, stats, leak reports) is the
// same as a [NewLedger] ledger's. opts may be nil. It works on every
// operating system. A nil release or negative options give an error
// matching os.ErrInvalid.
//
// release must do what the kernel does with SO_DEVMEM_DONTNEED: free the
// tokens of ranges (at most 128 ranges and 1024 tokens, ascending) that it
// has outstanding, skip the others, and return how many it freed. Fewer
// than given makes the ledger submit the rest again, and count and report
// what is still missing as unknown ([UnknownTokensError]); a non-nil error
// means it freed nothing: the ledger keeps the tokens queued and returns the
// error from the flush. The ledger calls release from the goroutine that
// flushes (Release, Batch.Done, Flush, Wait, Close), one call at a time,
// without its lock: release must not call the ledger's methods, and must not
// keep ranges after it returns.
//
// A token freed by release may be issued and recorded again at once, even
// before the flush that freed it returns, as the kernel may hand it out
// again. Tokens must lie in 1..[MaxToken]; keep them dense (reuse the lowest
// free ones), since the ledger's table is indexed by token.
func NewLedgerFunc(release func(ranges []TokenRange) (freed int, err error), opts *LedgerOptions) (*Ledger, error) {
	if release == nil {
		return nil, fmt.Errorf("pagepool: NewLedgerFunc: nil release function: %w", os.ErrInvalid)
	}
	o, err := ledgerOptions("NewLedgerFunc", opts)
	if err != nil {
		return nil, err
	}
	return newLedger(&funcKernel{release: release}, &o), nil
}

// ledgerOptions checks opts (nil: the defaults) for constructor fn.
func ledgerOptions(fn string, opts *LedgerOptions) (LedgerOptions, error) {
	var o LedgerOptions
	if opts != nil {
		o = *opts
	}
	if o.Policy.BatchFrags < 0 || o.InitialTokens < 0 {
		return o, fmt.Errorf("pagepool: %s: negative BatchFrags (%d) or InitialTokens (%d): %w", fn, o.Policy.BatchFrags, o.InitialTokens, os.ErrInvalid)
	}
	return o, nil
}

func newLedger(k kernel, o *LedgerOptions) *Ledger {
	l := &Ledger{
		k:      k,
		label:  o.Label,
		policy: o.Policy,
		maxF:   o.MaxFrags,
		maxB:   o.MaxBytes,
		lim:    o.Limiter,
		fail:   o.FailFast,
		plo:    noWord,
	}
	n := o.InitialTokens
	if n == 0 {
		n = 4096
	}
	l.grow(uint32(min(uint64(n), MaxToken+1) - 1))
	l.work = make([]uint64, len(l.pend))
	if l.lim != nil {
		l.lim.register(l)
	}
	return l
}

// grow makes the token table hold token t (at most MaxToken).
func (l *Ledger) grow(t uint32) {
	n := min(max(2*uint64(len(l.ents)), uint64(t)+1, 64), MaxToken+1)
	ents := make([]entry, n)
	copy(ents, l.ents)
	l.ents = ents
	pend := make([]uint64, (n+63)/64)
	copy(pend, l.pend)
	l.pend = pend
}

// Record records the DMABuf frags of frags (Linear frags are ignored) as
// outstanding. It never blocks and never drops a frag: the frags are already
// the application's. Frags it cannot record (token 0 or above MaxToken: not
// from a devmem socket; a token already outstanding) are skipped and reported
// in the error, compatible with errors.Is(err, ErrInvalidToken) or
// errors.Is(err, ErrDuplicateToken). After Close it returns ErrClosed.
func (l *Ledger) Record(frags []cmsg.Frag) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var (
		nf, nb, gf, gb uint64
		bad            int
		first          error
	)
	ents := l.ents
	for rest := frags; len(rest) > 0; {
		// The hot path, in its own loop: every frag up to the first
		// one it does not handle.
		k, fn, fb := recordFast(ents, rest)
		nf += fn
		nb += fb
		if k == len(rest) {
			break
		}
		f := &rest[k]
		rest = rest[k+1:]
		t := f.Token
		if t == 0 || t > MaxToken {
			bad++
			if first == nil {
				first = fmt.Errorf("%w: token %d (binding %d offset %#x) is outside 1..%d", ErrInvalidToken, t, f.DMABufID, f.Offset, MaxToken)
			}
			continue
		}
		if int(t) >= len(l.ents) {
			l.grow(t)
			ents = l.ents
		}
		e := &ents[t]
		if e.st != stFree {
			w, b := t>>6, uint64(1)<<(t&63)
			if e.st != stPending || int(w) >= len(l.work) || l.work[w]&b == 0 || l.pend[w]&b != 0 {
				bad++
				if first == nil {
					first = fmt.Errorf("%w: token %d (binding %d offset %#x)", ErrDuplicateToken, t, f.DMABufID, f.Offset)
				}
				continue
			}
			// The token's release is in flight, the kernel freed it and has
			// handed it out again: the old frag is gone.
			gf++
			gb += uint64(e.size)
		}
		*e = entry{off: f.Offset, size: f.Size, id: f.DMABufID, st: stRecorded}
		nf++
		nb += uint64(f.Size)
	}
	l.outF += nf - gf
	l.outB += nb - gb
	l.st.Recorded += nf
	l.st.RecordedBytes += nb
	l.st.Rejected += uint64(bad)
	l.st.PeakFrags = max(l.st.PeakFrags, l.outF)
	l.st.PeakBytes = max(l.st.PeakBytes, l.outB)
	l.mu.Unlock()
	if l.lim != nil && (nf != gf || nb != gb) {
		// gb may exceed nb: the unsigned difference wraps, and adding it
		// subtracts.
		l.lim.add(nf-gf, nb-gb)
	}
	if bad > 0 {
		return moreRejected(first, bad)
	}
	return nil
}

// recordFast records the frags at the start of frags that take Record's
// hot path (Linear, skipped; or DMABuf with a token inside the table whose
// entry is free), and returns how many it consumed and the DMABuf frags and
// bytes among them. It is a function of its own so that the loop keeps its
// few values in registers (Record's slow path needs many more).
func recordFast(ents []entry, frags []cmsg.Frag) (k int, nf, nb uint64) {
	for k = 0; k < len(frags); k++ {
		f := &frags[k]
		if f.Kind != cmsg.DMABuf {
			continue
		}
		t := f.Token
		if t == 0 || int(t) >= len(ents) || ents[t].st != stFree {
			return k, nf, nb
		}
		e := &ents[t]
		e.off, e.size, e.id, e.hold, e.st = f.Offset, f.Size, f.DMABufID, 0, stRecorded
		nf++
		nb += uint64(f.Size)
	}
	return k, nf, nb
}

// releaseFast queues the frags at the start of frags that take Release's
// hot path (Linear, skipped; or DMABuf matching a recorded entry), and
// returns how many it consumed, the DMABuf frags and bytes among them, and
// the bounds of pend's words with set bits, lo and hi, extended. As
// recordFast, it is on its own to keep its values in registers.
func releaseFast(ents []entry, pend []uint64, frags []cmsg.Frag, lo, hi uint32) (k int, nf, nb uint64, lo2, hi2 uint32) {
	for k = 0; k < len(frags); k++ {
		f := &frags[k]
		if f.Kind != cmsg.DMABuf {
			continue
		}
		t := f.Token
		if int(t) >= len(ents) {
			break
		}
		e := &ents[t]
		if e.st != stRecorded || e.off != f.Offset || e.size != f.Size || e.id != f.DMABufID {
			break
		}
		// queue, inlined.
		e.st = stPending
		w := t >> 6
		pend[w] |= 1 << (t & 63)
		lo, hi = min(lo, w), max(hi, w+1)
		nf++
		nb += uint64(f.Size)
	}
	return k, nf, nb, lo, hi
}

func moreRejected(first error, bad int) error {
	if bad == 1 {
		return first
	}
	return fmt.Errorf("%w (and %d more frags rejected)", first, bad-1)
}

// lookup returns the entry of a frag to release or hold.
func (l *Ledger) lookup(f *cmsg.Frag) (*entry, error) {
	t := f.Token
	if t == 0 || int(t) >= len(l.ents) || l.ents[t].st == stFree || l.ents[t].st == stPending {
		return nil, fmt.Errorf("%w: token %d (binding %d offset %#x)", ErrNotOutstanding, t, f.DMABufID, f.Offset)
	}
	e := &l.ents[t]
	if e.off != f.Offset || e.size != f.Size || e.id != f.DMABufID {
		return nil, fmt.Errorf("%w: token %d is binding %d [%#x,+%d), frag is binding %d [%#x,+%d)", ErrForeignFrag, t, e.id, e.off, e.size, f.DMABufID, f.Offset, f.Size)
	}
	if e.st == stHeld {
		return nil, fmt.Errorf("%w: token %d (owner %q)", ErrHeld, t, l.bats[e.hold].owner)
	}
	return e, nil
}

// queue marks a token released: it goes back to the kernel with the next
// flush.
func (l *Ledger) queue(t uint32, e *entry) {
	e.st = stPending
	w := t >> 6
	l.pend[w] |= 1 << (t & 63)
	l.plo = min(l.plo, w)
	l.phi = max(l.phi, w+1)
	l.pendF++
	l.pendB += uint64(e.size)
	l.st.Released++
	l.st.ReleasedBytes += uint64(e.size)
}

// Flush modes: what shouldFlush calls for.
const (
	flushNone  = iota
	flushAll   // everything queued
	flushWhole // a batch threshold was reached: full calls only
)

// shouldFlush reports whether the policy, or a waiting reader, calls for a
// flush now, and of what.
func (l *Ledger) shouldFlush() int {
	if l.pendF == 0 {
		return flushNone
	}
	p := l.policy
	switch {
	case (p.BatchFrags == 0 && p.BatchBytes == 0) ||
		l.note.waiters.Load() > 0 || (l.lim != nil && l.lim.note.waiters.Load() > 0):
		return flushAll
	case (p.BatchFrags > 0 && l.pendF >= uint64(p.BatchFrags)) ||
		(p.BatchBytes > 0 && l.pendB >= p.BatchBytes):
		return flushWhole
	}
	return flushNone
}

// policyFlush makes the flush shouldFlush called for, after Release or Done
// queued frags. A Close that ran in between flushed them (Close flushes
// until nothing is queued), so ErrClosed from the flush is no failure of
// the release: it returns nil then.
func (l *Ledger) policyFlush(mode int) error {
	var err error
	switch mode {
	case flushAll:
		err = l.Flush()
	case flushWhole:
		l.fmu.Lock()
		l.fs.whole = true
		err = l.flushLocked()
		l.fs.whole = false
		l.fmu.Unlock()
	}
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Release hands the DMABuf frags of frags back (Linear frags are ignored):
// the application is done with their bytes. Depending on the policy they go
// back to the kernel now or with a later flush; the error of a flush made
// here is returned (see Flush).
//
// Frags that are not outstanding (never recorded, or released already), that
// do not match their recorded token, or that a Batch holds are skipped and
// reported, compatible with errors.Is(err, ErrNotOutstanding),
// ErrForeignFrag or ErrHeld; the others are released.
func (l *Ledger) Release(frags []cmsg.Frag) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var (
		bad    int
		first  error
		nf, nb uint64
	)
	lo, hi := l.plo, l.phi
	for rest := frags; len(rest) > 0; {
		// The hot path, in its own loop: every frag up to the first
		// one it does not take.
		k, fn, fb, lo2, hi2 := releaseFast(l.ents, l.pend, rest, lo, hi)
		nf += fn
		nb += fb
		lo, hi = lo2, hi2
		if k == len(rest) {
			break
		}
		f := &rest[k]
		rest = rest[k+1:]
		_, err := l.lookup(f) // fails: the fast path takes every valid frag
		bad++
		if first == nil {
			first = err
		}
	}
	l.plo, l.phi = lo, hi
	l.pendF += nf
	l.pendB += nb
	l.st.Released += nf
	l.st.ReleasedBytes += nb
	l.st.Rejected += uint64(bad)
	flush := l.shouldFlush()
	l.mu.Unlock()
	err := l.policyFlush(flush)
	if bad > 0 {
		return errors.Join(moreRejected(first, bad), err)
	}
	return err
}

// Batch is a done-handle for frags whose release is deferred: the
// application calls Done when the device has finished with their bytes, the
// way TCPX releases after the GPU's copy kernel completes.
//
// A Batch is a small value. Done may be called from any goroutine, once; the
// zero Batch is invalid.
type Batch struct {
	l    *Ledger
	slot uint32
	gen  uint32
}

// Hold puts the DMABuf frags of frags (which must be recorded, and neither
// released nor held) under a new Batch; owner names the holder in leak
// reports. It is all or nothing: on error no frag is held, and the error is
// compatible with errors.Is(err, ErrNotOutstanding), ErrForeignFrag or
// ErrHeld.
func (l *Ledger) Hold(owner string, frags []cmsg.Frag) (Batch, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Batch{}, ErrClosed
	}
	var slot uint32
	if n := len(l.free); n > 0 {
		slot = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		l.bats = append(l.bats, batchSlot{gen: 1})
		slot = uint32(len(l.bats) - 1)
	}
	s := &l.bats[slot]
	s.toks = s.toks[:0]
	for i := range frags {
		f := &frags[i]
		if f.Kind != cmsg.DMABuf {
			continue
		}
		e, err := l.lookup(f)
		if err != nil {
			for _, t := range s.toks {
				l.ents[t].st = stRecorded
			}
			l.heldF -= uint64(len(s.toks))
			s.toks = s.toks[:0]
			l.free = append(l.free, slot)
			l.st.Rejected++
			return Batch{}, err
		}
		e.st = stHeld
		e.hold = slot
		s.toks = append(s.toks, f.Token)
		l.heldF++
	}
	s.owner = owner
	return Batch{l: l, slot: slot, gen: s.gen}, nil
}

// Done releases the batch's frags, as Release would. A second Done returns
// ErrBatchDone; after the ledger's Close it returns ErrClosed.
func (b Batch) Done() error {
	l := b.l
	if l == nil {
		return ErrBatchDone
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if int(b.slot) >= len(l.bats) || l.bats[b.slot].gen != b.gen {
		l.mu.Unlock()
		return ErrBatchDone
	}
	s := &l.bats[b.slot]
	for _, t := range s.toks {
		l.queue(t, &l.ents[t])
	}
	l.heldF -= uint64(len(s.toks))
	s.toks = s.toks[:0]
	s.owner = ""
	if s.gen++; s.gen == 0 {
		s.gen = 1
	}
	l.free = append(l.free, b.slot)
	flush := l.shouldFlush()
	l.mu.Unlock()
	return l.policyFlush(flush)
}

// Flush returns every released frag still queued to the kernel now. It
// returns the system call's error, wrapped (the frags stay queued for the
// next flush), and an [*UnknownTokensError] if the kernel did not know some
// tokens (they are counted as released). After Close it returns ErrClosed.
func (l *Ledger) Flush() error {
	l.fmu.Lock()
	defer l.fmu.Unlock()
	return l.flushLocked()
}

func (l *Ledger) flushLocked() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.pendF == 0 {
		l.mu.Unlock()
		return nil
	}
	if len(l.work) < len(l.pend) {
		l.work = make([]uint64, len(l.pend))
	}
	l.pend, l.work = l.work, l.pend
	lo, hi := l.plo, l.phi
	l.plo, l.phi = noWord, 0
	l.pendF, l.pendB = 0, 0
	l.mu.Unlock()

	// Emit the queued tokens in ascending order, coalesced into ranges.
	// The bitmap is read without mu: only holders of fmu write it.
	fs := &l.fs
	fs.nr, fs.slots = 0, 0
	fs.freed, fs.unknown, fs.calls, fs.ranges, fs.shorts, fs.retries, fs.callErrs = 0, 0, 0, 0, 0, 0, 0
	fs.err, fs.cut, fs.cands, fs.kept = nil, 0, nil, false
	w := l.work
	for wi := lo; wi < hi && fs.err == nil; wi++ {
		word := w[wi]
		for word != 0 && fs.err == nil {
			b := uint(bits.TrailingZeros64(word))
			n := uint(bits.TrailingZeros64(^(word >> b)))
			word &^= (1<<n - 1) << b
			l.add(wi<<6|uint32(b), uint32(n))
		}
	}
	if fs.err == nil {
		if fs.whole && fs.calls > 0 && fs.nr > 0 && fs.slots < uapi.MAX_DONTNEED_FRAGS && fs.nr < uapi.MAX_DONTNEED_TOKENS && l.belowBatch() {
			// A short call after full ones, smaller than a batch: its
			// tokens wait for the next batch.
			fs.kept, fs.keep = true, fs.toks[0].TokenStart
			fs.nr, fs.slots = 0, 0
		} else {
			l.submit()
		}
	}

	// Account: tokens released are free again; on a system call error the
	// ones not submitted, and those kept for the next batch, go back to
	// the queue.
	l.mu.Lock()
	var df, db uint64
	ents, pend := l.ents, l.pend
	for wi := lo; wi < hi; wi++ {
		word := w[wi]
		w[wi] = 0
		for word != 0 {
			b := uint(bits.TrailingZeros64(word))
			word &= word - 1
			t := wi<<6 | uint32(b)
			e := &ents[t]
			if e.st != stPending || pend[wi]&(1<<b) != 0 {
				continue // handed out again and recorded meanwhile
			}
			if (fs.err != nil && t >= fs.cut) || (fs.kept && t >= fs.keep) {
				pend[wi] |= 1 << b
				l.plo = min(l.plo, wi)
				l.phi = max(l.phi, wi+1)
				l.pendF++
				l.pendB += uint64(e.size)
				continue
			}
			e.st = stFree
			df++
			db += uint64(e.size)
		}
	}
	l.outF -= df
	l.outB -= db
	l.st.Freed += fs.freed
	l.st.UnknownTokens += fs.unknown
	l.st.Calls += fs.calls
	l.st.Ranges += fs.ranges
	l.st.ShortCalls += fs.shorts
	l.st.Retries += fs.retries
	l.st.CallErrors += fs.callErrs
	l.mu.Unlock()
	if l.lim != nil {
		l.lim.sub(df, db)
	}
	l.note.wake()

	var uerr error
	if fs.unknown > 0 {
		uerr = &UnknownTokensError{Count: int(fs.unknown), Candidates: fs.cands}
	}
	return errors.Join(fs.err, uerr)
}

// belowBatch reports whether the tokens of the call being built are fewer
// than the policy's batch thresholds; fmu held.
func (l *Ledger) belowBatch() bool {
	fs, p := &l.fs, l.policy
	if p.BatchFrags > 0 && uint64(fs.slots) >= uint64(p.BatchFrags) {
		return false
	}
	if p.BatchBytes == 0 {
		return true
	}
	var b uint64
	l.mu.Lock()
	for _, r := range fs.toks[:fs.nr] {
		for t := r.TokenStart; t < r.TokenStart+r.TokenCount; t++ {
			b += uint64(l.ents[t].size)
		}
	}
	l.mu.Unlock()
	return b < p.BatchBytes
}

// add appends tokens start..start+count-1 to the call being built, making
// calls as the kernel's limits require.
func (l *Ledger) add(start, count uint32) {
	fs := &l.fs
	for count > 0 && fs.err == nil {
		contig := fs.nr > 0 && fs.toks[fs.nr-1].TokenStart+fs.toks[fs.nr-1].TokenCount == start
		if fs.slots == uapi.MAX_DONTNEED_FRAGS || (!contig && fs.nr == uapi.MAX_DONTNEED_TOKENS) {
			l.submit()
			continue
		}
		c := min(count, uapi.MAX_DONTNEED_FRAGS-fs.slots)
		if contig {
			fs.toks[fs.nr-1].TokenCount += c
		} else {
			fs.toks[fs.nr] = uapi.DmabufToken{TokenStart: start, TokenCount: c}
			fs.nr++
		}
		fs.slots += c
		start += c
		count -= c
	}
}

// submit makes the SO_DEVMEM_DONTNEED call built so far. The kernel frees
// the tokens it holds and skips the others, in order, and stops after 1024
// token slots; it returns how many it freed. On a short count the slots the
// kernel may not have reached are submitted again, until a call frees
// nothing; what is still missing then was unknown to the kernel.
func (l *Ledger) submit() {
	fs := &l.fs
	if fs.nr == 0 {
		return
	}
	toks := fs.toks[:fs.nr]
	slots := fs.slots
	first := toks[0].TokenStart
	last := toks[len(toks)-1].TokenStart + toks[len(toks)-1].TokenCount
	fs.nr, fs.slots = 0, 0
	retry := false
	for {
		n, err := l.k.dontneed(toks)
		fs.calls++
		fs.ranges += uint64(len(toks))
		if err != nil {
			fs.callErrs++
			fs.err = err
			fs.cut = first
			if retry {
				// Part of the call went through: the rest is uncertain.
				fs.unknown += uint64(slots)
				fs.cut = last
			}
			return
		}
		n = max(n, 0)
		if uint32(n) >= slots {
			fs.freed += uint64(slots)
			return
		}
		fs.freed += uint64(n)
		fs.shorts++
		if !retry {
			// The tokens the kernel did not know are among these.
			fs.cands = appendRanges(fs.cands, toks)
		}
		if n == 0 {
			fs.unknown += uint64(slots)
			return
		}
		toks = trimSlots(toks, uint32(n))
		slots -= uint32(n)
		retry = true
		fs.retries++
	}
}

// trimSlots drops the first n token slots of toks.
func trimSlots(toks []uapi.DmabufToken, n uint32) []uapi.DmabufToken {
	for n > 0 {
		if toks[0].TokenCount <= n {
			n -= toks[0].TokenCount
			toks = toks[1:]
			continue
		}
		toks[0].TokenStart += n
		toks[0].TokenCount -= n
		n = 0
	}
	return toks
}

func appendRanges(dst []TokenRange, toks []uapi.DmabufToken) []TokenRange {
	for _, t := range toks {
		dst = append(dst, TokenRange{Start: t.TokenStart, Count: t.TokenCount})
	}
	return dst
}

// room reports whether the ledger is below its bounds; l.mu held.
func (l *Ledger) room() bool {
	return (l.maxF == 0 || l.outF < l.maxF) && (l.maxB == 0 || l.outB < l.maxB)
}

// Wait returns once the socket (MaxFrags, MaxBytes) and its binding
// (Limiter) are below their bounds: call it before reading more. While it
// waits, queued releases are flushed at once, those of the other ledgers
// sharing the Limiter too. With FailFast it flushes them likewise, then
// returns ErrBackpressure instead of waiting if that made no room. It
// returns ctx's error if ctx ends first, and ErrClosed if the ledger is
// closed.
//
// A reader that also releases (on the same goroutine) must not wait on a
// bound that only its own releases can lift: use FailFast, or release before
// waiting.
func (l *Ledger) Wait(ctx context.Context) error {
	l.mu.Lock()
	closed, room := l.closed, l.room()
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if room && l.lim.room() {
		return nil
	}
	if l.fail {
		// Released frags still queued count as outstanding: return them
		// (and the other sockets' of the binding) before giving up.
		if err := l.Flush(); err != nil && !errors.Is(err, ErrUnknownTokens) {
			return err
		}
		if l.lim != nil {
			l.lim.flushAll(l)
		}
		l.mu.Lock()
		room := l.room()
		l.mu.Unlock()
		if room && l.lim.room() {
			return nil
		}
		l.mu.Lock()
		l.st.Backpressured++
		f, b := l.outF, l.outB
		l.mu.Unlock()
		return fmt.Errorf("%w: %d frags, %d bytes outstanding on %q", ErrBackpressure, f, b, l.label)
	}
	l.note.waiters.Add(1)
	defer l.note.waiters.Add(-1)
	if l.lim != nil {
		l.lim.note.waiters.Add(1)
		defer l.lim.note.waiters.Add(-1)
	}
	l.mu.Lock()
	l.st.Waits++
	l.mu.Unlock()
	// Nothing else would flush what is queued while the reader waits.
	if err := l.Flush(); err != nil && !errors.Is(err, ErrUnknownTokens) {
		return err
	}
	if l.lim != nil {
		l.lim.flushAll(l)
	}
	for {
		c1 := l.note.wait()
		var c2 <-chan struct{}
		if l.lim != nil {
			c2 = l.lim.note.wait()
		}
		l.mu.Lock()
		closed, room := l.closed, l.room()
		l.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if room && l.lim.room() {
			return nil
		}
		select {
		case <-c1:
		case <-c2:
		case <-ctx.Done():
			return fmt.Errorf("pagepool: waiting for frags to be released on %q: %w", l.label, context.Cause(ctx))
		}
	}
}

// RecordContext records frags as Record does, then waits as Wait does.
// Frags are recorded even if it returns an error.
func (l *Ledger) RecordContext(ctx context.Context, frags []cmsg.Frag) error {
	err := l.Record(frags)
	if errors.Is(err, ErrClosed) {
		return err
	}
	return errors.Join(err, l.Wait(ctx))
}

// Outstanding appends the frags the ledger holds outstanding (recorded, held
// or queued) to dst, by token, and returns it.
func (l *Ledger) Outstanding(dst []LeakedFrag) []LeakedFrag {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendOutstanding(dst)
}

func (l *Ledger) appendOutstanding(dst []LeakedFrag) []LeakedFrag {
	for t := range l.ents {
		e := &l.ents[t]
		if e.st == stFree {
			continue
		}
		lf := LeakedFrag{
			Frag:  cmsg.Frag{Offset: e.off, Size: e.size, Token: uint32(t), DMABufID: e.id, Kind: cmsg.DMABuf},
			State: FragState(e.st),
		}
		if e.st == stHeld {
			lf.Owner = l.bats[e.hold].owner
		}
		dst = append(dst, lf)
	}
	return dst
}

// Stats returns a snapshot of the ledger's counters.
func (l *Ledger) Stats() LedgerStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.st
	st.OutstandingFrags, st.OutstandingBytes = l.outF, l.outB
	st.HeldFrags = l.heldF
	st.PendingFrags, st.PendingBytes = l.pendF, l.pendB
	return st
}

// Close flushes the queued releases, and returns the report of the frags
// still outstanding: never released by the application. The kernel frees
// them when the socket is destroyed, so close the socket after the ledger.
// Close wakes blocked Wait calls (they return ErrClosed), and takes the
// ledger's frags off its Limiter. It is idempotent: a second Close returns an
// empty report and nil. The error is the flush's.
func (l *Ledger) Close() (LeakReport, error) {
	if l == nil {
		return LeakReport{}, nil
	}
	l.fmu.Lock()
	var ferr error
	for {
		ferr = l.flushLocked()
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			l.fmu.Unlock()
			return LeakReport{}, nil
		}
		// A Release or Done that ran during the flush queued more frags:
		// they were released (the call returns nil), so flush them too
		// rather than report them. Each round takes outstanding frags,
		// so this ends. After a failed flush they stay in the report.
		if ferr != nil || l.pendF == 0 {
			break
		}
		l.mu.Unlock()
	}
	l.closed = true
	rep := LeakReport{Label: l.label, Frags: l.appendOutstanding(nil)}
	for _, f := range rep.Frags {
		rep.Bytes += uint64(f.Frag.Size)
	}
	f, b := l.outF, l.outB
	l.mu.Unlock()
	l.fmu.Unlock()
	if l.lim != nil {
		l.lim.unregister(l)
		l.lim.sub(f, b)
	}
	l.note.wake()
	return rep, ferr
}
