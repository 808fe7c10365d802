package cmsg

import (
	"errors"
	"fmt"
	"strconv"
)

// Kind says where a Frag's bytes are.
type Kind uint8

const (
	// Linear frags (SCM_DEVMEM_LINEAR) were copied into the recvmsg data
	// buffer, at the current position. They carry no token.
	Linear Kind = iota + 1
	// DMABuf frags (SCM_DEVMEM_DMABUF) stay in device memory: Size bytes at
	// Offset in the dma-buf of binding DMABufID. Token must be released.
	DMABuf
)

// Frag is one received fragment, parsed from a devmem control message.
//
// The zero value is not a valid Frag.
type Frag struct {
	Offset   uint64 // byte offset in the dma-buf (DMABuf only)
	Size     uint32 // bytes in this frag
	Token    uint32 // token for SO_DEVMEM_DONTNEED (DMABuf only; never 0)
	DMABufID uint32 // RX binding id (DMABuf only)
	Kind     Kind
}

// String returns "linear" or "dmabuf".
func (k Kind) String() string {
	switch k {
	case Linear:
		return "linear"
	case DMABuf:
		return "dmabuf"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ErrOutOfBounds is matched, with errors.Is, by the errors of
// [Frag.CheckBounds].
var ErrOutOfBounds = errors.New("cmsg: frag out of bounds")

// CheckBounds reports whether the frag's bytes, [Offset, Offset+Size), lie
// within a buffer of bufSize bytes: for a [DMABuf] frag, the dma-buf of its
// binding. It returns nil if they do, and otherwise an error compatible with
// errors.Is(err, [ErrOutOfBounds]); a frag of size 0 is an error too. The
// check cannot overflow. Call it before slicing a mapping of the dma-buf
// with a frag's offsets: Parse checks a frag's form but cannot know the
// dma-buf's size, and a frag beyond it means a kernel bug or a frag from
// another binding. A [Linear] frag has Offset 0, so CheckBounds checks its
// Size against bufSize, the number of data bytes left in the receive
// buffer.
func (f Frag) CheckBounds(bufSize uint64) error {
	if f.Size != 0 && f.Offset <= bufSize && uint64(f.Size) <= bufSize-f.Offset {
		return nil
	}
	return fmt.Errorf("%w: %s frag of %d bytes at offset %d, buffer is %d bytes", ErrOutOfBounds, f.Kind, f.Size, f.Offset, bufSize)
}
