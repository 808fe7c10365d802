//go:build linux

package pagepool

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal/testutil"
	"golang.org/x/sys/unix"
)

// msgSockDevmem is MSG_SOCK_DEVMEM, which only include/linux/socket.h
// (kernel-internal) defines.
const msgSockDevmem = 0x2000000

// Environment of TestIntegrationDevmemStream, set by the VM runner's devmem
// fixture.
const (
	// envDevmemSource is host:port of a TCP source that, on connect, sends
	// at least envDevmemBytes bytes, routed so that they arrive on an RX
	// queue bound to a dma-buf (header split on): on the devmem test kernel,
	// a netdevsim pair with a udmabuf bound to queue 0 of the receiving
	// side, the source in the peer's netns.
	envDevmemSource = "PAGEPOOL_DEVMEM_SOURCE"
	// envDevmemBufBytes is the size of the bound dma-buf: every frag must
	// lie inside it, and the ledger may pin at most half of it.
	envDevmemBufBytes = "PAGEPOOL_DEVMEM_BUF_BYTES"
	// envDevmemBytes is how much the source sends (default 384 MiB).
	envDevmemBytes = "PAGEPOOL_DEVMEM_BYTES"
)

// TestIntegrationDevmemStream receives a stream of several hundred MiB on a
// real devmem socket and returns every frag through a Ledger: batched
// releases, half of them deferred through Batch.Done from another goroutine,
// with the socket's outstanding bytes bounded below the dma-buf's size so
// that the page pool never runs dry (if it did, the stream would stall and
// the deadline fail the test). It checks that the kernel freed exactly what
// was recorded, reading the real SO_DEVMEM_DONTNEED return values, and
// reports system calls per GiB (the floor is frags/1024).
//
// It needs the devmem test kernel (netdevsim patched for devmem) and the VM
// runner's devmem fixture, described by the env* constants above.
func TestIntegrationDevmemStream(t *testing.T) {
	if _, err := os.Stat("/sys/bus/netdevsim"); err != nil {
		t.Skip("needs netdevsim with devmem support (the devmem test kernel in the VM runner)")
	}
	src := os.Getenv(envDevmemSource)
	bufBytes, _ := strconv.ParseUint(os.Getenv(envDevmemBufBytes), 10, 64)
	if src == "" || bufBytes == 0 {
		t.Skipf("needs the VM runner's devmem fixture (kernel %q): %s and %s unset", testutil.VMKernel(), envDevmemSource, envDevmemBufBytes)
	}
	want := uint64(384 << 20)
	if v, err := strconv.ParseUint(os.Getenv(envDevmemBytes), 10, 64); err == nil && v > 0 {
		want = v
	}
	checkFDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	rc := rawConn(t, c.(*net.TCPConn))
	l, err := NewLedger(rc, &LedgerOptions{
		Label:    "devmem stream",
		Policy:   ReleasePolicy{BatchFrags: 1024},
		MaxBytes: bufBytes / 2,
	})
	if err != nil {
		t.Fatal(err)
	}

	// Deferred releases come back on another goroutine, as a GPU's
	// completions would.
	done := make(chan Batch, 64)
	doneErr := make(chan error, 1)
	go func() {
		var err error
		for b := range done {
			if e := b.Done(); e != nil && err == nil {
				err = e
			}
		}
		doneErr <- err
	}()

	data := make([]byte, 800<<10)
	oob := make([]byte, cmsg.Space(2048))
	var (
		frags              []cmsg.Frag
		dmabufBytes, reads uint64
	)
	for dmabufBytes < want {
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		var n, oobn int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), data, oob, msgSockDevmem)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			t.Fatalf("recvmsg(MSG_SOCK_DEVMEM) after %d bytes: %v", dmabufBytes, err)
		}
		if n == 0 {
			t.Fatalf("EOF after %d dma-buf bytes, want %d", dmabufBytes, want)
		}
		reads++
		frags, err = cmsg.Parse(frags[:0], oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) == 0 {
			t.Fatalf("read %d bytes without devmem cmsgs: the flow is not on the bound queue", n)
		}
		for _, f := range frags {
			if f.Kind != cmsg.DMABuf {
				continue
			}
			if err := f.CheckBounds(bufBytes); err != nil {
				t.Fatal(err)
			}
			dmabufBytes += uint64(f.Size)
		}
		if err := l.Record(frags); err != nil {
			t.Fatal(err)
		}
		if reads%2 == 0 {
			if err := l.Release(frags); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := l.Hold("completion goroutine", frags)
		if err != nil {
			t.Fatal(err)
		}
		done <- b
	}
	close(done)
	if err := <-doneErr; err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("%d MiB in %d frags, %d reads; %d SO_DEVMEM_DONTNEED calls = %.0f per GiB (floor %.0f); peak %d MiB outstanding",
		dmabufBytes>>20, st.Recorded, reads, st.Calls, float64(st.Calls)/(float64(dmabufBytes)/(1<<30)),
		float64(st.Recorded)/1024/(float64(dmabufBytes)/(1<<30)), st.PeakBytes>>20)
	if st.Freed != st.Recorded || st.UnknownTokens != 0 || st.OutstandingFrags != 0 || st.CallErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.PeakBytes > bufBytes/2+uint64(len(data)) {
		t.Fatalf("peak %d bytes outstanding, bound %d", st.PeakBytes, bufBytes/2)
	}
	if floor := st.Recorded/1024 + 1; st.Calls > 2*floor+uint64(st.Waits) {
		t.Fatalf("%d calls for %d frags (floor %d)", st.Calls, st.Recorded, floor)
	}
	rep, err := l.Close()
	if err != nil || len(rep.Frags) != 0 {
		t.Fatalf("Close = %v, %v", rep, err)
	}
}
