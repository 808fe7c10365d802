package cmsg

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// msgSockDevmem is MSG_SOCK_DEVMEM, kernel-internal (include/linux/socket.h).
const msgSockDevmem = 0x2000000

// kernelAtLeast reports whether the running kernel is major.minor or newer.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		t.Fatalf("cannot parse kernel release %q", rel)
	}
	maj, _ := strconv.Atoi(parts[0])
	mnr, _ := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return maj > major || maj == major && mnr >= minor
}

// tcpPair returns a connected loopback TCP pair, closed at cleanup.
func tcpPair(t *testing.T, network, addr string) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	defer ln.Close()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func rawConn(t *testing.T, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestKernelZerocopyCompletions parses what the running kernel puts on the
// error queue after MSG_ZEROCOPY sends over loopback, for IPv4 (SOL_IP) and
// IPv6 (SOL_IPV6). Loopback copies the data, so the completions say Copied.
func TestKernelZerocopyCompletions(t *testing.T) {
	for _, tt := range []struct {
		network, addr string
		level         int32
	}{
		{"tcp4", "127.0.0.1:0", unix.SOL_IP},
		{"tcp6", "[::1]:0", unix.SOL_IPV6},
	} {
		t.Run(tt.network, func(t *testing.T) {
			c, _ := tcpPair(t, tt.network, tt.addr)
			rc := rawConn(t, c)
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ZEROCOPY, 1)
			}); err != nil {
				t.Fatal(err)
			}
			if serr != nil {
				t.Skipf("SO_ZEROCOPY: %v", serr)
			}
			const sends = 3
			for i := range sends {
				var n int
				var err error
				if werr := rc.Write(func(fd uintptr) bool {
					n, err = unix.SendmsgN(int(fd), []byte("zerocopy"), nil, nil, unix.MSG_ZEROCOPY)
					return err != unix.EAGAIN
				}); werr != nil || err != nil || n != 8 {
					t.Fatalf("send %d: n=%d, %v, %v", i, n, err, werr)
				}
			}
			var all []Completion
			covered := 0
			for covered < sends {
				oob := make([]byte, unix.CmsgSpace(16+unix.SizeofSockaddrInet6))
				var oobn int
				var err error
				if cerr := rc.Control(func(fd uintptr) {
					// POLLERR is reported without being asked for; this
					// blocks until the error queue is not empty.
					pfd := []unix.PollFd{{Fd: int32(fd)}}
					if _, err = unix.Poll(pfd, 10_000); err != nil {
						return
					}
					if pfd[0].Revents&unix.POLLERR == 0 {
						err = errors.New("timed out waiting for a completion")
						return
					}
					_, oobn, _, _, err = unix.Recvmsg(int(fd), nil, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
				}); cerr != nil {
					t.Fatal(cerr)
				}
				if err != nil {
					t.Fatal(err)
				}
				oob = oob[:oobn]
				msgs, err := unix.ParseSocketControlMessage(oob)
				if err != nil || len(msgs) != 1 || msgs[0].Header.Level != tt.level {
					t.Fatalf("kernel sent %d messages (%v), want one at level %d", len(msgs), err, tt.level)
				}
				comp, err := ParseCompletion(oob)
				if err != nil {
					t.Fatalf("ParseCompletion(% x): %v", oob, err)
				}
				if !comp.Copied {
					t.Errorf("%+v: loopback completion not marked copied", comp)
				}
				viaAppend, err := AppendCompletions(nil, oob)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]Completion{comp}, viaAppend); diff != "" {
					t.Errorf("AppendCompletions (-ParseCompletion +got):\n%s", diff)
				}
				// Rebuilding it gives the kernel's bytes back (the
				// offender address is zero for zerocopy).
				if diff := cmp.Diff(oob, AppendCompletion(nil, comp, tt.level == unix.SOL_IPV6)); diff != "" {
					t.Errorf("AppendCompletion (-kernel +built):\n%s", diff)
				}
				all = append(all, comp)
				covered += int(comp.Len())
			}
			for seq := uint32(0); seq < sends; seq++ {
				n := 0
				for _, c := range all {
					if c.Contains(seq) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("send %d is covered by %d completions, want 1: %+v", seq, n, all)
				}
			}
		})
	}
}

