package netdev

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/devmem-go/devmem/internal/uapi"
	"golang.org/x/sys/unix"
)

// ifName names device ifindex for messages: its interface name when the
// calling thread's network namespace has it, else "ifindex N".
func ifName(ifindex int) string {
	if ifindex <= 0 {
		return "all devices"
	}
	if ifi, err := net.InterfaceByIndex(ifindex); err == nil && ifi.Name != "" {
		return ifi.Name
	}
	return "ifindex " + strconv.Itoa(ifindex)
}

// ifArg is ifName for use in command lines: "IF" placeholders when the
// name is unknown.
func ifArg(ifindex int) string {
	name := ifName(ifindex)
	if strings.HasPrefix(name, "ifindex ") || name == "all devices" {
		return "<dev>"
	}
	return name
}

// genericHint explains errors every command can meet.
func genericHint(cmd Command, e *Error) string {
	var errno unix.Errno
	if !errors.As(e.Err, &errno) {
		return ""
	}
	switch errno {
	case unix.EPERM, unix.EACCES:
		if cmd == CmdBindRX {
			return "bind-rx needs CAP_NET_ADMIN (in the user namespace owning the network namespace on Linux 7.x): run as root or grant the capability"
		}
		return cmd.String() + " needs CAP_NET_ADMIN: run as root or grant the capability"
	case unix.ENODEV:
		if e.Ifindex != 0 {
			return "no device " + ifName(e.Ifindex) + " in this network namespace"
		}
	}
	return ""
}

// messageHints maps extack messages of bind-rx and bind-tx (7.2 and 6.12
// wording) to what the user should do; %s is the device, %p the page
// size. The first substring that matches wins.
var messageHints = []struct{ substr, hint string }{
	{"tcp-data-split is disabled", "enable header split: ethtool -G %a tcp-data-split on (or netdev.Apply)"},
	{"hds-thresh is not zero", "set the header-split threshold to 0: ethtool -G %a hds-thresh 0"},
	{"XDP program attached", "detach the XDP program from %s: ip link set dev %a xdp off"},
	{"already memory provider bound", "a selected queue of %s is already bound to a dma-buf or used by io_uring zero-copy RX: close that binding (Queues shows DMABuf/IOURing per queue) or pick other queues"},
	{"in use by AF_XDP", "an AF_XDP socket uses a selected queue of %s: close it or pick other queues"},
	{"leased to a virtual netdev", "a selected queue of %s is leased to a virtual device (netkit): bind through that device or pick other queues"},
	{"belongs to a virtual netdev", "the queue of virtual device %s has no physical queue behind it: lease one with CreateQueue first"},
	{"DMA device mismatch", "the selected queues of %s sit on different DMA devices (multi-PF NIC): bind each PF's queues with a separate binding"},
	{"Device doesn't support DMA", "%s has no DMA device (a virtual device such as veth, lo or stock netdevsim): devmem needs a NIC whose driver supports it (bnxt, gve, mlx5, fbnic)"},
	{"Driver does not support netmem TX", "the driver of %s has no devmem TX support (in Linux 7.2: bnxt, gve in DQO mode, mlx5, fbnic)"},
	{"No DMA-capable device found for netmem TX", "%s is virtual: lease an RX queue of a devmem-capable physical device to it first (CreateQueue)"},
	{"Failed to bind dmabuf to device", "the dma-buf exporter refused to attach to the DMA device of %s; on Linux 6.12 this is also the answer of devices without DMA (veth, lo): devmem needs a NIC whose driver supports it (bnxt, gve, mlx5, fbnic)"},
	{"Failed to map dmabuf attachment", "the dma-buf exporter could not map the buffer for the DMA device of %s (IOMMU or PCIe peer-to-peer limits)"},
	{"SG length must be PAGE_SIZE aligned", "every segment of the dma-buf must be a multiple of the page size (%p bytes): allocate it in page-size multiples"},
	{"size must be a multiple of PAGE_SIZE", "make the dma-buf size a multiple of the page size (%p bytes)"},
	{"out of range", "%q"},
}

// bindHint explains a bind-rx or bind-tx refusal. rxQueues returns the
// device's RX queue count for the out-of-range hint (ok false if unknown).
func bindHint(cmd Command, e *Error, rxQueues func() (int, bool)) string {
	ifindex := e.Ifindex
	expand := func(h string) string {
		h = strings.ReplaceAll(h, "%a", ifArg(ifindex))
		h = strings.ReplaceAll(h, "%s", ifName(ifindex))
		h = strings.ReplaceAll(h, "%p", strconv.Itoa(os.Getpagesize()))
		if strings.Contains(h, "%q") {
			h = strings.ReplaceAll(h, "%q", queueRangeHint(ifindex, rxQueues))
		}
		return h
	}
	if e.Message != "" {
		for _, m := range messageHints {
			if strings.Contains(e.Message, m.substr) {
				return expand(m.hint)
			}
		}
	}
	var errno unix.Errno
	if !errors.As(e.Err, &errno) {
		return ""
	}
	switch errno {
	case unix.EPERM, unix.EACCES:
		return genericHint(cmd, e)
	case unix.ENODEV:
		return genericHint(cmd, e)
	case unix.ERANGE:
		return expand("%q")
	case unix.EINVAL:
		switch e.Attr {
		case "queue-id":
			return expand("%q")
		case "queue-type":
			return "only RX queues can be bound (bug in the request)"
		case "":
			if e.Message == "" {
				return "the file descriptor is probably not a dma-buf"
			}
		}
	case unix.EBADF:
		return "the dma-buf file descriptor is not open"
	case unix.EOPNOTSUPP, uapi.ENOTSUPP:
		if cmd == CmdBindTX {
			return expand("the driver of %s has no devmem TX support")
		}
		return expand("the driver of %s lacks the queue API; devmem RX needs bnxt, gve, mlx5 or fbnic")
	case unix.ENODATA:
		return expand("the driver of %s ignored the dma-buf memory provider (no unreadable-netmem page pools, or header split not really active)")
	case unix.EEXIST:
		return expand("a selected queue of %s already has a memory provider, or an XDP program is attached")
	case unix.EBUSY:
		return expand("a selected queue of %s is busy (AF_XDP socket or queue lease)")
	case unix.E2BIG:
		return "the driver asked for a page-pool order above 0, which devmem does not support"
	case unix.ENOMEM:
		return "the kernel ran out of memory setting up the binding"
	}
	return ""
}

func queueRangeHint(ifindex int, rxQueues func() (int, bool)) string {
	if rxQueues != nil {
		if n, ok := rxQueues(); ok {
			return "a selected queue does not exist: " + ifName(ifindex) + " has " + strconv.Itoa(n) +
				" RX queues (0.." + strconv.Itoa(n-1) + "); pick lower indexes or raise the count with ethtool -L " + ifArg(ifindex) + " combined N"
		}
	}
	return "a selected queue does not exist on " + ifName(ifindex) + ": list them with Queues, or raise the count with ethtool -L " + ifArg(ifindex) + " combined N"
}
