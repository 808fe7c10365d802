package devmem

import (
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
)

// ConnStats is a snapshot of one connection's counters. Byte counts are of
// payload received or sent through this package's methods.
type ConnStats struct {
	Mode Mode

	// Received bytes by where they arrived: in the dma-buf (devmem
	// frags), in the linear buffer (SCM_DEVMEM_LINEAR, devmem mode), as
	// ordinary data on a devmem socket, and copied by the kernel into the
	// buffer (copy mode).
	DevmemBytes, LinearBytes, PlainBytes, CopiedBytes uint64
	// Frags is the number of frags ReadFrags (and Read, WriteTo) returned;
	// Reads the number of receive system calls that returned data.
	Frags, Reads uint64
	// ReadOutBytes is the number of bytes Read and WriteTo copied out of
	// the buffer's mapping into host memory.
	ReadOutBytes uint64

	// OutstandingFrags and OutstandingBytes are received and not yet
	// released (nor, in devmem mode, given back to the kernel).
	OutstandingFrags, OutstandingBytes uint64
	// ReleaseCalls counts Release calls and Batch.Done calls.
	ReleaseCalls uint64
	// IdleFlushes counts the times queued releases went back to the
	// kernel because the reader waited for data (ListenConfig.ReleaseIdle).
	IdleFlushes uint64
	// ShortFrees counts SO_DEVMEM_DONTNEED calls that freed fewer tokens
	// than given (devmem mode; see pagepool.LedgerStats.ShortCalls).
	ShortFrees uint64
	// CtrlRegrowths counts the times the control buffer was grown after
	// the kernel answered ETOOSMALL; CtrlSize is its size now.
	CtrlRegrowths uint64
	CtrlSize      int
	// Ledger is the token ledger's own view (pagepool.Ledger's). In copy
	// mode the ledger frees memory where devmem mode calls
	// SO_DEVMEM_DONTNEED: Calls counts releases that freed memory and Freed
	// the frags they freed; Waits and Backpressured include the waits for
	// room in the buffer.
	Ledger pagepool.LedgerStats
	// Leaked is the number of frags the connection held when it was
	// closed (the kernel or the copy path freed them); see Conn.Leaks.
	Leaked uint64

	// Transmit side (connections made by Dial).
	Sends         uint64 // Send calls that sent something
	SentBytes     uint64 // bytes sent by Send (from the buffer)
	SendCalls     uint64 // sendmsg(MSG_ZEROCOPY) calls: the completion numbers used
	TXCompletions uint64 // completion notifications read from the error queue (copy mode: one per Send)
	TXCompleted   uint64 // sendmsg calls the notifications covered
	TXCopied      uint64 // of those, calls the kernel reported it copied (SO_EE_CODE_ZEROCOPY_COPIED)
	TXPending     uint64 // sendmsg calls not yet completed
	TXPendingRegs uint64 // regions waiting for their completion before they are freed
}

// ListenerStats is a snapshot of a Listener: its mode, its device side, and
// the sums of its connections' counters.
type ListenerStats struct {
	Mode   Mode
	Reason error // why the Listener fell back to copy mode; nil in devmem mode

	Ifindex    int      // the bound device (devmem mode)
	BindingID  uint32   // the RX binding id (devmem mode)
	Queues     []uint32 // the bound RX queues (devmem mode)
	BufferSize uint64   // bytes in the buffer received into
	BufferKind string   // "dma-buf" (the caller's), "udmabuf", "memfd", or "file" (the caller's, not a dma-buf)

	Accepted uint64 // connections accepted
	Open     int    // connections accepted and not yet closed

	// Conns sums the counters of every connection accepted, closed ones
	// included (Mode and CtrlSize are left zero, Outstanding* are those of
	// the open connections).
	Conns ConnStats

	// Limited is what the shared bound (ListenerMaxFrags/Bytes) counts now.
	LimitedFrags, LimitedBytes uint64
	// Copy is the allocator of the buffer in copy mode; nil in devmem mode.
	Copy *pagepool.AllocatorStats

	// PagePools are the bound queues' page pools and Queues the bound
	// queues as the netdev family reports them (devmem mode); NetdevErr
	// is the error of that query, if any.
	PagePools   []netdev.PagePool
	QueueStates []netdev.Queue
	NetdevErr   error
}

// add sums s into t (for ListenerStats.Conns).
func (t *ConnStats) add(s *ConnStats) {
	t.DevmemBytes += s.DevmemBytes
	t.LinearBytes += s.LinearBytes
	t.PlainBytes += s.PlainBytes
	t.CopiedBytes += s.CopiedBytes
	t.Frags += s.Frags
	t.Reads += s.Reads
	t.ReadOutBytes += s.ReadOutBytes
	t.OutstandingFrags += s.OutstandingFrags
	t.OutstandingBytes += s.OutstandingBytes
	t.ReleaseCalls += s.ReleaseCalls
	t.IdleFlushes += s.IdleFlushes
	t.ShortFrees += s.ShortFrees
	t.CtrlRegrowths += s.CtrlRegrowths
	t.Leaked += s.Leaked
	l, m := &t.Ledger, &s.Ledger
	l.Recorded += m.Recorded
	l.RecordedBytes += m.RecordedBytes
	l.Released += m.Released
	l.ReleasedBytes += m.ReleasedBytes
	l.Freed += m.Freed
	l.UnknownTokens += m.UnknownTokens
	l.OutstandingFrags += m.OutstandingFrags
	l.OutstandingBytes += m.OutstandingBytes
	l.PeakFrags = max(l.PeakFrags, m.PeakFrags)
	l.PeakBytes = max(l.PeakBytes, m.PeakBytes)
	l.HeldFrags += m.HeldFrags
	l.PendingFrags += m.PendingFrags
	l.PendingBytes += m.PendingBytes
	l.Calls += m.Calls
	l.Ranges += m.Ranges
	l.ShortCalls += m.ShortCalls
	l.Retries += m.Retries
	l.CallErrors += m.CallErrors
	l.Rejected += m.Rejected
	l.Waits += m.Waits
	l.Backpressured += m.Backpressured
	t.Sends += s.Sends
	t.SentBytes += s.SentBytes
	t.SendCalls += s.SendCalls
	t.TXCompletions += s.TXCompletions
	t.TXCompleted += s.TXCompleted
	t.TXCopied += s.TXCopied
	t.TXPending += s.TXPending
	t.TXPendingRegs += s.TXPendingRegs
}
