//go:build !linux

package pagepool

import (
	"fmt"
	"runtime"
	"syscall"
)

func newKernel(syscall.RawConn) (kernel, error) {
	return nil, fmt.Errorf("pagepool: SO_DEVMEM_DONTNEED on %s: %w", runtime.GOOS, ErrNotSupported)
}
