package pagepool

import "github.com/devmem-go/devmem/internal/uapi"

// kernel is the SO_DEVMEM_DONTNEED call: it returns the number of tokens the
// kernel freed. The real one is a raw setsockopt on the socket
// (kernel_linux.go); tests substitute models of the kernel.
type kernel interface {
	dontneed(toks []uapi.DmabufToken) (int, error)
}
