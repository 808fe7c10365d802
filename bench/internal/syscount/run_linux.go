//go:build linux && (amd64 || arm64)

package syscount

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Run starts argv[0] with the arguments argv[1:], with the environment env
// (os.Environ() when nil) and stdin, stdout and stderr the given files
// (nil: /dev/null), traces it and every thread and process it starts until
// all have exited, and returns the system calls they made. A failure to
// start or trace is an error; the program failing is not (see
// Counts.ExitCode).
//
// Run must not run twice at once in one process: it waits for any child
// (wait4(-1)), so other children of the calling process must not exit
// meanwhile.
func Run(argv []string, env []string, stdin, stdout, stderr *os.File) (*Counts, error) {
	if len(argv) == 0 {
		return nil, errors.New("syscount: no program to run")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("syscount: %w", err)
	}
	if env == nil {
		env = os.Environ()
	}
	files := make([]uintptr, 3)
	for i, f := range []*os.File{stdin, stdout, stderr} {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, fmt.Errorf("syscount: %w", err)
			}
			defer null.Close()
			f = null
		}
		files[i] = f.Fd()
	}

	// Every ptrace request must come from the thread that started the
	// tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	start := time.Now()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return nil, fmt.Errorf("syscount: starting %s: %w", path, err)
	}
	c, err := trace(pid)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return nil, err
	}
	c.Elapsed = time.Since(start)
	return c, nil
}

// task is a traced thread or process.
type task struct {
	inSyscall bool // between its syscall-entry and syscall-exit stops
	started   bool // past its first stop
}

func trace(pid int) (*Counts, error) {
	var ws unix.WaitStatus
	// The exec stop: the tracee stops with SIGTRAP after execve.
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return nil, fmt.Errorf("syscount: waiting for the program to start: %w", err)
	}
	if !ws.Stopped() {
		return nil, fmt.Errorf("syscount: the program did not start (wait status %#x)", uint32(ws))
	}
	opts := unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK |
		unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACEEXIT
	if err := unix.PtraceSetOptions(pid, opts); err != nil {
		return nil, fmt.Errorf("syscount: PTRACE_SETOPTIONS: %w", err)
	}
	counts := map[uint64]uint64{}
	tasks := map[int]*task{pid: {started: true}}
	seen := 1
	c := &Counts{ExitCode: -1}
	if err := unix.PtraceSyscall(pid, 0); err != nil {
		return nil, fmt.Errorf("syscount: PTRACE_SYSCALL: %w", err)
	}
	for len(tasks) > 0 {
		wpid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("syscount: wait4: %w", err)
		}
		t := tasks[wpid]
		if t == nil {
			// A new thread or child can report before its parent's
			// clone event.
			t = &task{}
			tasks[wpid] = t
			seen++
		}
		switch {
		case ws.Exited() || ws.Signaled():
			delete(tasks, wpid)
			if wpid == pid {
				if ws.Exited() {
					c.ExitCode = ws.ExitStatus()
				} else {
					c.ExitCode = 128 + int(ws.Signal())
				}
			}
			continue
		case !ws.Stopped():
			continue
		}
		sig := ws.StopSignal()
		deliver := 0
		switch {
		case sig == unix.SIGTRAP|0x80: // a system-call stop (TRACESYSGOOD)
			if !t.inSyscall {
				nr, err := syscallNr(wpid)
				if err == unix.ESRCH {
					// Killed while stopped (another thread's exit_group
					// SIGKILLs every task): it makes no further call, and
					// wait reports its end.
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("syscount: reading the registers of task %d: %w", wpid, err)
				}
				counts[nr]++
			}
			t.inSyscall = !t.inSyscall
		case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXIT:
			// A task is exiting, its memory still mapped: the peak
			// resident set of its process so far. (wait4's ru_maxrss
			// would not do: exec carries the parent's peak over.)
			c.PeakRSS = max(c.PeakRSS, peakRSS(wpid, pid))
		case sig == unix.SIGTRAP && ws.TrapCause() > 0:
			// PTRACE_EVENT_CLONE/FORK/VFORK: the new task is traced
			// already; it reports its own first stop.
		case sig == unix.SIGTRAP:
			// The SIGTRAP after a traced execve: not a signal to pass.
		case sig == unix.SIGSTOP && !t.started:
			// The first stop of a new task.
		default:
			deliver = int(sig)
		}
		t.started = true
		if err := unix.PtraceSyscall(wpid, deliver); err != nil && err != unix.ESRCH {
			return nil, fmt.Errorf("syscount: PTRACE_SYSCALL task %d: %w", wpid, err)
		}
	}
	c.ByName = make(map[string]uint64, len(counts))
	for nr, n := range counts {
		c.ByName[name(nr)] += n
		c.Total += n
	}
	c.Tasks = seen
	return c, nil
}

// peakRSS returns VmHWM of /proc/TID/status in bytes when task tid belongs
// to process pid (its thread group), else 0; 0 also when unreadable.
func peakRSS(tid, pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0
	}
	var tgid int
	var hwm uint64
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		switch k {
		case "Tgid":
			tgid, _ = strconv.Atoi(v)
		case "VmHWM":
			kb, _ := strconv.ParseUint(v, 10, 64)
			hwm = kb << 10
		}
	}
	if tgid != pid {
		return 0
	}
	return hwm
}
