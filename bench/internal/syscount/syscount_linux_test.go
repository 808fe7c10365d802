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
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary is its own traced program: with SYSCOUNT_HELPER=N it
// makes N getppid calls on its main thread and on each of 3 more OS
// threads, runs itself once more as a child that makes 7 (through fork and
// exec), and exits 3.
func TestMain(m *testing.M) {
	switch v := os.Getenv("SYSCOUNT_HELPER"); v {
	case "":
		os.Exit(m.Run())
	case "child":
		for range 7 {
			unix.Getppid()
		}
		os.Exit(0)
	case "rss":
		// Touch 16 MiB, then exit.
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		runtime.KeepAlive(b)
		os.Exit(0)
	default:
		n, _ := strconv.Atoi(v)
		runtime.LockOSThread()
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				runtime.LockOSThread() // the thread exits with the goroutine: a fresh one each time
				for range n {
					unix.Getppid()
				}
			})
		}
		for range n {
			unix.Getppid()
		}
		wg.Wait()
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "SYSCOUNT_HELPER=child")
		if err := c.Run(); err != nil {
			os.Exit(1)
		}
		os.Exit(3)
	}
}

func TestRun(t *testing.T) {
	const n = 500
	env := append(os.Environ(), "SYSCOUNT_HELPER="+strconv.Itoa(n))
	c, err := Run([]string{os.Args[0]}, env, nil, nil, os.Stderr)
	if err != nil {
		if errors.Is(err, unix.EPERM) || os.Geteuid() != 0 {
			t.Skipf("ptrace not allowed here: %v", err)
		}
		t.Fatal(err)
	}
	t.Logf("\n%s", c)
	if got, want := c.ByName["getppid"], uint64(4*n+7); got != want {
		t.Errorf("getppid: counted %d, want %d (4 threads x %d, and 7 in the child)", got, want, n)
	}
	if c.ExitCode != 3 {
		t.Errorf("exit code %d, want 3", c.ExitCode)
	}
	// The main thread, 3 locked threads, the child: at least 5 tasks.
	if c.Tasks < 5 {
		t.Errorf("traced %d tasks, want at least 5", c.Tasks)
	}
	if c.ByName["execve"] != 1 {
		t.Errorf("execve: counted %d, want 1 (the child's; the first exec precedes tracing)", c.ByName["execve"])
	}
	var sum uint64
	for _, v := range c.ByName {
		sum += v
	}
	if sum != c.Total {
		t.Errorf("Total %d, sum of ByName %d", c.Total, sum)
	}
}

// TestRunPeakRSS checks PeakRSS against a program that touches 16 MiB,
// run by a tracer that holds 128 MiB: wait4's ru_maxrss would report the
// tracer's 128 MiB (exec carries the peak over), PeakRSS must not. The
// upper bound leaves room for the race detector's shadow memory.
func TestRunPeakRSS(t *testing.T) {
	big := make([]byte, 128<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	c, err := Run([]string{os.Args[0]}, append(os.Environ(), "SYSCOUNT_HELPER=rss"), nil, nil, os.Stderr)
	runtime.KeepAlive(big)
	if err != nil {
		if errors.Is(err, unix.EPERM) || os.Geteuid() != 0 {
			t.Skipf("ptrace not allowed here: %v", err)
		}
		t.Fatal(err)
	}
	if c.PeakRSS < 16<<20 || c.PeakRSS > 96<<20 {
		t.Errorf("PeakRSS %d MiB, want 16 MiB and the Go runtime's (< 96 MiB, far below the tracer's 128 MiB)", c.PeakRSS>>20)
	}
	if l := c.BenchLine("x", 0); !strings.Contains(l, fmt.Sprintf(" %d peak-rss-bytes", c.PeakRSS)) {
		t.Errorf("BenchLine lacks peak-rss-bytes: %q", l)
	}
}

func TestRunErrors(t *testing.T) {
	for _, argv := range [][]string{nil, {"/nonexistent/program"}} {
		if _, err := Run(argv, nil, nil, nil, nil); err == nil {
			t.Errorf("Run(%q): no error", argv)
		}
	}
}

func TestRunSignalled(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	c, err := Run([]string{sh, "-c", "kill -TERM $$"}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ExitCode != 128+int(unix.SIGTERM) {
		t.Errorf("exit code %d, want %d (killed by SIGTERM, which syscount passed on)", c.ExitCode, 128+int(unix.SIGTERM))
	}
	if c.ByName["kill"] == 0 {
		t.Errorf("no kill counted:\n%s", c)
	}
}
