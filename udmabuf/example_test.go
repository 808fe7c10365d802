package udmabuf_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/udmabuf"
)

// Make a 32 MiB dma-buf of host memory for a device memory TCP binding.
func ExampleCreate() {
	buf, err := udmabuf.Create(32<<20, &udmabuf.Options{Name: "devmem-rx"})
	if errors.Is(err, udmabuf.ErrNotSupported) {
		log.Fatalf("this kernel has no udmabuf: %v", err)
	}
	if errors.Is(err, os.ErrPermission) {
		log.Fatalf("not allowed to use /dev/udmabuf: %v", err)
	}
	if err != nil {
		log.Fatal(err) // for example over udmabuf.size_limit_mb: the message says how to raise it
	}
	defer buf.Close()

	// Bind buf.FD() (or buf.DMABuf()) to NIC RX queues; then read what the
	// NIC wrote, either through the mapping inside a CPU-access window ...
	m, err := buf.Map()
	if err != nil {
		log.Fatal(err)
	}
	frag := make([]byte, 1500)
	if err := buf.DMABuf().Sync(dmabuf.Read, func() error {
		_, err := m.ReadAt(frag, 4096)
		return err
	}); err != nil {
		log.Fatal(err)
	}
	// ... or through the memfd, without a mapping.
	if _, err := buf.ReadAt(frag, 4096); err != nil {
		log.Fatal(err)
	}
}

// Build a dma-buf from pieces: here a ring whose first page appears again
// after its end, so a record that wraps around is contiguous in the
// mapping.
func ExampleCreateList() {
	page := int64(os.Getpagesize())
	ring := 16 * page
	buf, err := udmabuf.CreateList([]udmabuf.Range{
		{Offset: 0, Size: ring}, // the ring
		{Offset: 0, Size: page}, // its first page again
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer buf.Close()
	fmt.Println(buf.Size() == ring+page)
}

// Limits reports the driver's size and range limits.
func ExampleLimits() {
	lim, err := udmabuf.Limits()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("at most %d MiB per buffer, %d ranges per CreateList\n", lim.SizeLimit>>20, lim.ListLimit)
}

// HugePages values name the page size behind the buffer's memfd.
func ExampleHugePages() {
	for _, h := range []udmabuf.HugePages{udmabuf.NoHugePages, udmabuf.HugePages2MB, udmabuf.HugePages1GB} {
		fmt.Println(h)
	}
	// Output:
	// none
	// 2MB
	// 1GB
}
