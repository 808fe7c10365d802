package cmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// Layout of struct sock_extended_err (linux/errqueue.h); abi_linux_test.go
// checks it against unix.SockExtendedErr, which the uapicheck test checks
// against the headers.
const (
	sizeofSockExtendedErr = 16
	offEeErrno            = 0
	offEeOrigin           = 4
	offEeType             = 5
	offEeCode             = 6
	offEeInfo             = 8
	offEeData             = 12
)

// ErrNoCompletion is returned by [ParseCompletion] when the buffer holds no
// IP_RECVERR or IPV6_RECVERR control message.
var ErrNoCompletion = errors.New("cmsg: no IP_RECVERR/IPV6_RECVERR control message in the error-queue buffer")

// A Completion is a MSG_ZEROCOPY completion notification, read from the
// socket error queue (recvmsg with MSG_ERRQUEUE). It reports that the
// zerocopy sendmsg calls numbered Lo through Hi, inclusive, are done: the
// kernel no longer reads their buffers (for devmem TX, the dma-buf ranges
// they named), so they may be reused.
//
// Calls are numbered per socket from 0, counting each successful
// sendmsg(MSG_ZEROCOPY); the counter wraps at 2^32, so a range may wrap too
// (Hi < Lo). Use [Completion.Contains] and [Completion.Len], which handle
// that, rather than comparing numbers.
type Completion struct {
	Lo, Hi uint32 // ee_info and ee_data: the first and last call completed
	// Copied is SO_EE_CODE_ZEROCOPY_COPIED: the kernel copied the data
	// instead of sending it in place (always the case over loopback). It
	// should not happen for devmem; for ordinary MSG_ZEROCOPY it says that
	// zerocopy brings no gain on this path.
	Copied bool
}

// Len returns the number of sendmsg calls c covers, Hi-Lo+1 modulo 2^32.
// The kernel never merges notifications into a range of 2^32 calls, and
// [ParseCompletion] rejects one, so Len of a parsed Completion is at least 1.
func (c Completion) Len() uint32 { return c.Hi - c.Lo + 1 }

// Contains reports whether c covers the zerocopy sendmsg call numbered seq,
// taking wrap-around at 2^32 into account.
func (c Completion) Contains(seq uint32) bool { return seq-c.Lo <= c.Hi-c.Lo }

// An ExtendedError is a socket error-queue message that is not a successful
// zerocopy completion: an ICMP error, a local error such as EMSGSIZE, a
// timestamp, or a zerocopy notification with a non-zero errno. Its fields
// are those of struct sock_extended_err. Unwrap returns the errno (a Linux
// errno number), so errors.Is(err, syscall.EHOSTUNREACH) and the like work.
type ExtendedError struct {
	Errno  syscall.Errno // ee_errno; 0 when the message carries none
	Origin uint8         // ee_origin: SO_EE_ORIGIN_* (1 local, 2 ICMP, 3 ICMPv6, 4 TX status/timestamp, 5 zerocopy)
	Type   uint8         // ee_type (the ICMP type for ICMP errors)
	Code   uint8         // ee_code (the ICMP code for ICMP errors)
	Info   uint32        // ee_info
	Data   uint32        // ee_data
}

var originNames = [...]string{"none", "local", "icmp", "icmp6", "txstatus", "zerocopy", "txtime"}

// Error implements error.
func (e *ExtendedError) Error() string {
	origin := fmt.Sprintf("origin %d", e.Origin)
	if int(e.Origin) < len(originNames) {
		origin = "origin " + originNames[e.Origin]
	}
	s := fmt.Sprintf("cmsg: socket error queue: %s, type %d, code %d, info %d, data %d", origin, e.Type, e.Code, e.Info, e.Data)
	if e.Errno != 0 {
		s += ": " + e.Errno.Error()
	}
	return s
}

