package dmabuf

import (
	"fmt"
	"os"
	"strings"
)

// HeapDir is where the kernel puts the dma-heap devices.
const HeapDir = "/dev/dma_heap"

// Heaps lists the dma-heaps in [HeapDir] in lexical order, for example
// ["system"]. If the directory is missing (a kernel without
// CONFIG_DMABUF_HEAPS, before Linux 5.6, or /dev not from devtmpfs) the
// error wraps both os.ErrNotExist and [ErrNotSupported].
func Heaps() ([]string, error) {
	return sysHeaps()
}

// AllocHeap allocates size bytes from the dma-heap named heap (see
// [Heaps]; "system" is the usual one) and returns the new dma-buf, open
// for reading and writing. The kernel rounds size up to a whole number of
// pages; [Buffer.Size] reports the result. The caller must Close the
// Buffer.
//
// A heap that does not exist gives an error wrapping os.ErrNotExist (for
// "system" it names CONFIG_DMABUF_HEAPS_SYSTEM); a device node the caller
// may not open gives one wrapping os.ErrPermission; an invalid heap name
// or a size that is not positive, one matching os.ErrInvalid. Requires
// Linux 5.6 or later.
func AllocHeap(heap string, size int64) (*Buffer, error) {
	if heap == "" || heap == "." || heap == ".." || strings.ContainsAny(heap, "/\x00") {
		return nil, fmt.Errorf("dmabuf: invalid dma-heap name %q: %w", heap, os.ErrInvalid)
	}
	if size <= 0 {
		return nil, fmt.Errorf("dmabuf: cannot allocate %d bytes from dma-heap %q: size must be positive: %w", size, heap, os.ErrInvalid)
	}
	return sysAllocHeap(heap, size)
}
