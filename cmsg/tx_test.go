package cmsg

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendTXLayout(t *testing.T) {
	b := AppendTX(nil, 0xdeadbeef)
	if len(b) != TXSpace {
		t.Fatalf("len = %d, want TXSpace %d", len(b), TXSpace)
	}
	// Reference layout, written field by field: cmsghdr {size_t len; int
	// level; int type}, then the u32 id, then zero padding.
	want := make([]byte, TXSpace)
	ne := binary.NativeEndian
	if wordSize == 8 {
		ne.PutUint64(want, uint64(hdrLen+4))
	} else {
		ne.PutUint32(want, uint32(hdrLen+4))
	}
	ne.PutUint32(want[wordSize:], uint32(solSocket))
	ne.PutUint32(want[wordSize+4:], uint32(scmDevmemDMABuf))
	ne.PutUint32(want[hdrLen:], 0xdeadbeef)
	if diff := cmp.Diff(want, b); diff != "" {
		t.Errorf("bytes (-want +got):\n%s", diff)
	}
	if wordSize == 8 && (TXSpace != 24 || txLen != 20) {
		t.Errorf("TXSpace = %d, CMSG_LEN(4) = %d; want 24 and 20 on LP64", TXSpace, txLen)
	}
}

func TestAppendTX(t *testing.T) {
	for _, tt := range []struct {
		name   string
		prefix []byte
		start  int // where the message must begin
	}{
		{"empty", nil, 0},
		{"after a foreign message", inq(nil), hdrLen + 8},
		{"unaligned prefix is padded", inq(nil)[:hdrLen+4], hdrLen + 8},
		{"one byte", []byte{0}, cmsgAlign},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendTX(append([]byte(nil), tt.prefix...), 42)
			if len(b) != tt.start+TXSpace {
				t.Fatalf("len = %d, want %d", len(b), tt.start+TXSpace)
			}
			if diff := cmp.Diff(AppendTX(nil, 42), b[tt.start:]); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	buf := make([]byte, 0, 64)
	if b := AppendTX(buf, 1); &b[:1][0] != &buf[:1][0] {
		t.Error("AppendTX reallocated although b had room")
	}
}

func TestParseTX(t *testing.T) {
	long := rawHdr(nil, txLen+4, solSocket, scmDevmemDMABuf, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	for _, tt := range []struct {
		name string
		b    []byte
		id   uint32
		err  wantErr
		is   error
	}{
		{name: "alone", b: AppendTX(nil, 7), id: 7, err: noErr},
		{name: "between foreign", b: AppendTX(inq(timestamp(nil)), 8), id: 8, err: noErr},
		{name: "padding dropped", b: AppendTX(nil, 9)[:txLen], id: 9, err: noErr},
		{name: "id 0", b: AppendTX(nil, 0), id: 0, err: noErr},
		{name: "none", b: inq(nil), err: noErr, is: ErrNoBinding},
		{name: "empty", b: nil, err: noErr, is: ErrNoBinding},
		{name: "wrong length", b: long, err: wantErr{0, "want CMSG_LEN(4)"}},
		{name: "rx-sized", b: AppendDMABuf(nil, frag(1, 1, 1, 1)), err: wantErr{0, "want CMSG_LEN(4)"}},
		{name: "twice", b: AppendTX(AppendTX(nil, 1), 2), err: wantErr{TXSpace, "second"}},
		{name: "bad header", b: cat(AppendTX(nil, 1), []byte{1, 2}), err: wantErr{TXSpace, "trailing"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParseTX(tt.b)
			if tt.is != nil {
				if !errors.Is(err, tt.is) {
					t.Fatalf("err = %v, want %v", err, tt.is)
				}
				return
			}
			checkErr(t, err, tt.err)
			if id != tt.id {
				t.Errorf("id = %d, want %d", id, tt.id)
			}
		})
	}
}
