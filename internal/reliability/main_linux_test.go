package reliability_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/internal/fd/fdtest"
	"github.com/devmem-go/devmem/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A re-executed copy of this binary (privilege tests).
		os.Exit(childMain())
	}
	fdtest.Main(m)
}

// guard turns on the leak checks for t: no descriptor and no goroutine may
// outlive the test and its cleanups. Call it first.
//
// Cleanups run last-registered first, so the goroutine check (which waits,
// bounded, for the test's goroutines to end) runs before the descriptor
// check: a goroutine that reports its result and then closes its socket
// has closed it by the time the descriptors are counted.
func guard(t *testing.T) {
	t.Helper()
	fdtest.CheckLeaks(t)
	testutil.CheckGoroutineLeak(t)
}

// listenCopy makes a copy-mode Listener on loopback. Its cleanup closes it
// and checks that nothing is left: no open connection, no frag outstanding,
// no byte of the copy buffer in use.
func listenCopy(t *testing.T, cfg *devmem.ListenConfig) *devmem.Listener {
	t.Helper()
	if cfg == nil {
		cfg = &devmem.ListenConfig{}
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = 8 << 20
	}
	l, err := cfg.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if l.Mode() != devmem.ModeCopy {
		l.Close()
		t.Fatalf("Listen on loopback: mode %v, want copy", l.Mode())
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Listener.Close: %v", err)
		}
	})
	return l
}

// checkClean waits (bounded) until every connection of l is closed and
// checks that they left nothing behind: no frag outstanding, no byte of the
// copy buffer in use, and wantLeaked frags reported leaked in total.
func checkClean(t *testing.T, l *devmem.Listener, wantLeaked uint64) devmem.ListenerStats {
	t.Helper()
	var st devmem.ListenerStats
	ok := poll(5*time.Second, func() bool {
		st = l.Stats()
		return st.Open == 0
	})
	if !ok {
		t.Errorf("%d connection(s) still open 5s after the test closed them all", st.Open)
	}
	if st.Conns.OutstandingFrags != 0 || st.Conns.OutstandingBytes != 0 || st.LimitedFrags != 0 || st.LimitedBytes != 0 {
		t.Errorf("after every connection closed: %d frags / %d bytes outstanding, %d / %d counted by the Listener's bound",
			st.Conns.OutstandingFrags, st.Conns.OutstandingBytes, st.LimitedFrags, st.LimitedBytes)
	}
	if st.Copy != nil && (st.Copy.InUse != 0 || st.Copy.Regions != 0) {
		t.Errorf("copy buffer: %d bytes in %d regions still in use after every connection closed", st.Copy.InUse, st.Copy.Regions)
	}
	if st.Conns.Leaked != wantLeaked {
		t.Errorf("connections reported %d leaked frags, want %d", st.Conns.Leaked, wantLeaked)
	}
	return st
}

// poll calls done, with pauses growing from 50µs to 10ms, until it returns
// true or d has passed; it returns done's last answer. It waits for a state
// another goroutine or the kernel reaches, with a bound.
func poll(d time.Duration, done func() bool) bool {
	deadline := time.Now().Add(d)
	pause := 50 * time.Microsecond
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 10*time.Millisecond)
	}
	return true
}

// parkedStates are the goroutine states of a call that waits: in the
// network poller, on a channel or select, or on a lock or condition.
var parkedStates = []string{"[IO wait", "[select", "[chan receive", "[chan send", "[sync.Cond.Wait", "[semacquire", "[sync.Mutex.Lock", "[sync.RWMutex"}

// waitParked waits until some goroutine whose stack contains marker (a
// function name such as "devmem.(*Conn).Read(") is parked, so that a fault
// can be injected while the call really blocks. It fails t after 10s.
func waitParked(t *testing.T, marker string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	ok := poll(10*time.Second, func() bool {
		n := runtime.Stack(buf, true)
		for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
			if !strings.Contains(g, marker) {
				continue
			}
			head, _, _ := strings.Cut(g, "\n")
			for _, s := range parkedStates {
				if strings.Contains(head, s) {
					return true
				}
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no goroutine parked in %s after 10s", marker)
	}
}

// within runs f in a goroutine and returns its error, failing t if f does
// not return within d: a call that should have been unblocked hangs.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		t.Fatalf("%s: still blocked after %v:\n%s", what, d, buf[:runtime.Stack(buf, true)])
		return nil
	}
}

// payload returns n pseudo-random bytes for stream id.
func payload(id uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24), 42})
	_, _ = r.Read(b)
	return b
}

// stream returns an 8-byte id followed by n bytes of payload, the data one
// client sends, and its checksum.
func stream(id uint64, n int) ([]byte, [32]byte) {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+n), id)
	b = append(b, payload(id, n)...)
	return b, sha256.Sum256(b)
}

// dialLoop connects a plain TCP client to l.
func dialLoop(t *testing.T, l *devmem.Listener) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// pair connects a plain client to l and accepts it.
func pair(t *testing.T, l *devmem.Listener) (*devmem.Conn, *net.TCPConn) {
	t.Helper()
	client := dialLoop(t, l)
	c, err := l.AcceptDevmem()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, client
}

// reader is one way of consuming a Conn: it reads everything into w until
// EOF or an error, releasing what it reads.
type reader struct {
	name string
	read func(c *devmem.Conn, w io.Writer) (int64, error)
}

// readers are the three ways to read a devmem.Conn.
var readers = []reader{
	{"ReadFrags", readFragsAll},
	{"Read", func(c *devmem.Conn, w io.Writer) (int64, error) {
		return io.CopyBuffer(w, struct{ io.Reader }{c}, make([]byte, 48<<10))
	}},
	{"WriteTo", func(c *devmem.Conn, w io.Writer) (int64, error) { return c.WriteTo(w) }},
}

// readFragsAll reads c to EOF with ReadFrags, writes each frag's bytes to w
// and releases them.
func readFragsAll(c *devmem.Conn, w io.Writer) (int64, error) {
	frags, linear := make([]devmem.Frag, 0, 64), make([]byte, 64<<10)
	var total int64
	for {
		fs, _, err := c.ReadFrags(frags[:0], linear)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if err := c.BeginRead(); err != nil {
			return total, err
		}
		for _, f := range fs {
			b := c.FragBytes(f, linear)
			if len(b) != int(f.Size) {
				return total, fmt.Errorf("FragBytes(%+v): %d bytes", f, len(b))
			}
			if _, err := w.Write(b); err != nil {
				return total, err
			}
			total += int64(len(b))
		}
		if err := c.EndRead(); err != nil {
			return total, err
		}
		if err := c.Release(fs); err != nil {
			return total, err
		}
	}
}

// counter counts goroutine-safe figures across subtests.
type counter struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (c *counter) add(name string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]uint64{}
	}
	c.m[name] += n
}

// light reports whether the load-type tests should run their small
// versions: with -short, and in the VM runner, where the copy path over
// loopback is the same as on the host but runs 5 to 10 times slower under
// TCG (and once per VM kernel). The full versions run on the host.
func light() bool { return testing.Short() || testutil.InVM() }
