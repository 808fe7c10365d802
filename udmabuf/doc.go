// Package udmabuf turns memfd memory into dma-bufs through /dev/udmabuf,
// so that ordinary host memory can be handed to devices: for device memory
// TCP without a GPU, for tests, and for copy-mode fallbacks.
//
// See https://docs.kernel.org/driver-api/dma-buf.html and the kernel's
// drivers/dma-buf/udmabuf.c.
//
// # Creating a buffer
//
// [Create] makes a memfd (memfd_create with MFD_ALLOW_SEALING, sealed with
// F_SEAL_SHRINK as the driver requires, then sized) and turns it into a
// dma-buf with UDMABUF_CREATE. [CreateList] does the same from several
// [Range]s (UDMABUF_CREATE_LIST), of the library's memfd or of memfds the
// caller made. [Options] names the buffer and can back it with huge pages.
//
// Arguments are checked before any system call, against the page size and
// the driver's limits ([Limits]: udmabuf.size_limit_mb, 64 MiB by default,
// and udmabuf.list_limit); the errors match os.ErrInvalid and say how to
// fix the cause, for example how to raise a limit. A missing /dev/udmabuf gives an error that
// wraps both [ErrNotSupported] and os.ErrNotExist and names the fix (load
// the driver or build the kernel with CONFIG_UDMABUF=y); a device node the
// user may not open gives one wrapping os.ErrPermission. [Available] runs
// those checks alone.
//
// # Using a buffer
//
// A [Buffer] holds the dma-buf ([Buffer.DMABuf], a *dmabuf.Buffer, whose
// descriptor [Buffer.FD] goes into a device binding) and the memfd
// ([Buffer.Memfd]). Both views show the same pinned pages: map the dma-buf
// with [Buffer.Map] and bracket CPU access with dmabuf.Buffer.Sync, or
// read and write through the memfd with [Buffer.ReadAt] and
// [Buffer.WriteAt] (no mapping needed, handy to check what a device wrote).
//
// # Ownership and concurrency
//
// A Buffer owns the dma-buf, its mappings, its memfd and its duplicates of
// callers' memfds; [Buffer.Close] closes all of them and is idempotent.
// Callers' memfds passed in a Range stay the callers'. A Buffer is safe for
// concurrent use.
//
// # Kernel requirements
//
// Requires Linux 4.20 or later built with CONFIG_UDMABUF=y (a built-in
// driver, not a module, in current kernels) and CONFIG_MEMFD_CREATE, and
// read-write access to /dev/udmabuf (root, or a udev rule). Huge pages need
// CONFIG_HUGETLBFS, reserved huge pages and a kernel whose udmabuf accepts
// hugetlbfs memfds. Tested under QEMU with Debian's 6.12 and 7.2 kernels.
// On other operating systems every function returns an error wrapping
// [ErrNotSupported].
package udmabuf
