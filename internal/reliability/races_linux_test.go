package reliability_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/pagepool"
)

// blockingCall is a call that blocks, and the Close that must unblock it.
type blockingCall struct {
	name   string
	marker string // a function on the blocked goroutine's stack
	// setup prepares a Conn or Listener on which call blocks, and returns
	// the call and the Close.
	setup func(t *testing.T) (call func() error, close func() error)
}

// blockingCalls lists every call of the devmem API that blocks, in copy
// mode over loopback.
func blockingCalls() []blockingCall {
	listener := func(t *testing.T) *devmem.Listener {
		return listenCopy(t, &devmem.ListenConfig{BufferSize: 1 << 20})
	}
	accepted := func(t *testing.T, cfg *devmem.ListenConfig) (*devmem.Conn, *net.TCPConn) {
		if cfg == nil {
			cfg = &devmem.ListenConfig{}
		}
		cfg.BufferSize = 1 << 20
		return pair(t, listenCopy(t, cfg))
	}
	// stalled is a dialed Conn whose peer never reads, with full socket
	// buffers.
	stalled := func(t *testing.T) *devmem.Conn {
		ln := sink(t, func(c net.Conn) { t.Cleanup(func() { c.Close() }) })
		c := dialCopy(t, ln.Addr().String(), 1<<20)
		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		for {
			if _, err := c.Write(make([]byte, 256<<10)); err != nil {
				break
			}
		}
		c.SetWriteDeadline(time.Time{})
		return c
	}
	return []blockingCall{
		{"Listener.Accept", "devmem.(*Listener).Accept(", func(t *testing.T) (func() error, func() error) {
			l := listener(t)
			return func() error { _, err := l.Accept(); return err }, l.Close
		}},
		{"Listener.AcceptDevmem", "devmem.(*Listener).AcceptDevmem(", func(t *testing.T) (func() error, func() error) {
			l := listener(t)
			return func() error { _, err := l.AcceptDevmem(); return err }, l.Close
		}},
		{"Listener.AcceptContext", "devmem.(*Listener).AcceptContext(", func(t *testing.T) (func() error, func() error) {
			l := listener(t)
			return func() error { _, err := l.AcceptContext(context.Background()); return err }, l.Close
		}},
		{"Conn.Read", "devmem.(*Conn).Read(", func(t *testing.T) (func() error, func() error) {
			c, _ := accepted(t, nil)
			return func() error { _, err := c.Read(make([]byte, 100)); return err }, c.Close
		}},
		{"Conn.ReadFrags", "devmem.(*Conn).ReadFrags(", func(t *testing.T) (func() error, func() error) {
			c, _ := accepted(t, nil)
			return func() error {
				fs, _, err := c.ReadFrags(nil, make([]byte, 4096))
				c.Release(fs)
				return err
			}, c.Close
		}},
		{"Conn.ReadFragsContext", "devmem.(*Conn).ReadFragsContext(", func(t *testing.T) (func() error, func() error) {
			c, _ := accepted(t, nil)
			return func() error {
				fs, _, err := c.ReadFragsContext(context.Background(), nil, make([]byte, 4096))
				c.Release(fs)
				return err
			}, c.Close
		}},
		{"Conn.WriteTo", "devmem.(*Conn).WriteTo(", func(t *testing.T) (func() error, func() error) {
			c, _ := accepted(t, nil)
			return func() error { _, err := c.WriteTo(io.Discard); return err }, c.Close
		}},
		{"Conn.ReadFrags at the bound", "devmem.(*Conn).ReadFrags(", func(t *testing.T) (func() error, func() error) {
			c, client := accepted(t, &devmem.ListenConfig{MaxFrags: 1})
			client.Write([]byte("held"))
			if _, _, err := c.ReadFrags(nil, make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
			client.Write([]byte("waiting"))
			return func() error { _, _, err := c.ReadFrags(nil, make([]byte, 4096)); return err }, c.Close
		}},
		{"Conn.Write (accepted)", "devmem.(*Conn).Write(", func(t *testing.T) (func() error, func() error) {
			c, _ := accepted(t, nil) // the client never reads
			return func() error {
				for {
					if _, err := c.Write(make([]byte, 1<<20)); err != nil {
						return err
					}
				}
			}, c.Close
		}},
		{"Conn.Write (dialed)", "devmem.(*Conn).Write(", func(t *testing.T) (func() error, func() error) {
			c := stalled(t)
			return func() error {
				for {
					if _, err := c.Write(make([]byte, 1<<20)); err != nil {
						return err
					}
				}
			}, c.Close
		}},
		{"Conn.Send", "devmem.(*Conn).Send(", func(t *testing.T) (func() error, func() error) {
			c := stalled(t)
			return func() error {
				for {
					r, err := c.Alloc(context.Background(), 512<<10)
					if err != nil {
						return err
					}
					if _, err = c.Send(context.Background(), r, 512<<10); err != nil {
						return err
					}
				}
			}, c.Close
		}},
		{"Conn.SendScatter", "devmem.(*Conn).SendScatter(", func(t *testing.T) (func() error, func() error) {
			c := stalled(t)
			return func() error {
				for {
					r1, err := c.Alloc(context.Background(), 256<<10)
					if err != nil {
						return err
					}
					r2, err := c.Alloc(context.Background(), 256<<10)
					if err != nil {
						c.FreeRegion(r1)
						return err
					}
					if _, err = c.SendScatter(context.Background(), []pagepool.Region{r1, r2}, 512<<10); err != nil {
						return err
					}
				}
			}, c.Close
		}},
	}
}

// TestCloseUnblocks parks each blocking call, closes its Conn or Listener,
// and checks that the call returns net.ErrClosed promptly and nothing leaks.
func TestCloseUnblocks(t *testing.T) {
	for _, bc := range blockingCalls() {
		t.Run(bc.name, func(t *testing.T) {
			guard(t)
			call, closeFn := bc.setup(t)
			errc := make(chan error, 1)
			go func() { errc <- call() }()
			waitParked(t, bc.marker)
			if err := closeFn(); err != nil {
				t.Errorf("Close: %v", err)
			}
			faults.add("close during a blocked call", 1)
			err := within(t, 5*time.Second, bc.name+" after Close", func() error { return <-errc })
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("%s blocked when closed: %v, want net.ErrClosed", bc.name, err)
			}
			if err := closeFn(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// TestCloseRaces races Close with each blocking call at random points
// (before, during and after the call blocks), 30 times each (8 with -short
// and in the VM), for the race detector: the call must return promptly,
// with nil, EOF or net.ErrClosed.
func TestCloseRaces(t *testing.T) {
	iters := 30
	if light() {
		iters = 8
	}
	rng := rand.New(rand.NewPCG(1, 2))
	total := 0
	for _, bc := range blockingCalls() {
		t.Run(bc.name, func(t *testing.T) {
			guard(t)
			for i := range iters {
				t.Run("", func(t *testing.T) {
					call, closeFn := bc.setup(t)
					spins := rng.IntN(200)
					var wg sync.WaitGroup
					errc := make(chan error, 1)
					wg.Go(func() { errc <- call() })
					wg.Go(func() {
						for range spins {
							runtime.Gosched()
						}
						closeFn()
					})
					err := within(t, 5*time.Second, bc.name+" racing Close", func() error { return <-errc })
					wg.Wait()
					if err != nil && err != io.EOF && !errors.Is(err, net.ErrClosed) {
						t.Fatalf("iteration %d (%d spins): %s racing Close: %v", i, spins, bc.name, err)
					}
				})
			}
			total += iters
		})
	}
	faults.add("Close racing a blocking call", uint64(total))
	figure(t, "close races", "%d races of Close with %d blocking calls", total, len(blockingCalls()))
}

// TestReleaseRacesClose releases, holds, completes batches and reads stats
// from several goroutines while the Conn closes, and checks that every frag
// ends up either released or in the leak report, exactly once.
func TestReleaseRacesClose(t *testing.T) {
	guard(t)
	iters := 30
	if light() {
		iters = 5
	}
	l := listenCopy(t, nil)
	var leaked uint64
	for i := range iters {
		c, client := pair(t, l)
		data, _ := stream(uint64(i), 64<<10)
		client.Write(data)
		client.Close()
		var frags []devmem.Frag
		linear := make([]byte, 2048)
		for {
			fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 4), linear)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			frags = append(frags, fs...)
		}
		third := len(frags) / 3
		batch, err := c.Hold("racer", frags[third:2*third])
		if err != nil {
			t.Fatal(err)
		}
		var released sync.Map // token -> true, for frags whose release succeeded
		var wg sync.WaitGroup
		wg.Go(func() {
			for _, f := range frags[:third] {
				if c.Release([]devmem.Frag{f}) == nil {
					released.Store(f.Token, true)
				}
			}
		})
		wg.Go(func() {
			if batch.Done() == nil {
				for _, f := range frags[third : 2*third] {
					released.Store(f.Token, true)
				}
			}
		})
		wg.Go(func() {
			for range 10 {
				c.Stats()
			}
		})
		wg.Go(func() { c.Close() })
		wg.Wait()
		lr := c.Leaks()
		inReport := map[uint32]bool{}
		for _, lf := range lr.Frags {
			inReport[lf.Frag.Token] = true
		}
		for _, f := range frags {
			_, rel := released.Load(f.Token)
			if rel == inReport[f.Token] {
				t.Fatalf("iteration %d: frag %+v: released %v, in the leak report %v: want exactly one", i, f, rel, inReport[f.Token])
			}
		}
		leaked += uint64(len(lr.Frags))
	}
	faults.add("Release/Hold/Done racing Close", uint64(iters))
	checkClean(t, l, leaked)
}
