package devmem_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/internal/testutil"
)

// devmemEnv is the devmem path on the devmem test kernel (the VM runner's
// devmem-7.2): two netdevsim devices linked back to back, the receiving one
// (Local) in the test's namespace with a udmabuf bound to its RX queue, the
// sending one (Peer) in another namespace. netdevsim there is patched to
// act as a header-split NIC with DMA (internal/vmtest/kernel), so the
// kernel's real devmem RX and TX code runs end to end. It skips elsewhere.
func devmemEnv(t *testing.T) *env {
	t.Helper()
	testutil.SkipIfNoNetdevsim(t)
	testutil.SkipIfNoUdmabuf(t)
	p := testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: 1})
	local := p.Local
	peerDo := func(t testing.TB, f func() error) {
		t.Helper()
		if err := p.PeerNS.Do(f); err != nil {
			t.Fatal(err)
		}
	}
	return &env{
		mode: devmem.ModeDevmem,
		listen: func(t testing.TB, cfg *devmem.ListenConfig) *devmem.Listener {
			t.Helper()
			if cfg == nil {
				cfg = &devmem.ListenConfig{}
			}
			cfg.Interface = local.Name
			// Header split on, hds-thresh 0; undone by Close.
			cfg.Setup = true
			if cfg.BufferSize == 0 {
				cfg.BufferSize = 32 << 20
			}
			addr := net.JoinHostPort(local.Addr4.Addr().String(), "0")
			l, err := cfg.Listen(context.Background(), "tcp", addr)
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			t.Cleanup(func() {
				if err := l.Close(); err != nil {
					t.Errorf("Listener.Close: %v", err)
				}
			})
			if l.Mode() != devmem.ModeDevmem {
				t.Fatalf("Listen on %s: mode %v, reason: %v", local.Name, l.Mode(), l.Reason())
			}
			return l
		},
		dial: func(t testing.TB, addr net.Addr) net.Conn {
			t.Helper()
			var c net.Conn
			peerDo(t, func() (err error) {
				c, err = net.Dial("tcp", addr.String())
				return err
			})
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
			var c *devmem.Conn
			peerDo(t, func() (err error) {
				c, err = devmem.Dial(context.Background(), "tcp", addr.String(), cfg)
				return err
			})
			t.Cleanup(func() { c.Close() })
			return c
		},
		setLinear: func(t testing.TB, n int) {
			t.Helper()
			path := fmt.Sprintf("/sys/kernel/debug/netdevsim/netdevsim%d/ports/0/devmem_linear_bytes", local.ID)
			set := func(n int) error { return os.WriteFile(path, []byte(strconv.Itoa(n)), 0) }
			if err := set(n); err != nil {
				t.Fatalf("forcing linear payload: %v", err)
			}
			t.Cleanup(func() { _ = set(0) })
		},
	}
}

// testStrictDevmem checks that strict mode refuses payload in host memory
// on a real devmem socket, and that the permissive default delivers it.
func testStrictDevmem(t *testing.T) {
	e := devmemEnv(t)
	checkLeaks(t)
	t.Run("forced linear", func(t *testing.T) {
		l := e.listen(t, &devmem.ListenConfig{Strict: true})
		e.setLinear(t, 100)
		c, client := accept(t, e, l)
		if _, err := client.Write(payload(20, 64<<10)); err != nil {
			t.Fatal(err)
		}
		_, err := recvFrags(t, c, sha256.New(), false)
		if !errors.Is(err, devmem.ErrHostPayload) {
			t.Fatalf("strict ReadFrags of forced-linear payload: %v, want ErrHostPayload", err)
		}
		if st := c.Stats(); st.OutstandingFrags != 0 {
			t.Fatalf("%d frags outstanding after the strict error: its tokens must be released", st.OutstandingFrags)
		}
	})
	t.Run("plain", func(t *testing.T) {
		l := e.listen(t, &devmem.ListenConfig{Strict: true})
		// From the same namespace the flow goes over loopback: ordinary
		// pages, no devmem.
		client, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		c, err := l.AcceptDevmem()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := client.Write([]byte("over loopback")); err != nil {
			t.Fatal(err)
		}
		if _, err := recvFrags(t, c, sha256.New(), false); !errors.Is(err, devmem.ErrHostPayload) {
			t.Fatalf("strict ReadFrags of loopback data: %v, want ErrHostPayload", err)
		}
	})
	t.Run("permissive", func(t *testing.T) {
		l := e.listen(t, nil)
		e.setLinear(t, 100)
		c, client := accept(t, e, l)
		want := payload(21, 1<<20)
		go func() { _ = sendAll(client, want, 21) }()
		h := sha256.New()
		if _, err := recvFrags(t, c, h, false); err != nil {
			t.Fatal(err)
		}
		if [32]byte(h.Sum(nil)) != sum(want) {
			t.Fatal("received data differs")
		}
		if st := c.Stats(); st.LinearBytes == 0 || st.DevmemBytes == 0 {
			t.Fatalf("stats %+v: want both linear and devmem bytes", st)
		}
	})
}

