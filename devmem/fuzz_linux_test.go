package devmem

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/pagepool"
)

// nopRawConn is a RawConn whose calls do nothing: a Ledger over it sees
// SO_DEVMEM_DONTNEED free nothing, and counts the tokens released anyway.
type nopRawConn struct{}

func (nopRawConn) Control(func(uintptr)) error    { return nil }
func (nopRawConn) Read(func(uintptr) bool) error  { return nil }
func (nopRawConn) Write(func(uintptr) bool) error { return nil }

var _ syscall.RawConn = nopRawConn{}

// FuzzAcceptFrags feeds the frag checks of a devmem receive what a kernel
// (or a corrupted control buffer) could report, and checks that every frag
// handed out lies in the buffer, belongs to the binding and accounts for
// the bytes received exactly, and that a rejected read leaves no token
// outstanding.
func FuzzAcceptFrags(f *testing.F) {
	const bufSize, binding = 1 << 20, 7
	// Seeds: input is n (u32), len(linear) (u16), then 13-byte frags
	// (kind, offset u32, size u32, token u16, id u16), then raw bytes
	// appended to the control buffer after a 0xff marker.
	seed := func(n uint32, lin uint16, frags ...[13]byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, n)
		b = binary.LittleEndian.AppendUint16(b, lin)
		for _, fr := range frags {
			b = append(b, fr[:]...)
		}
		return b
	}
	fr := func(kind byte, off, size uint32, tok, id uint16) [13]byte {
		var a [13]byte
		a[0] = kind
		binary.LittleEndian.PutUint32(a[1:], off)
		binary.LittleEndian.PutUint32(a[5:], size)
		binary.LittleEndian.PutUint16(a[9:], tok)
		binary.LittleEndian.PutUint16(a[11:], id)
		return a
	}
	f.Add(seed(100, 0))
	f.Add(seed(4096, 100, fr(1, 0, 100, 0, 0), fr(2, 8192, 3996, 1, binding)))
	f.Add(seed(8192, 0, fr(2, 0, 4096, 1, binding), fr(2, 4096, 4096, 2, binding)))
	f.Add(seed(4096, 0, fr(2, bufSize-100, 4096, 1, binding)))
	f.Add(seed(4096, 0, fr(2, 0, 4096, 1, binding+1)))
	f.Add(seed(10, 0, fr(2, 0, 4096, 1, binding)))
	f.Add(append(seed(4096, 0, fr(2, 0, 4096, 1, binding)), 0xff, 1, 2, 3))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 6 {
			return
		}
		n := int(binary.LittleEndian.Uint32(in) % (4 << 20))
		if n == 0 {
			return // end of stream, handled before the checks
		}
		// Inputs are kept small where size adds nothing: a linear buffer
		// of at most 8 KiB and tokens below 1024 (with a table sized for
		// 64K tokens, the ledger's allocation was most of an execution).
		linear := make([]byte, binary.LittleEndian.Uint16(in[4:])%(8<<10))
		in = in[6:]
		var oob []byte
		for len(in) >= 13 && in[0] != 0xff {
			f := cmsg.Frag{
				Offset:   uint64(binary.LittleEndian.Uint32(in[1:])),
				Size:     binary.LittleEndian.Uint32(in[5:]),
				Token:    uint32(binary.LittleEndian.Uint16(in[9:]) % 1024),
				DMABufID: uint32(binary.LittleEndian.Uint16(in[11:])),
			}
			if in[0]%2 == 1 {
				oob = cmsg.AppendLinear(oob, f.Size)
			} else {
				oob = cmsg.AppendDMABuf(oob, f)
			}
			in = in[13:]
		}
		if len(in) > 0 {
			oob = append(oob, in[1:]...)
		}
		// A small table (tokens here are u16: it grows when needed); the
		// default 4096 entries cost more than the checks.
		led, err := pagepool.NewLedger(nopRawConn{}, &pagepool.LedgerOptions{InitialTokens: 64})
		if err != nil {
			t.Fatal(err)
		}
		c := &conn{
			sh:   &rxShared{buf: &buffer{size: bufSize}, bindingID: binding},
			led:  led,
			ctrl: oob,
		}
		frags, nLinear, err := c.acceptFrags(make([]Frag, 0, 4), linear, n, len(oob), 0)
		st := led.Stats()
		if err != nil {
			if !errors.Is(err, ErrBadFrag) && !errors.Is(err, ErrHostPayload) {
				t.Fatalf("error %v matches neither ErrBadFrag nor ErrHostPayload", err)
			}
			if len(frags) != 0 || nLinear != 0 {
				t.Fatalf("rejected read returned %d frags, %d linear bytes", len(frags), nLinear)
			}
			if st.OutstandingFrags != 0 {
				t.Fatalf("rejected read left %d tokens outstanding", st.OutstandingFrags)
			}
			if c.rerr == nil {
				t.Fatalf("rejected read did not break the stream")
			}
			return
		}
		var total, lin, dma uint64
		for _, f := range frags {
			total += uint64(f.Size)
			switch f.Kind {
			case cmsg.Linear:
				if f.Offset != lin || f.CheckBounds(uint64(len(linear))) != nil {
					t.Fatalf("linear frag %+v at linear position %d of %d", f, lin, len(linear))
				}
				lin += uint64(f.Size)
			case cmsg.DMABuf:
				if err := f.CheckBounds(bufSize); err != nil || f.DMABufID != binding {
					t.Fatalf("accepted frag %+v: %v", f, err)
				}
				dma++
			default:
				t.Fatalf("frag of kind %v", f.Kind)
			}
		}
		if total != uint64(n) || lin != uint64(nLinear) {
			t.Fatalf("frags total %d bytes (%d linear), read %d (%d linear)", total, lin, n, nLinear)
		}
		if st.OutstandingFrags != dma {
			t.Fatalf("%d tokens outstanding, %d DMABuf frags returned", st.OutstandingFrags, dma)
		}
	})
}
