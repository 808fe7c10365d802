package reliability_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
	"golang.org/x/sys/unix"
)

// signalStorm sends SIGUSR1 and SIGURG to the process every ~50µs until
// stop is called, which returns the number sent; count returns the number
// so far. Signals interrupt system
// calls (EINTR) and waits; the test process catches SIGUSR1, and the Go
// runtime uses SIGURG for preemption.
func signalStorm(t *testing.T) (count, stop func() uint64) {
	t.Helper()
	caught := make(chan os.Signal, 64)
	signal.Notify(caught, syscall.SIGUSR1)
	var sent atomic.Uint64
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-quit:
				return
			case <-caught:
			}
		}
	})
	wg.Go(func() {
		pid := os.Getpid()
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
			}
			sig := syscall.SIGUSR1
			if i%2 == 1 {
				sig = syscall.SIGURG
			}
			if err := syscall.Kill(pid, sig); err != nil {
				t.Errorf("kill: %v", err)
				return
			}
			sent.Add(1)
			// Pacing, not synchronisation: keep the storm from eating
			// the CPU the transfers need.
			time.Sleep(50 * time.Microsecond)
		}
	})
	return sent.Load, func() uint64 {
		close(quit)
		wg.Wait()
		signal.Stop(caught)
		return sent.Load()
	}
}

// TestSignalStorm moves data through every read and send path, and asks
// the kernel through netdev, while signals rain on the process: no EINTR
// (or any other error) may reach the caller, and every byte must arrive.
func TestSignalStorm(t *testing.T) {
	// os/signal starts a goroutine for good on first use: before the
	// leak check.
	warm := make(chan os.Signal, 1)
	signal.Notify(warm, syscall.SIGUSR1)
	signal.Stop(warm)
	guard(t)
	size := 8 << 20
	if light() {
		size = 2 << 20
	}
	l := listenCopy(t, &devmem.ListenConfig{BufferSize: 16 << 20})
	count, stop := signalStorm(t)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		nbytes atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// Receivers: one connection per way of reading, fed by a plain
	// client; one fed by devmem.Dial and Send.
	type job struct {
		r    reader
		send func(addr string, data []byte) error
	}
	plain := func(addr string, data []byte) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(data)
		return err
	}
	viaSend := func(addr string, data []byte) error {
		c, err := devmem.Dial(context.Background(), "tcp", addr, &devmem.DialConfig{BufferSize: 1 << 20})
		if err != nil {
			return err
		}
		defer c.Close()
		for len(data) > 0 {
			r, err := c.Alloc(context.Background(), 128<<10)
			if err != nil {
				return err
			}
			n := copy(c.RegionBytes(r), data)
			if _, err := c.Send(context.Background(), r, n); err != nil {
				return err
			}
			data = data[n:]
		}
		return c.Flush(context.Background())
	}
	jobs := []job{{readers[0], plain}, {readers[1], plain}, {readers[2], plain}, {readers[0], viaSend}}
	// Netlink under the storm.
	var nlCalls atomic.Int64
	wg.Go(func() {
		c, err := netdev.Dial()
		if err != nil {
			fail(err)
			return
		}
		defer c.Close()
		for range 300 {
			if _, err := c.Devs(); err != nil {
				fail(fmt.Errorf("netdev Devs: %w", err))
				return
			}
			nlCalls.Add(1)
		}
	})
	// Rounds of transfers until the storm has sent 1,000 signals (or for
	// 3 s).
	conns, start := 0, time.Now()
	failed := func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 }
	for round := 0; round == 0 || (count() < 1000 && time.Since(start) < 3*time.Second && !failed()); round++ {
		var rwg sync.WaitGroup
		for i, j := range jobs {
			data, sum := stream(uint64(100+i+round*len(jobs)), size)
			rwg.Go(func() {
				if err := j.send(l.Addr().String(), data); err != nil {
					fail(fmt.Errorf("sender %d: %w", i, err))
				}
			})
			c, err := l.AcceptDevmem()
			if err != nil {
				t.Fatal(err)
			}
			conns++
			rwg.Go(func() {
				defer c.Close()
				h := sha256.New()
				n, err := j.r.read(c, h)
				nbytes.Add(n)
				switch {
				case err != nil:
					fail(fmt.Errorf("%s: %w", j.r.name, err))
				case [32]byte(h.Sum(nil)) != sum:
					fail(fmt.Errorf("%s: %d bytes, want %d, or contents differ", j.r.name, n, len(data)))
				}
			})
		}
		rwg.Wait()
	}
	wg.Wait()
	sent := stop()
	for _, err := range errs {
		t.Error(err)
	}
	if sent < 100 {
		t.Errorf("only %d signals sent during the transfers", sent)
	}
	faults.add("signals during I/O", sent)
	figure(t, "signal storm", "%d signals during %d bytes over %d connections and %d netdev requests, 0 errors",
		sent, nbytes.Load(), conns, nlCalls.Load())
	checkClean(t, l, 0)
}

