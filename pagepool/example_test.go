package pagepool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/pagepool"
)

func ExampleAllocator() {
	// A 1 MiB dma-buf, of which the first 64 KiB are reserved: the
	// allocator manages the rest.
	a, err := pagepool.NewAllocator([]pagepool.Segment{
		{Buf: 0, Offset: 64 << 10, Len: 960 << 10},
	}, &pagepool.AllocatorOptions{PageSize: 4096})
	if err != nil {
		log.Fatal(err)
	}
	r1, _ := a.Alloc(9000, 0)        // rounded up to 3 pages
	r2, _ := a.Alloc(16<<10, 64<<10) // 64 KiB-aligned in the dma-buf
	fmt.Println(r1)
	fmt.Println(r2)
	st := a.Stats()
	fmt.Printf("in use %d KiB, %d free ranges, largest %d KiB\n", st.InUse>>10, st.FreeExtents, st.LargestFree>>10)

	if err := a.Free(r1); err != nil {
		log.Fatal(err)
	}
	err = a.Free(r1)
	fmt.Println(errors.Is(err, pagepool.ErrDoubleFree))
	// Output:
	// buf 0 [0x10000,+0x3000)
	// buf 0 [0x20000,+0x4000)
	// in use 28 KiB, 2 free ranges, largest 880 KiB
	// true
}

func ExampleAllocator_AllocScatter() {
	// Two dma-bufs of 64 KiB.
	a, err := pagepool.NewAllocator([]pagepool.Segment{
		{Buf: 1, Len: 64 << 10},
		{Buf: 2, Len: 64 << 10},
	}, &pagepool.AllocatorOptions{PageSize: 4096})
	if err != nil {
		log.Fatal(err)
	}
	// 100 KiB fits in no single buffer: ask for a scatterlist of at most 4
	// regions.
	_, err = a.Alloc(100<<10, 0)
	fmt.Println(err != nil)
	sg, err := a.AllocScatter(nil, 100<<10, 4)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range sg {
		fmt.Println(r)
	}
	for _, r := range sg {
		if err := a.Free(r); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// true
	// buf 2 [0x0,+0x10000)
	// buf 1 [0x0,+0x9000)
}

// readFrags stands for one recvmsg(MSG_SOCK_DEVMEM) on the socket, parsed
// with cmsg.Parse (the devmem package's Conn does this).
func readFrags(ctx context.Context, conn net.Conn, dst []cmsg.Frag) ([]cmsg.Frag, error) {
	return dst[:0], errors.New("not a devmem socket")
}

// gpuCopyAsync stands for a device that consumes frags' bytes
// asynchronously and calls done when it has finished.
func gpuCopyAsync(frags []cmsg.Frag, done func()) { go done() }

// A receiver that hands each batch of frags to a GPU and gives the tokens
// back when the GPU is done, with back-pressure on what may be outstanding.
func ExampleLedger() {
	ctx := context.Background()
	conn, err := net.Dial("tcp", "192.0.2.1:5201") // a socket on a devmem-bound RX queue
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		log.Fatal(err)
	}
	binding := pagepool.NewLimiter(0, 512<<20) // shared by all sockets of the binding
	ledger, err := pagepool.NewLedger(rc, &pagepool.LedgerOptions{
		Label:    conn.RemoteAddr().String(),
		Policy:   pagepool.ReleasePolicy{BatchFrags: 1024},
		MaxBytes: 128 << 20,
		Limiter:  binding,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		// Before the socket closes: report frags never released.
		report, err := ledger.Close()
		if err != nil || len(report.Frags) > 0 {
			log.Printf("%v (%v)", report, err)
		}
	}()

	var frags []cmsg.Frag
	for {
		if err := ledger.Wait(ctx); err != nil {
			log.Fatal(err)
		}
		frags, err = readFrags(ctx, conn, frags)
		if err != nil {
			break
		}
		if err := ledger.Record(frags); err != nil {
			log.Fatal(err)
		}
		batch, err := ledger.Hold("gpu stream 0", frags)
		if err != nil {
			log.Fatal(err)
		}
		gpuCopyAsync(frags, func() {
			if err := batch.Done(); err != nil {
				log.Print(err)
			}
		})
	}
	st := ledger.Stats()
	fmt.Printf("%d frags, %d SO_DEVMEM_DONTNEED calls\n", st.Recorded, st.Calls)
}
