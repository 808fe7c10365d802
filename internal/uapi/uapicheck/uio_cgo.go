//go:build uapicheck

package uapicheck

/*
#include <linux/types.h>
#include <linux/time_types.h>
#define timespec __kernel_timespec
#include <linux/uio.h>
#include <linux/errqueue.h>
#include <asm/socket.h>
#include <stddef.h>
// ee_data sits in an anonymous union that cgo cannot name.
static long off_ee_data(void) { return offsetof(struct sock_extended_err, ee_data); }
*/
import "C"

import (
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

func init() {
	var cm C.struct_dmabuf_cmsg
	var gm uapi.DmabufCmsg
	var ct C.struct_dmabuf_token
	var gt uapi.DmabufToken
	var ce C.struct_sock_extended_err
	var ge unix.SockExtendedErr
	register(
		Check{"sizeof(struct dmabuf_cmsg)", int64(C.sizeof_struct_dmabuf_cmsg), int64(unsafe.Sizeof(gm))},
		Check{"SizeofDmabufCmsg", int64(C.sizeof_struct_dmabuf_cmsg), uapi.SizeofDmabufCmsg},
		Check{"offsetof(dmabuf_cmsg.frag_offset)", int64(unsafe.Offsetof(cm.frag_offset)), int64(unsafe.Offsetof(gm.FragOffset))},
		Check{"offsetof(dmabuf_cmsg.frag_size)", int64(unsafe.Offsetof(cm.frag_size)), int64(unsafe.Offsetof(gm.FragSize))},
		Check{"offsetof(dmabuf_cmsg.frag_token)", int64(unsafe.Offsetof(cm.frag_token)), int64(unsafe.Offsetof(gm.FragToken))},
		Check{"offsetof(dmabuf_cmsg.dmabuf_id)", int64(unsafe.Offsetof(cm.dmabuf_id)), int64(unsafe.Offsetof(gm.DmabufID))},
		Check{"offsetof(dmabuf_cmsg.flags)", int64(unsafe.Offsetof(cm.flags)), int64(unsafe.Offsetof(gm.Flags))},
		Check{"sizeof(struct dmabuf_token)", int64(C.sizeof_struct_dmabuf_token), int64(unsafe.Sizeof(gt))},
		Check{"SizeofDmabufToken", int64(C.sizeof_struct_dmabuf_token), uapi.SizeofDmabufToken},
		Check{"offsetof(dmabuf_token.token_start)", int64(unsafe.Offsetof(ct.token_start)), int64(unsafe.Offsetof(gt.TokenStart))},
		Check{"offsetof(dmabuf_token.token_count)", int64(unsafe.Offsetof(ct.token_count)), int64(unsafe.Offsetof(gt.TokenCount))},
		Check{"sizeof(struct sock_extended_err)", int64(C.sizeof_struct_sock_extended_err), int64(unsafe.Sizeof(ge))},
		Check{"offsetof(sock_extended_err.ee_info)", int64(unsafe.Offsetof(ce.ee_info)), int64(unsafe.Offsetof(ge.Info))},
		Check{"offsetof(sock_extended_err.ee_data)", int64(C.off_ee_data()), int64(unsafe.Offsetof(ge.Data))},
		Check{"SO_EE_ORIGIN_ZEROCOPY", C.SO_EE_ORIGIN_ZEROCOPY, unix.SO_EE_ORIGIN_ZEROCOPY},
		// x/sys/unix's per-arch values, checked for the arch the test runs on.
		Check{"SO_DEVMEM_LINEAR", C.SO_DEVMEM_LINEAR, unix.SO_DEVMEM_LINEAR},
		Check{"SO_DEVMEM_DMABUF", C.SO_DEVMEM_DMABUF, unix.SO_DEVMEM_DMABUF},
		Check{"SO_DEVMEM_DONTNEED", C.SO_DEVMEM_DONTNEED, unix.SO_DEVMEM_DONTNEED},
		Check{"SCM_DEVMEM_LINEAR", C.SCM_DEVMEM_LINEAR, unix.SCM_DEVMEM_LINEAR},
		Check{"SCM_DEVMEM_DMABUF", C.SCM_DEVMEM_DMABUF, unix.SCM_DEVMEM_DMABUF},
		Check{"SO_EE_CODE_ZEROCOPY_COPIED", C.SO_EE_CODE_ZEROCOPY_COPIED, unix.SO_EE_CODE_ZEROCOPY_COPIED},
	)
}
