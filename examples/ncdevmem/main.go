//go:build linux

// Command ncdevmem is the kernel's devmem TCP netcat
// (tools/testing/selftests/drivers/net/hw/ncdevmem.c) written on this
// module's public API: an RX server that receives into a dma-buf bound to
// NIC queues, a TX client that sends from one, the kernel tool's byte-pattern
// validation and negative tests, with the same flags and meanings, so that
// scripts written for one work with the other.
//
// Requires Linux 6.12 for devmem RX and 6.16 for devmem TX, a NIC whose
// driver supports devmem (bnxt, gve, mlx5 or fbnic in Linux 7.2; or the
// netdevsim of this project's devmem test kernel, internal/vmtest/kernel),
// /dev/udmabuf, and CAP_NET_ADMIN to bind and set the NIC up. Without them
// it runs the copy path over ordinary TCP and says why in one line; the
// self-test needs none of them:
//
//	go run ./examples/ncdevmem -selftest
//
// Server and client, as with the kernel tool:
//
//	ncdevmem -l -f eth1 -s 192.0.2.1 -p 5201 -v 7        # RX, validate period 7
//	yes $(echo -e \\x01\\x02\\x03\\x04\\x05\\x06) | head -c 1G | nc 192.0.2.1 5201
//	echo -e "hello\nworld" | ncdevmem -f eth1 -s 192.0.2.1 -p 5201   # TX
//	ncdevmem -f eth1                                      # negative tests
//
// Beyond the kernel tool: IPv4 and IPv6, several connections (-conns,
// -concurrent), generated pattern traffic (-size), batched token release
// (-batch), a live progress line on a terminal, a summary (-json for
// machines), the copy fallback (-mode), and the NIC setup restored on exit
// and on Ctrl-C. ncdevmem -h lists the flags.
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
