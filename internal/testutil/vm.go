package testutil

import "os"

// envInVM is set by the VM runner's /init to the kernel's name
// (vmtest.EnvInVM; repeated here so that testutil does not import the
// runner).
const envInVM = "DEVMEM_VMTEST"

// InVM reports whether the test runs inside the VM test runner
// (internal/vmtest): a throw-away machine where the test is root and may
// change anything.
func InVM() bool { return os.Getenv(envInVM) != "" }

// VMKernel is the name of the kernel the VM runner booted (stock-7.2,
// stock-6.12, devmem-7.2, or an image's file name), or "" outside the VM.
func VMKernel() string { return os.Getenv(envInVM) }
