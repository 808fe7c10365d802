package cmsg

import (
	"encoding/binary"
	"iter"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
)

// Layout of struct dmabuf_cmsg, the payload of SCM_DEVMEM_DMABUF and
// SCM_DEVMEM_LINEAR, from the uapi twin checked against the headers.
const (
	dmabufCmsgLen = uapi.SizeofDmabufCmsg
	offFragOffset = int(unsafe.Offsetof(uapi.DmabufCmsg{}.FragOffset))
	offFragSize   = int(unsafe.Offsetof(uapi.DmabufCmsg{}.FragSize))
	offFragToken  = int(unsafe.Offsetof(uapi.DmabufCmsg{}.FragToken))
	offDmabufID   = int(unsafe.Offsetof(uapi.DmabufCmsg{}.DmabufID))
	offFlags      = int(unsafe.Offsetof(uapi.DmabufCmsg{}.Flags))
)

// FragSpace is the control-buffer space one received frag takes:
// CMSG_SPACE(sizeof(struct dmabuf_cmsg)), 40 bytes on 64-bit Linux (36 on
// 32-bit). It equals CMSG_LEN(sizeof(struct dmabuf_cmsg)), the cmsg_len of
// every devmem control message.
const FragSpace = hdrLen + (dmabufCmsgLen+cmsgAlign-1)&^(cmsgAlign-1)

// fragLen is CMSG_LEN(sizeof(struct dmabuf_cmsg)).
const fragLen = hdrLen + dmabufCmsgLen

// Space returns the control-buffer size, in bytes, that holds frags devmem
// control messages: frags*[FragSpace]. recvmsg(MSG_SOCK_DEVMEM) stops
// describing data when the next message does not fit, so this bounds the
// number of frags one call returns. Add room for any other control messages
// the socket asks for (timestamps, TCP_INQ), which the kernel appends after
// the devmem ones. Space returns 0 for frags <= 0.
func Space(frags int) int {
	if frags <= 0 {
		return 0
	}
	return frags * FragSpace
}

// levelType is the second word of an SCM_DEVMEM_DMABUF cmsghdr on a 64-bit
// ABI (cmsg_level SOL_SOCKET, cmsg_type SCM_DEVMEM_DMABUF) read as one
// native-endian uint64, so that the fast path tests both with one compare.
var levelType = func() uint64 {
	var b [8]byte
	binary.NativeEndian.PutUint32(b[0:], uint32(solSocket))
	binary.NativeEndian.PutUint32(b[4:], uint32(scmDevmemDMABuf))
	return binary.NativeEndian.Uint64(b[:])
}()

// Offsets of the fields in a whole devmem message (header, then the
// struct dmabuf_cmsg).
const (
	mOffset = hdrLen + offFragOffset
	mSize   = hdrLen + offFragSize
	mToken  = hdrLen + offFragToken
	mID     = hdrLen + offDmabufID
)

// parseFast appends to dst[len(dst):cap(dst)] the frags of the complete,
// valid SCM_DEVMEM_DMABUF messages of exactly FragSpace bytes at the start of
// oob (on a 64-bit ABI, where FragSpace == fragLen, so no padding follows),
// and returns the extended slice and the bytes it consumed. It stops at the
// first message it does not handle, or when dst is full; the caller hands
// the rest to nextFrag. It writes into dst's spare capacity directly and
// reads each message through a fixed-size array, so the loop has no bounds
// checks and no calls: this is the cost of a devmem read per frag.
func parseFast(dst []Frag, oob []byte) ([]Frag, int) {
	n := parseFastLoop(dst[len(dst):cap(dst)], oob)
	return dst[:len(dst)+n], n * FragSpace
}

// parseFastLoop is parseFast's loop, on its own so that the few values it
// keeps (buf, rest, n, lt) stay in registers.
func parseFastLoop(buf []Frag, rest []byte) int {
	if wordSize != 8 || FragSpace != fragLen {
		return 0
	}
	lt, n := levelType, 0
	for n < len(buf) && len(rest) >= FragSpace {
		m := (*[FragSpace]byte)(rest)
		size := binary.NativeEndian.Uint32(m[mSize : mSize+4])
		tok := binary.NativeEndian.Uint32(m[mToken : mToken+4])
		id := binary.NativeEndian.Uint32(m[mID : mID+4])
		if binary.NativeEndian.Uint64(m[0:8]) != fragLen ||
			binary.NativeEndian.Uint64(m[8:16]) != lt ||
			size == 0 || tok == 0 || id == 0 {
			break
		}
		// Field by field: a composite literal is built on the stack
		// and copied.
		f := &buf[n]
		f.Offset = binary.NativeEndian.Uint64(m[mOffset : mOffset+8])
		f.Size, f.Token, f.DMABufID, f.Kind = size, tok, id, DMABuf
		n++
		rest = rest[FragSpace:]
	}
	return n
}

