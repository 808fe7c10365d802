package fdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/devmem-go/devmem/internal/fd"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { Main(m) }

func num(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := -1
	_ = rc.Control(func(fd uintptr) { n = int(fd) })
	return n
}

func TestSnapshotSince(t *testing.T) {
	CheckLeaks(t)
	before, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rn, wn := num(t, r), num(t, w)
	after, err := Snapshot()
	r.Close()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := after.Since(before)
	want := []string{
		fmt.Sprintf("%d -> %s", rn, after[rn]),
		fmt.Sprintf("%d -> %s", wn, after[wn]),
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] || !strings.Contains(got[0], "pipe:[") {
		t.Errorf("Since = %q, want %q (pipes)", got, want)
	}
	if again, _ := Snapshot(); len(again.Since(before)) != 0 {
		t.Errorf("after closing: %q", again.Since(before))
	}
}

// recorder is a testing.TB that records errors and runs cleanups on demand.
type recorder struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestCheckLeaksFindsLeak(t *testing.T) {
	rec := &recorder{TB: t}
	CheckLeaks(rec)
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	rec.finish()
	f.Close()
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "/proc/") || !strings.Contains(rec.errs[0], "status") {
		t.Errorf("errors = %q, want one naming the leaked /proc/<pid>/status", rec.errs)
	}
}

func TestCheckLeaksQuietWhenClosed(t *testing.T) {
	rec := &recorder{TB: t}
	CheckLeaks(rec)
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	rec.finish()
	if len(rec.errs) != 0 {
		t.Errorf("errors = %q, want none", rec.errs)
	}
}

var kept *fd.FD

// TestHelperLeak leaks on purpose when run by TestMainFailsOnLeak.
func TestHelperLeak(t *testing.T) {
	if os.Getenv("FDTEST_HELPER") != "leak" {
		t.Skip("helper for TestMainFailsOnLeak")
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	kept, _ = fd.New(p[0])
	_ = unix.Close(p[1])
}

func TestMainFailsOnLeak(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLeak$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FDTEST_HELPER=leak")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("helper exited with %v, want exit status 1; output:\n%s", err, out)
	}
	for _, want := range []string{"fdtest: 2 descriptor leak(s)", "fd.FD still open after the tests", "TestHelperLeak", "pipe:["} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
