package uapi

import "structs"

// From linux/uio.h (Linux 6.12+).

// DmabufCmsg is struct dmabuf_cmsg, the payload of SCM_DEVMEM_DMABUF and
// SCM_DEVMEM_LINEAR control messages.
type DmabufCmsg struct {
	_          structs.HostLayout
	FragOffset uint64 // offset into the dma-buf
	FragSize   uint32
	FragToken  uint32 // token to release with SO_DEVMEM_DONTNEED
	DmabufID   uint32 // RX binding id
	Flags      uint32 // unused, 0
}

// SizeofDmabufCmsg is sizeof(struct dmabuf_cmsg).
const SizeofDmabufCmsg = 24

// DmabufToken is struct dmabuf_token, one element of the SO_DEVMEM_DONTNEED
// array: tokens TokenStart .. TokenStart+TokenCount-1.
type DmabufToken struct {
	_          structs.HostLayout
	TokenStart uint32
	TokenCount uint32
}

// SizeofDmabufToken is sizeof(struct dmabuf_token).
const SizeofDmabufToken = 8

// Kernel-internal values that reach user space but are in no UAPI header.
const (
	// ETOOSMALL (include/linux/errno.h) is returned by recvmsg(MSG_SOCK_DEVMEM)
	// when not even one devmem control message fits the control buffer.
	ETOOSMALL = 525
	// ENOTSUPP (include/linux/errno.h) is the kernel-internal "operation not
	// supported" some drivers leak.
	ENOTSUPP = 524

	// MAX_DONTNEED_TOKENS is the most dmabuf_token elements one
	// SO_DEVMEM_DONTNEED call accepts (net/core/sock.c).
	MAX_DONTNEED_TOKENS = 128
	// MAX_DONTNEED_FRAGS is the most token slots one SO_DEVMEM_DONTNEED call
	// looks at, summed over token_count (net/core/sock.c).
	MAX_DONTNEED_FRAGS = 1024
)
