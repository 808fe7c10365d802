//go:build linux

package netdev_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Test helpers that change kernel state: a fresh network namespace per
// test, veth pairs and link state over raw rtnetlink, udmabufs,
// netdevsim devices and ethtool ring settings. They are written against
// the kernel directly so that the netdev tests depend on no other package
// of this module.

func ndSkipUnprivileged(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	}
}

// ndNetNS moves the test's goroutine, locked to its OS thread for good,
// into a new network namespace and a new mount namespace in which sysfs
// is mounted afresh (so that it shows the new namespace's devices). It
// returns that sysfs mount. The thread dies with the test goroutine, so
// nothing else ever runs in the namespaces. Everything the test does with
// them must happen on this goroutine: no t.Run, no t.Parallel.
func ndNetNS(t *testing.T) (sysfs string) {
	t.Helper()
	ndSkipUnprivileged(t)
	runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
	if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWNS); err != nil {
		t.Skipf("unshare(CLONE_NEWNET|CLONE_NEWNS): %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("making / private: %v", err)
	}
	dir := t.TempDir()
	if err := unix.Mount("sysfs", dir, "sysfs", 0, ""); err != nil {
		t.Fatalf("mounting sysfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	// No IPv6 autoconfiguration traffic on the test devices: counters then
	// move only with what the tests send.
	for _, p := range []string{"all", "default"} {
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0)
	}
	return dir
}

func ndRoute(t *testing.T) *netlink.Conn {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		t.Fatalf("dial rtnetlink: %v", err)
	}
	return c
}

func ndIfinfomsg(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

func ndRouteDo(t *testing.T, typ netlink.HeaderType, flags netlink.HeaderFlags, data []byte) {
	t.Helper()
	c := ndRoute(t)
	defer c.Close()
	if _, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   data,
	}); err != nil {
		t.Fatalf("rtnetlink %v: %v", typ, err)
	}
}

const ndVethInfoPeer = 1 // VETH_INFO_PEER, linux/veth.h

// ndVeth creates the veth pair a <-> b with rx and tx queues each and
// returns their ifindexes.
func ndVeth(t *testing.T, a, b string, rx, tx uint32) (int, int) {
	t.Helper()
	dev := func(name string) func(*netlink.AttributeEncoder) {
		return func(ae *netlink.AttributeEncoder) {
			ae.String(unix.IFLA_IFNAME, name)
			ae.Uint32(unix.IFLA_NUM_RX_QUEUES, rx)
			ae.Uint32(unix.IFLA_NUM_TX_QUEUES, tx)
		}
	}
	ae := netlink.NewAttributeEncoder()
	dev(a)(ae)
	ae.Nested(unix.IFLA_LINKINFO, func(li *netlink.AttributeEncoder) error {
		li.String(unix.IFLA_INFO_KIND, "veth")
		li.Nested(unix.IFLA_INFO_DATA, func(data *netlink.AttributeEncoder) error {
			data.Do(ndVethInfoPeer, func() ([]byte, error) {
				pe := netlink.NewAttributeEncoder()
				dev(b)(pe)
				attrs, err := pe.Encode()
				return append(ndIfinfomsg(0, 0, 0), attrs...), err
			})
			return nil
		})
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ndRouteDo(t, unix.RTM_NEWLINK, netlink.Create|netlink.Excl, append(ndIfinfomsg(0, 0, 0), attrs...))
	return ndIfindex(t, a), ndIfindex(t, b)
}

func ndIfindex(t *testing.T, name string) int {
	t.Helper()
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatalf("interface %s: %v", name, err)
	}
	return ifi.Index
}

func ndLinkUp(t *testing.T, ifindex int, up bool) {
	t.Helper()
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	ndRouteDo(t, unix.RTM_NEWLINK, 0, ndIfinfomsg(int32(ifindex), flags, unix.IFF_UP))
}

func ndLinkDel(t *testing.T, ifindex int) {
	t.Helper()
	ndRouteDo(t, unix.RTM_DELLINK, 0, ndIfinfomsg(int32(ifindex), 0, 0))
}

// ndSysQueues counts the rx-N and tx-N directories of a device in sysfs.
func ndSysQueues(t *testing.T, sysfs, dev string) (rx, tx int) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(sysfs, "class/net", dev, "queues"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		switch {
		case strings.HasPrefix(e.Name(), "rx-"):
			rx++
		case strings.HasPrefix(e.Name(), "tx-"):
			tx++
		}
	}
	return rx, tx
}

func ndSysInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ndProcNetDev is one line of /proc/net/dev.
type ndProcNetDev struct {
	RxBytes, RxPackets, TxBytes, TxPackets uint64
}

