// Package e2e is the end-to-end benchmark of bench/README.md section 3: the
// kernel's own ncdevmem (built static from linux-source-7.2,
// bench/ncdevmem-c) and this module's Go ncdevmem (examples/ncdevmem) receive
// the same stream through the real devmem core of the devmem-7.2 test kernel
// (patched netdevsim, internal/vmtest/kernel), one after the other in the
// same VM, and the harness measures each receiver process: user and system
// CPU seconds per GiB (wait4) and, in separate traced runs, its system
// calls per GiB by name and its peak resident set (bench/internal/syscount).
//
// The package has no code of its own: the harness is its test, TestE2E,
// which skips unless DEVMEM_BENCH_E2E=1 and the machine has netdevsim and
// /dev/udmabuf, so `go test ./...` and `make vmtest` pass over it. run.sh
// builds the receivers into testdata/ (ignored by git; the VM runner carries
// a package's testdata/ into the guest), boots the devmem-7.2 kernel with
// bin/vmrun, and collects the result lines (Go benchmark format) into the
// results directory:
//
//	bench/e2e/run.sh bench/results      # e2e.txt, e2e-syscalls.txt
//
// Knobs, as test flags after -args (run.sh passes E2E_* variables on):
// -e2e.size (MiB per timed run), -e2e.countsize (MiB per traced run),
// -e2e.rounds, -e2e.receivers, -e2e.log (receivers' stderr to the console),
// -e2e.pin (with two or more guest CPUs: receivers on CPU 0, the sender on
// CPU 1). run.sh picks the guest's clock (E2E_MODE): QEMU's instruction
// counter (-icount, one CPU; the default), where CPU time counts executed
// instructions and the host's load cannot move it, or the host's clock
// (two CPUs, pinned).
//
// # Receivers
//
//   - c: ncdevmem-c -l -n -f IF -s ADDR -p PORT -t 0 -q 1 -v 7, the kernel's
//     tool as shipped: per frag a line to stderr, two DMA_BUF_IOCTL_SYNC
//     around a memcpy, the validation, one SO_DEVMEM_DONTNEED.
//   - go: the Go ncdevmem with the same flags (its defaults: no per-frag
//     log, the library's release policy: 1024 frags per SO_DEVMEM_DONTNEED,
//     and what is queued when the reader has waited 1 ms for data).
//   - go-verbose: the same with -verbose, which logs every frag to stderr
//     as the kernel's tool does (like-for-like output).
//   - go-once: the same with -batch 1 (one SO_DEVMEM_DONTNEED per read, the
//     library's default before the batched one).
//   - lib: a minimal receiver on the devmem package (this test binary run
//     again as a child): ReadFrags, BeginRead, validate, EndRead, Release;
//     it reports the Go heap bytes it allocates per GiB after warm-up
//     (runtime/metrics /gc/heap/allocs:bytes), B/GiB.
//   - lib-once (not run by default): lib releasing at once (-batch 1).
//
// Each is a child process with stdout and stderr on /dev/null (-e2e.log:
// stderr on the console), so that all pay for their output alike; the
// sender, a goroutine of the harness in the peer namespace, sends the -v 7
// pattern ("\x01\x02\x03\x04\x05\x06\n" repeated) and closes; every receiver
// validates every byte and exits 0 at the end of the stream.
package e2e
