// Package devmem is the application API of device memory TCP (devmem TCP):
// TCP connections whose payload the NIC writes straight into a dma-buf (a
// GPU's memory, or host memory exported as one) and sends straight from
// one, with the CPU handling only the headers.
//
// It builds on the module's smaller packages: netdev binds the dma-buf to
// the NIC's queues and prepares the NIC, cmsg parses the kernel's frag
// descriptions, pagepool accounts for the tokens and hands out regions of
// the buffer. See https://docs.kernel.org/networking/devmem.html.
//
// Requires Linux 6.12 for devmem receive and Linux 6.16 for devmem transmit,
// a NIC whose driver supports it (bnxt, gve, mlx5 and fbnic in Linux 7.2),
// and CAP_NET_ADMIN to bind. Without those, the copy fallback runs the same
// API over ordinary TCP on any Linux.
//
// # Receive into a dma-buf
//
// From go get to receiving into a dma-buf:
//
//	package main
//
//	import (
//		"fmt"
//
//		"github.com/devmem-go/devmem/devmem"
//	)
//
//	func main() {
//		l, err := devmem.Listen("tcp", "192.0.2.1:5201", &devmem.ListenConfig{
//			Interface: "eth1", // the NIC: Listen creates a udmabuf and binds it
//			Setup:     true,   // header split on (undone by Close)
//		})
//		if err != nil {
//			panic(err)
//		}
//		defer l.Close()
//		c, err := l.AcceptDevmem()
//		if err != nil {
//			panic(err)
//		}
//		defer c.Close()
//		frags, linear := make([]devmem.Frag, 0, 256), make([]byte, 1<<20)
//		for fs, _, err := c.ReadFrags(frags, linear); err == nil; fs, _, err = c.ReadFrags(frags, linear) {
//			for _, f := range fs {
//				fmt.Println(f.Kind, f.Size, "bytes at", f.Offset) // in the dma-buf
//			}
//			c.Release(fs)
//		}
//	}
//
// A DMABuf frag is Size bytes at Offset in the dma-buf: hand the offsets to
// the device that owns the memory (a GPU copy kernel, storage DMA), or read
// them through the mapping with Conn.FragBytes between Conn.BeginRead and
// Conn.EndRead. Then release the frag, at once (Conn.Release) or when the
// device is done (Conn.Hold and Batch.Done): until then the NIC cannot reuse
// that memory. Released frags go back to the kernel 1024 at a time, one
// SO_DEVMEM_DONTNEED call for 4 MiB of 4 KiB frags, and all at once as
// soon as the reader has waited a millisecond for data, so that a busy
// stream makes few system calls and an idle one holds no memory back
// (ListenConfig.Release, ReleaseIdle). Read and WriteTo do all this for
// you, copying out of the mapping, so io.Copy and code written for
// net.Conn work unchanged.
//
// To receive into memory you already have, such as a GPU buffer exported as
// a dma-buf, set ListenConfig.Buffer. Listen chooses a free RX queue unless
// ListenConfig.Queues names them; the connections' flows must be steered
// there (ListenConfig.SetupFlows, or by hand).
//
// # Copy fallback
//
// When devmem cannot be set up (a kernel, driver or NIC without it, no
// /dev/udmabuf, no privilege, no device named) Listen and Dial fall back to
// ordinary TCP unless the Fallback is FallbackNone. The kernel then copies
// received bytes into regions of the same buffer (or of a memfd when the
// dma-buf cannot be mapped), and ReadFrags hands them out as frags with
// tokens that follow the same rules: the same release calls, bounds,
// back-pressure and leak reports. Mode says which path runs and Reason why.
// The copy path is as fast as io.Copy from a *net.TCPConn on loopback
// (BenchmarkCopyModeVsIOCopy).
//
// # Transmit from a dma-buf
//
// Dial binds its buffer for transmit on the route's device and turns on
// SO_ZEROCOPY. Conn.Alloc hands out a region of the buffer, the application
// or a device fills it (Conn.RegionBytes gives the CPU's view), Conn.Send
// sends it with sendmsg(MSG_ZEROCOPY): the iovecs are offsets into the
// dma-buf and the SCM_DEVMEM_DMABUF control message names the binding. The
// kernel reports on the socket's error queue when it is done with each
// send, and the Conn frees exactly the regions those sends used;
// Conn.Flush waits for all of them. The copy fallback writes from the
// mapping and frees at once.
//
// # Strict mode
//
// A devmem socket also receives payload in host memory: SCM_DEVMEM_LINEAR
// frags, when the NIC did not split a packet, and ordinary data, when a
// flow did not land on a bound queue. By default these are delivered as
// Linear frags in the linear buffer. ListenConfig.Strict makes them an
// error (ErrHostPayload) for applications that must never handle payload
// in host memory.
//
// # Observability
//
// Listener.Stats and Conn.Stats return plain structs: the mode, bytes
// received through devmem, linear, ordinary and copied, frags, tokens
// outstanding, release calls, short frees, control-buffer regrowths,
// transmit completions, and in devmem mode the binding's page pools and
// queues as the kernel reports them. There is no global state.
//
// # Lifetimes
//
// A Listener owns its socket, the binding (closing it unbinds), the NIC
// setup (undone by Close, after the unbind), the buffer when it created it
// (never one the caller passed: Listen keeps a duplicate descriptor), and
// the ledgers of its connections until they close. Connections outlive the
// Listener; the buffer is freed when the last of them closes. A Conn's
// Close releases its outstanding frags (the kernel frees their tokens with
// the socket; Conn.Leaks reports which ones the application never
// released). Every Close is idempotent and unblocks the calls in progress.
//
// # Concurrency
//
// Listener and Conn are safe for concurrent use: one reader and one sender
// at a time per Conn, and Release, Hold, Batch.Done, Stats and Close from
// any goroutine. Reads, sends and waits park in Go's network poller
// (github.com/mdlayher/socket) rather than block threads, and honour
// deadlines and contexts. Errors are *net.OpError values; a closed
// connection reports net.ErrClosed, a deadline os.ErrDeadlineExceeded, and
// a bad argument (a negative BufferSize, a Send of more bytes than its
// regions hold) os.ErrInvalid or the sentinel of package pagepool that
// names it.
//
// # Other systems
//
// The package builds everywhere; off Linux, Listen and Dial return an error
// matching ErrNotSupported.
package devmem
