package reliability_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/pagepool"
)

// Frag states of the release model.
const (
	fragOut  = iota // outstanding, releasable
	fragHeld        // held by a batch
	fragGone        // released
)

// releaseModel is the release side of a live copy-mode Conn against a model
// of which frags are outstanding: operation sequences mix the Conn's real
// frags with forged ones (changed offset, size, token, binding), double
// releases, holds and double Done. A forged or stale frag must be refused
// with a documented error and change nothing, and the Conn's count must
// match the model after every step.
type releaseModel struct {
	c       *devmem.Conn
	frags   []devmem.Frag
	state   []int
	batches map[int]devmem.Batch // frag index -> its batch
	base    uint64               // frags outstanding before the model's
}

// readReleaseFrags writes 16*n bytes from client and reads them back with
// 16-byte reads: at least n frags, and the stream is in step afterwards.
func readReleaseFrags(t *testing.T, client net.Conn, c *devmem.Conn, n int) []devmem.Frag {
	t.Helper()
	if _, err := client.Write(bytes.Repeat([]byte("0123456789abcdef"), n)); err != nil {
		t.Fatal(err)
	}
	var frags []devmem.Frag
	buf := make([]byte, 16)
	for got := 0; got < 16*n; {
		fs, _, err := c.ReadFrags(nil, buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			got += int(f.Size)
		}
		frags = append(frags, fs...)
	}
	return frags
}

func newReleaseModel(c *devmem.Conn, frags []devmem.Frag) *releaseModel {
	return &releaseModel{
		c:       c,
		frags:   frags,
		state:   make([]int, len(frags)),
		batches: map[int]devmem.Batch{},
		base:    c.Stats().OutstandingFrags - uint64(len(frags)),
	}
}

func (m *releaseModel) outstanding() uint64 {
	n := m.base
	for _, s := range m.state {
		if s != fragGone {
			n++
		}
	}
	return n
}

// run applies ops: each operation is two bytes, an opcode and a frag index.
func (m *releaseModel) run(t *testing.T, ops []byte) {
	t.Helper()
	next := func() int {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return int(b)
	}
	for len(ops) > 0 {
		op, i := next()%8, next()%len(m.frags)
		fr := m.frags[i]
		var err error
		wantOK := false
		switch op {
		case 0, 1: // release a real frag
			err = m.c.Release([]devmem.Frag{fr})
			wantOK = m.state[i] == fragOut
			if wantOK {
				m.state[i] = fragGone
			}
		case 2: // forge: another offset
			fr.Offset += 4096
			err = m.c.Release([]devmem.Frag{fr})
		case 3: // forge: another size
			fr.Size++
			err = m.c.Release([]devmem.Frag{fr})
		case 4: // forge: a token not handed out, or another's
			fr.Token += 1000
			err = m.c.Release([]devmem.Frag{fr})
		case 5: // hold
			var b devmem.Batch
			b, err = m.c.Hold("fuzz", []devmem.Frag{fr})
			wantOK = m.state[i] == fragOut
			if wantOK {
				m.state[i] = fragHeld
				m.batches[i] = b
			}
		case 6: // done, maybe twice
			b, ok := m.batches[i]
			if !ok {
				continue
			}
			err = b.Done()
			wantOK = m.state[i] == fragHeld
			if wantOK {
				m.state[i] = fragGone
			}
		case 7: // forge: another binding id
			fr.DMABufID++
			err = m.c.Release([]devmem.Frag{fr})
		}
		if wantOK && err != nil {
			t.Fatalf("op %d on frag %d (%+v): %v", op, i, m.frags[i], err)
		}
		if !wantOK && err == nil {
			t.Fatalf("op %d on frag %d (state %d, sent %+v): accepted", op, i, m.state[i], fr)
		}
		if err != nil && !wantOK && !errors.Is(err, pagepool.ErrNotOutstanding) && !errors.Is(err, pagepool.ErrForeignFrag) &&
			!errors.Is(err, pagepool.ErrHeld) && !errors.Is(err, pagepool.ErrBatchDone) {
			t.Fatalf("op %d on frag %d: %v, not a documented class", op, i, err)
		}
		if got := m.c.Stats().OutstandingFrags; got != m.outstanding() {
			t.Fatalf("after op %d on frag %d: %d outstanding, the model has %d", op, i, got, m.outstanding())
		}
	}
}

