// Package uapi is the one place where kernel numbers and struct layouts that
// golang.org/x/sys/unix lacks are declared.
//
// Names keep the C spelling of the Linux user-space headers (NETDEV_CMD_BIND_RX,
// UDMABUF_CREATE); structs get x/sys-style CamelCase names (DmabufCmsg,
// UdmabufCreate) with explicit padding. Values that x/sys/unix already has,
// in particular the per-architecture SO_DEVMEM_* socket options, are taken from
// there and never repeated here.
//
// Every value is checked against the Linux 7.2.12 user-space headers by the
// cgo test in ./uapicheck (build tag uapicheck), which .ci/run runs.
package uapi
