package reliability_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
)

// serveChecksums accepts connections on l until it is closed, reads each
// in its own goroutine with the readers in turn, and answers with the
// SHA-256 of what it read. It also checks the per-connection bound on
// outstanding bytes, maxBytes (0: none). Errors go to fail.
func serveChecksums(l *devmem.Listener, maxBytes uint64, fail func(error)) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := l.AcceptDevmem()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				fail(fmt.Errorf("Accept: %w", err))
				return
			}
			r := readers[i%len(readers)]
			wg.Go(func() {
				defer c.Close()
				h := sha256.New()
				if _, err := r.read(c, h); err != nil {
					fail(fmt.Errorf("%s: %w", r.name, err))
					return
				}
				st := c.Stats()
				if st.OutstandingFrags != 0 {
					fail(fmt.Errorf("%s: %d frags outstanding at EOF", r.name, st.OutstandingFrags))
				}
				if maxBytes != 0 && st.Ledger.PeakBytes > maxBytes {
					fail(fmt.Errorf("%s: %d bytes outstanding at the peak, the bound is %d", r.name, st.Ledger.PeakBytes, maxBytes))
				}
				if _, err := c.Write(h.Sum(nil)); err != nil {
					fail(fmt.Errorf("%s: answer: %w", r.name, err))
				}
			})
		}
	})
	return wg.Wait
}

// clientChecksum sends data over a new connection to addr, closes the
// sending side, and checks the server's checksum against sum.
func clientChecksum(addr string, data []byte, sum [32]byte) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(data); err != nil {
		return err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	var got [32]byte
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return fmt.Errorf("reading the server's checksum: %w", err)
	}
	if got != sum {
		return fmt.Errorf("stream %x: the server's checksum differs", data[:8])
	}
	return nil
}

// loadData is the stream of connection id: an 8-byte id and up to max-1
// bytes of payload, its length depending on id.
func loadData(id uint64, max int) ([]byte, [32]byte) {
	n := int((id * 2654435761) % uint64(max))
	return stream(id, n)
}

// TestLoadSequential makes 10,000 connections one after the other through
// one Listener (1,000 with -short and in the VM), each with up to 16 KiB
// checksummed end to end, and checks that nothing is left afterwards.
func TestLoadSequential(t *testing.T) {
	guard(t)
	n := 10000
	if light() {
		n = 1000
	}
	l := listenCopy(t, &devmem.ListenConfig{BufferSize: 16 << 20})
	var errs errList
	wait := serveChecksums(l, 0, errs.add)
	start := time.Now()
	var total int64
	for i := range n {
		data, sum := loadData(uint64(i), 16<<10)
		if err := clientChecksum(l.Addr().String(), data, sum); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		total += int64(len(data))
		if errs.failed() {
			break
		}
	}
	elapsed := time.Since(start)
	st := checkClean(t, l, 0)
	l.Close()
	wait()
	errs.report(t)
	if st.Accepted != uint64(n) {
		t.Errorf("Listener accepted %d connections, want %d", st.Accepted, n)
	}
	figure(t, "load sequential", "%d connections, %d bytes checksummed in %v (%.0f conn/s), 0 leaks",
		n, total, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
}

// TestLoadConcurrent runs rounds of 256 connections at once (64 with
// -short and in the VM) through one Listener for a bounded time (6 s; 1 s),
// each with up to 256 KiB checksummed end to end, under a per-connection
// and a shared bound on outstanding bytes, and checks that nothing is left
// afterwards.
func TestLoadConcurrent(t *testing.T) {
	guard(t)
	conns, budget := 256, 6*time.Second
	if light() {
		conns, budget = 64, time.Second
	}
	const maxBytes = 1 << 20
	l := listenCopy(t, &devmem.ListenConfig{
		BufferSize:       32 << 20,
		MaxBytes:         maxBytes,
		ListenerMaxBytes: 8 << 20,
	})
	var errs errList
	wait := serveChecksums(l, maxBytes, errs.add)
	start := time.Now()
	var total atomic.Int64
	rounds, id := 0, uint64(0)
	for rounds == 0 || time.Since(start) < budget {
		var wg sync.WaitGroup
		for range conns {
			data, sum := loadData(id, 256<<10)
			id++
			wg.Go(func() {
				if err := clientChecksum(l.Addr().String(), data, sum); err != nil {
					errs.add(err)
					return
				}
				total.Add(int64(len(data)))
			})
		}
		wg.Wait()
		rounds++
		if errs.failed() {
			break
		}
	}
	elapsed := time.Since(start)
	st := checkClean(t, l, 0)
	l.Close()
	wait()
	errs.report(t)
	if st.Accepted != id {
		t.Errorf("Listener accepted %d connections, want %d", st.Accepted, id)
	}
	figure(t, "load concurrent", "%d rounds of %d connections at once (%d in all), %d bytes checksummed in %v (%.0f MB/s), 0 leaks",
		rounds, conns, id, total.Load(), elapsed.Round(time.Millisecond), float64(total.Load())/elapsed.Seconds()/1e6)
}

// errList collects errors from goroutines.
type errList struct {
	mu   sync.Mutex
	errs []error
}

func (e *errList) add(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

func (e *errList) failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.errs) > 0
}

func (e *errList) report(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, err := range e.errs {
		if i == 10 {
			t.Errorf("... and %d more", len(e.errs)-10)
			break
		}
		t.Error(err)
	}
}
