package cmsg

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// wantErr describes an expected *ParseError; off < 0 means no error.
type wantErr struct {
	off    int
	reason string // substring of Reason
}

var noErr = wantErr{off: -1}

func checkErr(t *testing.T, err error, want wantErr) {
	t.Helper()
	if want.off < 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *ParseError at %d", err, err, want.off)
	}
	if pe.Offset != want.off || !strings.Contains(pe.Reason, want.reason) {
		t.Fatalf("error = %v, want offset %d and reason containing %q", err, want.off, want.reason)
	}
	if !strings.Contains(pe.Error(), pe.Reason) {
		t.Fatalf("Error() %q lacks the reason", pe.Error())
	}
}

type parseCase struct {
	name  string
	oob   []byte
	frags []Frag
	err   wantErr
}

func parseCases() []parseCase {
	d1 := AppendDMABuf(nil, frag(4096, 4096, 1, 7))
	d2 := AppendDMABuf(nil, frag(1<<40, 1448, 2, 7))
	lin := AppendLinear(nil, 66)
	// A last foreign message whose padding the kernel dropped because the
	// buffer ended (put_cmsg copies min(CMSG_SPACE, room)).
	inqNoPad := inq(nil)[:hdrLen+4]
	return []parseCase{
		{name: "empty", oob: nil, err: noErr},
		{name: "one dmabuf", oob: d1, frags: []Frag{frag(4096, 4096, 1, 7)}, err: noErr},
		{name: "one linear", oob: lin, frags: []Frag{linear(66)}, err: noErr},
		{
			name:  "stream order kept",
			oob:   cat(lin, d1, d2, AppendLinear(nil, 1)),
			frags: []Frag{linear(66), frag(4096, 4096, 1, 7), frag(1<<40, 1448, 2, 7), linear(1)},
			err:   noErr,
		},
		{
			name:  "foreign messages skipped",
			oob:   cat(timestamp(nil), d1, inq(nil), lin, timestamp(nil), d2, inqNoPad),
			frags: []Frag{frag(4096, 4096, 1, 7), linear(66), frag(1<<40, 1448, 2, 7)},
			err:   noErr,
		},
		{name: "only foreign", oob: cat(timestamp(nil), inq(nil)), err: noErr},
		{
			name:  "devmem type at another level is foreign",
			oob:   foreign(nil, solTCP, scmDevmemDMABuf, dmabufData(0, 1, 1, 1, 0)),
			err:   noErr,
			frags: nil,
		},
		{
			name:  "linear ignores the unused fields",
			oob:   rawHdr(nil, fragLen, solSocket, scmDevmemLinear, dmabufData(99, 10, 5, 6, 0)),
			frags: []Frag{linear(10)},
			err:   noErr,
		},
		{
			name:  "flags are ignored",
			oob:   rawHdr(nil, fragLen, solSocket, scmDevmemDMABuf, dmabufData(8, 10, 5, 6, 0xffffffff)),
			frags: []Frag{frag(8, 10, 5, 6)},
			err:   noErr,
		},
		{
			name:  "maximum values",
			oob:   AppendDMABuf(nil, frag(^uint64(0), ^uint32(0), ^uint32(0), ^uint32(0))),
			frags: []Frag{frag(^uint64(0), ^uint32(0), ^uint32(0), ^uint32(0))},
			err:   noErr,
		},
		// Malformed buffers: the frags before the bad message come back.
		{
			name:  "trailing bytes shorter than a header",
			oob:   cat(d1, make([]byte, hdrLen-1)),
			frags: []Frag{frag(4096, 4096, 1, 7)},
			err:   wantErr{FragSpace, "trailing bytes"},
		},
		{
			name:  "whole zeroed backing array passed",
			oob:   cat(d1, make([]byte, 4*FragSpace)),
			frags: []Frag{frag(4096, 4096, 1, 7)},
			err:   wantErr{FragSpace, "cmsg_len 0 is shorter"},
		},
		{
			name: "cmsg_len shorter than the header",
			oob:  rawHdr(nil, hdrLen-1, solSocket, scmDevmemDMABuf, make([]byte, 24)),
			err:  wantErr{0, "shorter than the"},
		},
		{
			name:  "cmsg_len past the end",
			oob:   cat(lin, rawHdr(nil, fragLen+1, solSocket, scmDevmemDMABuf, dmabufData(0, 1, 1, 1, 0))),
			frags: []Frag{linear(66)},
			err:   wantErr{FragSpace, "runs past the end"},
		},
		{
			name: "huge cmsg_len",
			oob:  rawHdr(nil, ^uint64(0)>>(64-8*wordSize), 0, 0, make([]byte, 24)),
			err:  wantErr{0, "runs past the end"},
		},
		{
			name:  "foreign cmsg_len past the end",
			oob:   cat(d1, rawHdr(nil, 100, solTCP, tcpCmInq, make([]byte, 8))),
			frags: []Frag{frag(4096, 4096, 1, 7)},
			err:   wantErr{FragSpace, "runs past the end"},
		},
		{
			name: "truncated dmabuf (pre-fix kernel)",
			oob:  cat(d1, d2[:fragLen-8]),
			// The header says 40 but only 32 bytes are left.
			frags: []Frag{frag(4096, 4096, 1, 7)},
			err:   wantErr{FragSpace, "runs past the end"},
		},
		{
			name:  "short dmabuf cmsg_len",
			oob:   cat(d1, rawHdr(nil, fragLen-4, solSocket, scmDevmemDMABuf, dmabufData(0, 1, 1, 1, 0)[:20])),
			frags: []Frag{frag(4096, 4096, 1, 7)},
			err:   wantErr{FragSpace, "SCM_DEVMEM_DMABUF cmsg_len"},
		},
		{
			name: "long linear cmsg_len",
			oob:  rawHdr(nil, fragLen+8, solSocket, scmDevmemLinear, make([]byte, 32)),
			err:  wantErr{0, "SCM_DEVMEM_LINEAR cmsg_len"},
		},
		{
			name:  "dmabuf token 0",
			oob:   cat(d1, lin, rawHdr(nil, fragLen, solSocket, scmDevmemDMABuf, dmabufData(0, 100, 0, 7, 0)), d2),
			frags: []Frag{frag(4096, 4096, 1, 7), linear(66)},
			err:   wantErr{2 * FragSpace, "frag_token 0"},
		},
		{
			name: "dmabuf size 0",
			oob:  rawHdr(nil, fragLen, solSocket, scmDevmemDMABuf, dmabufData(0, 0, 3, 7, 0)),
			err:  wantErr{0, "frag_size 0"},
		},
		{
			name: "dmabuf id 0",
			oob:  rawHdr(nil, fragLen, solSocket, scmDevmemDMABuf, dmabufData(0, 10, 3, 0, 0)),
			err:  wantErr{0, "dmabuf_id 0"},
		},
		{
			name: "linear size 0",
			oob:  cat(timestamp(nil), AppendLinear(nil, 0)),
			err:  wantErr{hdrLen + 16, "SCM_DEVMEM_LINEAR with frag_size 0"},
		},
	}
}

