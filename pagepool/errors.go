package pagepool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/devmem-go/devmem/internal"
)

// ErrNotSupported is returned where the operating system lacks devmem TCP
// (every OS but Linux). It is the same value as the other packages'
// ErrNotSupported.
var ErrNotSupported = internal.ErrNotSupported

// Allocator errors. Every error an [Allocator] returns matches one of these
// with errors.Is; the allocator's state is unchanged by a failed call.
var (
	// ErrZeroSize: a request for 0 bytes.
	ErrZeroSize = errors.New("pagepool: zero-size request")
	// ErrNoSpace: no free range satisfies the request now; free regions or
	// ask for a scatterlist (AllocScatter) and retry.
	ErrNoSpace = errors.New("pagepool: no space")
	// ErrOutOfRange: a request that can never succeed (larger than the
	// allocator), or a region that lies outside the allocator's segments or is
	// not page-aligned.
	ErrOutOfRange = errors.New("pagepool: out of range")
	// ErrAlignment: an alignment that is not a power of two.
	ErrAlignment = errors.New("pagepool: alignment is not a power of two")
	// ErrDoubleFree: the region was already freed (and its space possibly
	// handed out again).
	ErrDoubleFree = errors.New("pagepool: double free")
	// ErrForeignRegion: the region was not handed out by this allocator, or
	// was modified after it was.
	ErrForeignRegion = errors.New("pagepool: region not from this allocator")
	// ErrSegment: NewAllocator was given an invalid or overlapping segment.
	ErrSegment = errors.New("pagepool: invalid segment")
)

// Ledger errors. Every error a [Ledger] returns matches one of these with
// errors.Is, or wraps the system call's errno.
var (
	// ErrClosed: the ledger was closed.
	ErrClosed = errors.New("pagepool: ledger closed")
	// ErrBackpressure: too many frags or bytes are outstanding on the socket
	// or its binding, and the ledger was created with FailFast. Release frags
	// before reading more.
	ErrBackpressure = errors.New("pagepool: too many frags outstanding")
	// ErrInvalidToken: a DMABuf frag with token 0, or a token beyond
	// MaxToken. The kernel never hands those out; the frag is not from a
	// devmem socket.
	ErrInvalidToken = errors.New("pagepool: invalid token")
	// ErrDuplicateToken: Record saw a token that is already outstanding. The
	// kernel never hands out a live token twice: the frags come from another
	// socket, or were recorded twice.
	ErrDuplicateToken = errors.New("pagepool: token already outstanding")
	// ErrNotOutstanding: Release or Hold of a frag whose token is not
	// outstanding: it was never recorded, or was already released.
	ErrNotOutstanding = errors.New("pagepool: frag not outstanding (double release?)")
	// ErrForeignFrag: the token is outstanding, but for a frag with another
	// offset, size or binding id: the frag is from another socket.
	ErrForeignFrag = errors.New("pagepool: frag does not match its recorded token")
	// ErrHeld: Release or Hold of a frag that a Batch holds; call the
	// batch's Done instead.
	ErrHeld = errors.New("pagepool: frag is held by a batch")
	// ErrBatchDone: Done on a Batch that is already done, or on the zero
	// Batch.
	ErrBatchDone = errors.New("pagepool: batch already done")
	// ErrUnknownTokens is matched by [*UnknownTokensError].
	ErrUnknownTokens = errors.New("pagepool: kernel did not know some tokens")
)

// TokenRange is tokens Start .. Start+Count-1, one struct dmabuf_token.
type TokenRange struct {
	Start, Count uint32
}

// UnknownTokensError reports that SO_DEVMEM_DONTNEED freed fewer tokens than
// it was given, even after the rest was submitted again. The kernel skips
// tokens it does not hold for the socket: they were freed already (the socket
// was destroyed), or were never this socket's (frags recorded into the wrong
// ledger). The ledger counts them as released, so nothing is lost silently:
// the count is in [LedgerStats].UnknownTokens too.
type UnknownTokensError struct {
	// Count is how many of the submitted tokens the kernel did not free.
	Count int
	// Candidates are the ranges of the call(s) that came back short: the
	// unknown tokens are among them.
	Candidates []TokenRange
}

// Error implements error.
func (e *UnknownTokensError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pagepool: SO_DEVMEM_DONTNEED: kernel did not know %d token(s) among", e.Count)
	for i, r := range e.Candidates {
		if i == 8 {
			fmt.Fprintf(&b, " ... (%d ranges)", len(e.Candidates))
			break
		}
		fmt.Fprintf(&b, " [%d,+%d)", r.Start, r.Count)
	}
	b.WriteString("; were these frags recorded from another socket, or the socket closed?")
	return b.String()
}

// Is reports whether target is [ErrUnknownTokens].
func (e *UnknownTokensError) Is(target error) bool { return target == ErrUnknownTokens }

var _ error = &UnknownTokensError{}
