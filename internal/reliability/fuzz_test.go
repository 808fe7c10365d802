package reliability_test

import (
	"encoding/binary"
	"math/bits"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
)

// craftedMem is the buffer FuzzCraftedFrags slices (only read, so shared by
// the executions).
var craftedMem []byte

// FuzzCraftedFrags is the trust boundary between the kernel's control
// stream and memory: a control buffer with arbitrary (lying) frag offsets
// and sizes, parsed with cmsg.Parse and checked with Frag.CheckBounds
// against a buffer of arbitrary size, as package devmem does before it
// slices its mapping. Every frag that passes must lie inside the buffer
// (checked in exact 65-bit arithmetic, and by slicing a real buffer), every frag
// that lies outside must be refused, and nothing panics.
//
// Input: the buffer size (u32, at most 1 MiB is allocated), then 13-byte
// frags (kind, offset u64 as 4+4 bytes with a shift, size u32), then raw
// bytes appended to the control buffer.
func FuzzCraftedFrags(f *testing.F) {
	craftedMem = make([]byte, 1<<20)
	frag := func(kind byte, off uint64, size uint32) []byte {
		b := []byte{kind}
		b = binary.LittleEndian.AppendUint64(b, off)
		return binary.LittleEndian.AppendUint32(b, size)
	}
	seed := func(bufSize uint32, frags ...[]byte) []byte {
		b := binary.LittleEndian.AppendUint32(nil, bufSize)
		for _, fr := range frags {
			b = append(b, fr...)
		}
		return b
	}
	f.Add(seed(1<<20, frag(0, 0, 4096), frag(0, 4096, 4096)))
	f.Add(seed(1<<20, frag(0, 1<<20-100, 4096)))
	f.Add(seed(1<<20, frag(0, 1<<20, 1)))
	f.Add(seed(4096, frag(0, 1<<63, 4096)))
	f.Add(seed(4096, frag(0, 1<<64-1, 1)))
	f.Add(seed(1<<20, frag(1, 0, 100), frag(0, 0, 0)))
	f.Add(append(seed(8192, frag(0, 0, 4096)), 0xde, 0xad, 0xbe, 0xef))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 4 {
			return
		}
		bufSize := uint64(binary.LittleEndian.Uint32(in))
		in = in[4:]
		var oob []byte
		tok := uint32(1)
		for len(in) >= 13 && in[0] < 2 {
			off := binary.LittleEndian.Uint64(in[1:])
			size := binary.LittleEndian.Uint32(in[9:])
			if in[0] == 1 {
				oob = cmsg.AppendLinear(oob, size)
			} else {
				oob = cmsg.AppendDMABuf(oob, cmsg.Frag{Offset: off, Size: size, Token: tok, DMABufID: 1})
				tok++
			}
			in = in[13:]
		}
		oob = append(oob, in...) // trailing garbage, possibly a bad header
		frags, _ := cmsg.Parse(nil, oob)

		mem := craftedMem[:min(bufSize, uint64(len(craftedMem)))]
		for _, fr := range frags {
			// The end in 65 bits: offset + size never wraps here.
			end, carry := bits.Add64(fr.Offset, uint64(fr.Size), 0)
			inside := fr.Size != 0 && carry == 0 && end <= bufSize
			err := fr.CheckBounds(bufSize)
			if (err == nil) != inside {
				t.Fatalf("CheckBounds(%d) of %+v = %v, but the frag is inside: %v", bufSize, fr, err, inside)
			}
			if err == nil && bufSize <= 1<<20 {
				b := mem[fr.Offset : fr.Offset+uint64(fr.Size)]
				if len(b) != int(fr.Size) {
					t.Fatalf("slice of %+v has %d bytes", fr, len(b))
				}
			}
		}
	})
}
