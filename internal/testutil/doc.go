// Package testutil holds helpers for the module's tests, on the host and in
// the VM test runner (internal/vmtest).
//
// # Skips
//
// Tests that need something the machine may lack skip with a reason that
// names it and says where it exists: [SkipUnlessRoot], [SkipIfNoUdmabuf],
// [SkipIfNoNetdevsim], [SkipUnlessVM]. [InVM] and [VMKernel] tell a test it
// runs inside the VM runner, and which kernel it booted.
//
// # Leaks
//
// [CheckFDLeak] and [CheckGoroutineLeak] record a baseline when called and
// fail the test in its cleanup if file descriptors or goroutines were left
// behind. Call them first in a test, so that their cleanups run last. They
// see the whole process: do not use them in tests that run in parallel with
// others (t.Parallel).
//
// # Network namespaces and links
//
// [NewNetNS] makes a network namespace held by a dedicated OS thread;
// [NetNS.Do] runs code in it. [RTNL] is a minimal rtnetlink client (over
// github.com/mdlayher/netlink) for the setup tests need: link index by name,
// link up, addresses, veth pairs, moving links between namespaces.
// [NetdevsimPair] builds two linked netdevsim devices, one in a peer
// namespace, addressed and up: a NIC pair for the devmem data path (needs a
// kernel with netdevsim, in practice the devmem-7.2 VM kernel).
//
// Everything here needs Linux; on other systems the helpers skip the test or
// return errors.
package testutil