// TestShortDontneed gives the real kernel tokens it does not know: a Ledger
// over an ordinary TCP socket records made-up frags and releases them, and
// SO_DEVMEM_DONTNEED frees none of them (a short return). The ledger must
// resubmit once, then report every token as unknown, and leave nothing
// outstanding.
func TestShortDontneed(t *testing.T) {
	guard(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tokens int
		stride uint32 // 1: one range per call; 2: every token its own range
		policy pagepool.ReleasePolicy
	}{
		{"contiguous", 3000, 1, pagepool.ReleasePolicy{}},
		{"scattered", 1000, 2, pagepool.ReleasePolicy{}},
		{"batched", 2500, 3, pagepool.ReleasePolicy{BatchFrags: 700}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			led, err := pagepool.NewLedger(rc, &pagepool.LedgerOptions{Label: tc.name, Policy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			frags := make([]cmsg.Frag, tc.tokens)
			for i := range frags {
				frags[i] = cmsg.Frag{Offset: uint64(i) * 4096, Size: 4096, Token: 1 + uint32(i)*tc.stride, DMABufID: 1, Kind: cmsg.DMABuf}
			}
			if err := led.Record(frags); err != nil {
				t.Fatal(err)
			}
			err = led.Release(frags)
			if ferr := led.Flush(); err == nil {
				err = ferr
			}
			if errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP) {
				t.Skipf("SO_DEVMEM_DONTNEED: %v (a kernel without CONFIG_NET_DEVMEM)", err)
			}
			var ue *pagepool.UnknownTokensError
			st := led.Stats()
			faults.add("short SO_DEVMEM_DONTNEED", st.ShortCalls)
			if !errors.As(err, &ue) && st.UnknownTokens == 0 {
				t.Fatalf("releasing tokens the kernel does not know: %v, want an *UnknownTokensError", err)
			}
			if st.UnknownTokens != uint64(tc.tokens) || st.Freed != 0 {
				t.Errorf("stats: %d unknown, %d freed; want %d unknown, 0 freed", st.UnknownTokens, st.Freed, tc.tokens)
			}
			if st.OutstandingFrags != 0 || st.PendingFrags != 0 {
				t.Errorf("stats: %d outstanding, %d pending after the release", st.OutstandingFrags, st.PendingFrags)
			}
			// Every call comes back short; one that frees nothing is not
			// retried (the kernel examined all of it).
			if st.ShortCalls == 0 || st.ShortCalls != st.Calls || st.Retries != 0 {
				t.Errorf("stats: %d calls, %d short, %d retries; want every call short and no retry", st.Calls, st.ShortCalls, st.Retries)
			}
			// The kernel examines at most 1024 tokens and 128 ranges a call.
			if min := uint64(tc.tokens+1023) / 1024; st.Calls < min {
				t.Errorf("%d calls for %d tokens, want at least %d", st.Calls, tc.tokens, min)
			}
			if st.Ranges > st.Calls*128 {
				t.Errorf("%d ranges in %d calls: more than 128 per call", st.Ranges, st.Calls)
			}
			rep, err := led.Close()
			if err != nil || len(rep.Frags) != 0 {
				t.Errorf("Close: %v, %d frags reported leaked", err, len(rep.Frags))
			}
			figure(t, "short DONTNEED "+tc.name, "%d tokens unknown to the kernel: %d calls, %d ranges, %d short, %d retries, all reported",
				tc.tokens, st.Calls, st.Ranges, st.ShortCalls, st.Retries)
		})
	}
	// The socket still works.
	go func() {
		s, err := ln.Accept()
		if err == nil {
			s.Write([]byte("ok"))
			s.Close()
		}
	}()
	var b bytes.Buffer
	if _, err := io.Copy(&b, c); err != nil || b.String() != "ok" {
		t.Errorf("socket after the releases: %q, %v", b.String(), err)
	}
}
