package vmtest

import (
	"os/exec"
	"syscall"
)

// setSysProcAttr makes the kernel kill QEMU when the runner dies, so that a
// killed `go test` leaves no VM behind.
func setSysProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
