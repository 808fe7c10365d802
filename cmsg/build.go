package cmsg

import "encoding/binary"

// AppendDMABuf appends to b one SOL_SOCKET/SCM_DEVMEM_DMABUF control
// message describing f (its Offset, Size, Token and DMABufID; Kind is
// ignored), byte for byte as the kernel writes it into a recvmsg control
// buffer: a cmsghdr with cmsg_len CMSG_LEN(sizeof(struct dmabuf_cmsg)),
// then struct dmabuf_cmsg with flags 0, in native byte order. It first pads
// b with zeros to the CMSG_ALIGN boundary, as control messages must start
// there. It appends [FragSpace] bytes after that.
//
// It builds what the kernel sends; it is meant for tests and fakes (of this
// and other packages), not for talking to the kernel. It does not validate
// f, so it can build the malformed frags Parse rejects.
func AppendDMABuf(b []byte, f Frag) []byte {
	return appendDmabufCmsg(b, scmDevmemDMABuf, f.Offset, f.Size, f.Token, f.DMABufID)
}

// AppendLinear appends to b one SOL_SOCKET/SCM_DEVMEM_LINEAR control
// message for size bytes, as the kernel writes it: all other fields of
// struct dmabuf_cmsg are 0. Like [AppendDMABuf] it pads b to alignment
// first, appends [FragSpace] bytes, and is meant for tests and fakes.
func AppendLinear(b []byte, size uint32) []byte {
	return appendDmabufCmsg(b, scmDevmemLinear, 0, size, 0, 0)
}

func appendDmabufCmsg(b []byte, typ int32, offset uint64, size, token, id uint32) []byte {
	b = appendHdr(b, dmabufCmsgLen, solSocket, typ)
	var d [dmabufCmsgLen]byte
	binary.NativeEndian.PutUint64(d[offFragOffset:], offset)
	binary.NativeEndian.PutUint32(d[offFragSize:], size)
	binary.NativeEndian.PutUint32(d[offFragToken:], token)
	binary.NativeEndian.PutUint32(d[offDmabufID:], id)
	binary.NativeEndian.PutUint32(d[offFlags:], 0)
	b = append(b, d[:]...)
	return appendPad(b, dmabufCmsgLen)
}
