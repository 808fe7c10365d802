// Package reliability holds the module's cross-package reliability and
// security tests: faults injected into real sockets, load, bad input at every
// public entry point, privilege boundaries and fuzz targets that combine
// packages. It has no API; everything is in its _test.go files (package
// reliability_test), which use only the public API of the module's packages
// plus internal/testutil and internal/fd/fdtest. RELIABILITY.md at the root of
// the module reports the figures.
//
// # What runs where
//
// On any Linux host, as root or not (copy mode over loopback):
//
//   - faults: peer reset mid-stream (RX and TX), a peer that stops reading
//     (TX back-pressure), context cancellation and deadlines during Accept,
//     Read, ReadFrags, WriteTo, Write and Send, Close racing with every
//     blocking call, a storm of signals during transfers (EINTR), a real
//     short SO_DEVMEM_DONTNEED (tokens the kernel does not know), and
//     back-pressure with withheld releases;
//   - load: 10,000 connections in sequence and rounds of 256 at once through
//     one Listener, every byte checksummed (1,000 and 64 with -short and in
//     the VM);
//   - bad input: a table of public entry points and invalid arguments with
//     the error class each must return, and no descriptor leaked;
//   - privilege: a child process without CAP_NET_ADMIN (uid 65534) gets
//     os.ErrPermission with a message naming CAP_NET_ADMIN from the
//     privileged netdev and ethtool calls, and still gets a working copy
//     fallback from devmem.Listen; the library's packages import no os/exec
//     and call no setuid.
//
// In the VM runner (internal/vmtest) with the devmem test kernel
// (VMTEST_KERNEL=devmem-7.2, netdevsim with DMA): the netdevsim device
// deleted while bound and while reading, a page pool exhausted by withheld
// releases and recovering, ETOOSMALL from a control buffer too small for one
// frag, a transfer checked byte for byte under a tight bound on outstanding
// frags (256 MiB; -devmem-mib sets it), Close during blocked devmem TX
// calls, bind-rx and NIC setup without privilege, and the bad-input rows
// that need a dma-buf or netdevsim. They skip elsewhere, naming what is
// missing.
//
// Two native fuzz targets combine packages: FuzzCraftedFrags (a control
// stream with lying offsets and sizes through cmsg.Parse and
// Frag.CheckBounds) and FuzzConnRelease (forged frags against a live Conn).
// scripts/fuzz.sh runs every fuzz target of the module.
//
// After every test the leak checks run: no file descriptor
// (internal/fd/fdtest), no goroutine (internal/testutil), no frag or token
// outstanding (Listener.Stats, Conn.Leaks, the ledger's leak report), no copy
// buffer still in use, and in the VM no binding left on a queue (netdev
// queue-get).
//
// The tests are not parallel: the leak checks see the whole process.
package reliability
