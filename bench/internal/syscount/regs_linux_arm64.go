package syscount

import "golang.org/x/sys/unix"

// syscallNr returns the number of the system call task tid stopped at (x8
// at a syscall-entry stop).
func syscallNr(tid int) (uint64, error) {
	var r unix.PtraceRegsArm64
	if err := unix.PtraceGetRegSetArm64(tid, unix.NT_PRSTATUS, &r); err != nil {
		return 0, err
	}
	return r.Regs[8], nil
}
