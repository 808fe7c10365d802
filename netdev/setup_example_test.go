package netdev_test

import (
	"errors"
	"log"
	"net"
	"net/netip"
	"os"

	"github.com/devmem-go/devmem/netdev"
)

// Prepare a NIC for devmem RX on its last two queues, bind a dma-buf, and
// put the NIC back afterwards, in the order the kernel requires: Apply
// before binding, Restore after unbinding.
func ExampleApply() {
	ifi, err := net.InterfaceByName("eth1")
	if err != nil {
		log.Fatal(err)
	}
	cfg := netdev.SetupConfig{
		Ifindex: ifi.Index,
		Queues:  []uint32{14, 15},
		// Steer the devmem flow to queue 14, and everything else away
		// from queues 14 and 15 ("ethtool -X eth1 equal 14").
		Flows:        []netdev.FlowSpec{{Dst: netip.MustParseAddrPort("192.0.2.1:5201"), Queue: 14}},
		SteerRSSAway: true,
	}

	// Optional: see what holds, what Apply will change, and what blocks.
	report, err := netdev.Preflight(cfg)
	if err != nil {
		log.Fatal(err)
	}
	log.Print(report)

	undo, err := netdev.Apply(cfg)
	var ne *netdev.Error
	switch {
	case errors.As(err, &ne):
		log.Fatalf("%v (%s)", err, ne.Hint) // e.g. "ethtool -G eth1 tcp-data-split on"
	case err != nil:
		log.Fatal(err) // a *netdev.PreflightError lists the failed conditions
	}

	client, err := netdev.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	dmabuf, err := os.Open("/dev/dma_heap/system") // stands in for a real dma-buf
	if err != nil {
		log.Fatal(err)
	}
	defer dmabuf.Close()
	binding, err := client.BindRX(ifi.Index, dmabuf, cfg.Queues)
	if err != nil {
		log.Fatal(err)
	}

	// ... accept devmem connections and read frags ...

	// Unbind first: while bound, the kernel refuses to turn header split off.
	if err := binding.Close(); err != nil {
		log.Print(err)
	}
	if err := undo.Restore(); err != nil {
		log.Print(err)
	}
}
