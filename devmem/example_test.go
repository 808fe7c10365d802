package devmem_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/devmem-go/devmem/devmem"
)

// Receive into a dma-buf: the program of the package documentation. It
// needs a devmem-capable NIC ("eth1") and CAP_NET_ADMIN; elsewhere it runs
// the copy fallback, and Mode and Reason say so.
func ExampleListen() {
	l, err := devmem.Listen("tcp", "192.0.2.1:5201", &devmem.ListenConfig{
		Interface: "eth1", // the NIC: Listen creates a udmabuf and binds it
		Setup:     true,   // header split on (undone by Close)
	})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	fmt.Println(l.Mode(), l.Reason())
	c, err := l.AcceptDevmem()
	if err != nil {
		panic(err)
	}
	defer c.Close()
	frags, linear := make([]devmem.Frag, 0, 256), make([]byte, 1<<20)
	for fs, _, err := c.ReadFrags(frags, linear); err == nil; fs, _, err = c.ReadFrags(frags, linear) {
		for _, f := range fs {
			fmt.Println(f.Kind, f.Size, "bytes at", f.Offset) // in the dma-buf
		}
		c.Release(fs)
	}
}

// Receive into a GPU's memory: pass the dma-buf its driver exported, bind
// two chosen queues, bound the frags the application may hold, and refuse
// payload that would land in host memory.
func ExampleListenConfig_Listen() {
	gpu := gpuDMABuf()
	if gpu == nil {
		return
	}
	defer gpu.Close() // Listen keeps its own descriptor
	lc := devmem.ListenConfig{
		Interface:        "eth1",
		Queues:           []uint32{14, 15},
		Buffer:           gpu,
		MaxBytes:         256 << 20, // per connection
		ListenerMaxBytes: 1 << 30,   // all connections: below the binding's size
		Strict:           true,
		Fallback:         devmem.FallbackNone, // no copy path: fail instead
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := lc.Listen(ctx, "tcp", ":5201")
	if err != nil {
		fmt.Println(err) // for example a *netdev.Error with a hint
		return
	}
	defer l.Close()
}

// Deferred release: the frags stay put until the device that consumes them
// is done, then one Done call returns them.
func ExampleConn_Hold() {
	var c *devmem.Conn // from Listener.AcceptDevmem
	if c == nil {
		return
	}
	linear := make([]byte, 1<<20)
	frags, _, err := c.ReadFrags(make([]devmem.Frag, 0, 256), linear)
	if err != nil {
		return
	}
	batch, err := c.Hold("gpu copy", frags)
	if err != nil {
		return
	}
	go func() {
		// ... the GPU copies the frags' bytes out of the dma-buf ...
		_ = batch.Done()
	}()
}

// gpuDMABuf stands for the dma-buf a GPU driver exports, for example with
// cuMemExportToShareableHandle or hsa_amd_portable_export_dmabuf, as an
// *os.File (a *dmabuf.Buffer works too).
func gpuDMABuf() *os.File { return nil }

func ExampleMode() {
	fmt.Println(devmem.ModeDevmem, devmem.ModeCopy)
	// Output: devmem copy
}
