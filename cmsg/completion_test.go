package cmsg

import (
	"encoding/binary"
	"errors"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// recvErr builds an IP(V6)_RECVERR message with an arbitrary struct
// sock_extended_err, written field by field at the offsets of
// linux/errqueue.h, and an offender address of addrLen bytes.
func recvErr(b []byte, v6 bool, errno uint32, origin, typ, code uint8, info, data uint32, addrLen int) []byte {
	d := make([]byte, 16+addrLen)
	binary.NativeEndian.PutUint32(d[0:], errno)
	d[4], d[5], d[6] = origin, typ, code
	binary.NativeEndian.PutUint32(d[8:], info)
	binary.NativeEndian.PutUint32(d[12:], data)
	if v6 {
		return foreign(b, solIPv6, ipv6RecvErr, d)
	}
	return foreign(b, solIP, ipRecvErr, d)
}

func zc(b []byte, v6 bool, lo, hi uint32) []byte {
	n := 16
	if v6 {
		n = 28
	}
	return recvErr(b, v6, 0, eeOriginZerocopy, 0, 0, lo, hi, n)
}

func TestParseCompletion(t *testing.T) {
	for _, tt := range []struct {
		name string
		oob  []byte
		want Completion
		err  wantErr
		ext  *ExtendedError
		is   error
	}{
		{name: "ipv4", oob: zc(nil, false, 0, 2), want: Completion{Lo: 0, Hi: 2}, err: noErr},
		{name: "ipv6", oob: zc(nil, true, 5, 5), want: Completion{Lo: 5, Hi: 5}, err: noErr},
		{
			name: "copied",
			oob:  recvErr(nil, false, 0, eeOriginZerocopy, 0, 1, 10, 20, 16),
			want: Completion{Lo: 10, Hi: 20, Copied: true}, err: noErr,
		},
		{name: "wraps", oob: zc(nil, true, 0xfffffffe, 1), want: Completion{Lo: 0xfffffffe, Hi: 1}, err: noErr},
		{name: "after foreign", oob: zc(timestamp(nil), false, 3, 4), want: Completion{Lo: 3, Hi: 4}, err: noErr},
		{name: "without offender", oob: recvErr(nil, false, 0, eeOriginZerocopy, 0, 0, 1, 1, 0), want: Completion{Lo: 1, Hi: 1}, err: noErr},
		{name: "builder ipv4", oob: AppendCompletion(nil, Completion{Lo: 1, Hi: 9, Copied: true}, false), want: Completion{Lo: 1, Hi: 9, Copied: true}, err: noErr},
		{name: "builder ipv6", oob: AppendCompletion(nil, Completion{Lo: 9, Hi: 1}, true), want: Completion{Lo: 9, Hi: 1}, err: noErr},
		{name: "empty", oob: nil, err: noErr, is: ErrNoCompletion},
		{name: "only foreign", oob: cat(timestamp(nil), inq(nil)), err: noErr, is: ErrNoCompletion},
		{
			name: "icmp error",
			oob:  recvErr(nil, false, uint32(syscall.EHOSTUNREACH), 2, 3, 1, 0, 0, 16),
			err:  noErr, is: syscall.EHOSTUNREACH,
			ext: &ExtendedError{Errno: syscall.EHOSTUNREACH, Origin: 2, Type: 3, Code: 1},
		},
		{
			name: "zerocopy with errno",
			oob:  recvErr(nil, true, uint32(syscall.ENOBUFS), eeOriginZerocopy, 0, 0, 1, 2, 28),
			err:  noErr, is: syscall.ENOBUFS,
			ext: &ExtendedError{Errno: syscall.ENOBUFS, Origin: eeOriginZerocopy, Info: 1, Data: 2},
		},
		{
			name: "timestamp",
			oob:  recvErr(nil, false, uint32(syscall.ENOMSG), 4, 0, 0, 1, 77, 16),
			err:  noErr, is: syscall.ENOMSG,
			ext: &ExtendedError{Errno: syscall.ENOMSG, Origin: 4, Info: 1, Data: 77},
		},
		{
			name: "origin without errno",
			oob:  recvErr(nil, false, 0, 1, 0, 0, 0, 0, 16),
			err:  noErr,
			ext:  &ExtendedError{Origin: 1},
		},
		{name: "too short", oob: foreign(nil, solIP, ipRecvErr, make([]byte, 15)), err: wantErr{0, "fewer than the 16"}},
		{
			name: "truncated by MSG_CTRUNC",
			oob:  zc(nil, true, 1, 2)[:hdrLen+8],
			err:  wantErr{0, "runs past the end"},
		},
		{name: "two", oob: zc(zc(nil, false, 1, 2), false, 3, 4), err: wantErr{hdrLen + 32, "second"}},
		{name: "full range", oob: zc(nil, false, 5, 4), err: wantErr{0, "2^32"}},
		{name: "bad header", oob: cat(zc(nil, false, 1, 2), []byte{1}), err: wantErr{hdrLen + 32, "trailing"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCompletion(tt.oob)
			switch {
			case tt.ext != nil:
				var ee *ExtendedError
				if !errors.As(err, &ee) {
					t.Fatalf("err = %v (%T), want *ExtendedError", err, err)
				}
				if diff := cmp.Diff(tt.ext, ee); diff != "" {
					t.Errorf("ExtendedError (-want +got):\n%s", diff)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
				}
				if tt.is == nil && errors.Unwrap(err) != nil {
					t.Errorf("Unwrap = %v, want nil", errors.Unwrap(err))
				}
			case tt.is != nil:
				if !errors.Is(err, tt.is) {
					t.Fatalf("err = %v, want %v", err, tt.is)
				}
			default:
				checkErr(t, err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Completion (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtendedErrorString(t *testing.T) {
	for _, tt := range []struct {
		e    ExtendedError
		want string
	}{
		{ExtendedError{Errno: syscall.EHOSTUNREACH, Origin: 2, Type: 3, Code: 1},
			"cmsg: socket error queue: origin icmp, type 3, code 1, info 0, data 0: " + syscall.EHOSTUNREACH.Error()},
		{ExtendedError{Origin: 42, Info: 1, Data: 2}, "cmsg: socket error queue: origin 42, type 0, code 0, info 1, data 2"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestAppendCompletions(t *testing.T) {
	icmp := recvErr(nil, false, uint32(syscall.ECONNREFUSED), 2, 3, 3, 0, 0, 16)
	for _, tt := range []struct {
		name string
		oob  []byte
		want []Completion
		err  bool
	}{
		{name: "none", oob: timestamp(nil)},
		{name: "one", oob: zc(nil, false, 1, 3), want: []Completion{{Lo: 1, Hi: 3}}},
		{
			name: "several, mixed families, foreign between",
			oob:  zc(inq(zc(nil, false, 1, 3)), true, 4, 4),
			want: []Completion{{Lo: 1, Hi: 3}, {Lo: 4, Hi: 4}},
		},
		{name: "stops at an error", oob: zc(cat(zc(nil, false, 1, 3), icmp), true, 5, 6), want: []Completion{{Lo: 1, Hi: 3}}, err: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := []Completion{{Lo: 100, Hi: 100}}
			got, err := AppendCompletions(dst, tt.oob)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			want := append([]Completion{{Lo: 100, Hi: 100}}, tt.want...)
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompletionRange(t *testing.T) {
	for _, tt := range []struct {
		c       Completion
		len     uint32
		in, out []uint32
	}{
		{Completion{Lo: 0, Hi: 0}, 1, []uint32{0}, []uint32{1, 0xffffffff}},
		{Completion{Lo: 5, Hi: 9}, 5, []uint32{5, 7, 9}, []uint32{4, 10, 0, 0xffffffff}},
		{Completion{Lo: 0xfffffffe, Hi: 1}, 4, []uint32{0xfffffffe, 0xffffffff, 0, 1}, []uint32{2, 0xfffffffd, 5}},
		{Completion{Lo: 0xffffffff, Hi: 0xffffffff}, 1, []uint32{0xffffffff}, []uint32{0, 0xfffffffe}},
		{Completion{Lo: 1, Hi: 0xffffffff}, 0xffffffff, []uint32{1, 0x80000000, 0xffffffff}, []uint32{0}},
	} {
		if got := tt.c.Len(); got != tt.len {
			t.Errorf("%+v.Len() = %d, want %d", tt.c, got, tt.len)
		}
		for _, s := range tt.in {
			if !tt.c.Contains(s) {
				t.Errorf("%+v.Contains(%#x) = false", tt.c, s)
			}
		}
		for _, s := range tt.out {
			if tt.c.Contains(s) {
				t.Errorf("%+v.Contains(%#x) = true", tt.c, s)
			}
		}
	}
}
