package netdev

import (
	"encoding/binary"
	"strconv"

	"github.com/devmem-go/devmem/internal/uapi"
)

// field describes one request attribute of a command: its type, its name
// in the YNL spec (used in errors), whether the kernel insists on it
// (GENL_REQ_ATTR_CHECK / NL_REQ_ATTR_CHECK, which fail with a bare EINVAL
// that carries no message) and, for nests, the attributes inside.
type field struct {
	typ      uint16
	name     string
	required bool
	nested   []field
}

var queueIDFields = []field{
	{typ: uapi.NETDEV_A_QUEUE_ID, name: "queue-id", required: true},
	{typ: uapi.NETDEV_A_QUEUE_TYPE, name: "queue-type", required: true},
}

// requestFields lists, per command, the attributes a do (index 0) and a
// dump (index 1) request may carry, from the 7.2 policies in
// net/core/netdev-genl-gen.c and the checks in netdev-genl.c.
var requestFields = map[Command][2][]field{
	CmdDevGet: {
		{{typ: uapi.NETDEV_A_DEV_IFINDEX, name: "ifindex", required: true}},
		nil,
	},
	CmdPagePoolGet: {
		{{typ: uapi.NETDEV_A_PAGE_POOL_ID, name: "id", required: true}},
		{{typ: uapi.NETDEV_A_PAGE_POOL_IFINDEX, name: "ifindex"}},
	},
	CmdPagePoolStatsGet: {
		{{typ: uapi.NETDEV_A_PAGE_POOL_STATS_INFO, name: "info", required: true, nested: []field{
			{typ: uapi.NETDEV_A_PAGE_POOL_ID, name: "page-pool-id", required: true},
		}}},
		{{typ: uapi.NETDEV_A_PAGE_POOL_STATS_INFO, name: "info", nested: []field{
			{typ: uapi.NETDEV_A_PAGE_POOL_IFINDEX, name: "page-pool-ifindex"},
		}}},
	},
	CmdQueueGet: {
		{
			{typ: uapi.NETDEV_A_QUEUE_IFINDEX, name: "ifindex", required: true},
			{typ: uapi.NETDEV_A_QUEUE_TYPE, name: "type", required: true},
			{typ: uapi.NETDEV_A_QUEUE_ID, name: "id", required: true},
		},
		{{typ: uapi.NETDEV_A_QUEUE_IFINDEX, name: "ifindex"}},
	},
	CmdNAPIGet: {
		{{typ: uapi.NETDEV_A_NAPI_ID, name: "id", required: true}},
		{{typ: uapi.NETDEV_A_NAPI_IFINDEX, name: "ifindex"}},
	},
	CmdQStatsGet: {
		nil,
		{
			{typ: uapi.NETDEV_A_QSTATS_IFINDEX, name: "ifindex"},
			{typ: uapi.NETDEV_A_QSTATS_SCOPE, name: "scope"},
		},
	},
	CmdBindRX: {
		{
			{typ: uapi.NETDEV_A_DMABUF_IFINDEX, name: "ifindex", required: true},
			{typ: uapi.NETDEV_A_DMABUF_FD, name: "fd", required: true},
			{typ: uapi.NETDEV_A_DMABUF_QUEUES, name: "queues", required: true, nested: queueIDFields},
		},
		nil,
	},
	CmdNAPISet: {
		{
			{typ: uapi.NETDEV_A_NAPI_ID, name: "id", required: true},
			{typ: uapi.NETDEV_A_NAPI_DEFER_HARD_IRQS, name: "defer-hard-irqs"},
			{typ: uapi.NETDEV_A_NAPI_GRO_FLUSH_TIMEOUT, name: "gro-flush-timeout"},
			{typ: uapi.NETDEV_A_NAPI_IRQ_SUSPEND_TIMEOUT, name: "irq-suspend-timeout"},
			{typ: uapi.NETDEV_A_NAPI_THREADED, name: "threaded"},
		},
		nil,
	},
	CmdBindTX: {
		{
			{typ: uapi.NETDEV_A_DMABUF_IFINDEX, name: "ifindex", required: true},
			{typ: uapi.NETDEV_A_DMABUF_FD, name: "fd", required: true},
		},
		nil,
	},
	CmdQueueCreate: {
		{
			{typ: uapi.NETDEV_A_QUEUE_IFINDEX, name: "ifindex", required: true},
			{typ: uapi.NETDEV_A_QUEUE_TYPE, name: "type", required: true},
			{typ: uapi.NETDEV_A_QUEUE_LEASE, name: "lease", required: true, nested: []field{
				{typ: uapi.NETDEV_A_LEASE_IFINDEX, name: "lease-ifindex", required: true},
				{typ: uapi.NETDEV_A_LEASE_QUEUE, name: "lease-queue", required: true, nested: queueIDFields},
				{typ: uapi.NETDEV_A_LEASE_NETNS_ID, name: "lease-netns-id"},
			}},
		},
		nil,
	},
}

