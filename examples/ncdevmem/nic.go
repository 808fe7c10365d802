//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/devmem-go/devmem/netdev"
	"golang.org/x/sys/unix"
)

// parseAddr parses a -s or -c address as the kernel tool does: IPv6, or
// IPv4 (which the kernel tool maps to ::ffff:a.b.c.d). Brackets and a zone
// are accepted too.
func parseAddr(s string) (netip.Addr, error) {
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("not an IPv4 or IPv6 address: %q", s)
	}
	return a.Unmap(), nil
}

func parsePort(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("missing -p argument")
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("-p wants a port number: %q", s)
	}
	return uint16(p), nil
}

// ifaceOf returns the name of the interface that has address a, or "".
func ifaceOf(a netip.Addr) string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if n, ok := ad.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
					return ifi.Name
				}
			}
		}
	}
	return ""
}

// rxQueueCount returns the device's RX queues (rx + combined channels),
// as the kernel tool's rxq_num does.
func rxQueueCount(ifindex int) (int, error) {
	et, err := netdev.NewEthtool()
	if err != nil {
		return 0, err
	}
	defer et.Close()
	ch, err := et.Channels(ifindex)
	if err != nil {
		return 0, err
	}
	return int(ch.RXQueues()), nil
}

// queueRange returns the queues start..start+n-1.
func queueRange(start, n int) []uint32 {
	qs := make([]uint32, n)
	for i := range qs {
		qs[i] = uint32(start + i)
	}
	return qs
}

// memfdBuffer makes a memfd of size bytes. Handed to the library as the
// buffer it cannot be bound (it is not a dma-buf), which is how -mode copy
// asks for the copy path.
func memfdBuffer(size int64) (*os.File, error) {
	fd, err := unix.MemfdCreate("ncdevmem-copy", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("ftruncate", err)
	}
	return os.NewFile(uintptr(fd), "ncdevmem-copy"), nil
}

// rxBufLen sets the RX buffer length (-b) of the device's rings and returns
// the function that puts the old value back.
func setRXBufLen(ifindex int, n uint32) (restore func() error, err error) {
	et, err := netdev.NewEthtool()
	if err != nil {
		return nil, err
	}
	defer et.Close()
	r, err := et.Rings(ifindex)
	if err != nil {
		return nil, fmt.Errorf("-b: reading the ring parameters: %w", err)
	}
	if r.RXBufLen == n {
		return func() error { return nil }, nil
	}
	if err := et.SetRings(ifindex, netdev.RingsUpdate{RXBufLen: &n}); err != nil {
		if errors.Is(err, netdev.ErrNotSupported) {
			return nil, fmt.Errorf("-b: the driver or kernel cannot set the RX buffer length (rx-buf-len): %w", err)
		}
		return nil, fmt.Errorf("-b: setting rx-buf-len %d: %w", n, err)
	}
	old := r.RXBufLen
	return func() error {
		et, err := netdev.NewEthtool()
		if err != nil {
			return err
		}
		defer et.Close()
		if old == 0 {
			return nil // the driver did not report one: nothing to put back
		}
		return et.SetRings(ifindex, netdev.RingsUpdate{RXBufLen: &old})
	}, nil
}
