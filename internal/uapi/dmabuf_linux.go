package uapi

import "golang.org/x/sys/unix"

// DMA_HEAP_VALID_FD_FLAGS is the set of fd flags DMA_HEAP_IOCTL_ALLOC
// accepts in DmaHeapAllocationData.FdFlags (linux/dma-heap.h). Its value
// follows the architecture's O_CLOEXEC, so it is taken from x/sys/unix.
const DMA_HEAP_VALID_FD_FLAGS = unix.O_CLOEXEC | unix.O_ACCMODE
