// Package selftest holds tests of the VM test runner itself, run inside the
// VM by `make vmtest` like every other package. On the host they skip.
//
// TestGuest checks the guest environment the runner promises (working
// directory and testdata, environment, mounts, lo, modules, devices).
// TestSelftestFail fails on purpose when VMTEST_SELFTEST_FAIL=1, to prove
// that a failing test inside the VM fails the run. VMTEST_SELFTEST=hang,
// poweroff or panic make TestSelftestMode hang, power the machine off
// without reporting, or crash the kernel, for the runner's own host tests.
package selftest
