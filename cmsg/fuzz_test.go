package cmsg

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// refMsg is a control message found by refWalk.
type refMsg struct {
	off, clen  int
	level, typ int32
}

// refWalk is a deliberately plain re-implementation of the CMSG_NXTHDR walk,
// used to check the parsers' claims: it returns the well-formed messages up
// to the first malformed header, and whether the whole buffer was well
// formed.
func refWalk(b []byte) (msgs []refMsg, ok bool) {
	off := 0
	for off < len(b) {
		if len(b)-off < hdrLen {
			return msgs, false
		}
		var clen uint64
		if wordSize == 8 {
			clen = binary.NativeEndian.Uint64(b[off:])
		} else {
			clen = uint64(binary.NativeEndian.Uint32(b[off:]))
		}
		if clen < hdrLen || clen > uint64(len(b)-off) {
			return msgs, false
		}
		msgs = append(msgs, refMsg{
			off:   off,
			clen:  int(clen),
			level: int32(binary.NativeEndian.Uint32(b[off+wordSize:])),
			typ:   int32(binary.NativeEndian.Uint32(b[off+wordSize+4:])),
		})
		off += (int(clen) + cmsgAlign - 1) / cmsgAlign * cmsgAlign
	}
	return msgs, true
}

func isDevmem(m refMsg) bool {
	return m.level == solSocket && (m.typ == scmDevmemDMABuf || m.typ == scmDevmemLinear)
}

// seedBuffers are kernel-layout control buffers.
func seedBuffers() [][]byte {
	return [][]byte{
		nil,
		AppendDMABuf(nil, frag(4096, 4096, 1, 1)),
		AppendLinear(AppendDMABuf(nil, frag(0, 1448, 7, 2)), 66),
		cat(timestamp(nil), AppendDMABuf(nil, frag(1<<32, 100, 3, 3)), inq(nil)),
		inq(nil)[:hdrLen+4],
		AppendTX(nil, 5),
		AppendCompletion(nil, Completion{Lo: 1, Hi: 3}, false),
		AppendCompletion(timestamp(nil), Completion{Lo: 0xffffffff, Hi: 2, Copied: true}, true),
		recvErr(nil, false, 113, 2, 3, 1, 0, 0, 16),
		rawHdr(nil, fragLen, solSocket, scmDevmemDMABuf, dmabufData(0, 1, 0, 1, 0)),
		rawHdr(nil, fragLen-8, solSocket, scmDevmemDMABuf, make([]byte, 16)),
		rawHdr(nil, 1<<20, solSocket, scmDevmemLinear, make([]byte, 24)),
	}
}

func FuzzParse(f *testing.F) {
	for _, b := range seedBuffers() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, oob []byte) {
		frags, err := Parse(nil, oob)
		msgs, wellFormed := refWalk(oob)

		// Every frag comes from a devmem message that lies inside oob,
		// in order, and says what its bytes say.
		var devmem []refMsg
		for _, m := range msgs {
			if isDevmem(m) {
				devmem = append(devmem, m)
			}
		}
		if len(frags) > len(devmem) {
			t.Fatalf("%d frags from %d devmem messages", len(frags), len(devmem))
		}
		for i, fr := range frags {
			m := devmem[i]
			if m.clen != fragLen || m.off+m.clen > len(oob) {
				t.Fatalf("frag %d from message at %d with cmsg_len %d", i, m.off, m.clen)
			}
			var want []byte
			got := oob[m.off : m.off+fragLen]
			if fr.Kind == DMABuf {
				if fr.Size == 0 || fr.Token == 0 || fr.DMABufID == 0 {
					t.Fatalf("invalid frag %+v returned", fr)
				}
				want = AppendDMABuf(nil, fr)
				got = append([]byte(nil), got...)
				binary.NativeEndian.PutUint32(got[hdrLen+offFlags:], 0) // flags are ignored
			} else {
				if fr.Kind != Linear || fr.Size == 0 || fr != (Frag{Size: fr.Size, Kind: Linear}) {
					t.Fatalf("invalid frag %+v returned", fr)
				}
				// Only the header and frag_size count for LINEAR.
				want = AppendLinear(nil, fr.Size)
				want = append(want[:hdrLen:hdrLen], want[hdrLen+offFragSize:hdrLen+offFragSize+4]...)
				got = append(got[:hdrLen:hdrLen], got[hdrLen+offFragSize:hdrLen+offFragSize+4]...)
			}
			if !cmp.Equal(want, got) {
				t.Fatalf("frag %d %+v does not match its message bytes\nwant % x\ngot  % x", i, fr, want, got)
			}
		}

		var pe *ParseError
		switch {
		case err == nil:
			if !wellFormed || len(frags) != len(devmem) {
				t.Fatalf("no error, but well-formed=%v and %d of %d devmem messages parsed", wellFormed, len(frags), len(devmem))
			}
		case errors.As(err, &pe):
			if pe.Offset < 0 || pe.Offset >= len(oob) || pe.Offset%cmsgAlign != 0 || pe.Reason == "" {
				t.Fatalf("bad ParseError %+v for %d bytes", pe, len(oob))
			}
			// The frags are those of the devmem messages before the
			// bad one.
			before := 0
			for _, m := range devmem {
				if m.off < pe.Offset {
					before++
				}
			}
			if len(frags) != before {
				t.Fatalf("%d frags before the error at %d, want %d", len(frags), pe.Offset, before)
			}
		default:
			t.Fatalf("error of type %T: %v", err, err)
		}

		// All agrees with Parse.
		var it []Frag
		var itErr error
		for fr, err := range All(oob) {
			if err != nil {
				itErr = err
				break
			}
			it = append(it, fr)
		}
		if !cmp.Equal(frags, it) || (err == nil) != (itErr == nil) {
			t.Fatalf("All = %+v, %v; Parse = %+v, %v", it, itErr, frags, err)
		}

		// Rebuilding the frags round-trips.
		var rebuilt []byte
		for _, fr := range frags {
			if fr.Kind == Linear {
				rebuilt = AppendLinear(rebuilt, fr.Size)
			} else {
				rebuilt = AppendDMABuf(rebuilt, fr)
			}
		}
		again, err := Parse(nil, rebuilt)
		if err != nil || !cmp.Equal(frags, again) || len(rebuilt) != Space(len(frags)) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, frags)
		}
	})
}

