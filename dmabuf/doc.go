// Package dmabuf owns Linux dma-buf file descriptors: buffers that devices
// share (a NIC for device memory TCP, a GPU, a video codec) and that the
// CPU can map.
//
// See https://docs.kernel.org/driver-api/dma-buf.html for the kernel side.
//
// # Getting a Buffer
//
// A [Buffer] is made from a dma-buf exported by someone else, with [New]
// (the caller keeps its descriptor; the Buffer holds a duplicate) or
// [FromFile] (the Buffer takes the *os.File over); from a dma-heap with
// [AllocHeap] (the "system" heap is host memory, like udmabuf, without a
// memfd); or from package udmabuf, which turns a memfd into a dma-buf. Both
// constructors check that the descriptor really is a dma-buf and return an
// error wrapping [ErrNotDMABuf], naming what it is, when it is not.
//
// # CPU access
//
// [Buffer.Map] maps the buffer (MAP_SHARED) as a [Mapping] with
// bounds-checked ReadAt and WriteAt, and Bytes for zero-copy use. Devices
// write to the memory behind the CPU's back, so CPU access belongs inside
// a window: [Buffer.Sync] runs a function between
// [Buffer.BeginCPUAccess] and [Buffer.EndCPUAccess] (DMA_BUF_IOCTL_SYNC).
// The [Access] type always names a direction, so the START-only sync that
// the kernel refuses with EINVAL cannot be written.
//
// # Ownership and lifetime
//
// A Buffer owns its descriptor and the mappings it made: [Buffer.Close]
// unmaps those mappings and closes the descriptor. A Buffer or Mapping
// that becomes unreachable without Close is released by a runtime cleanup,
// but programs should Close them. [Buffer.FD] returns the number for APIs
// that need it (a netlink bind request); it is invalid after Close, so
// keep the Buffer alive until such a call has returned.
//
// Buffer and Mapping are safe for concurrent use; Close waits for calls in
// flight, and later calls return errors wrapping os.ErrClosed.
//
// # Kernel requirements
//
// Recognising a dma-buf and [Buffer.Info] require Linux 5.3 or later
// (older kernels are recognised through /proc only); CPU-access sync 4.6;
// [Buffer.SetName] 5.3 (older kernels refuse to rename an attached buffer
// with EBUSY); dma-heaps 5.6 with CONFIG_DMABUF_HEAPS_SYSTEM; sync files
// ([Buffer.ExportSyncFile]) 6.0 with CONFIG_SYNC_FILE. Device memory TCP
// itself needs Linux 6.12 for receive and 6.16 for transmit. On other
// operating systems every function returns an error wrapping
// [ErrNotSupported].
//
// # Errors
//
// Errors from system calls wrap the errno through os.NewSyscallError, so
// errors.Is(err, syscall.EINVAL) works, and say what to do where the cause
// is known. Bad arguments (an invalid [Access], a nil *os.File, a name or
// size the kernel would refuse, a negative offset) are refused before any
// system call with an error matching os.ErrInvalid.
package dmabuf
