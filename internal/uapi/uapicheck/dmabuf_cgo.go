//go:build uapicheck

package uapicheck

/*
#include <fcntl.h>
#include <linux/types.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <stddef.h>
// The list is a flexible array member; its offset is the header size.
static long off_udmabuf_create_list_list(void) { return offsetof(struct udmabuf_create_list, list); }
// cgo cannot name a field called __pad.
static long off_udmabuf_create_item_pad(void) { return offsetof(struct udmabuf_create_item, __pad); }
// The ioctl macros expand to expressions cgo does not evaluate as constants
// on every compiler; compute them in C.
static unsigned long v_DMA_BUF_IOCTL_SYNC(void) { return DMA_BUF_IOCTL_SYNC; }
static unsigned long v_DMA_BUF_SET_NAME(void) { return DMA_BUF_SET_NAME; }
static unsigned long v_DMA_BUF_SET_NAME_A(void) { return DMA_BUF_SET_NAME_A; }
static unsigned long v_DMA_BUF_SET_NAME_B(void) { return DMA_BUF_SET_NAME_B; }
static unsigned long v_DMA_BUF_IOCTL_EXPORT_SYNC_FILE(void) { return DMA_BUF_IOCTL_EXPORT_SYNC_FILE; }
static unsigned long v_DMA_BUF_IOCTL_IMPORT_SYNC_FILE(void) { return DMA_BUF_IOCTL_IMPORT_SYNC_FILE; }
static unsigned long v_UDMABUF_CREATE(void) { return UDMABUF_CREATE; }
static unsigned long v_UDMABUF_CREATE_LIST(void) { return UDMABUF_CREATE_LIST; }
static unsigned long v_DMA_HEAP_IOCTL_ALLOC(void) { return DMA_HEAP_IOCTL_ALLOC; }
static unsigned long long v_DMA_HEAP_VALID_FD_FLAGS(void) { return DMA_HEAP_VALID_FD_FLAGS; }
static unsigned long long v_DMA_HEAP_VALID_HEAP_FLAGS(void) { return DMA_HEAP_VALID_HEAP_FLAGS; }
*/
import "C"

import (
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
)

