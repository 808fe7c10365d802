package reliability_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/pagepool"
)

// FuzzConnRelease drives the release side of a live copy-mode Conn with
// operation sequences that mix its real frags with forged ones (changed
// offset, size, token, binding or kind), double releases, holds and double
// Done, against a model of which frags are outstanding. A forged or stale
// frag must be refused and change nothing; the Conn's count must match the
// model after every step; and Close must report exactly the frags the model
// still has outstanding.
func FuzzConnRelease(f *testing.F) {
	f.Add(uint8(4), []byte{0, 0, 1, 1, 2, 2, 3, 3})
	f.Add(uint8(8), []byte{4, 0, 5, 0, 0, 0, 0, 0, 6, 1, 1, 3})
	f.Add(uint8(2), []byte{1, 0, 1, 0, 2, 1, 7, 0, 5, 0, 5, 1})
	f.Add(uint8(16), []byte{3, 5, 4, 6, 4, 7, 5, 0, 5, 1, 0, 9, 7, 9})
	f.Fuzz(func(t *testing.T, nfrags uint8, ops []byte) {
		nfrags = 1 + nfrags%24
		l, err := (&devmem.ListenConfig{BufferSize: 1 << 20}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
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
		var frags []devmem.Frag
		for len(frags) < int(nfrags) {
			client.Write([]byte("0123456789abcdef"))
			fs, _, err := c.ReadFrags(nil, make([]byte, 16))
			if err != nil {
				t.Fatal(err)
			}
			frags = append(frags, fs...)
		}

		const (
			out  = iota // outstanding, releasable
			held        // held by a batch
			gone        // released
		)
		state := make([]int, len(frags))
		batches := map[int]devmem.Batch{} // frag index -> its batch
		next := func() int {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return int(b)
		}
		outstanding := func() uint64 {
			n := uint64(0)
			for _, s := range state {
				if s != gone {
					n++
				}
			}
			return n
		}
		for len(ops) > 0 {
			op, i := next()%8, next()%len(frags)
			fr := frags[i]
			var err error
			wantOK := false
			switch op {
			case 0, 1: // release a real frag
				err = c.Release([]devmem.Frag{fr})
				wantOK = state[i] == out
				if wantOK {
					state[i] = gone
				}
			case 2: // forge: another offset
				fr.Offset += 4096
				err = c.Release([]devmem.Frag{fr})
			case 3: // forge: another size
				fr.Size++
				err = c.Release([]devmem.Frag{fr})
			case 4: // forge: a token not handed out, or another's
				fr.Token += 1000
				err = c.Release([]devmem.Frag{fr})
			case 5: // hold
				var b devmem.Batch
				b, err = c.Hold("fuzz", []devmem.Frag{fr})
				wantOK = state[i] == out
				if wantOK {
					state[i] = held
					batches[i] = b
				}
			case 6: // done, maybe twice
				b, ok := batches[i]
				if !ok {
					continue
				}
				err = b.Done()
				wantOK = state[i] == held
				if wantOK {
					state[i] = gone
				}
			case 7: // forge: another binding id
				fr.DMABufID++
				err = c.Release([]devmem.Frag{fr})
			}
			if wantOK && err != nil {
				t.Fatalf("op %d on frag %d (%+v): %v", op, i, frags[i], err)
			}
			if !wantOK && err == nil {
				t.Fatalf("op %d on frag %d (state %d, sent %+v): accepted", op, i, state[i], fr)
			}
			if err != nil && !wantOK && !errors.Is(err, pagepool.ErrNotOutstanding) && !errors.Is(err, pagepool.ErrForeignFrag) &&
				!errors.Is(err, pagepool.ErrHeld) && !errors.Is(err, pagepool.ErrBatchDone) {
				t.Fatalf("op %d on frag %d: %v, not a documented class", op, i, err)
			}
			if got := c.Stats().OutstandingFrags; got != outstanding() {
				t.Fatalf("after op %d on frag %d: %d outstanding, the model has %d", op, i, got, outstanding())
			}
		}
		c.Close()
		leaked := map[uint32]bool{}
		for _, lf := range c.Leaks().Frags {
			leaked[lf.Frag.Token] = true
		}
		for i, fr := range frags {
			if (state[i] != gone) != leaked[fr.Token] {
				t.Fatalf("frag %d (state %d): in the leak report: %v", i, state[i], leaked[fr.Token])
			}
		}
	})
}
