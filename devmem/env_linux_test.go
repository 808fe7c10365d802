package devmem_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/internal/fd/fdtest"
)

func TestMain(m *testing.M) { fdtest.Main(m) }

// env is where a test runs: the copy path over loopback on any Linux, or the
// devmem path between two netdevsim devices in the VM (nsim_linux_test.go).
// The same tests run in both.
type env struct {
	mode Mode
	// listen makes a Listener on the receiving side with cfg filled in for
	// the environment (Interface, address).
	listen func(t testing.TB, cfg *devmem.ListenConfig) *devmem.Listener
	// dial connects a plain TCP client from the sending side.
	dial func(t testing.TB, addr net.Addr) net.Conn
	// dialDevmem connects with devmem.Dial from the sending side.
	dialDevmem func(t testing.TB, addr net.Addr, cfg *devmem.DialConfig) *devmem.Conn
	// setLinear makes the receiving NIC put n bytes of each packet's
	// payload in the linear part (SCM_DEVMEM_LINEAR); nil where it cannot.
	setLinear func(t testing.TB, n int)
}

// Mode is devmem.Mode, short for the tests.
type Mode = devmem.Mode

// copyEnv is the copy path over loopback.
func copyEnv(t testing.TB) *env {
	return &env{
		mode: devmem.ModeCopy,
		listen: func(t testing.TB, cfg *devmem.ListenConfig) *devmem.Listener {
			t.Helper()
			if cfg == nil {
				cfg = &devmem.ListenConfig{}
			}
			if cfg.BufferSize == 0 {
				cfg.BufferSize = 16 << 20
			}
			l, err := cfg.Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			t.Cleanup(func() { l.Close() })
			if l.Mode() != devmem.ModeCopy {
				t.Fatalf("Mode() = %v on loopback, want copy", l.Mode())
			}
			return l
		},
		dial: func(t testing.TB, addr net.Addr) net.Conn {
			t.Helper()
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		},
		dialDevmem: func(t testing.TB, addr net.Addr, cfg *devmem.DialConfig) *devmem.Conn {
			t.Helper()
			if cfg == nil {
				cfg = &devmem.DialConfig{}
			}
			if cfg.BufferSize == 0 {
				cfg.BufferSize = 4 << 20
			}
			c, err := devmem.Dial(context.Background(), "tcp", addr.String(), cfg)
			if err != nil {
				t.Fatalf("devmem.Dial: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		},
	}
}

// forEachMode runs fn in the copy environment and in the devmem one (which
// skips where the devmem test kernel is not running).
func forEachMode(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("copy", func(t *testing.T) {
		checkLeaks(t)
		fn(t, copyEnv(t))
	})
	t.Run("devmem", func(t *testing.T) {
		e := devmemEnv(t) // skips without the devmem test kernel
		checkLeaks(t)
		fn(t, e)
	})
}

// checkLeaks fails t if it leaves descriptors open or goroutines running.
// The tests of this package do not run in parallel, so the process-wide
// counts are the test's own.
func checkLeaks(t *testing.T) {
	fdtest.CheckLeaks(t)
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// Goroutines end asynchronously after Close (a context.AfterFunc
		// callback, the test's own helpers); give them a bounded while.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: %d before the test, %d after:\n%s", before, runtime.NumGoroutine(), buf)
				return
			}
			runtime.Gosched()
			time.Sleep(5 * time.Millisecond)
		}
	})
}