// ndReadProcNetDev reads /proc/thread-self/net/dev, which shows the
// calling thread's network namespace (/proc/self/net shows the main
// thread's).
func ndReadProcNetDev(t *testing.T) map[string]ndProcNetDev {
	t.Helper()
	f, err := os.Open("/proc/thread-self/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := make(map[string]ndProcNetDev)
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		var v [16]uint64
		if n, _ := fmt.Sscan(rest, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
			&v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14], &v[15]); n != 16 {
			t.Fatalf("parsing /proc/net/dev line %q", s.Text())
		}
		out[strings.TrimSpace(name)] = ndProcNetDev{RxBytes: v[0], RxPackets: v[1], TxBytes: v[8], TxPackets: v[9]}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ndSendFrames sends n broadcast Ethernet frames of an experimental
// ethertype out of device ifindex through a packet socket.
func ndSendFrames(t *testing.T, ifindex, n int) {
	t.Helper()
	const etherType = 0x88b5 // IEEE 802 local experimental
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("packet socket: %v", err)
	}
	defer unix.Close(fd)
	// Straight to the driver: right after the link comes up its qdisc may
	// still be the noop one that drops everything (linkwatch attaches the
	// real one asynchronously).
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		t.Fatalf("PACKET_QDISC_BYPASS: %v", err)
	}
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, etherType >> 8, etherType & 0xff})
	sa := &unix.SockaddrLinklayer{Protocol: ndHtons(etherType), Ifindex: ifindex, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for i := 0; i < n; i++ {
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			t.Fatalf("sendto: %v", err)
		}
	}
}

func ndHtons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}

// ndFDs counts this process's open descriptors.
func ndFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// ndUdmabuf returns a dma-buf of size bytes made by /dev/udmabuf from a
// sealed memfd, or skips the test where the device is missing.
func ndUdmabuf(t *testing.T, size int) *os.File {
	t.Helper()
	dev, err := os.OpenFile("/dev/udmabuf", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no dma-buf exporter: %v", err)
	}
	defer dev.Close()
	memfd, err := unix.MemfdCreate("netdev-test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(memfd)
	if err := unix.Ftruncate(memfd, int64(size)); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(memfd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK); err != nil {
		t.Fatal(err)
	}
	arg := uapi.UdmabufCreate{Memfd: uint32(memfd), Flags: uapi.UDMABUF_FLAGS_CLOEXEC, Size: uint64(size)}
	rc, err := dev.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var (
		fd    uintptr
		errno unix.Errno
	)
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

// ndSetRings turns header split on with threshold 0 through ethtool
// netlink (ETHTOOL_MSG_RINGS_SET), as devmem RX requires.
func ndSetRings(t *testing.T, ifindex int) error {
	t.Helper()
	c, err := genetlink.Dial(&netlink.Config{Strict: true})
	if err != nil {
		return err
	}
	defer c.Close()
	fam, err := c.GetFamily("ethtool")
	if err != nil {
		return err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(unix.ETHTOOL_A_RINGS_HEADER, func(h *netlink.AttributeEncoder) error {
		h.Uint32(unix.ETHTOOL_A_HEADER_DEV_INDEX, uint32(ifindex))
		return nil
	})
	ae.Uint8(unix.ETHTOOL_A_RINGS_TCP_DATA_SPLIT, 2) // ETHTOOL_TCP_DATA_SPLIT_ENABLED
	ae.Uint32(unix.ETHTOOL_A_RINGS_HDS_THRESH, 0)
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.Execute(genetlink.Message{Header: genetlink.Header{Command: unix.ETHTOOL_MSG_RINGS_SET, Version: 1}, Data: b},
		fam.ID, netlink.Request|netlink.Acknowledge)
	return err
}

// ndNetdevsim creates netdevsim device id with queues RX/TX queues in the
// test's network namespace and returns its netdev's name and ifindex, or
// skips where netdevsim is missing.
func ndNetdevsim(t *testing.T, sysfs string, id, queues int) (string, int) {
	t.Helper()
	bus := filepath.Join(sysfs, "bus/netdevsim")
	if _, err := os.Stat(bus); err != nil {
		t.Skip("no netdevsim in this kernel")
	}
	if err := os.WriteFile(filepath.Join(bus, "new_device"), fmt.Appendf(nil, "%d 1 %d", id, queues), 0); err != nil {
		t.Fatalf("creating netdevsim %d: %v", id, err)
	}
	t.Cleanup(func() { _ = os.WriteFile(filepath.Join(bus, "del_device"), fmt.Appendf(nil, "%d", id), 0) })
	dir := filepath.Join(bus, "devices", fmt.Sprintf("netdevsim%d", id), "net")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("netdevsim %d has no netdev in %s: %v", id, dir, err)
	}
	name := ents[0].Name()
	return name, ndIfindex(t, name)
}
