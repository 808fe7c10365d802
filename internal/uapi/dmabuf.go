package uapi

import "structs"

// From linux/dma-buf.h (Linux 4.6+; SET_NAME 5.3+; sync files 6.0+),
// linux/udmabuf.h (Linux 4.20+) and linux/dma-heap.h (Linux 5.6+).
//
// The ioctl numbers are built with the _IOC encoding of the architecture
// (ioc_generic.go, ioc_mipsppc.go); the values in the comments are those of
// x86-64 and arm64.

// struct dma_buf_sync flags.
const (
	DMA_BUF_SYNC_READ             = 1 << 0
	DMA_BUF_SYNC_WRITE            = 2 << 0
	DMA_BUF_SYNC_RW               = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE
	DMA_BUF_SYNC_START            = 0 << 2
	DMA_BUF_SYNC_END              = 1 << 2
	DMA_BUF_SYNC_VALID_FLAGS_MASK = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END
)

// DMA_BUF_NAME_LEN is the size of a dma-buf name including its NUL: a name
// has at most DMA_BUF_NAME_LEN-1 bytes.
const DMA_BUF_NAME_LEN = 32

// DmaBufSync is struct dma_buf_sync, the argument of DMA_BUF_IOCTL_SYNC.
type DmaBufSync struct {
	_     structs.HostLayout
	Flags uint64 // DMA_BUF_SYNC_*: START or END, and READ and/or WRITE
}

// SizeofDmaBufSync is sizeof(struct dma_buf_sync).
const SizeofDmaBufSync = 8

// DmaBufExportSyncFile is struct dma_buf_export_sync_file, the argument of
// DMA_BUF_IOCTL_EXPORT_SYNC_FILE.
type DmaBufExportSyncFile struct {
	_     structs.HostLayout
	Flags uint32 // DMA_BUF_SYNC_READ and/or DMA_BUF_SYNC_WRITE
	Fd    int32  // out: the sync file
}

// SizeofDmaBufExportSyncFile is sizeof(struct dma_buf_export_sync_file).
const SizeofDmaBufExportSyncFile = 8

// DmaBufImportSyncFile is struct dma_buf_import_sync_file, the argument of
// DMA_BUF_IOCTL_IMPORT_SYNC_FILE.
type DmaBufImportSyncFile struct {
	_     structs.HostLayout
	Flags uint32 // DMA_BUF_SYNC_READ and/or DMA_BUF_SYNC_WRITE
	Fd    int32  // in: the sync file
}

// SizeofDmaBufImportSyncFile is sizeof(struct dma_buf_import_sync_file).
const SizeofDmaBufImportSyncFile = 8

// dma-buf ioctls. DMA_BUF_SET_NAME is DMA_BUF_SET_NAME_A on 32-bit and
// DMA_BUF_SET_NAME_B on 64-bit architectures; the kernel accepts both.
const (
	DMA_BUF_BASE                   = 'b'
	DMA_BUF_IOCTL_SYNC             = iocWrite<<iocDirShift | SizeofDmaBufSync<<iocSizeShift | DMA_BUF_BASE<<8                         // nr 0; 0x40086200
	DMA_BUF_SET_NAME_A             = iocWrite<<iocDirShift | 4<<iocSizeShift | DMA_BUF_BASE<<8 | 1                                    // 0x40046201
	DMA_BUF_SET_NAME_B             = iocWrite<<iocDirShift | 8<<iocSizeShift | DMA_BUF_BASE<<8 | 1                                    // 0x40086201
	DMA_BUF_IOCTL_EXPORT_SYNC_FILE = (iocRead|iocWrite)<<iocDirShift | SizeofDmaBufExportSyncFile<<iocSizeShift | DMA_BUF_BASE<<8 | 2 // 0xc0086202
	DMA_BUF_IOCTL_IMPORT_SYNC_FILE = iocWrite<<iocDirShift | SizeofDmaBufImportSyncFile<<iocSizeShift | DMA_BUF_BASE<<8 | 3           // 0x40086203
)

// UDMABUF_FLAGS_CLOEXEC gives the new dma-buf fd O_CLOEXEC. It is the only
// udmabuf flag.
const UDMABUF_FLAGS_CLOEXEC = 0x01

// UdmabufCreate is struct udmabuf_create, the argument of UDMABUF_CREATE:
// Size bytes at Offset of the memfd Memfd (both PAGE_SIZE aligned).
type UdmabufCreate struct {
	_      structs.HostLayout
	Memfd  uint32
	Flags  uint32 // UDMABUF_FLAGS_*
	Offset uint64
	Size   uint64
}

// SizeofUdmabufCreate is sizeof(struct udmabuf_create).
const SizeofUdmabufCreate = 24

// UdmabufCreateItem is struct udmabuf_create_item, one range of a
// UDMABUF_CREATE_LIST request.
type UdmabufCreateItem struct {
	_      structs.HostLayout
	Memfd  uint32
	Pad    uint32 // __pad
	Offset uint64
	Size   uint64
}

// SizeofUdmabufCreateItem is sizeof(struct udmabuf_create_item).
const SizeofUdmabufCreateItem = 24

// UdmabufCreateList is the fixed header of struct udmabuf_create_list; Count
// UdmabufCreateItem follow it directly (a C flexible array member).
type UdmabufCreateList struct {
	_     structs.HostLayout
	Flags uint32 // UDMABUF_FLAGS_*
	Count uint32 // items that follow, at most the udmabuf.list_limit parameter
}

// SizeofUdmabufCreateList is sizeof(struct udmabuf_create_list), the header
// without items; the first item starts at this offset.
const SizeofUdmabufCreateList = 8

// udmabuf ioctls on /dev/udmabuf. Both return the new dma-buf fd.
const (
	UDMABUF_CREATE      = iocWrite<<iocDirShift | SizeofUdmabufCreate<<iocSizeShift | 'u'<<8 | 0x42     // 0x40187542
	UDMABUF_CREATE_LIST = iocWrite<<iocDirShift | SizeofUdmabufCreateList<<iocSizeShift | 'u'<<8 | 0x43 // 0x40087543
)

// DmaHeapAllocationData is struct dma_heap_allocation_data, the argument of
// DMA_HEAP_IOCTL_ALLOC on /dev/dma_heap/<name>.
type DmaHeapAllocationData struct {
	_         structs.HostLayout
	Len       uint64 // rounded up to PAGE_SIZE by the kernel
	Fd        uint32 // must be 0 on input; out: the dma-buf fd
	FdFlags   uint32 // subset of DMA_HEAP_VALID_FD_FLAGS
	HeapFlags uint64 // subset of DMA_HEAP_VALID_HEAP_FLAGS (none yet)
}

// SizeofDmaHeapAllocationData is sizeof(struct dma_heap_allocation_data).
const SizeofDmaHeapAllocationData = 24

// DMA_HEAP_VALID_HEAP_FLAGS is the set of heap flags the kernel accepts:
// none. (DMA_HEAP_VALID_FD_FLAGS, O_CLOEXEC|O_ACCMODE, depends on the
// architecture and is in dmabuf_linux.go.)
const DMA_HEAP_VALID_HEAP_FLAGS = 0

// DMA_HEAP_IOCTL_ALLOC allocates a dma-buf from a heap.
const DMA_HEAP_IOCTL_ALLOC = (iocRead|iocWrite)<<iocDirShift | SizeofDmaHeapAllocationData<<iocSizeShift | 'H'<<8 // nr 0; 0xc0184800
