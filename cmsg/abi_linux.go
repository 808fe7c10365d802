package cmsg

import "golang.org/x/sys/unix"

// Kernel numbers, taken from x/sys/unix so that architectures with their
// own SCM_DEVMEM_* values (sparc64) get the right ones.
const (
	solSocket       = unix.SOL_SOCKET
	scmDevmemLinear = unix.SCM_DEVMEM_LINEAR
	scmDevmemDMABuf = unix.SCM_DEVMEM_DMABUF

	solIP       = unix.SOL_IP
	ipRecvErr   = unix.IP_RECVERR
	solIPv6     = unix.SOL_IPV6
	ipv6RecvErr = unix.IPV6_RECVERR

	eeOriginZerocopy = unix.SO_EE_ORIGIN_ZEROCOPY
	eeCodeZCCopied   = unix.SO_EE_CODE_ZEROCOPY_COPIED

	// hdrLen is sizeof(struct cmsghdr) and cmsgAlign the CMSG_ALIGN unit
	// (sizeof(long)); abi_linux_test.go checks what they give against
	// unix.CmsgLen and unix.CmsgSpace.
	hdrLen    = unix.SizeofCmsghdr
	cmsgAlign = unix.SizeofPtr
)
