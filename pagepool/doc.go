// Package pagepool is the user-space mirror of the kernel's devmem page pool:
// an [Allocator] that carves dma-bufs into page-aligned regions, and a
// [Ledger] that tracks the tokens of received devmem frags and gives them
// back to the kernel with SO_DEVMEM_DONTNEED.
//
// See https://docs.kernel.org/networking/devmem.html for devmem TCP itself.
//
// # Allocator
//
// In the kernel, devmem splits the bound dma-buf into pages through an
// allocator over its scatterlist, and the page pool hands those pages to the
// NIC. An [Allocator] does the same arithmetic for buffers the application
// owns: TX buffers, staging areas, regions it hands to a device. It manages
// one or more dma-bufs as a list of [Segment]s and hands out [Region]s of a
// requested size and alignment: page-aligned by default, contiguous
// ([Allocator.Alloc]) or as a scatterlist of several regions
// ([Allocator.AllocScatter]). The page size is the system's unless
// [AllocatorOptions].PageSize says otherwise (an RX binding may use larger
// pages on newer kernels; segment lengths must be multiples of it, as the
// kernel requires of dma-buf scatterlist entries).
//
// The allocator is a two-level segregated fit over pages: O(1) per
// operation, nothing allocated after [NewAllocator], free ranges coalesced at
// once, and occupancy and fragmentation in [Allocator.Stats]. Double frees,
// foreign or modified regions, out-of-range and zero-size requests are
// errors ([ErrDoubleFree], [ErrForeignRegion], [ErrOutOfRange],
// [ErrZeroSize]) that leave the allocator unchanged. It is safe for
// concurrent use.
//
// # Ledger
//
// Every SCM_DEVMEM_DMABUF frag that recvmsg(MSG_SOCK_DEVMEM) reports pins a
// page of the binding's page pool until its token is given back with
// setsockopt(SO_DEVMEM_DONTNEED); a socket that forgets them starves the NIC
// and the queue drops packets. A [Ledger], one per socket:
//
//   - records the tokens of received frags ([Ledger.Record]);
//   - takes them back when the application is done with the bytes: at once
//     ([Ledger.Release]) or through a done-handle ([Ledger.Hold] and
//     [Batch.Done]) when a device still reads them;
//   - returns them to the kernel immediately or in batches
//     ([ReleasePolicy]), sorted and coalesced into {start, count} ranges, at
//     most 128 ranges and 1024 tokens per call (the kernel's limits), so that
//     a GiB received in 4 KiB frags costs 256 system calls instead of the
//     262,144 of one call per frag;
//   - reads the number of tokens the kernel freed (the setsockopt return
//     value, which golang.org/x/sys/unix's wrappers discard), submits again
//     what a short call may not have reached, and reports the tokens the
//     kernel did not know ([UnknownTokensError], [LedgerStats]) instead of
//     losing them silently;
//   - bounds the frags and bytes outstanding per socket
//     ([LedgerOptions].MaxFrags, MaxBytes) and per binding ([Limiter]):
//     [Ledger.Wait] blocks the reader (or fails with [ErrBackpressure]) until
//     releases make room;
//   - accounts for every outstanding token at [Ledger.Close], in a
//     [LeakReport] that says which frags were never released and who held
//     them.
//
// Record and Release cost a few nanoseconds per frag and allocate nothing
// once the token table has grown to the socket's working set. A Ledger is
// safe for concurrent use: the reader records, device completion callbacks
// release. It does not own the socket; close it before the socket, whose
// destruction frees all of its tokens in the kernel.
//
// SO_DEVMEM_DONTNEED requires Linux 6.12 built with CONFIG_NET_DEVMEM; on
// other systems [NewLedger] fails with [ErrNotSupported]. The Allocator is
// pure arithmetic and works everywhere.
//
// # Deferred release (TCPX style)
//
// GPUDirect TCPX-style receivers hand each batch of frags to the GPU, which
// copies or consumes the bytes asynchronously, and return the tokens only
// when the GPU is done. With a Ledger:
//
//	ledger, err := pagepool.NewLedger(rc, &pagepool.LedgerOptions{
//		Label:    "conn 10.0.0.2:5201",
//		Policy:   pagepool.ReleasePolicy{BatchFrags: 1024},
//		MaxBytes: 256 << 20,         // this socket may pin at most 256 MiB
//		Limiter:  bindingLimiter,    // shared by the binding's sockets
//	})
//	...
//	for {
//		if err := ledger.Wait(ctx); err != nil { ... } // back-pressure
//		frags := readFrags()                           // recvmsg(MSG_SOCK_DEVMEM) + cmsg.Parse
//		if err := ledger.Record(frags); err != nil { ... }
//		batch, err := ledger.Hold("gpu stream 0", frags)
//		gpu.CopyAsync(frags, func() { batch.Done() }) // release when the GPU finishes
//	}
//	report, err := ledger.Close() // lists frags the GPU never finished
//
// # Tokens the kernel does not know
//
// The kernel skips tokens it does not hold and returns how many it freed.
// The ledger never sends more than the kernel examines in one call, so a
// short count means tokens unknown to the kernel: frags recorded into the
// wrong ledger, or a socket already destroyed. The ledger then submits the
// part of the call past the freed count once more (a kernel that stopped
// early would free it), and reports what is still missing. Do not record
// frags of one socket into another socket's ledger: the kernel would free
// that socket's tokens of the same numbers.
package pagepool
