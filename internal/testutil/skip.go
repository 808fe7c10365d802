package testutil

import (
	"errors"
	"os"
	"testing"
)

// SkipUnlessRoot skips the test unless it runs as root (euid 0).
func SkipUnlessRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root (euid is %d); the VM runner (make vmtest) runs tests as root", os.Geteuid())
	}
}

// SkipUnlessVM skips the test unless it runs inside the VM test runner, for
// tests that change machine-wide state (sysctls, devices) which must not
// touch the host.
func SkipUnlessVM(t testing.TB) {
	t.Helper()
	if !InVM() {
		t.Skip("changes machine-wide state: runs only inside the VM runner (make vmtest)")
	}
}

// UdmabufPath is the udmabuf misc device.
const UdmabufPath = "/dev/udmabuf"

// SkipIfNoUdmabuf skips the test unless /dev/udmabuf exists and can be
// opened for reading and writing (CONFIG_UDMABUF, Linux 4.20+).
func SkipIfNoUdmabuf(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(UdmabufPath, os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		t.Skipf("needs %s (CONFIG_UDMABUF), which this kernel lacks; the VM kernels have it (make vmtest)", UdmabufPath)
	case errors.Is(err, os.ErrPermission):
		t.Skipf("needs read-write access to %s: %v", UdmabufPath, err)
	case err != nil:
		t.Skipf("cannot open %s: %v", UdmabufPath, err)
	}
	f.Close()
}

// netdevsimBus is the netdevsim bus in sysfs.
const netdevsimBus = "/sys/bus/netdevsim"

// SkipIfNoNetdevsim skips the test unless the kernel has netdevsim
// (CONFIG_NETDEVSIM, built in or loaded) and the test runs as root. Of the
// VM kernels only devmem-7.2 has it (VMTEST_KERNEL=devmem-7.2).
func SkipIfNoNetdevsim(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(netdevsimBus + "/new_device"); err != nil {
		t.Skipf("needs netdevsim (%s/new_device: %v); the devmem-7.2 VM kernel has it (make vmtest)", netdevsimBus, err)
	}
	SkipUnlessRoot(t)
}
