//go:build mips || mipsle || mips64 || mips64le || ppc64 || ppc64le

package uapi

// The _IOC encoding of mips and powerpc (arch/{mips,powerpc}/include/uapi/
// asm/ioctl.h): 3 direction bits at 29 and a 13-bit size at 16.
const (
	iocNone      = 1
	iocWrite     = 4
	iocRead      = 2
	iocDirShift  = 29
	iocSizeShift = 16
)

var _ = iocNone