// finish returns every frag the model still has outstanding (Release, or
// Done for a held one) and checks that the Conn is back where it started.
func (m *releaseModel) finish(t *testing.T) {
	t.Helper()
	for i, s := range m.state {
		var err error
		switch s {
		case fragOut:
			err = m.c.Release(m.frags[i : i+1])
		case fragHeld:
			err = m.batches[i].Done()
		}
		if err != nil {
			t.Fatalf("returning frag %d (state %d): %v", i, s, err)
		}
		m.state[i] = fragGone
	}
	if st := m.c.Stats(); st.OutstandingFrags != m.base {
		t.Fatalf("%d frags outstanding after returning all, %d before", st.OutstandingFrags, m.base)
	}
}

// checkLeaks closes the Conn and checks that its leak report lists exactly
// the frags the model has outstanding.
func (m *releaseModel) checkLeaks(t *testing.T) {
	t.Helper()
	m.c.Close()
	leaked := map[uint32]bool{}
	for _, lf := range m.c.Leaks().Frags {
		leaked[lf.Frag.Token] = true
	}
	for i, fr := range m.frags {
		if (m.state[i] != fragGone) != leaked[fr.Token] {
			t.Fatalf("frag %d (state %d): in the leak report: %v", i, m.state[i], leaked[fr.Token])
		}
	}
}

// FuzzConnRelease runs the release model (see releaseModel) on a live
// copy-mode Conn. One Listener and one connection serve all the executions
// of a fuzz worker (a connection per input cost 8 times the checks): each
// input reads 1 to 24 fresh frags, runs its operations, then returns what
// it still has, and the Conn must be back at its starting count, so every
// input starts from the same state. What Close reports for frags still
// outstanding is checked by TestConnReleaseLeaks on fresh connections.
func FuzzConnRelease(f *testing.F) {
	f.Add(uint8(4), []byte{0, 0, 1, 1, 2, 2, 3, 3})
	f.Add(uint8(8), []byte{4, 0, 5, 0, 0, 0, 0, 0, 6, 1, 1, 3})
	f.Add(uint8(2), []byte{1, 0, 1, 0, 2, 1, 7, 0, 5, 0, 5, 1})
	f.Add(uint8(16), []byte{3, 5, 4, 6, 4, 7, 5, 0, 5, 1, 0, 9, 7, 9})
	var (
		l      *devmem.Listener
		client net.Conn
		c      *devmem.Conn
	)
	f.Cleanup(func() {
		if c != nil {
			c.Close()
			client.Close()
		}
		if l != nil {
			l.Close()
		}
	})
	f.Fuzz(func(t *testing.T, nfrags uint8, ops []byte) {
		if l == nil {
			l = releaseListener(t)
		}
		if c == nil {
			client, c = releaseConn(t, l)
		}
		t.Cleanup(func() {
			if t.Failed() { // the next input starts on a fresh connection
				c.Close()
				client.Close()
				c = nil
			}
		})
		m := newReleaseModel(c, readReleaseFrags(t, client, c, 1+int(nfrags%24)))
		m.run(t, ops)
		m.finish(t)
	})
}

// releaseListener listens for releaseConn.
func releaseListener(t *testing.T) *devmem.Listener {
	t.Helper()
	l, err := (&devmem.ListenConfig{BufferSize: 1 << 20}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// releaseConn connects to l and accepts.
func releaseConn(t *testing.T, l *devmem.Listener) (net.Conn, *devmem.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.AcceptDevmem()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	return client, c
}

// TestConnReleaseLeaks runs the release model on fresh connections with
// random operation sequences (a fixed seed) and closes each Conn with
// frags still outstanding or held: the leak report must list exactly those.
func TestConnReleaseLeaks(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	r := rand.New(rand.NewPCG(1, 2))
	l := releaseListener(t)
	defer l.Close()
	for round := range rounds {
		n := 1 + r.IntN(24)
		ops := make([]byte, r.IntN(64))
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			client, c := releaseConn(t, l)
			defer client.Close()
			defer c.Close() // on failure; checkLeaks closes it first
			m := newReleaseModel(c, readReleaseFrags(t, client, c, n))
			m.run(t, ops)
			m.checkLeaks(t)
		})
	}
}
