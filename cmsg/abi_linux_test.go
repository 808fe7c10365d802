package cmsg

import (
	"testing"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The package computes the cmsg macros as constants; x/sys/unix computes
// them at run time. They must agree.
func TestMacrosMatchUnix(t *testing.T) {
	var ee unix.SockExtendedErr
	got := map[string]int{
		"CMSG_LEN(0)":                           hdrLen,
		"CMSG_LEN(24)":                          fragLen,
		"CMSG_SPACE(24)":                        FragSpace,
		"CMSG_LEN(4)":                           txLen,
		"CMSG_SPACE(4)":                         TXSpace,
		"CMSG_SPACE(100)":                       hdrLen + align(100),
		"sizeof(struct sock_extended_err)":      sizeofSockExtendedErr,
		"offsetof(sock_extended_err.ee_errno)":  offEeErrno,
		"offsetof(sock_extended_err.ee_origin)": offEeOrigin,
		"offsetof(sock_extended_err.ee_type)":   offEeType,
		"offsetof(sock_extended_err.ee_code)":   offEeCode,
		"offsetof(sock_extended_err.ee_info)":   offEeInfo,
		"offsetof(sock_extended_err.ee_data)":   offEeData,
		"sizeof(struct sockaddr_in)":            sizeofSockaddrIn,
		"sizeof(struct sockaddr_in6)":           sizeofSockaddrIn6,
	}
	want := map[string]int{
		"CMSG_LEN(0)":                           unix.CmsgLen(0),
		"CMSG_LEN(24)":                          unix.CmsgLen(24),
		"CMSG_SPACE(24)":                        unix.CmsgSpace(24),
		"CMSG_LEN(4)":                           unix.CmsgLen(4),
		"CMSG_SPACE(4)":                         unix.CmsgSpace(4),
		"CMSG_SPACE(100)":                       unix.CmsgSpace(100),
		"sizeof(struct sock_extended_err)":      int(unsafe.Sizeof(ee)),
		"offsetof(sock_extended_err.ee_errno)":  int(unsafe.Offsetof(ee.Errno)),
		"offsetof(sock_extended_err.ee_origin)": int(unsafe.Offsetof(ee.Origin)),
		"offsetof(sock_extended_err.ee_type)":   int(unsafe.Offsetof(ee.Type)),
		"offsetof(sock_extended_err.ee_code)":   int(unsafe.Offsetof(ee.Code)),
		"offsetof(sock_extended_err.ee_info)":   int(unsafe.Offsetof(ee.Info)),
		"offsetof(sock_extended_err.ee_data)":   int(unsafe.Offsetof(ee.Data)),
		"sizeof(struct sockaddr_in)":            unix.SizeofSockaddrInet4,
		"sizeof(struct sockaddr_in6)":           unix.SizeofSockaddrInet6,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-x/sys/unix +cmsg):\n%s", diff)
	}
}

// x/sys/unix's own parser must see the same messages in what the builders
// write, with the same levels, types and data.
func TestBuildersMatchUnixParser(t *testing.T) {
	var b []byte
	b = AppendLinear(b, 10)
	b = timestamp(b)
	b = AppendDMABuf(b, frag(1<<33, 4096, 5, 6))
	b = AppendTX(b, 7)
	b = AppendCompletion(b, Completion{Lo: 1, Hi: 2}, false)
	b = AppendCompletion(b, Completion{Lo: 3, Hi: 4, Copied: true}, true)
	msgs, err := unix.ParseSocketControlMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	type hdr struct {
		Level, Type int32
		Len         uint64
	}
	var got []hdr
	for _, m := range msgs {
		got = append(got, hdr{m.Header.Level, m.Header.Type, uint64(m.Header.Len)})
	}
	want := []hdr{
		{unix.SOL_SOCKET, unix.SCM_DEVMEM_LINEAR, uint64(unix.CmsgLen(24))},
		{unix.SOL_SOCKET, soTimestamp, uint64(unix.CmsgLen(16))},
		{unix.SOL_SOCKET, unix.SCM_DEVMEM_DMABUF, uint64(unix.CmsgLen(24))},
		{unix.SOL_SOCKET, unix.SCM_DEVMEM_DMABUF, uint64(unix.CmsgLen(4))},
		{unix.SOL_IP, unix.IP_RECVERR, uint64(unix.CmsgLen(16 + unix.SizeofSockaddrInet4))},
		{unix.SOL_IPV6, unix.IPV6_RECVERR, uint64(unix.CmsgLen(16 + unix.SizeofSockaddrInet6))},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("headers (-want +got):\n%s", diff)
	}
	// The dmabuf payload, read through the struct the uapicheck test checks.
	dc := (*uapi.DmabufCmsg)(unsafe.Pointer(&msgs[2].Data[0]))
	if dc.FragOffset != 1<<33 || dc.FragSize != 4096 || dc.FragToken != 5 || dc.DmabufID != 6 || dc.Flags != 0 {
		t.Errorf("dmabuf_cmsg = %+v", *dc)
	}
	for i, wantCopied := range []bool{false, true} {
		m := msgs[4+i]
		ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
		wantEE := unix.SockExtendedErr{Origin: unix.SO_EE_ORIGIN_ZEROCOPY, Info: uint32(1 + 2*i), Data: uint32(2 + 2*i)}
		if wantCopied {
			wantEE.Code = unix.SO_EE_CODE_ZEROCOPY_COPIED
		}
		if diff := cmp.Diff(wantEE, *ee); diff != "" {
			t.Errorf("sock_extended_err %d (-want +got):\n%s", i, diff)
		}
	}
}
