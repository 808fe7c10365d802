// Package vmtest runs test binaries inside QEMU virtual machines booting
// real Linux kernels, so that tests needing kernel features the host lacks
// (udmabuf, dma-heaps, netdevsim, module-provided devices, a devmem-capable
// driver) run for real, as root, on a throw-away machine.
//
// The pieces:
//
//   - cmd/vmrun: the host side, usable as `go test -exec`. It builds a
//     gzip'd newc initramfs (cached base + per-run payload), boots QEMU,
//     streams the guest's serial console as the test's output and exits
//     with the payload's exit code.
//   - cmd/vminit: the guest's /init (static Go): mounts, lo, modules, runs
//     the payload, reports its exit code with a marker, powers off.
//   - scripts/kernels.sh: fetches Debian's stock kernels (stock-6.12,
//     stock-7.2) into the cache and calls kernel/build.sh for devmem-7.2.
//   - vmtest.mk: the make targets (vmtest, vmtest-one, kernels).
//
// [Run] is the library form of vmrun. See README.md in this directory for
// how to use it and what it costs.
//
// # Concurrency
//
// [Run] may be called concurrently; every call boots its own VM, and the
// cached base initramfs is written atomically.
package vmtest
