package cmsg

import "encoding/binary"

// Foreign control messages the kernel can put next to devmem ones, with the
// asm-generic numbers (they need not match this arch: any non-devmem
// level/type is foreign).
const (
	soTimestamp = 29 // SOL_SOCKET/SO_TIMESTAMP, struct timeval
	solTCP      = 6
	tcpCmInq    = 36 // SOL_TCP/TCP_CM_INQ, int
)

// rawHdr appends a cmsghdr with an explicit cmsg_len, then data, with no
// alignment or padding: for malformed buffers.
func rawHdr(b []byte, clen uint64, level, typ int32, data []byte) []byte {
	if wordSize == 8 {
		b = binary.NativeEndian.AppendUint64(b, clen)
	} else {
		b = binary.NativeEndian.AppendUint32(b, uint32(clen))
	}
	b = binary.NativeEndian.AppendUint32(b, uint32(level))
	b = binary.NativeEndian.AppendUint32(b, uint32(typ))
	return append(b, data...)
}

// foreign appends a well-formed control message of any kind, padded.
func foreign(b []byte, level, typ int32, data []byte) []byte {
	b = appendHdr(b, len(data), level, typ)
	b = append(b, data...)
	return appendPad(b, len(data))
}

func timestamp(b []byte) []byte { return foreign(b, solSocket, soTimestamp, make([]byte, 16)) }
func inq(b []byte) []byte       { return foreign(b, solTCP, tcpCmInq, []byte{1, 2, 3, 4}) }

// dmabufData returns a struct dmabuf_cmsg payload.
func dmabufData(off uint64, size, token, id, flags uint32) []byte {
	d := make([]byte, dmabufCmsgLen)
	binary.NativeEndian.PutUint64(d[offFragOffset:], off)
	binary.NativeEndian.PutUint32(d[offFragSize:], size)
	binary.NativeEndian.PutUint32(d[offFragToken:], token)
	binary.NativeEndian.PutUint32(d[offDmabufID:], id)
	binary.NativeEndian.PutUint32(d[offFlags:], flags)
	return d
}

// cat concatenates buffers built by the helpers.
func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func frag(off uint64, size, token, id uint32) Frag {
	return Frag{Offset: off, Size: size, Token: token, DMABufID: id, Kind: DMABuf}
}

func linear(size uint32) Frag { return Frag{Size: size, Kind: Linear} }