func TestParse(t *testing.T) {
	for _, tt := range parseCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(nil, tt.oob)
			checkErr(t, err, tt.err)
			if diff := cmp.Diff(tt.frags, got); diff != "" {
				t.Errorf("frags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAppends(t *testing.T) {
	prev := []Frag{linear(1), frag(0, 2, 3, 4)}
	dst := make([]Frag, len(prev), 8)
	copy(dst, prev)
	oob := cat(AppendDMABuf(nil, frag(8, 9, 10, 11)), AppendLinear(nil, 12))
	got, err := Parse(dst, oob)
	if err != nil {
		t.Fatal(err)
	}
	want := append(prev, frag(8, 9, 10, 11), linear(12))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frags (-want +got):\n%s", diff)
	}
	if &got[0] != &dst[0] {
		t.Error("Parse reallocated although dst had room")
	}
}

func TestAll(t *testing.T) {
	for _, tt := range parseCases() {
		t.Run(tt.name, func(t *testing.T) {
			var (
				got  []Frag
				errs []error
			)
			for f, err := range All(tt.oob) {
				if err != nil {
					errs = append(errs, err)
					if f != (Frag{}) {
						t.Errorf("frag with error = %+v, want zero", f)
					}
					continue
				}
				got = append(got, f)
			}
			if len(errs) > 1 {
				t.Fatalf("All yielded %d errors, want at most 1: %v", len(errs), errs)
			}
			var err error
			if len(errs) == 1 {
				err = errs[0]
			}
			checkErr(t, err, tt.err)
			if diff := cmp.Diff(tt.frags, got); diff != "" {
				t.Errorf("frags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllBreak(t *testing.T) {
	oob := cat(AppendLinear(nil, 1), AppendLinear(nil, 2), AppendLinear(nil, 3))
	var got []Frag
	for f, err := range All(oob) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
		if len(got) == 2 {
			break
		}
	}
	if diff := cmp.Diff([]Frag{linear(1), linear(2)}, got); diff != "" {
		t.Errorf("frags (-want +got):\n%s", diff)
	}
}

// Every prefix of a valid buffer either ends on a message boundary, and
// parses to the frags of those messages, or fails at the message it cuts,
// after returning the frags before it.
func TestParseTruncated(t *testing.T) {
	all := []Frag{linear(66), frag(0, 4096, 1, 2), frag(4096, 100, 2, 2)}
	var oob []byte
	for _, f := range all {
		if f.Kind == Linear {
			oob = AppendLinear(oob, f.Size)
		} else {
			oob = AppendDMABuf(oob, f)
		}
	}
	for n := 0; n <= len(oob); n++ {
		got, err := Parse(nil, oob[:n])
		whole := n / FragSpace
		if diff := cmp.Diff(all[:whole], got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("n=%d: frags (-want +got):\n%s", n, diff)
		}
		if n%FragSpace == 0 {
			if err != nil {
				t.Errorf("n=%d: %v", n, err)
			}
			continue
		}
		checkErr(t, err, wantErr{whole * FragSpace, ""})
	}
}

// TestParseKernelLayout builds a control buffer field by field at the
// offsets of the reference (devmem-uapi.md §3.1, LP64: cmsghdr {u64 len;
// i32 level; i32 type}, then struct dmabuf_cmsg {u64 frag_offset @0; u32
// frag_size @8, frag_token @12, dmabuf_id @16, flags @20}), independently of
// the package's builders, and checks that Parse reads it and that the
// builders write the same bytes.
func TestParseKernelLayout(t *testing.T) {
	if hdrLen != 16 || wordSize != 8 {
		t.Skipf("reference offsets are for LP64; this arch has a %d-byte cmsghdr", hdrLen)
	}
	ne := binary.NativeEndian
	buf := make([]byte, 3*40)
	// cmsg 0: SCM_DEVMEM_LINEAR, 54 bytes.
	ne.PutUint64(buf[0:], 40)
	ne.PutUint32(buf[8:], uint32(solSocket))
	ne.PutUint32(buf[12:], uint32(scmDevmemLinear))
	ne.PutUint32(buf[16+8:], 54)
	// cmsg 1: SCM_DEVMEM_DMABUF.
	ne.PutUint64(buf[40:], 40)
	ne.PutUint32(buf[40+8:], uint32(solSocket))
	ne.PutUint32(buf[40+12:], uint32(scmDevmemDMABuf))
	ne.PutUint64(buf[40+16+0:], 0x1_0000_2000)
	ne.PutUint32(buf[40+16+8:], 4096)
	ne.PutUint32(buf[40+16+12:], 77)
	ne.PutUint32(buf[40+16+16:], 3)
	// cmsg 2: another.
	ne.PutUint64(buf[80:], 40)
	ne.PutUint32(buf[80+8:], uint32(solSocket))
	ne.PutUint32(buf[80+12:], uint32(scmDevmemDMABuf))
	ne.PutUint64(buf[80+16+0:], 0x3000)
	ne.PutUint32(buf[80+16+8:], 1000)
	ne.PutUint32(buf[80+16+12:], 78)
	ne.PutUint32(buf[80+16+16:], 3)

	want := []Frag{linear(54), frag(0x1_0000_2000, 4096, 77, 3), frag(0x3000, 1000, 78, 3)}
	got, err := Parse(nil, buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frags (-want +got):\n%s", diff)
	}
	built := AppendLinear(nil, 54)
	built = AppendDMABuf(built, want[1])
	built = AppendDMABuf(built, want[2])
	if diff := cmp.Diff(buf, built); diff != "" {
		t.Errorf("AppendLinear/AppendDMABuf bytes (-kernel layout +built):\n%s", diff)
	}
	if FragSpace != 40 || Space(3) != len(buf) {
		t.Errorf("FragSpace = %d, Space(3) = %d; want 40 and %d", FragSpace, Space(3), len(buf))
	}
}

func TestSpace(t *testing.T) {
	for _, tt := range []struct{ frags, want int }{
		{-1, 0}, {0, 0}, {1, FragSpace}, {2000, 2000 * FragSpace},
	} {
		if got := Space(tt.frags); got != tt.want {
			t.Errorf("Space(%d) = %d, want %d", tt.frags, got, tt.want)
		}
	}
	if FragSpace != fragLen {
		t.Errorf("FragSpace %d != CMSG_LEN(24) %d: devmem messages would carry padding", FragSpace, fragLen)
	}
}

func TestBuilderAligns(t *testing.T) {
	b := AppendDMABuf([]byte{0xaa}, frag(1, 2, 3, 4))
	if len(b) != cmsgAlign+FragSpace {
		t.Fatalf("len = %d, want %d", len(b), cmsgAlign+FragSpace)
	}
	for i := 1; i < cmsgAlign; i++ {
		if b[i] != 0 {
			t.Fatalf("padding byte %d = %#x, want 0", i, b[i])
		}
	}
	got, err := Parse(nil, b[cmsgAlign:])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Frag{frag(1, 2, 3, 4)}, got); diff != "" {
		t.Errorf("frags (-want +got):\n%s", diff)
	}
}

func TestCheckBounds(t *testing.T) {
	const max = ^uint64(0)
	for _, tt := range []struct {
		name string
		f    Frag
		size uint64
		ok   bool
	}{
		{"inside", frag(0, 4096, 1, 1), 8192, true},
		{"exact end", frag(4096, 4096, 1, 1), 8192, true},
		{"one past", frag(4097, 4096, 1, 1), 8192, false},
		{"offset at end", frag(8192, 1, 1, 1), 8192, false},
		{"offset past end", frag(1<<40, 1, 1, 1), 8192, false},
		{"size larger than buffer", frag(0, 8193, 1, 1), 8192, false},
		{"overflowing end", frag(max-10, 100, 1, 1), max, false},
		{"top of the address space", frag(max-100, 100, 1, 1), max, true},
		{"size 0", frag(0, 0, 1, 1), 8192, false},
		{"empty buffer", frag(0, 1, 1, 1), 0, false},
		{"linear within data", linear(100), 100, true},
		{"linear beyond data", linear(101), 100, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.CheckBounds(tt.size)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckBounds(%d) = %v, want ok=%v", tt.size, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrOutOfBounds) {
				t.Fatalf("error %v does not match ErrOutOfBounds", err)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	got := []string{Linear.String(), DMABuf.String(), Kind(0).String(), Kind(9).String()}
	want := []string{"linear", "dmabuf", "Kind(0)", "Kind(9)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
