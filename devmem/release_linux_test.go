package devmem_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/pagepool"
)

// readBytes reads c with ReadFrags until n bytes arrived, checks them
// against want, and releases each read's frags when release is set (else
// returns them, still outstanding).
func readBytes(t *testing.T, c *devmem.Conn, want []byte, release bool) []devmem.Frag {
	t.Helper()
	var (
		kept   []devmem.Frag
		got    []byte
		linear = make([]byte, 64<<10)
	)
	for len(got) < len(want) {
		fs, _, err := c.ReadFrags(make([]devmem.Frag, 0, 64), linear)
		if err != nil {
			t.Fatalf("ReadFrags after %d of %d bytes: %v", len(got), len(want), err)
		}
		for _, f := range fs {
			got = append(got, c.FragBytes(f, linear)...)
		}
		if release {
			if err := c.Release(fs); err != nil {
				t.Fatalf("Release: %v", err)
			}
		} else {
			kept = append(kept, fs...)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(want))
	}
	return kept
}

// waitStats waits (bounded) until cond holds for c's stats.
func waitStats(t *testing.T, c *devmem.Conn, what string, cond func(devmem.ConnStats) bool) devmem.ConnStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s; stats %+v", what, st.Ledger)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// TestReleasePolicy checks on a real devmem socket when released frags go
// back to the kernel: in full batches while the stream is busy, all of
// them once the reader waits for data or at once, as configured.
func TestReleasePolicy(t *testing.T) {
	e := devmemEnv(t)
	checkLeaks(t)
	ctx := context.Background()

	t.Run("batch", func(t *testing.T) {
		// No idle flush in the way: only full batches go back.
		l := e.listen(t, &devmem.ListenConfig{ReleaseIdle: time.Hour})
		c, client := accept(t, e, l)
		want := payload(31, 5<<20)
		go func() { _, _ = client.Write(want) }()
		readBytes(t, c, want, true)
		st := c.Stats()
		full := st.Frags / devmem.DefaultReleaseBatch
		if full == 0 || st.Ledger.Calls != full || st.Ledger.Freed != full*devmem.DefaultReleaseBatch ||
			st.Ledger.PendingFrags != st.Frags-st.Ledger.Freed || st.IdleFlushes != 0 {
			t.Fatalf("%d frags received and released: %d SO_DEVMEM_DONTNEED calls freed %d, %d queued, %d idle flushes; want %d full calls",
				st.Frags, st.Ledger.Calls, st.Ledger.Freed, st.Ledger.PendingFrags, st.IdleFlushes, full)
		}
		client.Close()
		if _, _, err := c.ReadFrags(nil, make([]byte, 4096)); err != io.EOF {
			t.Fatalf("ReadFrags at the end: %v, want io.EOF", err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if r := c.Leaks(); len(r.Frags) != 0 {
			t.Fatalf("Close: %d frags leaked, want the queued ones returned: %v", len(r.Frags), r)
		}
	})

	t.Run("idle", func(t *testing.T) {
		l := e.listen(t, nil) // ReleaseIdle: the default
		c, client := accept(t, e, l)
		want := payload(32, 256<<10)
		go func() { _, _ = client.Write(want) }()
		readBytes(t, c, want, true)
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ReadFrags(make([]devmem.Frag, 0, 8), make([]byte, 4096))
			errc <- err
		}()
		// The reader waits for data: what it released goes back.
		st := waitStats(t, c, "queued frags returned while the reader waits", func(st devmem.ConnStats) bool {
			return st.Ledger.PendingFrags == 0 && st.OutstandingFrags == 0
		})
		if st.IdleFlushes == 0 || st.Ledger.Freed != st.Frags {
			t.Fatalf("%d idle flushes freed %d of %d frags", st.IdleFlushes, st.Ledger.Freed, st.Frags)
		}
		client.Close()
		if err := <-errc; err != io.EOF {
			t.Fatalf("waiting ReadFrags: %v, want io.EOF", err)
		}
	})

	t.Run("released-while-waiting", func(t *testing.T) {
		l := e.listen(t, nil)
		c, client := accept(t, e, l)
		want := payload(33, 256<<10)
		go func() { _, _ = client.Write(want) }()
		kept := readBytes(t, c, want, false)
		errc := make(chan error, 1)
		go func() {
			_, _, err := c.ReadFrags(make([]devmem.Frag, 0, 8), make([]byte, 4096))
			errc <- err
		}()
		waitBlocked(t, "(*conn).r")
		// Held by the application (a GPU, say) and released while the
		// reader waits: they go back without another read.
		if err := c.Release(kept); err != nil {
			t.Fatal(err)
		}
		st := waitStats(t, c, "frags released during the wait returned", func(st devmem.ConnStats) bool {
			return st.OutstandingFrags == 0
		})
		if st.IdleFlushes == 0 {
			t.Fatalf("no idle flush counted: %+v", st)
		}
		client.Close()
		if err := <-errc; err != io.EOF {
			t.Fatalf("waiting ReadFrags: %v, want io.EOF", err)
		}
	})

	t.Run("idle-negative", func(t *testing.T) {
		// ReleaseIdle < 0: the flush happens as the reader starts to wait,
		// in its own call.
		l := e.listen(t, &devmem.ListenConfig{ReleaseIdle: -1})
		c, client := accept(t, e, l)
		want := payload(34, 256<<10)
		go func() { _, _ = client.Write(want) }()
		readBytes(t, c, want, true)
		rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, _, err := c.ReadFragsContext(rctx, nil, make([]byte, 4096)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ReadFragsContext with nothing sent: %v, want a deadline", err)
		}
		if st := c.Stats(); st.OutstandingFrags != 0 || st.Ledger.Freed != st.Frags || st.IdleFlushes == 0 {
			t.Fatalf("after a wait: %d outstanding, %d of %d freed, %d idle flushes", st.OutstandingFrags, st.Ledger.Freed, st.Frags, st.IdleFlushes)
		}
	})

	t.Run("at-once", func(t *testing.T) {
		l := e.listen(t, &devmem.ListenConfig{Release: pagepool.ReleasePolicy{BatchFrags: 1}})
		c, client := accept(t, e, l)
		want := payload(35, 256<<10)
		go func() { _, _ = client.Write(want) }()
		readBytes(t, c, want, true)
		if st := c.Stats(); st.OutstandingFrags != 0 || st.Ledger.Calls < st.ReleaseCalls {
			t.Fatalf("BatchFrags 1: %d outstanding, %d calls for %d Release calls", st.OutstandingFrags, st.Ledger.Calls, st.ReleaseCalls)
		}
	})
}
