//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/internal/testutil"
)

// TestMain lets a test run the program itself in a child process (for the
// unprivileged self-test): NCDEVMEM_TEST_MAIN=1 makes the test binary
// ncdevmem.
func TestMain(m *testing.M) {
	if os.Getenv("NCDEVMEM_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// outcome is what one in-process run of the program left.
type outcome struct {
	code           int
	stdout, stderr string
}

// runProg runs the program in this process with args and stdin.
func runProg(ctx context.Context, stdin string, ready func(net.Addr), args ...string) outcome {
	var out, errb syncBuffer
	code := run(ctx, args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errb, ready: ready})
	return outcome{code, out.String(), errb.String()}
}

// server runs the program as a server in the background and returns its
// address once it listens, and a function that waits for its outcome.
func server(t *testing.T, ctx context.Context, args ...string) (net.Addr, func() outcome) {
	t.Helper()
	ready := make(chan net.Addr, 1)
	done := make(chan outcome, 1)
	go func() { done <- runProg(ctx, "", func(a net.Addr) { ready <- a }, args...) }()
	select {
	case a := <-ready:
		var once sync.Once
		var o outcome
		return a, func() outcome { once.Do(func() { o = <-done }); return o }
	case o := <-done:
		t.Fatalf("server %q ended before it listened: status %d\n%s", args, o.code, o.stderr)
		return nil, nil
	}
}

func port(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }

func checkLeaks(t *testing.T) {
	testutil.CheckGoroutineLeak(t)
	testutil.CheckFDLeak(t)
}

func decode[T any](t *testing.T, o outcome) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal([]byte(o.stdout), v); err != nil {
		t.Fatalf("decoding the -json output: %v\nstdout: %s\nstderr: %s", err, o.stdout, o.stderr)
	}
	return v
}

// TestSelftest is the README's command, in process.
func TestSelftest(t *testing.T) {
	checkLeaks(t)
	o := runProg(t.Context(), "", nil, "-selftest", "-size", "4M", "-json")
	if o.code != exitOK {
		t.Fatalf("status %d\n%s", o.code, o.stderr)
	}
	r := decode[selftestResult](t, o)
	if !r.OK || len(r.Rounds) == 0 {
		t.Fatalf("result %+v", r)
	}
	for _, round := range r.Rounds {
		s := round.Server
		want := uint64(s.Connections) * (4 << 20)
		if round.Name == "ipv6" {
			want = uint64(s.Connections) * (1 << 20)
		}
		if s.Bytes != want || s.Validation.Bytes != want || s.Validation.Mismatches != 0 {
			t.Errorf("%s: server %d bytes, validated %+v; want %d", round.Name, s.Bytes, s.Validation, want)
		}
		if s.Mode != "copy" || s.Reason == "" {
			t.Errorf("%s: mode %q reason %q: loopback must run the copy path and say why", round.Name, s.Mode, s.Reason)
		}
		if s.ReleaseCalls == 0 || s.Frags == 0 {
			t.Errorf("%s: %d frags, %d release calls", round.Name, s.Frags, s.ReleaseCalls)
		}
	}
	if !strings.Contains(o.stderr, "copy mode: ") {
		t.Errorf("no one-line copy-mode explanation in:\n%s", o.stderr)
	}
}

// TestSelftestUnprivileged runs the self-test as nobody, in a child
// process: it must need no privilege.
func TestSelftestUnprivileged(t *testing.T) {
	testutil.SkipUnlessRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is private to root: a directory of its own.
	dir, err := os.MkdirTemp("", "ncdevmem-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ncdevmem")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-selftest", "-size", "2M")
	cmd.Dir = dir
	cmd.Env = []string{"NCDEVMEM_TEST_MAIN=1", "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("selftest as uid 65534: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ncdevmem selftest: ok") {
		t.Fatalf("selftest as uid 65534: no ok line:\n%s", out)
	}
}

