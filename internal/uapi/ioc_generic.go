//go:build !(mips || mipsle || mips64 || mips64le || ppc64 || ppc64le)

package uapi

// The asm-generic _IOC encoding (include/uapi/asm-generic/ioctl.h), used by
// x86, arm, arm64, riscv, loongarch and s390: 2 direction bits at 30 and a
// 14-bit size at 16.
const (
	iocNone      = 0
	iocWrite     = 1
	iocRead      = 2
	iocDirShift  = 30
	iocSizeShift = 16
)

var _ = iocNone
