package uapi

import (
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func ioc(dir, typ, nr, size uintptr) uint64 {
	return uint64(dir<<iocDirShift | size<<iocSizeShift | typ<<8 | nr)
}

// TestIOCEncoding checks this architecture's _IOC encoding against ioctl
// numbers x/sys/unix generated from the same architecture's headers, so the
// dma-buf ioctls are right on mips and powerpc too (uapicheck runs on the
// build host's architecture only).
func TestIOCEncoding(t *testing.T) {
	ptr := unsafe.Sizeof(uintptr(0))
	tests := []struct {
		name string
		want uint64
		got  uint64
	}{
		{"TUNSETIFF _IOW('T',202,int)", uint64(unix.TUNSETIFF), ioc(iocWrite, 'T', 202, 4)},
		{"TUNGETIFF _IOR('T',210,unsigned)", uint64(unix.TUNGETIFF), ioc(iocRead, 'T', 210, 4)},
		{"RTC_PARAM_GET _IOW('p',0x13,24 bytes)", uint64(unix.RTC_PARAM_GET), ioc(iocWrite, 'p', 0x13, 24)},
		{"PERF_EVENT_IOC_QUERY_BPF _IOWR('$',10,ptr)", uint64(unix.PERF_EVENT_IOC_QUERY_BPF), ioc(iocRead|iocWrite, '$', 10, ptr)},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.name, diff)
		}
	}
}

// TestDMABufIoctlNumbers pins the values the reference lists for the
// asm-generic architectures (x86-64, arm64, ...).
func TestDMABufIoctlNumbers(t *testing.T) {
	if iocDirShift != 30 {
		t.Skip("not an asm-generic ioctl architecture; TestIOCEncoding covers it")
	}
	want := map[string]uint64{
		"DMA_BUF_IOCTL_SYNC":             0x40086200,
		"DMA_BUF_SET_NAME_A":             0x40046201,
		"DMA_BUF_SET_NAME_B":             0x40086201,
		"DMA_BUF_IOCTL_EXPORT_SYNC_FILE": 0xc0086202,
		"DMA_BUF_IOCTL_IMPORT_SYNC_FILE": 0x40086203,
		"UDMABUF_CREATE":                 0x40187542,
		"UDMABUF_CREATE_LIST":            0x40087543,
		"DMA_HEAP_IOCTL_ALLOC":           0xc0184800,
		"DMA_HEAP_VALID_FD_FLAGS":        0x80003,
	}
	got := map[string]uint64{
		"DMA_BUF_IOCTL_SYNC":             DMA_BUF_IOCTL_SYNC,
		"DMA_BUF_SET_NAME_A":             DMA_BUF_SET_NAME_A,
		"DMA_BUF_SET_NAME_B":             DMA_BUF_SET_NAME_B,
		"DMA_BUF_IOCTL_EXPORT_SYNC_FILE": DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
		"DMA_BUF_IOCTL_IMPORT_SYNC_FILE": DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
		"UDMABUF_CREATE":                 UDMABUF_CREATE,
		"UDMABUF_CREATE_LIST":            UDMABUF_CREATE_LIST,
		"DMA_HEAP_IOCTL_ALLOC":           DMA_HEAP_IOCTL_ALLOC,
		"DMA_HEAP_VALID_FD_FLAGS":        DMA_HEAP_VALID_FD_FLAGS,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ioctl numbers (-want +got)\n%s", diff)
	}
}

func TestDMABufSizes(t *testing.T) {
	got := map[string]uintptr{
		"DmaBufSync":            unsafe.Sizeof(DmaBufSync{}),
		"DmaBufExportSyncFile":  unsafe.Sizeof(DmaBufExportSyncFile{}),
		"DmaBufImportSyncFile":  unsafe.Sizeof(DmaBufImportSyncFile{}),
		"UdmabufCreate":         unsafe.Sizeof(UdmabufCreate{}),
		"UdmabufCreateItem":     unsafe.Sizeof(UdmabufCreateItem{}),
		"UdmabufCreateList":     unsafe.Sizeof(UdmabufCreateList{}),
		"DmaHeapAllocationData": unsafe.Sizeof(DmaHeapAllocationData{}),
	}
	want := map[string]uintptr{
		"DmaBufSync":            SizeofDmaBufSync,
		"DmaBufExportSyncFile":  SizeofDmaBufExportSyncFile,
		"DmaBufImportSyncFile":  SizeofDmaBufImportSyncFile,
		"UdmabufCreate":         SizeofUdmabufCreate,
		"UdmabufCreateItem":     SizeofUdmabufCreateItem,
		"UdmabufCreateList":     SizeofUdmabufCreateList,
		"DmaHeapAllocationData": SizeofDmaHeapAllocationData,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("struct sizes (-want +got)\n%s", diff)
	}
}

// Compile-time twins of TestIOCEncoding: `go vet` with any GOARCH
// type-checks them, so a wrong encoding fails to build for that
// architecture even where its tests cannot run.
const (
	_ uint64 = unix.TUNSETIFF - (iocWrite<<iocDirShift | 4<<iocSizeShift | 'T'<<8 | 202)
	_ uint64 = (iocWrite<<iocDirShift | 4<<iocSizeShift | 'T'<<8 | 202) - unix.TUNSETIFF
	_ uint64 = unix.TUNGETIFF - (iocRead<<iocDirShift | 4<<iocSizeShift | 'T'<<8 | 210)
	_ uint64 = (iocRead<<iocDirShift | 4<<iocSizeShift | 'T'<<8 | 210) - unix.TUNGETIFF
	_ uint64 = unix.RTC_PARAM_GET - (iocWrite<<iocDirShift | 24<<iocSizeShift | 'p'<<8 | 0x13)
	_ uint64 = (iocWrite<<iocDirShift | 24<<iocSizeShift | 'p'<<8 | 0x13) - unix.RTC_PARAM_GET
)
