package pagepool

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

// rawKernel calls setsockopt(SOL_SOCKET, SO_DEVMEM_DONTNEED) through a
// syscall.RawConn and keeps the call's return value, which x/sys/unix's
// wrappers discard. The closure passed to Control is built once, so a call
// allocates nothing; the ledger serializes calls (Ledger.fmu).
type rawKernel struct {
	rc syscall.RawConn
	fn func(fd uintptr)

	// Arguments and results of the call in flight.
	p     unsafe.Pointer
	n     uintptr
	r     uintptr
	errno syscall.Errno
}

func newKernel(rc syscall.RawConn) (kernel, error) {
	k := &rawKernel{rc: rc}
	k.fn = func(fd uintptr) {
		k.r, k.errno = dontneed(fd, k.p, k.n)
	}
	return k, nil
}

// dontneed is the raw system call: optlen n bytes at p.
func dontneed(fd uintptr, p unsafe.Pointer, n uintptr) (uintptr, syscall.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_DEVMEM_DONTNEED, uintptr(p), n, 0)
	return r, e
}

func (k *rawKernel) dontneed(toks []uapi.DmabufToken) (int, error) {
	n, err := k.call(unsafe.Pointer(unsafe.SliceData(toks)), uintptr(len(toks))*uapi.SizeofDmabufToken)
	runtime.KeepAlive(toks)
	return n, err
}

// call runs the system call with optlen n bytes at p (the tests use it for
// malformed arguments).
func (k *rawKernel) call(p unsafe.Pointer, n uintptr) (int, error) {
	k.p, k.n, k.r, k.errno = p, n, 0, 0
	err := k.rc.Control(k.fn)
	k.p = nil
	if err != nil {
		return 0, fmt.Errorf("pagepool: SO_DEVMEM_DONTNEED: %w", err)
	}
	if k.errno != 0 {
		return 0, wrapDontneedErrno(k.errno)
	}
	return int(k.r), nil
}

// wrapDontneedErrno wraps the errno of SO_DEVMEM_DONTNEED with what it means
// (net/core/sock.c sock_devmem_dontneed).
func wrapDontneedErrno(e syscall.Errno) error {
	err := os.NewSyscallError("setsockopt SO_DEVMEM_DONTNEED", e)
	switch e {
	case unix.EBADF:
		return fmt.Errorf("%w (not a TCP socket, or closed)", err)
	case unix.ENOPROTOOPT:
		return fmt.Errorf("%w: kernel without devmem TCP (needs Linux 6.12 with CONFIG_NET_DEVMEM): %w", err, ErrNotSupported)
	}
	return err
}
