package testutil

import "net/netip"

// NetdevsimOptions configures NetdevsimPair.
type NetdevsimOptions struct {
	// Queues is the number of RX and TX queues of each device; 0 means 1.
	Queues int
}

// SimPort is one netdevsim device of a SimPair.
type SimPort struct {
	// ID is the netdevsim bus device id (/sys/bus/netdevsim/devices/netdevsimID).
	ID int
	// Name and Ifindex identify the netdev in its namespace.
	Name    string
	Ifindex int
	// Addr4 and Addr6 are the addresses assigned to it.
	Addr4, Addr6 netip.Prefix
}

// SimPair is two netdevsim devices linked back to back: what one transmits
// the other receives. Local is in the test process's own namespace, Peer in
// PeerNS. Both are up, with Local 192.0.2.1/24 and 2001:db8::1/64, Peer
// 192.0.2.2/24 and 2001:db8::2/64 (IPv6 without DAD).
type SimPair struct {
	Local, Peer SimPort
	PeerNS      *NetNS
}

// The addresses NetdevsimPair assigns (TEST-NET-1 and the IPv6
// documentation prefix).
var (
	SimLocal4 = netip.MustParsePrefix("192.0.2.1/24")
	SimPeer4  = netip.MustParsePrefix("192.0.2.2/24")
	SimLocal6 = netip.MustParsePrefix("2001:db8::1/64")
	SimPeer6  = netip.MustParsePrefix("2001:db8::2/64")
)