const (
	nlaHdrLen    = 4
	nlaTypeMask  = 0x3fff
	nlaFNested   = 0x8000
	genlAttrsOff = 16 + 4 // nlmsghdr + genlmsghdr: where a request's attributes start
)

// nextAttr splits the first attribute off b. ok is false when b holds no
// complete attribute.
func nextAttr(b []byte) (typ uint16, flags uint16, payload []byte, size int, ok bool) {
	if len(b) < nlaHdrLen {
		return 0, 0, nil, 0, false
	}
	l := int(binary.NativeEndian.Uint16(b[0:2]))
	t := binary.NativeEndian.Uint16(b[2:4])
	if l < nlaHdrLen || l > len(b) {
		return 0, 0, nil, 0, false
	}
	size = (l + 3) &^ 3
	if size > len(b) {
		size = len(b)
	}
	return t & nlaTypeMask, t &^ nlaTypeMask, b[nlaHdrLen:l], size, true
}

func lookupField(fs []field, typ uint16) *field {
	for i := range fs {
		if fs[i].typ == typ {
			return &fs[i]
		}
	}
	return nil
}

// checkRequest verifies an encoded request against its field list: every
// attribute must be known to the command, nests must carry NLA_F_NESTED,
// and every required attribute must be present. It returns the name of
// the offending attribute and what is wrong, or "" if all is well.
func checkRequest(fs []field, b []byte) (name, problem string) {
	seen := make(map[uint16]bool)
	for len(b) > 0 {
		typ, flags, payload, size, ok := nextAttr(b)
		if !ok {
			return "", "malformed attributes"
		}
		f := lookupField(fs, typ)
		if f == nil {
			return "attribute " + strconv.Itoa(int(typ)), "not accepted by this command"
		}
		if f.nested != nil {
			if flags&nlaFNested == 0 {
				return f.name, "nest lacks NLA_F_NESTED"
			}
			if n, p := checkRequest(f.nested, payload); p != "" {
				return n, p
			}
		}
		seen[typ] = true
		b = b[size:]
	}
	for _, f := range fs {
		if f.required && !seen[f.typ] {
			return f.name, "missing"
		}
	}
	return "", ""
}

// attrNameAt returns the name of the attribute of request b (its
// attributes, from the first one) that starts at or contains byte offset
// off, descending into nests; "" if none.
func attrNameAt(fs []field, b []byte, off int) string {
	pos := 0
	for len(b) > 0 {
		typ, _, payload, size, ok := nextAttr(b)
		if !ok {
			return ""
		}
		if off >= pos && off < pos+size {
			f := lookupField(fs, typ)
			if f == nil {
				return ""
			}
			if f.nested != nil && off >= pos+nlaHdrLen {
				if n := attrNameAt(f.nested, payload, off-pos-nlaHdrLen); n != "" {
					return n
				}
			}
			return f.name
		}
		pos += size
		b = b[size:]
	}
	return ""
}
