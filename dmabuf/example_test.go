package dmabuf_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/devmem-go/devmem/dmabuf"
)

// Access values name the direction of a CPU-access window; the zero value
// is refused before any system call.
func ExampleAccess() {
	for _, a := range []dmabuf.Access{dmabuf.Read, dmabuf.Write, dmabuf.ReadWrite, 0} {
		fmt.Println(a)
	}
	var b dmabuf.Buffer // closed: argument errors still come first
	fmt.Println(b.BeginCPUAccess(0))
	// Output:
	// read
	// write
	// read-write
	// Access(0)
	// dmabuf: invalid Access(0): invalid argument: use dmabuf.Read, dmabuf.Write or dmabuf.ReadWrite
}

// Allocate host memory from the system dma-heap, fill it from the CPU and
// hand the descriptor to a device.
func ExampleAllocHeap() {
	buf, err := dmabuf.AllocHeap("system", 16<<20)
	if errors.Is(err, os.ErrNotExist) {
		log.Fatalf("no system dma-heap: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer buf.Close()

	if err := buf.SetName("rx-ring"); err != nil {
		log.Fatal(err)
	}
	m, err := buf.Map()
	if err != nil {
		log.Fatal(err)
	}
	// CPU writes inside a window, so that a non-coherent device sees them.
	err = buf.Sync(dmabuf.Write, func() error {
		clear(m.Bytes())
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("bind dma-buf fd", buf.FD())
}

// Take over a dma-buf that a parent process passed as descriptor 3, and
// read what a device wrote to it.
func ExampleFromFile() {
	buf, err := dmabuf.FromFile(os.NewFile(3, "inherited dma-buf"))
	if errors.Is(err, dmabuf.ErrNotDMABuf) {
		log.Fatalf("descriptor 3: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer buf.Close()

	m, err := buf.Map()
	if err != nil {
		log.Fatal(err)
	}
	head := make([]byte, 64)
	err = buf.Sync(dmabuf.Read, func() error {
		_, err := m.ReadAt(head, 0)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	info, err := buf.Info()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes from %s: % x\n", info.Size, info.ExpName, head)
}
