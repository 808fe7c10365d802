package netdev

import (
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/devmem-go/devmem/internal"
	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ErrNotSupported is returned when the operating system, the kernel, the
// driver or the device lacks a feature. It is the same value as the
// ErrNotSupported of every other package of this module.
var ErrNotSupported = internal.ErrNotSupported

// Error is an error from the kernel (netlink or ioctl) about a netdev or ethtool operation.
//
// Err is the underlying errno (a unix.Errno), so errors.Is(err, unix.EINVAL)
// works. In addition, errors.Is reports os.ErrInvalid for EINVAL,
// os.ErrNotExist for ENODEV and ENOENT, os.ErrPermission for EPERM and
// EACCES, and ErrNotSupported for EOPNOTSUPP and the kernel-internal
// ENOTSUPP (524).
type Error struct {
	Op      string // operation, e.g. "bind-rx", "queue-get", "rings-set", "SRXCLSRLINS"
	Ifindex int    // device, 0 if none
	Err     error  // underlying errno (unix.Errno); errors.Is(err, unix.EINVAL) works
	Message string // the kernel's extack message, if any
	Offset  int    // extack offset of the offending attribute, -1 if none
	Attr    string // name of the offending attribute when known (e.g. "queue-id"), else ""
	Hint    string // what the user should do, e.g. "enable header split: ethtool -G eth0 tcp-data-split on"
}

// Error implements error. It reads
//
//	netdev bind-rx ifindex 3: invalid argument: "tcp-data-split is disabled" (attribute queue-id); hint: ...
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("netdev ")
	b.WriteString(e.Op)
	if e.Ifindex != 0 {
		b.WriteString(" ifindex ")
		b.WriteString(strconv.Itoa(e.Ifindex))
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("unknown error")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(e.Message))
	}
	if e.Attr != "" {
		b.WriteString(" (attribute ")
		b.WriteString(e.Attr)
		b.WriteString(")")
	} else if e.Offset > 0 {
		b.WriteString(" (offset ")
		b.WriteString(strconv.Itoa(e.Offset))
		b.WriteString(")")
	}
	if e.Hint != "" {
		b.WriteString("; hint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying errno.
func (e *Error) Unwrap() error { return e.Err }

// Is maps errnos onto the portable sentinels: EINVAL matches os.ErrInvalid,
// ENODEV and ENOENT match os.ErrNotExist, EPERM and EACCES match
// os.ErrPermission, EOPNOTSUPP and ENOTSUPP (524) match ErrNotSupported.
func (e *Error) Is(target error) bool {
	var errno unix.Errno
	if !errors.As(e.Err, &errno) {
		return false
	}
	switch target {
	case os.ErrInvalid:
		return errno == unix.EINVAL
	case os.ErrNotExist:
		return errno == unix.ENODEV || errno == unix.ENOENT
	case os.ErrPermission:
		return errno == unix.EPERM || errno == unix.EACCES
	case ErrNotSupported:
		return errno == unix.EOPNOTSUPP || errno == uapi.ENOTSUPP
	}
	return false
}

// wrapError turns err into an *Error for operation op on device ifindex.
// A *netlink.OpError is lifted: its errno becomes Err, its extack message and
// offset become Message and Offset. An *Error is returned as is (op and
// ifindex filled in where empty). nil stays nil.
func wrapError(op string, ifindex int, err error) error {
	if err == nil {
		return nil
	}
	var ne *Error
	if errors.As(err, &ne) {
		if ne.Op == "" {
			ne.Op = op
		}
		if ne.Ifindex == 0 {
			ne.Ifindex = ifindex
		}
		return ne
	}
	e := &Error{Op: op, Ifindex: ifindex, Err: err, Offset: -1}
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		e.Message = oe.Message
		if oe.Offset > 0 {
			// The kernel's offset counts from the start of the request's
			// nlmsghdr, so 0 never names an attribute.
			e.Offset = oe.Offset
		}
		if oe.Err != nil {
			e.Err = oe.Err
		}
	}
	var se *os.SyscallError
	if errors.As(e.Err, &se) && se.Err != nil {
		e.Err = se.Err
	}
	return e
}
