package cmsg

import (
	"encoding/binary"
	"errors"
)

// txDataLen is the payload of the TX control message: the u32 binding id.
const txDataLen = 4

// txLen is CMSG_LEN(sizeof(u32)), the only cmsg_len the kernel accepts for
// SCM_DEVMEM_DMABUF on sendmsg (20 on 64-bit Linux).
const txLen = hdrLen + txDataLen

// TXSpace is the control-buffer space of the devmem TX control message,
// CMSG_SPACE(sizeof(u32)): 24 bytes on 64-bit Linux (16 on 32-bit).
// [AppendTX] appends exactly this many bytes to an aligned buffer.
const TXSpace = hdrLen + (txDataLen+cmsgAlign-1)&^(cmsgAlign-1)

// ErrNoBinding is returned by [ParseTX] when the buffer holds no
// SOL_SOCKET/SCM_DEVMEM_DMABUF control message.
var ErrNoBinding = errors.New("cmsg: no SCM_DEVMEM_DMABUF control message (no TX binding id)")

// AppendTX appends to b the control message that makes a
// sendmsg(MSG_ZEROCOPY) call send from device memory: level SOL_SOCKET,
// type SCM_DEVMEM_DMABUF, cmsg_len CMSG_LEN(4) (20 on 64-bit Linux; the
// kernel rejects any other length with EINVAL), data the u32 TX binding id
// bindingID, followed by zero padding up to CMSG_SPACE(4). The iovecs of
// such a sendmsg hold dma-buf offsets, not pointers.
//
// If len(b) is not a multiple of the CMSG_ALIGN unit (8 on 64-bit Linux),
// AppendTX first pads b with zeros, because the kernel walks control
// messages at aligned offsets; [TXSpace] bytes follow. It does not allocate
// when b has room.
//
// The kernel treats binding id 0 as "no devmem": the data is then sent from
// the iovecs as ordinary memory, so do not pass 0. Requires Linux 6.16.
func AppendTX(b []byte, bindingID uint32) []byte {
	b = appendHdr(b, txDataLen, solSocket, scmDevmemDMABuf)
	b = binary.NativeEndian.AppendUint32(b, bindingID)
	return appendPad(b, txDataLen)
}

// ParseTX returns the binding id of the SOL_SOCKET/SCM_DEVMEM_DMABUF
// control message in b, a sendmsg control buffer, as [AppendTX] builds it.
// Other control messages are skipped. It returns a [*ParseError] if a
// message header is malformed, if the devmem message's cmsg_len is not
// CMSG_LEN(4) (which the kernel refuses with EINVAL) or if there is more
// than one, and [ErrNoBinding] if there is none. It is the inverse of
// AppendTX, for tests and for code that inspects control buffers.
func ParseTX(b []byte) (bindingID uint32, err error) {
	found := false
	for off := 0; off < len(b); {
		clen, level, typ, next, err := header(b, off)
		if err != nil {
			return 0, err
		}
		if level == solSocket && typ == scmDevmemDMABuf {
			if clen != txLen {
				return 0, parseErr(off, "SCM_DEVMEM_DMABUF cmsg_len %d, want CMSG_LEN(4) = %d (the kernel refuses other lengths with EINVAL)",
					clen, txLen)
			}
			if found {
				return 0, parseErr(off, "second SCM_DEVMEM_DMABUF control message")
			}
			found = true
			bindingID = binary.NativeEndian.Uint32(b[off+hdrLen:])
		}
		off = next
	}
	if !found {
		return 0, ErrNoBinding
	}
	return bindingID, nil
}
