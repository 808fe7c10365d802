// Package cmsg parses and builds the control messages (ancillary data) of
// Linux device memory TCP: the frags recvmsg(MSG_SOCK_DEVMEM) reports, the
// binding id sendmsg(MSG_ZEROCOPY) takes, and the zerocopy completions of
// the socket error queue. It only handles bytes; the socket calls live in
// package devmem.
//
// See https://docs.kernel.org/networking/devmem.html and
// https://docs.kernel.org/networking/msg_zerocopy.html.
//
// # Receive
//
// With devmem TCP, a NIC writes payload straight into a dma-buf bound to one
// of its RX queues. recvmsg with MSG_SOCK_DEVMEM then copies nothing: it
// describes the data with one SOL_SOCKET control message per fragment, in
// stream order, each carrying a struct dmabuf_cmsg (linux/uio.h):
//
//   - SCM_DEVMEM_DMABUF: frag_size bytes at frag_offset in the dma-buf of
//     binding dmabuf_id; frag_token must later be handed back with
//     setsockopt(SO_DEVMEM_DONTNEED) so the NIC can reuse the memory;
//   - SCM_DEVMEM_LINEAR: frag_size bytes that were in the packet's header
//     buffer were copied into the data buffer, at the current position.
//
// [Parse] appends these to a []Frag without allocating; [All] is the
// iterator form. Control messages of other kinds, such as SO_TIMESTAMP or
// TCP_INQ, are skipped. A recvmsg that returns bytes but no devmem message
// received ordinary data (the flow did not land on a bound queue).
//
// On 64-bit Linux struct dmabuf_cmsg is 24 bytes and struct cmsghdr 16, so
// each frag takes CMSG_SPACE(24) = CMSG_LEN(24) = 40 bytes ([FragSpace]) of
// the control buffer; [Space] sizes a buffer for n frags. The package uses
// the native word size and byte order, and the per-architecture
// SCM_DEVMEM_* values of golang.org/x/sys/unix.
//
// # Control buffer too small
//
// On kernels with commit 18912c520674 ("tcp: devmem: don't write truncated
// dmabuf CMSGs to userspace", 2025, also backported to stable kernels)
// devmem control messages are never truncated and never set MSG_CTRUNC: when the next one does not fit, recvmsg stops and returns the
// bytes described so far, and the rest of the data waits for the next call.
// When not even the first one fits, recvmsg fails with errno 525, the
// kernel-internal ETOOSMALL, which has no libc name; the caller should grow
// its control buffer (package devmem does). MSG_CTRUNC therefore concerns
// only the other control messages, which the kernel appends after the
// devmem ones. Older kernels could leave a truncated devmem message behind;
// Parse rejects any devmem message whose cmsg_len is not 40 (on 64-bit) as
// a [*ParseError] rather than misread it.
//
// # Transmit
//
// Devmem TX (Linux 6.16 and later) sends from a dma-buf bound with the
// netdev bind-tx command: sendmsg(MSG_ZEROCOPY) on a socket with SO_ZEROCOPY,
// iovecs holding dma-buf offsets, and one SOL_SOCKET/SCM_DEVMEM_DMABUF
// control message with the u32 binding id, which [AppendTX] builds
// (cmsg_len exactly CMSG_LEN(4) = 20, [TXSpace] = 24 bytes on 64-bit).
// The kernel reports finished sends on the socket error queue;
// [ParseCompletion] turns the IP_RECVERR/IPV6_RECVERR message into a
// [Completion], an inclusive range of sendmsg call numbers that wraps at
// 2^32.
//
// # Trust and safety
//
// Every function checks that each control message lies inside the buffer
// and that devmem messages have the exact size and the values the kernel
// produces, and reports violations as a [*ParseError] with the offset of
// the bad message; none panics on any input. They cannot check a frag's
// offset against the dma-buf: use [Frag.CheckBounds] before touching
// memory. Pass the control buffer trimmed to the length recvmsg returned,
// never the whole backing array, or stale messages from an earlier call
// may be parsed.
//
// [AppendDMABuf] and [AppendLinear] write what the kernel sends, for tests
// and fakes of code that consumes frags.
//
// # Concurrency
//
// All functions are safe for concurrent use; they read the buffers they are
// given and write only to the slices they return. The caller owns every
// buffer and must not modify one while a call is reading it.
//
// # Other systems
//
// The package builds on every GOOS. Off Linux it parses and builds the
// Linux format with the asm-generic constants, so that tools and tests that
// handle captured buffers run anywhere; nothing there produces such
// buffers.
package cmsg

import "github.com/devmem-go/devmem/internal"

// ErrNotSupported is the module-wide sentinel for a missing OS, kernel or
// device feature (the same value as in every devmem-go package). The
// functions of this package parse bytes on every system and do not return
// it.
var ErrNotSupported = internal.ErrNotSupported
