package syscount

import "golang.org/x/sys/unix"

// syscallNr returns the number of the system call task tid stopped at.
func syscallNr(tid int) (uint64, error) {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &r); err != nil {
		return 0, err
	}
	return r.Orig_rax, nil
}
