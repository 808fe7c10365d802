//go:build linux

// Command objstore is a small object server built on devmem TCP, the way a
// storage engine would embed it: clients PUT objects over a framed TCP
// protocol, the payload lands in device memory through devmem.Listener
// (a dma-buf bound to the NIC's RX queues), the server copies it into an
// object store kept in dma-bufs whose pages a pagepool.Allocator hands out,
// verifies its CRC-32C, and keeps an index of where each object lives. GETs
// leave from device memory through the TX path: on a data channel the
// server dials back to the client with devmem.Dial, the object is copied
// from the store into a region of the channel's send buffer and sent with
// MSG_ZEROCOPY straight from it.
//
// What is zero copy and what is not, honestly:
//
//   - PUT: NIC to the receive dma-buf without a CPU copy (devmem RX); then
//     one copy into the store, which a GPU deployment makes on the device
//     (here the CPU, which also computes the checksum).
//   - GET on the data channel: one copy from the store into the send
//     buffer (again a device copy in a GPU deployment), then the NIC reads
//     it (devmem TX). Sending straight from the store needs a Send of
//     caller-owned regions, which the library does not have yet.
//   - GET without a data channel (the client cannot accept connections):
//     ordinary TCP, copied by the kernel, labelled "inline".
//   - Copy mode (no devmem NIC, loopback): the same code over ordinary TCP;
//     the server says why in one line.
//
// Requires Linux 6.12 for devmem RX and 6.16 for devmem TX, a NIC whose
// driver supports devmem (bnxt, gve, mlx5 or fbnic in Linux 7.2; or the
// netdevsim of this project's devmem test kernel), /dev/udmabuf, and
// CAP_NET_ADMIN; without them it runs the copy path. Try it anywhere:
//
//	go run ./examples/objstore demo
//
// On a devmem NIC:
//
//	objstore serve -addr 192.0.2.1:7070 -if eth1
//	objstore loadgen -addr 192.0.2.1:7070 -clients 32 -objects 2000 -size 256K
//	objstore put -addr 192.0.2.1:7070 my/key < file; objstore get -addr 192.0.2.1:7070 my/key > copy
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}