// TestKernelClientCompat is the kernel selftest's TX check (run_tx and
// run_tx_chunks): echo -e "hello\nworld" | ncdevmem ... [-z 3], and the
// RX server without -v prints exactly what arrived, over IPv4 and IPv6.
func TestKernelClientCompat(t *testing.T) {
	for _, tc := range []struct{ name, addr, chunk string }{
		{"ipv4", "127.0.0.1", "0"},
		{"ipv4 chunks", "127.0.0.1", "3"},
		{"ipv6 chunks", "::1", "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.addr == "::1" && !hasIPv6Loopback() {
				t.Skip("no ::1 on this host")
			}
			checkLeaks(t)
			a, wait := server(t, t.Context(), "-l", "-s", tc.addr, "-p", "0")
			c := runProg(t.Context(), "hello\nworld\n", nil, "-s", tc.addr, "-p", port(a), "-z", tc.chunk)
			s := wait()
			if c.code != exitOK || s.code != exitOK {
				t.Fatalf("client %d, server %d\nclient:\n%s\nserver:\n%s", c.code, s.code, c.stderr, s.stderr)
			}
			if s.stdout != "hello\nworld\n" {
				t.Errorf("server printed %q, want %q", s.stdout, "hello\nworld\n")
			}
			if !strings.Contains(c.stderr, "ncdevmem: tx ok") || !strings.Contains(s.stderr, "ncdevmem: ok") {
				t.Errorf("missing the kernel tool's ok lines:\n%s\n%s", c.stderr, s.stderr)
			}
			// -z 3 sends "hel", "lo\n", "wor", "ld\n".
			if tc.chunk == "3" && !strings.Contains(c.stderr, "4 sends") {
				t.Errorf("-z 3: want 4 sends:\n%s", c.stderr)
			}
		})
	}
}

// TestValidationFailure sends bytes that are not the pattern: the server
// reports the first wrong bytes in the kernel tool's words and fails.
func TestValidationFailure(t *testing.T) {
	checkLeaks(t)
	a, wait := server(t, t.Context(), "-l", "-s", "127.0.0.1", "-p", "0", "-v", "7")
	c := runProg(t.Context(), "\x01\x02\x03X\x05\x06\n\x01\x02\x03\x04\x05\x06\n", nil, "-s", "127.0.0.1", "-p", port(a))
	s := wait()
	if c.code != exitOK {
		t.Fatalf("client: %d\n%s", c.code, c.stderr)
	}
	if s.code != exitFail {
		t.Fatalf("server status %d, want %d\n%s", s.code, exitFail, s.stderr)
	}
	if !strings.Contains(s.stderr, "Failed validation: expected=4, actual=88, index=3") {
		t.Errorf("server stderr lacks the mismatch:\n%s", s.stderr)
	}
}

// TestConnections runs several connections, concurrent and sequential,
// with generated traffic, and checks the totals of both sides.
func TestConnections(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run("concurrent="+strconv.FormatBool(concurrent), func(t *testing.T) {
			checkLeaks(t)
			args := []string{"-conns", "3", "-json", "-batch", "64"}
			if concurrent {
				args = append(args, "-concurrent")
			}
			a, wait := server(t, t.Context(), append([]string{"-l", "-s", "127.0.0.1", "-p", "0", "-v", "7"}, args...)...)
			c := runProg(t.Context(), "", nil, append([]string{"-s", "127.0.0.1", "-p", port(a), "-size", "1M"}, args...)...)
			s := wait()
			if c.code != exitOK || s.code != exitOK {
				t.Fatalf("client %d, server %d\n%s\n%s", c.code, s.code, c.stderr, s.stderr)
			}
			sr, cr := decode[serverResult](t, s), decode[clientResult](t, c)
			if sr.Connections != 3 || sr.Bytes != 3<<20 || sr.Validation.Bytes != 3<<20 || cr.Bytes != 3<<20 || cr.Connections != 3 {
				t.Fatalf("server %d conns %d bytes (validated %+v), client %d conns %d bytes", sr.Connections, sr.Bytes, sr.Validation, cr.Connections, cr.Bytes)
			}
			if !sr.OK || !cr.OK || sr.Mode != "copy" {
				t.Fatalf("server ok %v mode %s, client ok %v", sr.OK, sr.Mode, cr.OK)
			}
		})
	}
}