// TestKernelAcceptsTX sends AppendTX's message to the running kernel. With
// binding id 0 the kernel parses it (an unknown type or a wrong length
// would fail with EINVAL) and sends normally; a non-zero id without
// MSG_ZEROCOPY is refused, which shows the kernel read the id.
func TestKernelAcceptsTX(t *testing.T) {
	if !kernelAtLeast(t, 6, 16) {
		t.Skip("SCM_DEVMEM_DMABUF on sendmsg needs Linux 6.16")
	}
	c, s := tcpPair(t, "tcp4", "127.0.0.1:0")
	rc := rawConn(t, c)
	send := func(oob []byte) error {
		var err error
		if werr := rc.Write(func(fd uintptr) bool {
			_, err = unix.SendmsgN(int(fd), []byte("x"), oob, nil, 0)
			return err != unix.EAGAIN
		}); werr != nil {
			t.Fatal(werr)
		}
		return err
	}
	if err := send(AppendTX(nil, 0)); err != nil {
		t.Fatalf("kernel refused AppendTX(0): %v", err)
	}
	if err := send(AppendTX(nil, 12345)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("binding id without MSG_ZEROCOPY: err = %v, want EINVAL", err)
	}
	bad := rawHdr(nil, uint64(txLen+4), unix.SOL_SOCKET, unix.SCM_DEVMEM_DMABUF, make([]byte, 8))
	if err := send(bad); !errors.Is(err, unix.EINVAL) {
		t.Errorf("CMSG_LEN(8) message: err = %v, want EINVAL", err)
	}
	buf := make([]byte, 8)
	if n, err := s.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Errorf("received %q, %v; want the one accepted byte", buf[:n], err)
	}
}

// TestKernelForeignMessages takes the real TCP_CM_INQ message (and
// SCM_TIMESTAMP, which the kernel adds only once its deferred timestamp
// switch is on) from a recvmsg(MSG_SOCK_DEVMEM) of ordinary data, which has
// no devmem message, and checks that Parse skips them, alone and between
// devmem messages.
func TestKernelForeignMessages(t *testing.T) {
	c, s := tcpPair(t, "tcp4", "127.0.0.1:0")
	rs := rawConn(t, s)
	var serr error
	if err := rs.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMP, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_TCP, unix.TCP_INQ, 1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 64)
	oob := make([]byte, 256)
	var n, oobn int
	var err error
	if rerr := rs.Read(func(fd uintptr) bool {
		n, oobn, _, _, err = unix.Recvmsg(int(fd), p, oob, msgSockDevmem|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN
	}); rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if string(p[:n]) != "hello" {
		t.Fatalf("read %q", p[:n])
	}
	oob = oob[:oobn]
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		t.Fatal(err)
	}
	inq := false
	for _, m := range msgs {
		inq = inq || m.Header.Level == unix.SOL_TCP && m.Header.Type == unix.TCP_CM_INQ
	}
	if !inq {
		t.Fatalf("kernel sent %d control messages, none of them TCP_CM_INQ", len(msgs))
	}
	frags, err := Parse(nil, oob)
	if err != nil || len(frags) != 0 {
		t.Fatalf("Parse(ordinary data) = %+v, %v; want no frags", frags, err)
	}
	want := []Frag{frag(0, 4096, 1, 2), linear(10), frag(4096, 10, 2, 2)}
	mixed := AppendDMABuf(append([]byte(nil), oob...), want[0])
	mixed = append(mixed, oob...)
	mixed = AppendLinear(mixed, 10)
	mixed = AppendDMABuf(mixed, want[2])
	mixed = append(mixed, oob...)
	got, err := Parse(nil, mixed)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frags (-want +got):\n%s", diff)
	}
}