func FuzzTXRoundTrip(f *testing.F) {
	for _, b := range seedBuffers() {
		f.Add(b, uint32(1))
	}
	f.Add([]byte{}, uint32(0))
	f.Add(inq(nil)[:hdrLen+4], ^uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, id uint32) {
		// Any input: no panic, a known error type, and an id only from
		// a well-formed message.
		got, err := ParseTX(b)
		msgs, wellFormed := refWalk(b)
		var pe *ParseError
		switch {
		case err == nil:
			n := 0
			for _, m := range msgs {
				if m.level == solSocket && m.typ == scmDevmemDMABuf {
					n++
					if m.clen != txLen || binary.NativeEndian.Uint32(b[m.off+hdrLen:]) != got {
						t.Fatalf("id %d from message %+v", got, m)
					}
				}
			}
			if !wellFormed || n != 1 {
				t.Fatalf("ParseTX ok on a buffer with %d TX messages (well-formed %v)", n, wellFormed)
			}
		case errors.Is(err, ErrNoBinding):
			if !wellFormed {
				t.Fatal("ErrNoBinding for a malformed buffer")
			}
			// Appending to a well-formed buffer without a TX message,
			// aligned or not, gives one that parses to id.
			out := AppendTX(append([]byte(nil), b...), id)
			if len(out)%cmsgAlign != 0 || len(out)-len(b) < TXSpace || len(out)-len(b) >= TXSpace+cmsgAlign {
				t.Fatalf("AppendTX grew %d bytes to %d", len(b), len(out))
			}
			if back, err := ParseTX(out); err != nil || back != id {
				t.Fatalf("ParseTX(AppendTX(b, %d)) = %d, %v", id, back, err)
			}
		case errors.As(err, &pe):
			if pe.Offset < 0 || pe.Offset >= len(b) {
				t.Fatalf("bad ParseError %+v", pe)
			}
		default:
			t.Fatalf("error of type %T: %v", err, err)
		}

		out := AppendTX(nil, id)
		if back, err := ParseTX(out); err != nil || back != id || len(out) != TXSpace {
			t.Fatalf("ParseTX(AppendTX(nil, %d)) = %d, %v (%d bytes)", id, back, err, len(out))
		}
		// The frag parser sees no frag in a TX message, and vice versa.
		if frags, err := Parse(nil, out); len(frags) != 0 || err == nil {
			t.Fatalf("Parse(TX message) = %+v, %v; want a length error", frags, err)
		}
	})
}

func FuzzParseCompletion(f *testing.F) {
	for _, b := range seedBuffers() {
		f.Add(b, uint32(0), uint32(0), false, false)
	}
	f.Add([]byte(nil), uint32(0xfffffff0), uint32(5), true, true)
	f.Fuzz(func(t *testing.T, oob []byte, lo, hi uint32, copied, v6 bool) {
		c, err := ParseCompletion(oob)
		list, lerr := AppendCompletions(nil, oob)
		var (
			pe *ParseError
			ee *ExtendedError
		)
		switch {
		case err == nil:
			if c.Len() == 0 || !c.Contains(c.Lo) || !c.Contains(c.Hi) {
				t.Fatalf("bad completion %+v", c)
			}
			if lerr != nil || len(list) != 1 || list[0] != c {
				t.Fatalf("AppendCompletions = %+v, %v; ParseCompletion = %+v", list, lerr, c)
			}
		case errors.Is(err, ErrNoCompletion):
			if lerr != nil || len(list) != 0 {
				t.Fatalf("AppendCompletions = %+v, %v after ErrNoCompletion", list, lerr)
			}
		case errors.As(err, &ee):
			if ee.Origin == eeOriginZerocopy && ee.Errno == 0 {
				t.Fatalf("zerocopy success reported as error %v", ee)
			}
			if lerr == nil {
				t.Fatal("AppendCompletions missed the error")
			}
		case errors.As(err, &pe):
			if pe.Offset < 0 || pe.Offset >= len(oob) {
				t.Fatalf("bad ParseError %+v", pe)
			}
		default:
			t.Fatalf("error of type %T: %v", err, err)
		}
		if c != (Completion{}) && err != nil {
			t.Fatalf("completion %+v with error %v", c, err)
		}

		// Round trip through the builder, unless the range is the
		// impossible full one.
		want := Completion{Lo: lo, Hi: hi, Copied: copied}
		b := AppendCompletion(nil, want, v6)
		got, err := ParseCompletion(b)
		if want.Len() == 0 {
			if !errors.As(err, &pe) {
				t.Fatalf("full range: err = %v", err)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("ParseCompletion(AppendCompletion(%+v)) = %+v, %v", want, got, err)
		}
	})
}