// nextFrag parses the control message at oob[off:], with off < len(oob).
// A foreign message, to be skipped, gives a Frag with Kind 0.
func nextFrag(oob []byte, off int) (f Frag, next int, err error) {
	// header(oob, off), by hand: this is the hot path.
	h := oob[off:]
	if len(h) < hdrLen {
		return Frag{}, 0, errTrailing(off, len(h))
	}
	var l uint64
	if wordSize == 8 {
		l = binary.NativeEndian.Uint64(h)
	} else {
		l = uint64(binary.NativeEndian.Uint32(h))
	}
	if l < hdrLen || l > uint64(len(h)) {
		return Frag{}, 0, errLen(off, l, len(h))
	}
	clen := int(l)
	next = min(off+align(clen), len(oob))
	level := int32(binary.NativeEndian.Uint32(h[wordSize:]))
	typ := int32(binary.NativeEndian.Uint32(h[wordSize+4:]))
	if level != solSocket || (typ != scmDevmemDMABuf && typ != scmDevmemLinear) {
		return Frag{}, next, nil
	}
	if clen != fragLen {
		// The kernel writes devmem messages whole or not at all
		// (put_cmsg_notrunc); anything else is corruption, or a kernel
		// before the no-truncation fix that ran out of space.
		return Frag{}, 0, parseErr(off, "%s cmsg_len %d, want CMSG_LEN(sizeof(struct dmabuf_cmsg)) = %d",
			devmemName(typ), clen, fragLen)
	}
	d := h[hdrLen:fragLen]
	f.Size = binary.NativeEndian.Uint32(d[offFragSize:])
	if typ == scmDevmemLinear {
		f.Kind = Linear
	} else {
		f.Kind = DMABuf
		f.Offset = binary.NativeEndian.Uint64(d[offFragOffset:])
		f.Token = binary.NativeEndian.Uint32(d[offFragToken:])
		f.DMABufID = binary.NativeEndian.Uint32(d[offDmabufID:])
	}
	if f.Size == 0 || f.Kind == DMABuf && (f.Token == 0 || f.DMABufID == 0) {
		return Frag{}, 0, errFrag(off, f)
	}
	return f, next, nil
}

func devmemName(typ int32) string {
	if typ == scmDevmemLinear {
		return "SCM_DEVMEM_LINEAR"
	}
	return "SCM_DEVMEM_DMABUF"
}

func errFrag(off int, f Frag) error {
	name := devmemName(scmDevmemDMABuf)
	if f.Kind == Linear {
		name = devmemName(scmDevmemLinear)
	}
	switch {
	case f.Size == 0:
		return parseErr(off, "%s with frag_size 0", name)
	case f.Token == 0:
		return parseErr(off, "%s with frag_token 0 (the kernel allocates tokens from 1)", name)
	default:
		return parseErr(off, "%s with dmabuf_id 0 (binding ids start at 1)", name)
	}
}

// Parse appends to dst the frags described by oob, the control buffer of
// one recvmsg(MSG_SOCK_DEVMEM) call, trimmed to the length recvmsg returned
// (oob[:oobn]). It returns the extended slice.
//
// Frags are appended in the order of the control messages, which is the
// order of the data in the TCP stream: each [Linear] frag stands for Size
// bytes at the current position of the data buffer, each [DMABuf] frag for
// Size bytes in device memory. Control messages of other levels and types
// (SO_TIMESTAMP*, TCP_INQ, ...) are skipped. A call that returned bytes but
// no devmem message at all received ordinary data into the data buffer;
// Parse then returns dst unchanged.
//
// Parse checks the structure of every message and the contents of every
// devmem one: each cmsg_len must cover the header and stay inside oob, a
// devmem message must be exactly CMSG_LEN(sizeof(struct dmabuf_cmsg)) long,
// and a frag must have a non-zero size and, for DMABuf, a non-zero token and
// binding id. On the first violation it returns dst extended by the frags
// before the bad message, and a [*ParseError] that gives its offset. The
// tokens of those frags were issued by the kernel and must still be
// released.
//
// Parse does not allocate when dst has room (and allocates only the error
// value otherwise). It does not check offsets against the dma-buf's size;
// use [Frag.CheckBounds].
func Parse(dst []Frag, oob []byte) ([]Frag, error) {
	// Fast path: whole, valid SCM_DEVMEM_DMABUF messages, which is what
	// almost every message in a devmem read is, while dst has room.
	n := parseFastLoop(dst[len(dst):cap(dst)], oob)
	if n*FragSpace == len(oob) {
		return dst[:len(dst)+n], nil
	}
	return parseSlow(dst[:len(dst)+n], oob, n*FragSpace)
}

// parseSlow is Parse from oob[off:], where parseFast stopped: anything but a
// whole, valid SCM_DEVMEM_DMABUF message, including every error, takes
// nextFrag's careful path, one message at a time, and the fast path
// resumes after it.
func parseSlow(dst []Frag, oob []byte, off int) ([]Frag, error) {
	for off < len(oob) {
		f, next, err := nextFrag(oob, off)
		if err != nil {
			return dst, err
		}
		if f.Kind != 0 {
			dst = append(dst, f)
		}
		off = next
		var n int
		dst, n = parseFast(dst, oob[off:])
		off += n
	}
	return dst, nil
}

// All returns an iterator over the frags described by oob, with the checks
// and order of [Parse]. It yields each frag with a nil error; on a malformed
// message it yields a zero Frag and the [*ParseError], and stops. It does
// not allocate.
func All(oob []byte) iter.Seq2[Frag, error] {
	return func(yield func(Frag, error) bool) {
		for off := 0; off < len(oob); {
			f, next, err := nextFrag(oob, off)
			if err != nil {
				yield(Frag{}, err)
				return
			}
			if f.Kind != 0 && !yield(f, nil) {
				return
			}
			off = next
		}
	}
}