func init() {
	var cs C.struct_dma_buf_sync
	var gs uapi.DmaBufSync
	var ce C.struct_dma_buf_export_sync_file
	var ge uapi.DmaBufExportSyncFile
	var ci C.struct_dma_buf_import_sync_file
	var gi uapi.DmaBufImportSyncFile
	var cu C.struct_udmabuf_create
	var gu uapi.UdmabufCreate
	var cit C.struct_udmabuf_create_item
	var git uapi.UdmabufCreateItem
	var cl C.struct_udmabuf_create_list
	var gl uapi.UdmabufCreateList
	var ch C.struct_dma_heap_allocation_data
	var gh uapi.DmaHeapAllocationData
	// DMA_BUF_SET_NAME is _A or _B depending on the pointer size.
	setName := int64(uapi.DMA_BUF_SET_NAME_B)
	if unsafe.Sizeof(uintptr(0)) == 4 {
		setName = uapi.DMA_BUF_SET_NAME_A
	}
	register(
		// linux/dma-buf.h
		Check{"DMA_BUF_SYNC_READ", C.DMA_BUF_SYNC_READ, uapi.DMA_BUF_SYNC_READ},
		Check{"DMA_BUF_SYNC_WRITE", C.DMA_BUF_SYNC_WRITE, uapi.DMA_BUF_SYNC_WRITE},
		Check{"DMA_BUF_SYNC_RW", C.DMA_BUF_SYNC_RW, uapi.DMA_BUF_SYNC_RW},
		Check{"DMA_BUF_SYNC_START", C.DMA_BUF_SYNC_START, uapi.DMA_BUF_SYNC_START},
		Check{"DMA_BUF_SYNC_END", C.DMA_BUF_SYNC_END, uapi.DMA_BUF_SYNC_END},
		Check{"DMA_BUF_SYNC_VALID_FLAGS_MASK", C.DMA_BUF_SYNC_VALID_FLAGS_MASK, uapi.DMA_BUF_SYNC_VALID_FLAGS_MASK},
		Check{"DMA_BUF_NAME_LEN", C.DMA_BUF_NAME_LEN, uapi.DMA_BUF_NAME_LEN},
		Check{"DMA_BUF_BASE", C.DMA_BUF_BASE, uapi.DMA_BUF_BASE},
		Check{"DMA_BUF_IOCTL_SYNC", int64(C.v_DMA_BUF_IOCTL_SYNC()), uapi.DMA_BUF_IOCTL_SYNC},
		Check{"DMA_BUF_SET_NAME", int64(C.v_DMA_BUF_SET_NAME()), setName},
		Check{"DMA_BUF_SET_NAME_A", int64(C.v_DMA_BUF_SET_NAME_A()), uapi.DMA_BUF_SET_NAME_A},
		Check{"DMA_BUF_SET_NAME_B", int64(C.v_DMA_BUF_SET_NAME_B()), uapi.DMA_BUF_SET_NAME_B},
		Check{"DMA_BUF_IOCTL_EXPORT_SYNC_FILE", int64(C.v_DMA_BUF_IOCTL_EXPORT_SYNC_FILE()), uapi.DMA_BUF_IOCTL_EXPORT_SYNC_FILE},
		Check{"DMA_BUF_IOCTL_IMPORT_SYNC_FILE", int64(C.v_DMA_BUF_IOCTL_IMPORT_SYNC_FILE()), uapi.DMA_BUF_IOCTL_IMPORT_SYNC_FILE},
		Check{"sizeof(struct dma_buf_sync)", C.sizeof_struct_dma_buf_sync, int64(unsafe.Sizeof(gs))},
		Check{"SizeofDmaBufSync", C.sizeof_struct_dma_buf_sync, uapi.SizeofDmaBufSync},
		Check{"offsetof(dma_buf_sync.flags)", int64(unsafe.Offsetof(cs.flags)), int64(unsafe.Offsetof(gs.Flags))},
		Check{"sizeof(struct dma_buf_export_sync_file)", C.sizeof_struct_dma_buf_export_sync_file, int64(unsafe.Sizeof(ge))},
		Check{"SizeofDmaBufExportSyncFile", C.sizeof_struct_dma_buf_export_sync_file, uapi.SizeofDmaBufExportSyncFile},
		Check{"offsetof(dma_buf_export_sync_file.flags)", int64(unsafe.Offsetof(ce.flags)), int64(unsafe.Offsetof(ge.Flags))},
		Check{"offsetof(dma_buf_export_sync_file.fd)", int64(unsafe.Offsetof(ce.fd)), int64(unsafe.Offsetof(ge.Fd))},
		Check{"sizeof(struct dma_buf_import_sync_file)", C.sizeof_struct_dma_buf_import_sync_file, int64(unsafe.Sizeof(gi))},
		Check{"SizeofDmaBufImportSyncFile", C.sizeof_struct_dma_buf_import_sync_file, uapi.SizeofDmaBufImportSyncFile},
		Check{"offsetof(dma_buf_import_sync_file.flags)", int64(unsafe.Offsetof(ci.flags)), int64(unsafe.Offsetof(gi.Flags))},
		Check{"offsetof(dma_buf_import_sync_file.fd)", int64(unsafe.Offsetof(ci.fd)), int64(unsafe.Offsetof(gi.Fd))},

		// linux/udmabuf.h
		Check{"UDMABUF_FLAGS_CLOEXEC", C.UDMABUF_FLAGS_CLOEXEC, uapi.UDMABUF_FLAGS_CLOEXEC},
		Check{"UDMABUF_CREATE", int64(C.v_UDMABUF_CREATE()), uapi.UDMABUF_CREATE},
		Check{"UDMABUF_CREATE_LIST", int64(C.v_UDMABUF_CREATE_LIST()), uapi.UDMABUF_CREATE_LIST},
		Check{"sizeof(struct udmabuf_create)", C.sizeof_struct_udmabuf_create, int64(unsafe.Sizeof(gu))},
		Check{"SizeofUdmabufCreate", C.sizeof_struct_udmabuf_create, uapi.SizeofUdmabufCreate},
		Check{"offsetof(udmabuf_create.memfd)", int64(unsafe.Offsetof(cu.memfd)), int64(unsafe.Offsetof(gu.Memfd))},
		Check{"offsetof(udmabuf_create.flags)", int64(unsafe.Offsetof(cu.flags)), int64(unsafe.Offsetof(gu.Flags))},
		Check{"offsetof(udmabuf_create.offset)", int64(unsafe.Offsetof(cu.offset)), int64(unsafe.Offsetof(gu.Offset))},
		Check{"offsetof(udmabuf_create.size)", int64(unsafe.Offsetof(cu.size)), int64(unsafe.Offsetof(gu.Size))},
		Check{"sizeof(struct udmabuf_create_item)", C.sizeof_struct_udmabuf_create_item, int64(unsafe.Sizeof(git))},
		Check{"SizeofUdmabufCreateItem", C.sizeof_struct_udmabuf_create_item, uapi.SizeofUdmabufCreateItem},
		Check{"offsetof(udmabuf_create_item.memfd)", int64(unsafe.Offsetof(cit.memfd)), int64(unsafe.Offsetof(git.Memfd))},
		Check{"offsetof(udmabuf_create_item.__pad)", int64(C.off_udmabuf_create_item_pad()), int64(unsafe.Offsetof(git.Pad))},
		Check{"offsetof(udmabuf_create_item.offset)", int64(unsafe.Offsetof(cit.offset)), int64(unsafe.Offsetof(git.Offset))},
		Check{"offsetof(udmabuf_create_item.size)", int64(unsafe.Offsetof(cit.size)), int64(unsafe.Offsetof(git.Size))},
		Check{"sizeof(struct udmabuf_create_list)", C.sizeof_struct_udmabuf_create_list, int64(unsafe.Sizeof(gl))},
		Check{"SizeofUdmabufCreateList", C.sizeof_struct_udmabuf_create_list, uapi.SizeofUdmabufCreateList},
		Check{"offsetof(udmabuf_create_list.flags)", int64(unsafe.Offsetof(cl.flags)), int64(unsafe.Offsetof(gl.Flags))},
		Check{"offsetof(udmabuf_create_list.count)", int64(unsafe.Offsetof(cl.count)), int64(unsafe.Offsetof(gl.Count))},
		Check{"offsetof(udmabuf_create_list.list)", int64(C.off_udmabuf_create_list_list()), uapi.SizeofUdmabufCreateList},

		// linux/dma-heap.h
		Check{"DMA_HEAP_IOCTL_ALLOC", int64(C.v_DMA_HEAP_IOCTL_ALLOC()), uapi.DMA_HEAP_IOCTL_ALLOC},
		Check{"DMA_HEAP_VALID_FD_FLAGS", int64(C.v_DMA_HEAP_VALID_FD_FLAGS()), uapi.DMA_HEAP_VALID_FD_FLAGS},
		Check{"DMA_HEAP_VALID_HEAP_FLAGS", int64(C.v_DMA_HEAP_VALID_HEAP_FLAGS()), uapi.DMA_HEAP_VALID_HEAP_FLAGS},
		Check{"sizeof(struct dma_heap_allocation_data)", C.sizeof_struct_dma_heap_allocation_data, int64(unsafe.Sizeof(gh))},
		Check{"SizeofDmaHeapAllocationData", C.sizeof_struct_dma_heap_allocation_data, uapi.SizeofDmaHeapAllocationData},
		Check{"offsetof(dma_heap_allocation_data.len)", int64(unsafe.Offsetof(ch.len)), int64(unsafe.Offsetof(gh.Len))},
		Check{"offsetof(dma_heap_allocation_data.fd)", int64(unsafe.Offsetof(ch.fd)), int64(unsafe.Offsetof(gh.Fd))},
		Check{"offsetof(dma_heap_allocation_data.fd_flags)", int64(unsafe.Offsetof(ch.fd_flags)), int64(unsafe.Offsetof(gh.FdFlags))},
		Check{"offsetof(dma_heap_allocation_data.heap_flags)", int64(unsafe.Offsetof(ch.heap_flags)), int64(unsafe.Offsetof(gh.HeapFlags))},
	)
}
