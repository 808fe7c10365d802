//go:build linux

package main

import (
	"net"
	"net/netip"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/netdev"
)

// planSetup fills in the NIC setup of lc for a server on addr, as the
// kernel's ncdevmem does it: the bound queue is the device's last RX queue
// unless queues are given, ordinary traffic is steered away from it (RSS)
// and the server's flows onto it (an n-tuple rule on the listening address
// and port). What the driver cannot do is left out, with a note: devmem
// then works as long as the flows reach the queue anyway.
func planSetup(lc *devmem.ListenConfig, addr string) (notes []string) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil // a name or ":port": leave it to the library
	}
	iface := lc.Interface
	if iface == "" && !ap.Addr().IsUnspecified() {
		iface = ifaceOf(ap.Addr().Unmap())
	}
	ifi, err := net.InterfaceByName(iface)
	if iface == "" || err != nil {
		return nil
	}
	if len(lc.Queues) == 0 {
		et, err := netdev.NewEthtool()
		if err != nil {
			return nil
		}
		ch, err := et.Channels(ifi.Index)
		et.Close()
		if err != nil || ch.RXQueues() == 0 {
			return nil
		}
		lc.Queues = []uint32{ch.RXQueues() - 1}
		if ch.RXQueues() == 1 {
			notes = append(notes, "only one RX queue: all of "+iface+"'s traffic lands in the dma-buf")
		}
	}
	cfg := netdev.SetupConfig{Ifindex: ifi.Index, Queues: lc.Queues, SteerRSSAway: true}
	if ap.Port() != 0 && !ap.Addr().IsUnspecified() {
		cfg.Flows = []netdev.FlowSpec{{Dst: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), Queue: lc.Queues[0]}}
	} else {
		notes = append(notes, "no flow rule: listening on an unspecified address or port")
	}
	rep, err := netdev.Preflight(cfg)
	if err != nil {
		return notes
	}
	for _, c := range rep.Failed() {
		switch {
		case c.Check == netdev.CheckRSS && cfg.SteerRSSAway:
			cfg.SteerRSSAway = false
			notes = append(notes, "RSS left as it is: "+c.Detail)
		case c.Check == netdev.CheckNtuple && cfg.Flows != nil:
			cfg.Flows = nil
			notes = append(notes, "no flow rule: "+c.Detail)
		}
	}
	lc.Interface, lc.SteerRSSAway, lc.SetupFlows = iface, cfg.SteerRSSAway, cfg.Flows
	return notes
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
