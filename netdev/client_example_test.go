package netdev_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/devmem-go/devmem/netdev"
)

// List the queues of a device, bind a dma-buf to two of its RX queues and
// unbind it again.
func ExampleClient_BindRX() {
	c, err := netdev.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		log.Fatal(err)
	}
	queues, err := c.Queues(ifi.Index)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range queues {
		fmt.Printf("%s queue %d: napi %d, binding %d\n", q.Type, q.ID, q.NAPIID, q.DMABuf)
	}

	// A dma-buf from somewhere: udmabuf, a dma-heap, a GPU driver.
	buf := os.NewFile(3, "dma-buf")
	b, err := c.BindRX(ifi.Index, buf, []uint32{14, 15})
	if err != nil {
		var e *netdev.Error
		if errors.As(err, &e) && e.Hint != "" {
			log.Fatalf("%v\nfix: %s", err, e.Hint)
		}
		log.Fatal(err)
	}
	fmt.Println("bound as", b.ID(), "to queues", b.Queues())

	// Closing the binding's socket is the unbind.
	if err := b.Close(); err != nil {
		log.Fatal(err)
	}
}

// Check which devmem commands the running kernel has.
func ExampleClient_Supports() {
	c, err := netdev.Dial()
	if errors.Is(err, netdev.ErrNotSupported) {
		fmt.Println("no netdev family (Linux 6.3+)")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("devmem RX:", c.HasBindRX(), "devmem TX:", c.Supports(netdev.CmdBindTX))
}

// Watch page pools: their inflight counts show how much dma-buf memory
// the stack and the application hold.
func ExampleClient_PagePools() {
	c, err := netdev.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	pools, err := c.PagePools(0)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range pools {
		if p.DMABuf != 0 {
			fmt.Printf("pool %d of binding %d: %d buffers (%d bytes) in flight\n", p.ID, p.DMABuf, p.Inflight, p.InflightMem)
		}
	}
}

// Print devices as they come and go.
func ExampleClient_Subscribe() {
	c, err := netdev.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.Subscribe(netdev.GroupMgmt)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for {
		ev, err := s.Receive(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Type, ev.Dev.Ifindex)
	}
}

func ExampleXDPAct_String() {
	fmt.Println(netdev.XDPActBasic | netdev.XDPActRedirect | netdev.XDPActXSKZeroCopy)
	fmt.Println(netdev.QueueTypeRX, netdev.NAPIThreadedBusyPoll, netdev.CmdBindTX)
	// Output:
	// basic|redirect|xsk-zerocopy
	// rx busy-poll bind-tx
}

func ExampleError() {
	err := error(&netdev.Error{Op: "bind-rx", Ifindex: 3, Err: netdev.ErrNotSupported, Offset: -1,
		Hint: "the driver of eth0 lacks the queue API; devmem RX needs bnxt, gve, mlx5 or fbnic"})
	var e *netdev.Error
	if errors.As(err, &e) {
		fmt.Println(e.Hint)
	}
	// Output:
	// the driver of eth0 lacks the queue API; devmem RX needs bnxt, gve, mlx5 or fbnic
}