// Unwrap returns the errno, or nil if there is none.
func (e *ExtendedError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// nextCompletion parses the control message at oob[off:]. ok is false for a
// message that is not IP_RECVERR or IPV6_RECVERR.
func nextCompletion(oob []byte, off int) (c Completion, ok bool, next int, err error) {
	clen, level, typ, next, err := header(oob, off)
	if err != nil {
		return Completion{}, false, 0, err
	}
	name := "IP_RECVERR"
	switch {
	case level == solIP && typ == ipRecvErr:
	case level == solIPv6 && typ == ipv6RecvErr:
		name = "IPV6_RECVERR"
	default:
		return Completion{}, false, next, nil
	}
	d := oob[off+hdrLen : off+clen]
	if len(d) < sizeofSockExtendedErr {
		return Completion{}, false, 0, parseErr(off, "%s carries %d bytes, fewer than the %d of struct sock_extended_err (control buffer too small?)",
			name, len(d), sizeofSockExtendedErr)
	}
	errno := binary.NativeEndian.Uint32(d[offEeErrno:])
	origin := d[offEeOrigin]
	info := binary.NativeEndian.Uint32(d[offEeInfo:])
	data := binary.NativeEndian.Uint32(d[offEeData:])
	if origin != eeOriginZerocopy || errno != 0 {
		return Completion{}, false, 0, &ExtendedError{
			Errno:  syscall.Errno(errno),
			Origin: origin,
			Type:   d[offEeType],
			Code:   d[offEeCode],
			Info:   info,
			Data:   data,
		}
	}
	c = Completion{Lo: info, Hi: data, Copied: d[offEeCode]&eeCodeZCCopied != 0}
	if c.Len() == 0 {
		return Completion{}, false, 0, parseErr(off, "zerocopy range [%d, %d] covers 2^32 calls, which the kernel never reports", info, data)
	}
	return c, true, next, nil
}

// ParseCompletion parses oob, the control buffer of one
// recvmsg(MSG_ERRQUEUE) call trimmed to the returned length, and returns the
// zerocopy completion it carries: a SOL_IP/IP_RECVERR (IPv4 socket) or
// SOL_IPV6/IPV6_RECVERR (IPv6 socket, also for v4-mapped peers) message
// whose struct sock_extended_err has origin SO_EE_ORIGIN_ZEROCOPY and errno
// 0. Other control messages are skipped.
//
// It returns [ErrNoCompletion] if there is no such message, an
// [*ExtendedError] if the error-queue message is something else (an ICMP
// error, a timestamp, a zerocopy notification with an errno), and a
// [*ParseError] if the buffer is malformed, or holds more than one
// IP(V6)_RECVERR message (use [AppendCompletions] for such buffers; the
// kernel sends one per call). The control buffer should have room for
// CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct
// sockaddr_in6)), 64 bytes on 64-bit Linux. It does not allocate unless it
// returns an error.
func ParseCompletion(oob []byte) (Completion, error) {
	var (
		c     Completion
		found = -1
	)
	for off := 0; off < len(oob); {
		cc, ok, next, err := nextCompletion(oob, off)
		if err != nil {
			return Completion{}, err
		}
		if ok {
			if found >= 0 {
				return Completion{}, parseErr(off, "second error-queue message in one buffer (the first at byte %d); use AppendCompletions", found)
			}
			c, found = cc, off
		}
		off = next
	}
	if found < 0 {
		return Completion{}, ErrNoCompletion
	}
	return c, nil
}

// AppendCompletions appends to dst every zerocopy completion in oob, in
// order, with the checks of [ParseCompletion], and returns the extended
// slice. A buffer without one leaves dst unchanged and is not an error. On
// the first message that is malformed or not a completion it returns dst
// extended by the completions before it, and the error; those completions
// are valid and must be acted on. It does not allocate when dst has room.
func AppendCompletions(dst []Completion, oob []byte) ([]Completion, error) {
	for off := 0; off < len(oob); {
		c, ok, next, err := nextCompletion(oob, off)
		if err != nil {
			return dst, err
		}
		if ok {
			dst = append(dst, c)
		}
		off = next
	}
	return dst, nil
}

// Sizes of the offender address that follows struct sock_extended_err in
// the error-queue message: struct sockaddr_in and struct sockaddr_in6.
const (
	sizeofSockaddrIn  = 16
	sizeofSockaddrIn6 = 28
)

// AppendCompletion appends to b the error-queue control message the kernel
// sends for the zerocopy completion c: SOL_IP/IP_RECVERR, or
// SOL_IPV6/IPV6_RECVERR when ipv6 is true, carrying struct
// sock_extended_err (errno 0, origin SO_EE_ORIGIN_ZEROCOPY, code
// SO_EE_CODE_ZEROCOPY_COPIED if c.Copied, info c.Lo, data c.Hi) and a
// zeroed offender address (struct sockaddr_in or sockaddr_in6), padded to
// CMSG_SPACE. Like [AppendDMABuf] it aligns b first. It builds what the
// kernel sends; it is meant for tests and fakes.
func AppendCompletion(b []byte, c Completion, ipv6 bool) []byte {
	level, typ, addrLen := int32(solIP), int32(ipRecvErr), sizeofSockaddrIn
	if ipv6 {
		level, typ, addrLen = solIPv6, ipv6RecvErr, sizeofSockaddrIn6
	}
	n := sizeofSockExtendedErr + addrLen
	b = appendHdr(b, n, level, typ)
	var ee [sizeofSockExtendedErr + sizeofSockaddrIn6]byte
	ee[offEeOrigin] = eeOriginZerocopy
	if c.Copied {
		ee[offEeCode] = eeCodeZCCopied
	}
	binary.NativeEndian.PutUint32(ee[offEeInfo:], c.Lo)
	binary.NativeEndian.PutUint32(ee[offEeData:], c.Hi)
	b = append(b, ee[:n]...)
	return appendPad(b, n)
}