// TestDevmemCtrlRegrowth makes the control buffer too small for one frag,
// so that the kernel answers ETOOSMALL, and checks that the Conn grows it
// and loses nothing.
func TestDevmemCtrlRegrowth(t *testing.T) {
	e := devmemEnv(t)
	checkLeaks(t)
	defer devmem.SetCtrlInitial(8)()
	l := e.listen(t, nil)
	c, client := accept(t, e, l)
	want := payload(22, 1<<20)
	go func() { _ = sendAll(client, want, 22) }()
	h := sha256.New()
	if _, err := recvFrags(t, c, h, false); err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != sum(want) {
		t.Fatal("received data differs")
	}
	if st := c.Stats(); st.CtrlRegrowths == 0 || st.CtrlSize <= 8 {
		t.Fatalf("CtrlRegrowths %d, CtrlSize %d: want the buffer grown from 8 bytes", st.CtrlRegrowths, st.CtrlSize)
	}
}

// TestDevmemQueryState checks the netdev view of the binding in Stats.
func TestDevmemQueryState(t *testing.T) {
	e := devmemEnv(t)
	checkLeaks(t)
	l := e.listen(t, nil)
	st := l.Stats()
	if st.NetdevErr != nil {
		t.Fatalf("Stats: %v", st.NetdevErr)
	}
	if st.BindingID == 0 || len(st.QueueStates) != len(st.Queues) || len(st.Queues) == 0 {
		t.Fatalf("Stats: binding %d, queues %v, states %v", st.BindingID, st.Queues, st.QueueStates)
	}
	for _, q := range st.QueueStates {
		if q.DMABuf != st.BindingID {
			t.Errorf("queue %d: bound to %d, want %d", q.ID, q.DMABuf, st.BindingID)
		}
	}
	if len(st.PagePools) == 0 {
		t.Errorf("Stats: no page pool of binding %d", st.BindingID)
	}
}

// TestSmallReads reads through Read with buffers smaller than a frag, so
// that Read keeps a remainder, and io.CopyBuffer with odd sizes.
func TestSmallReads(t *testing.T) {
	forEachMode(t, func(t *testing.T, e *env) {
		l := e.listen(t, nil)
		c, client := accept(t, e, l)
		want := payload(23, 300<<10)
		go func() { _ = sendAll(client, want, 23) }()
		var got []byte
		b := make([]byte, 7)
		for {
			n, err := c.Read(b)
			got = append(got, b[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 100<<10 {
				// The rest through io.CopyBuffer with a 1000-byte buffer.
				h := &bytesWriter{}
				if _, err := io.CopyBuffer(h, readerOnly{c}, make([]byte, 1000)); err != nil {
					t.Fatal(err)
				}
				got = append(got, h.b...)
				break
			}
		}
		if sum(got) != sum(want) {
			t.Fatalf("read %d bytes, want %d; contents differ", len(got), len(want))
		}
		if st := c.Stats(); st.OutstandingFrags != 0 {
			t.Fatalf("%d frags outstanding after reading with Read", st.OutstandingFrags)
		}
	})
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type readerOnly struct{ io.Reader }
