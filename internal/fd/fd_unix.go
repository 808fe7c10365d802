//go:build unix

package fd

import (
	"os"

	"golang.org/x/sys/unix"
)

var _ = errNotSupported

func closeRaw(raw int) error {
	return os.NewSyscallError("close", unix.Close(raw))
}

func dupRaw(raw int) (int, error) {
	// Never return 0..2: a descriptor there would be taken for stdio by any
	// code that later assumes it.
	dup, err := unix.FcntlInt(uintptr(raw), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return -1, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	return dup, nil
}
