// Package fd owns raw file descriptors for the module's packages.
//
// An [FD] is the single owner of one descriptor number. Closing it is
// idempotent, [FD.Disown] and [FD.File] hand the number on, and a runtime
// cleanup closes a descriptor whose FD became unreachable without being
// closed, so a leak costs a descriptor only until the next garbage
// collection. The model is cilium/ebpf's internal/sys.FD.
//
// # Leak tracing
//
// [StartTracing] makes every FD created afterwards record the stack that
// created it. An FD that the garbage collector reclaims while tracing is on
// is reported to the tracing callback, and [StopTracing] lists those still
// open. Package fdtest builds a TestMain and a per-test check on top of
// this, so each fd-owning package's tests fail on a leaked descriptor.
//
// # Concurrency
//
// An FD is not safe for concurrent use: its owner serialises Close against
// the operations that use the number (dmabuf.Buffer does this with a
// sync.RWMutex). The tracing functions are safe for concurrent use.
package fd
