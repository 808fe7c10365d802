package pagepool

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// countFDs returns the number of open file descriptors of the process.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// checkFDs fails the test if it ends with more fds open than it started
// with.
func checkFDs(t *testing.T) {
	before := countFDs(t)
	t.Cleanup(func() {
		if after := countFDs(t); after != before {
			t.Errorf("fd leak: %d open before, %d after", before, after)
		}
	})
}

// loopbackTCP returns the client side of a loopback TCP connection (no
// devmem: the kernel knows no tokens on it, which is what these tests
// need).
func loopbackTCP(t testing.TB) *net.TCPConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn)
}

func rawConn(t testing.TB, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// skipWithoutDontneed skips when the kernel lacks SO_DEVMEM_DONTNEED.
func skipWithoutDontneed(t *testing.T, k *rawKernel) {
	t.Helper()
	_, err := k.dontneed([]uapi.DmabufToken{{TokenStart: 1, TokenCount: 1}})
	if errors.Is(err, ErrNotSupported) {
		t.Skipf("kernel without SO_DEVMEM_DONTNEED (Linux 6.12+, CONFIG_NET_DEVMEM): %v", err)
	}
}

// TestIntegrationDontneedKernel checks, against the running kernel, what
// net/core/sock.c sock_devmem_dontneed does with each argument, through the
// raw call the ledger makes (so the return value is really read from r1).
func TestIntegrationDontneedKernel(t *testing.T) {
	checkFDs(t)
	k := mustKernel(t, rawConn(t, loopbackTCP(t)))
	skipWithoutDontneed(t, k)

	buf := func(ranges ...uint32) []byte {
		b := make([]byte, 0, len(ranges)*4)
		for _, r := range ranges {
			b = binary.NativeEndian.AppendUint32(b, r)
		}
		return b
	}
	many := func(n int, count uint32) []byte {
		var rs []uint32
		for i := range n {
			rs = append(rs, uint32(1+i*int(count)), count)
		}
		return buf(rs...)
	}
	tests := []struct {
		name string
		opt  []byte
		want int
		err  error
	}{
		{"optlen 0", nil, 0, unix.EINVAL},
		{"optlen 4", buf(1), 0, unix.EINVAL},
		{"optlen 12", buf(1, 1, 2), 0, unix.EINVAL},
		{"129 ranges", many(129, 1), 0, unix.EINVAL},
		{"one unknown token", buf(1, 1), 0, nil},
		{"128 ranges of unknown tokens", many(128, 1), 0, nil},
		{"1024 slots", buf(1, 1024), 0, nil},
		{"more than 1024 slots", many(128, 1000), 0, nil},
		{"token 0 and the top token", buf(0, 1, 1<<31-1, 1), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p unsafe.Pointer
			if len(tt.opt) > 0 {
				p = unsafe.Pointer(&tt.opt[0])
			}
			got, err := k.call(p, uintptr(len(tt.opt)))
			if diff := cmp.Diff(tt.err, err, cmpopts.EquateErrors()); diff != "" {
				t.Fatalf("error (-want +got):\n%s\n(%v)", diff, err)
			}
			if got != tt.want {
				t.Fatalf("freed %d, want %d", got, tt.want)
			}
		})
	}

	t.Run("UDP socket", func(t *testing.T) {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		_, err = mustKernel(t, rawConn(t, u)).dontneed([]uapi.DmabufToken{{TokenStart: 1, TokenCount: 1}})
		if !errors.Is(err, unix.EBADF) {
			t.Fatalf("err = %v, want EBADF", err)
		}
	})
	t.Run("getsockopt", func(t *testing.T) {
		var gerr error
		if err := rawConn(t, loopbackTCP(t)).Control(func(fd uintptr) {
			_, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DEVMEM_DONTNEED)
		}); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(gerr, unix.ENOPROTOOPT) {
			t.Fatalf("getsockopt err = %v, want ENOPROTOOPT", gerr)
		}
	})
	t.Run("closed socket", func(t *testing.T) {
		c := loopbackTCP(t)
		k := mustKernel(t, rawConn(t, c))
		c.Close()
		if _, err := k.dontneed([]uapi.DmabufToken{{TokenStart: 1, TokenCount: 1}}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("err = %v, want net.ErrClosed", err)
		}
	})
}

func mustKernel(t testing.TB, rc syscall.RawConn) *rawKernel {
	t.Helper()
	k, err := newKernel(rc)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rawKernel)
}

// TestIntegrationLedgerLoopback runs the ledger on a real socket whose
// kernel holds none of the tokens: every release comes back short (0 freed),
// so every token must be reported as unknown, in ceil(n/1024) calls.
func TestIntegrationLedgerLoopback(t *testing.T) {
	checkFDs(t)
	c := loopbackTCP(t)
	skipWithoutDontneed(t, mustKernel(t, rawConn(t, c)))
	l, err := NewLedger(rawConn(t, c), &LedgerOptions{Label: "loopback", Policy: ReleasePolicy{BatchFrags: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	var fs []cmsg.Frag
	for tok := uint32(1); tok <= 3000; tok++ {
		fs = append(fs, frag(tok))
	}
	if err := l.Record(fs); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(fs); err != nil {
		t.Fatalf("batched Release flushed: %v", err)
	}
	err = l.Flush()
	var ue *UnknownTokensError
	if !errors.As(err, &ue) || ue.Count != 3000 || !errors.Is(err, ErrUnknownTokens) {
		t.Fatalf("Flush err = %v, want 3000 unknown tokens", err)
	}
	want := []TokenRange{{1, 1024}, {1025, 1024}, {2049, 952}}
	if diff := cmp.Diff(want, ue.Candidates); diff != "" {
		t.Fatalf("candidates (-want +got):\n%s", diff)
	}
	st := l.Stats()
	if st.Calls != 3 || st.UnknownTokens != 3000 || st.Freed != 0 || st.ShortCalls != 3 || st.OutstandingFrags != 0 {
		t.Fatalf("stats %+v", st)
	}
	rep, err := l.Close()
	if err != nil || len(rep.Frags) != 0 {
		t.Fatalf("Close = %v, %v", rep, err)
	}

	// After the socket is closed, a flush fails and the frags stay queued;
	// Close reports them.
	c2 := loopbackTCP(t)
	l2, err := NewLedger(rawConn(t, c2), &LedgerOptions{Label: "closed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Record(fs[:2]); err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if err := l2.Release(fs[:1]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Release on closed socket: %v", err)
	}
	rep, err = l2.Close()
	if !errors.Is(err, net.ErrClosed) || len(rep.Frags) != 2 || rep.Frags[0].State != StatePending || rep.Frags[1].State != StateRecorded {
		t.Fatalf("Close = %v, %v", rep, err)
	}
}

func TestNewLedgerErrors(t *testing.T) {
	if _, err := NewLedger(nil, nil); !errors.Is(err, os.ErrInvalid) {
		t.Fatalf("NewLedger(nil) = %v, want os.ErrInvalid", err)
	}
	rc := rawConn(t, loopbackTCP(t))
	if _, err := NewLedger(rc, &LedgerOptions{Policy: ReleasePolicy{BatchFrags: -1}}); !errors.Is(err, os.ErrInvalid) {
		t.Fatalf("negative BatchFrags: %v, want os.ErrInvalid", err)
	}
	l, err := NewLedger(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
