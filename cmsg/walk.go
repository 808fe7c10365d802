package cmsg

import (
	"encoding/binary"
	"fmt"
)

// align rounds n up to the CMSG_ALIGN unit, as CMSG_ALIGN does.
func align(n int) int { return (n + cmsgAlign - 1) &^ (cmsgAlign - 1) }

// wordSize is sizeof(size_t), the width of cmsg_len; on Linux it is also
// the CMSG_ALIGN unit.
const wordSize = cmsgAlign

// The header is already aligned, so CMSG_DATA is at hdrLen (compile-time
// check: a negative constant does not convert to uint).
const _ = uint(-(hdrLen % cmsgAlign))

// A ParseError reports a malformed control buffer: a control message header
// that cannot be right, or a devmem or error-queue message whose contents the
// kernel never produces. It means the buffer was not filled by the kernel as
// documented (a wrong length passed in, a stale or reused buffer, memory
// corruption); frags or completions that follow the bad message cannot be
// trusted.
type ParseError struct {
	// Offset is the byte offset in the buffer of the control message
	// header (struct cmsghdr) at fault.
	Offset int
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *ParseError) Error() string {
	return fmt.Sprintf("cmsg: malformed control message at byte %d: %s", e.Offset, e.Reason)
}

func parseErr(off int, format string, args ...any) error {
	return &ParseError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// header parses the cmsghdr at b[off:], with off < len(b): it returns
// cmsg_len, level and type, and the offset of the next header (len(b) after
// the last). Like CMSG_NXTHDR it steps CMSG_ALIGN(cmsg_len) bytes; the
// padding of the last message may be missing, as the kernel's put_cmsg drops
// it when the buffer ends. The message's data, b[off+hdrLen:off+clen], lies
// inside b.
func header(b []byte, off int) (clen int, level, typ int32, next int, err error) {
	h := b[off:]
	if len(h) < hdrLen {
		return 0, 0, 0, 0, errTrailing(off, len(h))
	}
	var l uint64
	if wordSize == 8 {
		l = binary.NativeEndian.Uint64(h)
	} else {
		l = uint64(binary.NativeEndian.Uint32(h))
	}
	if l < hdrLen || l > uint64(len(h)) {
		return 0, 0, 0, 0, errLen(off, l, len(h))
	}
	clen = int(l)
	next = min(off+align(clen), len(b))
	return clen, int32(binary.NativeEndian.Uint32(h[wordSize:])), int32(binary.NativeEndian.Uint32(h[wordSize+4:])), next, nil
}

func errTrailing(off, rest int) error {
	return parseErr(off, "%d trailing bytes, fewer than the %d of a cmsghdr (pass oob[:oobn] as recvmsg returned it)", rest, hdrLen)
}

func errLen(off int, clen uint64, rest int) error {
	if clen < hdrLen {
		return parseErr(off, "cmsg_len %d is shorter than the %d-byte cmsghdr", clen, hdrLen)
	}
	return parseErr(off, "cmsg_len %d runs past the end of the buffer (%d bytes left)", clen, rest)
}

// appendHdr aligns b with zero bytes, then appends a cmsghdr for dataLen
// bytes of data.
func appendHdr(b []byte, dataLen int, level, typ int32) []byte {
	for len(b)%cmsgAlign != 0 {
		b = append(b, 0)
	}
	clen := hdrLen + dataLen
	if wordSize == 8 {
		b = binary.NativeEndian.AppendUint64(b, uint64(clen))
	} else {
		b = binary.NativeEndian.AppendUint32(b, uint32(clen))
	}
	b = binary.NativeEndian.AppendUint32(b, uint32(level))
	return binary.NativeEndian.AppendUint32(b, uint32(typ))
}

// appendPad appends the zero padding that takes a message of dataLen bytes
// of data from CMSG_LEN to CMSG_SPACE.
func appendPad(b []byte, dataLen int) []byte {
	for range align(dataLen) - dataLen {
		b = append(b, 0)
	}
	return b
}
