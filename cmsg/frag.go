package cmsg

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
