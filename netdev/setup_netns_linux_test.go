//go:build linux

package netdev

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// setupNetNS moves the calling test goroutine into a fresh network
// namespace. The goroutine stays locked to its OS thread, which the
// runtime then discards when the test ends, so the namespace dies with the
// test. Sockets opened by the test (and by its t.Cleanup functions) live in
// the new namespace. It skips without the privilege to unshare.
func setupNetNS(t *testing.T) {
	t.Helper()
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		if errors.Is(err, unix.EPERM) {
			t.Skipf("needs CAP_SYS_ADMIN to create a network namespace: %v", err)
		}
		t.Fatalf("unshare(CLONE_NEWNET): %v", err)
	}
}

// setupFDs counts the process's open file descriptors.
func setupFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting fds: %v", err)
	}
	return len(ents)
}

// setupVeth creates a veth pair name/name+"p" with queues RX and TX queues
// each through raw rtnetlink (RTM_NEWLINK), and returns name's ifindex.
func setupVeth(t *testing.T, name string, queues uint32) int {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		t.Fatalf("dial rtnetlink: %v", err)
	}
	defer c.Close()

	ifinfomsg := make([]byte, unix.SizeofIfInfomsg)
	peer := netlink.NewAttributeEncoder()
	peer.String(unix.IFLA_IFNAME, name+"p")
	peer.Uint32(unix.IFLA_NUM_TX_QUEUES, queues)
	peer.Uint32(unix.IFLA_NUM_RX_QUEUES, queues)
	peerAttrs, err := peer.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.IFLA_IFNAME, name)
	ae.Uint32(unix.IFLA_NUM_TX_QUEUES, queues)
	ae.Uint32(unix.IFLA_NUM_RX_QUEUES, queues)
	ae.Nested(unix.IFLA_LINKINFO, func(nae *netlink.AttributeEncoder) error {
		nae.String(unix.IFLA_INFO_KIND, "veth")
		nae.Nested(unix.IFLA_INFO_DATA, func(dae *netlink.AttributeEncoder) error {
			// VETH_INFO_PEER holds a struct ifinfomsg followed by the
			// peer's IFLA_* attributes.
			dae.Bytes(uapi.VETH_INFO_PEER, append(append([]byte{}, ifinfomsg...), peerAttrs...))
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  unix.RTM_NEWLINK,
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl,
		},
		Data: append(ifinfomsg, attrs...),
	})
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("the kernel has no veth driver: %v", err)
		}
		t.Fatalf("creating veth %s: %v", name, err)
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatalf("veth %s: %v", name, err)
	}
	return ifi.Index
}

// setupLinkUp sets IFF_UP on ifindex through rtnetlink.
func setupLinkUp(t *testing.T, ifindex int) {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		t.Fatalf("dial rtnetlink: %v", err)
	}
	defer c.Close()
	msg := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(msg[4:], uint32(ifindex)) // ifi_index
	binary.NativeEndian.PutUint32(msg[8:], unix.IFF_UP)     // ifi_flags
	binary.NativeEndian.PutUint32(msg[12:], unix.IFF_UP)    // ifi_change
	if _, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_NEWLINK, Flags: netlink.Request | netlink.Acknowledge},
		Data:   msg,
	}); err != nil {
		t.Fatalf("setting ifindex %d up: %v", ifindex, err)
	}
}

// setupUdmabuf returns a dma-buf of size bytes exported by /dev/udmabuf
// from a sealed memfd, or skips the test without /dev/udmabuf.
func setupUdmabuf(t *testing.T, size int) *os.File {
	t.Helper()
	dev, err := os.OpenFile("/dev/udmabuf", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no /dev/udmabuf to make a dma-buf: %v", err)
	}
	defer dev.Close()
	memfd, err := unix.MemfdCreate("netdev-setup-test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	defer unix.Close(memfd)
	if err := unix.Ftruncate(memfd, int64(size)); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	if _, err := unix.FcntlInt(uintptr(memfd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
		t.Fatalf("F_ADD_SEALS: %v", err)
	}
	arg := uapi.UdmabufCreate{Memfd: uint32(memfd), Flags: uapi.UDMABUF_FLAGS_CLOEXEC, Size: uint64(size)}
	rc, err := dev.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	var errno unix.Errno
	if err := rc.Control(func(dfd uintptr) {
		fd, _, errno = unix.Syscall(unix.SYS_IOCTL, dfd, uapi.UDMABUF_CREATE, uintptr(unsafe.Pointer(&arg)))
	}); err != nil {
		t.Fatal(err)
	}
	if errno != 0 {
		t.Fatalf("UDMABUF_CREATE: %v", errno)
	}
	f := os.NewFile(fd, "udmabuf")
	t.Cleanup(func() { f.Close() })
	return f
}

// setupNetdevsim creates a netdevsim device with queues queues in the
// calling thread's network namespace (the bus creates devices in the
// writer's namespace) and returns its ifindex. It skips when the kernel has
// no netdevsim.
func setupNetdevsim(t *testing.T, id, queues int) int {
	t.Helper()
	if _, err := os.Stat("/sys/bus/netdevsim"); err != nil {
		t.Skipf("no netdevsim in this kernel (/sys/bus/netdevsim: %v)", err)
	}
	before := setupIfindexes(t)
	spec := strconv.Itoa(id) + " 1 " + strconv.Itoa(queues)
	if err := os.WriteFile("/sys/bus/netdevsim/new_device", []byte(spec), 0); err != nil {
		t.Fatalf("netdevsim new_device %q: %v", spec, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile("/sys/bus/netdevsim/del_device", []byte(strconv.Itoa(id)), 0); err != nil {
			t.Errorf("netdevsim del_device %d: %v", id, err)
		}
	})
	// new_device returns after the port's netdev is registered: find the
	// one new interface.
	var found []int
	for _, i := range setupIfindexes(t) {
		if !slices.Contains(before, i) {
			found = append(found, i)
		}
	}
	if len(found) != 1 {
		t.Fatalf("netdevsim %d: %d new interfaces (%v), want 1", id, len(found), found)
	}
	return found[0]
}

func setupIfindexes(t *testing.T) []int {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatalf("listing interfaces: %v", err)
	}
	var out []int
	for _, i := range ifs {
		out = append(out, i.Index)
	}
	return out
}