// TestInterrupt cancels a server waiting for a connection and a client
// in the middle of a transfer (Ctrl-C): both stop, say so, leave nothing
// open.
func TestInterrupt(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	_, wait := server(t, ctx, "-l", "-s", "127.0.0.1", "-p", "0")
	cancel()
	s := wait()
	if s.code != exitInterrupted || !strings.Contains(s.stderr, "interrupted") {
		t.Fatalf("server after cancel: status %d\n%s", s.code, s.stderr)
	}

	// A client sending from a stdin that stays open: only the
	// cancellation can end it.
	sctx, scancel := context.WithCancel(t.Context())
	defer scancel()
	a, wait := server(t, sctx, "-l", "-s", "127.0.0.1", "-p", "0", "-json")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	cctx, ccancel := context.WithCancel(t.Context())
	done := make(chan outcome, 1)
	go func() {
		var out, errb syncBuffer
		code := run(cctx, []string{"-s", "127.0.0.1", "-p", port(a)}, &stdio{in: pr, out: &out, err: &errb})
		done <- outcome{code, out.String(), errb.String()}
	}()
	if _, err := pw.Write([]byte("some data\n")); err != nil {
		t.Fatal(err)
	}
	ccancel()
	if c := <-done; c.code != exitInterrupted {
		t.Fatalf("client after cancel: status %d, want %d\n%s", c.code, exitInterrupted, c.stderr)
	}
	// The server may or may not have got a connection by then.
	scancel()
	if s := wait(); s.code == exitFail {
		t.Fatalf("server: %d\n%s", s.code, s.stderr)
	}
}

// TestModes checks -mode: copy is honoured with its reason, devmem fails
// where devmem is impossible (loopback) and says why, -L fails in copy
// mode (all payload is in host memory).
func TestModes(t *testing.T) {
	t.Run("copy", func(t *testing.T) {
		checkLeaks(t)
		a, wait := server(t, t.Context(), "-l", "-s", "127.0.0.1", "-p", "0", "-mode", "copy", "-json", "-v", "7", "-bufsize", "1M")
		c := runProg(t.Context(), "", nil, "-s", "127.0.0.1", "-p", port(a), "-mode", "copy", "-size", "300K", "-json", "-bufsize", "1M")
		s := wait()
		sr, cr := decode[serverResult](t, s), decode[clientResult](t, c)
		if !sr.OK || !cr.OK || sr.Reason != "requested with -mode copy" || cr.Reason != "requested with -mode copy" || sr.Bytes != 300<<10 {
			t.Fatalf("server %+v\nclient %+v", sr, cr)
		}
	})
	t.Run("devmem on loopback", func(t *testing.T) {
		checkLeaks(t)
		o := runProg(t.Context(), "", nil, "-l", "-s", "127.0.0.1", "-p", "0", "-mode", "devmem", "-bufsize", "1M")
		if o.code != exitFail || !strings.Contains(o.stderr, "FallbackNone") {
			t.Fatalf("status %d, want a failure naming the reason:\n%s", o.code, o.stderr)
		}
	})
	t.Run("fail on linear in copy mode", func(t *testing.T) {
		checkLeaks(t)
		a, wait := server(t, t.Context(), "-l", "-s", "127.0.0.1", "-p", "0", "-L")
		runProg(t.Context(), "hello\n", nil, "-s", "127.0.0.1", "-p", port(a))
		s := wait()
		if s.code != exitFail || !strings.Contains(s.stderr, "-L") {
			t.Fatalf("status %d, want the -L failure:\n%s", s.code, s.stderr)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "missing -f argument"},
		{[]string{"-l", "-s", "127.0.0.1"}, "missing -p argument"},
		{[]string{"-p", "1"}, "missing -f argument"},
		{[]string{"-s", "127.0.0.1"}, "missing -p argument"},
		{[]string{"-l", "-s", "127.0.0.1", "-p", "0", "-t", "1"}, "missing -q argument"},
		{[]string{"-s", "127.0.0.1", "-p", "1", "-conns", "2"}, "need -size"},
		{[]string{"-s", "not-an-ip", "-p", "1"}, "not an IPv4 or IPv6 address"},
		{[]string{"-q"}, "requires an argument"},
	} {
		o := runProg(t.Context(), "", nil, tc.args...)
		if o.code != exitFail || !strings.Contains(o.stderr, tc.want) {
			t.Errorf("%q: status %d, stderr %q; want %d and %q", tc.args, o.code, o.stderr, exitFail, tc.want)
		}
	}
	if o := runProg(t.Context(), "", nil, "-h"); o.code != exitOK || !strings.Contains(o.stderr, "usage:") {
		t.Errorf("-h: status %d, %q", o.code, o.stderr)
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine("rx", 3<<30, 42, 2, 1, 2*time.Second)
	want := "ncdevmem: rx 3.00 GiB  12.88 Gbit/s  conns 2 open 1 done  frags 42"
	if got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a bytes.Buffer is not a terminal")
	}
}
