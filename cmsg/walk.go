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

// msg is one control message: its header fields and its data, which lies
// fully inside the buffer.
type msg struct {
	level, typ int32
	data       []byte
}

// nextMsg parses the control message whose header starts at b[off:], with
// off < len(b), and returns it with the offset of the next one (len(b) after
// the last). Like CMSG_NXTHDR it steps CMSG_ALIGN(cmsg_len) bytes; the
// padding of the last message may be missing, as the kernel's put_cmsg drops
// it when the buffer ends.
func nextMsg(b []byte, off int) (m msg, next int, err error) {
	rest := len(b) - off
	if rest < hdrLen {
		return msg{}, 0, parseErr(off, "%d trailing bytes, fewer than the %d of a cmsghdr (pass oob[:oobn] as recvmsg returned it)", rest, hdrLen)
	}
	h := b[off : off+hdrLen]
	var clen uint64
	if wordSize == 8 {
		clen = binary.NativeEndian.Uint64(h)
	} else {
		clen = uint64(binary.NativeEndian.Uint32(h))
	}
	if clen < hdrLen {
		return msg{}, 0, parseErr(off, "cmsg_len %d is shorter than the %d-byte cmsghdr", clen, hdrLen)
	}
	if clen > uint64(rest) {
		return msg{}, 0, parseErr(off, "cmsg_len %d runs past the end of the buffer (%d bytes left)", clen, rest)
	}
	m.level = int32(binary.NativeEndian.Uint32(h[wordSize:]))
	m.typ = int32(binary.NativeEndian.Uint32(h[wordSize+4:]))
	end := off + int(clen)
	m.data = b[off+hdrLen : end : end]
	next = off + align(int(clen))
	if next > len(b) {
		next = len(b)
	}
	return m, next, nil
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
