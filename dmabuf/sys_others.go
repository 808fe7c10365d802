//go:build !linux

package dmabuf

import (
	"fmt"
	"os"
	"runtime"
)

var errOS = fmt.Errorf("dmabuf: dma-bufs need Linux, not %s: %w", runtime.GOOS, ErrNotSupported)

func checkDMABuf(int) error                           { return errOS }
func sysSize(int) (int64, error)                      { return 0, errOS }
func sysSync(int, Access, bool) error                 { return errOS }
func sysSetName(int, string) error                    { return errOS }
func sysInfo(int) (Info, error)                       { return Info{}, errOS }
func sysExportSyncFile(int, Access) (*os.File, error) { return nil, errOS }
func sysImportSyncFile(int, Access, int) error        { return errOS }
func sysMmap(int, int) ([]byte, error)                { return nil, errOS }
func sysMunmap([]byte) error                          { return errOS }
func sysPoll(int, bool) error                         { return errOS }
func sysHeaps() ([]string, error)                     { return nil, errOS }
func sysAllocHeap(string, int64) (*Buffer, error)     { return nil, errOS }
