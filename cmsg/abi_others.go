//go:build !linux

package cmsg

import "math/bits"

// On other systems the package still parses and builds the Linux format, so
// that code handling captured buffers, and its tests, run anywhere. The values
// are those of the Linux asm-generic headers (x86, arm64, riscv, ...) and the
// layout that of struct cmsghdr {size_t; int; int} for the native word size.
const (
	solSocket       = 1
	scmDevmemLinear = 78
	scmDevmemDMABuf = 79

	solIP       = 0
	ipRecvErr   = 11
	solIPv6     = 41
	ipv6RecvErr = 25

	eeOriginZerocopy = 5
	eeCodeZCCopied   = 1

	cmsgAlign = bits.UintSize / 8
	hdrLen    = (cmsgAlign + 8 + cmsgAlign - 1) &^ (cmsgAlign - 1)
)
