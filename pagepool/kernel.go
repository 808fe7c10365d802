package pagepool

import "github.com/devmem-go/devmem/internal/uapi"

// kernel is the SO_DEVMEM_DONTNEED call: it returns the number of tokens the
// kernel freed. The real one is a raw setsockopt on the socket
// (kernel_linux.go); NewLedgerFunc's is the caller's function (funcKernel);
// tests substitute models of the kernel.
type kernel interface {
	dontneed(toks []uapi.DmabufToken) (int, error)
}

// funcKernel is the kernel of a ledger from NewLedgerFunc: the caller's
// release function, given the call's ranges as TokenRanges. The ledger
// serializes calls (Ledger.fmu), so one buffer serves them all and a call
// allocates nothing.
type funcKernel struct {
	release func(ranges []TokenRange) (freed int, err error)
	buf     [uapi.MAX_DONTNEED_TOKENS]TokenRange
}

func (k *funcKernel) dontneed(toks []uapi.DmabufToken) (int, error) {
	rs := k.buf[:len(toks)]
	for i, t := range toks {
		rs[i] = TokenRange{Start: t.TokenStart, Count: t.TokenCount}
	}
	return k.release(rs)
}
