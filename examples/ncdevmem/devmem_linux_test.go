//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/devmem-go/devmem/internal/testutil"
	"github.com/devmem-go/devmem/netdev"
)

// These tests run the real devmem path: two netdevsim devices linked back
// to back, on the project's devmem test kernel (the VM runner's devmem-7.2,
// whose netdevsim is patched to act as a header-split NIC with DMA). The
// server listens on Local in the test's namespace, the client sends from
// Peer in another. Elsewhere they skip, naming what is missing.
//
//	make vmtest-one KERNEL=devmem-7.2 PKG=./examples/ncdevmem

func simPair(t *testing.T, queues int) *testutil.SimPair {
	t.Helper()
	testutil.SkipIfNoNetdevsim(t)
	testutil.SkipIfNoUdmabuf(t)
	return testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: queues})
}

// peerRun runs the program in the peer's namespace: the client's sockets
// and its TX binding are made on that namespace's thread.
func peerRun(t *testing.T, p *testutil.SimPair, ctx context.Context, stdin string, args ...string) outcome {
	t.Helper()
	var o outcome
	if err := p.PeerNS.Do(func() error {
		o = runProg(ctx, stdin, nil, args...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return o
}

// setLinear keeps the first n payload bytes of each packet in the linear
// part on dev (the test kernel's netdevsim knob), until the test ends.
func setLinear(t *testing.T, dev testutil.SimPort, n int) {
	t.Helper()
	path := fmt.Sprintf("/sys/kernel/debug/netdevsim/netdevsim%d/ports/0/devmem_linear_bytes", dev.ID)
	if err := os.WriteFile(path, []byte(strconv.Itoa(n)), 0); err != nil {
		t.Fatalf("forcing linear payload: %v", err)
	}
	t.Cleanup(func() { _ = os.WriteFile(path, []byte("0"), 0) })
}

func rings(t *testing.T, ifindex int) *netdev.Rings {
	t.Helper()
	et, err := netdev.NewEthtool()
	if err != nil {
		t.Fatal(err)
	}
	defer et.Close()
	r, err := et.Rings(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// boundQueues returns the RX queues of the device that a devmem binding
// holds.
func boundQueues(t *testing.T, ifindex int) []uint32 {
	t.Helper()
	c, err := netdev.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	qs, err := c.Queues(ifindex)
	if err != nil {
		t.Fatal(err)
	}
	var bound []uint32
	for _, q := range qs {
		if q.Type == netdev.QueueTypeRX && q.DMABuf != 0 {
			bound = append(bound, q.ID)
		}
	}
	return bound
}

// TestDevmemRXTX is the kernel selftest's RX and TX checks through the
// real devmem path: generated pattern traffic (devmem TX to devmem RX,
// validated) and the kernel tool's stdin client with -z chunks, over IPv4
// and IPv6.
func TestDevmemRXTX(t *testing.T) {
	p := simPair(t, 1)
	for _, tc := range []struct {
		name  string
		addr  string
		stdin string
		args  []string // the client's own
	}{
		{"ipv4 pattern", p.Local.Addr4.Addr().String(), "", []string{"-size", "2M"}},
		// The client binds to its address and the server's port (-c), as
		// the kernel tool does.
		{"ipv4 pattern bound client", p.Local.Addr4.Addr().String(), "", []string{"-size", "2M", "-c", p.Peer.Addr4.Addr().String()}},
		// Devmem RX from an ordinary TCP sender, as with the kernel
		// selftest's socat.
		{"ipv4 pattern from a copy client", p.Local.Addr4.Addr().String(), "", []string{"-size", "2M", "-mode", "copy"}},
		{"ipv6 pattern", p.Local.Addr6.Addr().String(), "", []string{"-size", "2M"}},
		{"ipv4 stdin chunks", p.Local.Addr4.Addr().String(), "hello\nworld\n", []string{"-z", "3"}},
		{"ipv6 stdin", p.Local.Addr6.Addr().String(), strings.Repeat("\x01\x02\x03\x04\x05\x06\n", 10000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			before := rings(t, p.Local.Ifindex)
			// Pattern traffic is validated; other input is printed.
			printed := tc.stdin != "" && !strings.HasPrefix(tc.stdin, "\x01")
			srvArgs := []string{"-l", "-f", p.Local.Name, "-s", tc.addr, "-p", "0", "-mode", "devmem", "-bufsize", "8M"}
			if printed {
				srvArgs = append(srvArgs, "-verbose")
			} else {
				srvArgs = append(srvArgs, "-v", "7", "-json")
			}
			a, wait := server(t, t.Context(), srvArgs...)
			clientMode := "devmem"
			if slices.Contains(tc.args, "copy") {
				clientMode = "copy"
			}
			c := peerRun(t, p, t.Context(), tc.stdin, append([]string{"-f", p.Peer.Name, "-s", tc.addr, "-p", port(a), "-mode", clientMode, "-json", "-bufsize", "4M"}, tc.args...)...)
			s := wait()
			if c.code != exitOK || s.code != exitOK {
				t.Fatalf("client %d, server %d\nclient:\n%s%s\nserver:\n%s%s", c.code, s.code, c.stderr, c.stdout, s.stderr, s.stdout)
			}
			if printed {
				if s.stdout != tc.stdin {
					t.Fatalf("server printed %q, want %q", s.stdout, tc.stdin)
				}
				if !strings.Contains(s.stderr, "mode devmem; devmem 12 B, linear 0 B") || !strings.Contains(s.stderr, "received frag_page=") {
					t.Fatalf("server did not receive the bytes in the dma-buf:\n%s", s.stderr)
				}
				return
			}
			sr, cr := decode[serverResult](t, s), decode[clientResult](t, c)
			want := uint64(len(tc.stdin))
			if tc.stdin == "" {
				want = 2 << 20
			}
			if sr.Mode != "devmem" || cr.Mode != clientMode {
				t.Fatalf("modes: server %s (%s), client %s (%s)", sr.Mode, sr.Reason, cr.Mode, cr.Reason)
			}
			if sr.Bytes != want || cr.Bytes != want || sr.DevmemBytes != want {
				t.Fatalf("server %d bytes (%d in the dma-buf), client %d; want %d all in devmem", sr.Bytes, sr.DevmemBytes, cr.Bytes, want)
			}
			if v := sr.Validation; v != nil && (v.Bytes != want || v.Mismatches != 0) {
				t.Fatalf("validation %+v, want %d bytes and no mismatch", v, want)
			}
			if i := slices.Index(tc.args, "-c"); i >= 0 {
				if want := net.JoinHostPort(tc.args[i+1], port(a)); len(cr.Conns) != 1 || cr.Conns[0].Local != want {
					t.Fatalf("client connections %+v, want one from %s", cr.Conns, want)
				}
			}
			if sr.BindingID == 0 || len(sr.Queues) != 1 || sr.DontneedCalls == 0 {
				t.Fatalf("server binding %d queues %v DONTNEED calls %d", sr.BindingID, sr.Queues, sr.DontneedCalls)
			}
			if clientMode == "devmem" && (cr.Completions == 0 || cr.Completions != cr.SendCalls) {
				t.Fatalf("client: %d sendmsg calls, %d completed", cr.SendCalls, cr.Completions)
			}
			after := rings(t, p.Local.Ifindex)
			if after.TCPDataSplit != before.TCPDataSplit || after.HDSThresh != before.HDSThresh {
				t.Fatalf("rings not restored: before %+v, after %+v", before, after)
			}
			if q := boundQueues(t, p.Local.Ifindex); len(q) != 0 {
				t.Fatalf("queues %v still bound after the server ended", q)
			}
		})
	}
}

// TestDevmemConcurrent runs three connections at once, devmem both ways.
func TestDevmemConcurrent(t *testing.T) {
	p := simPair(t, 1)
	checkLeaks(t)
	addr := p.Local.Addr4.Addr().String()
	a, wait := server(t, t.Context(), "-l", "-f", p.Local.Name, "-s", addr, "-p", "0", "-v", "7", "-mode", "devmem",
		"-json", "-bufsize", "8M", "-conns", "3", "-concurrent", "-batch", "256")
	c := peerRun(t, p, t.Context(), "", "-s", addr, "-p", port(a), "-mode", "devmem", "-json", "-bufsize", "4M",
		"-conns", "3", "-concurrent", "-size", "1M")
	s := wait()
	if c.code != exitOK || s.code != exitOK {
		t.Fatalf("client %d, server %d\n%s\n%s", c.code, s.code, c.stderr, s.stderr)
	}
	sr := decode[serverResult](t, s)
	if sr.Connections != 3 || sr.Bytes != 3<<20 || sr.DevmemBytes != 3<<20 || sr.Validation.Bytes != 3<<20 {
		t.Fatalf("server: %d conns, %d bytes, %d devmem, validated %+v", sr.Connections, sr.Bytes, sr.DevmemBytes, sr.Validation)
	}
	// Batches of 256 frags: fewer DONTNEED calls than frags.
	if sr.DontneedCalls == 0 || sr.DontneedCalls >= sr.Frags {
		t.Fatalf("%d DONTNEED calls for %d frags with -batch 256", sr.DontneedCalls, sr.Frags)
	}
}

// TestDevmemLinear forces payload into the linear part: -L fails as the
// kernel tool does, and without it the linear bytes are validated in
// stream order with the rest.
func TestDevmemLinear(t *testing.T) {
	p := simPair(t, 1)
	addr := p.Local.Addr4.Addr().String()
	setLinear(t, p.Local, 100)
	t.Run("fail on linear", func(t *testing.T) {
		checkLeaks(t)
		a, wait := server(t, t.Context(), "-l", "-f", p.Local.Name, "-s", addr, "-p", "0", "-L", "-mode", "devmem", "-bufsize", "8M")
		peerRun(t, p, t.Context(), "", "-s", addr, "-p", port(a), "-size", "1M", "-bufsize", "4M")
		s := wait()
		if s.code != exitFail || !strings.Contains(s.stderr, "-L") {
			t.Fatalf("server status %d, want the -L failure\n%s", s.code, s.stderr)
		}
	})
	t.Run("validated", func(t *testing.T) {
		checkLeaks(t)
		a, wait := server(t, t.Context(), "-l", "-f", p.Local.Name, "-s", addr, "-p", "0", "-v", "7", "-mode", "devmem", "-json", "-bufsize", "8M")
		c := peerRun(t, p, t.Context(), "", "-s", addr, "-p", port(a), "-size", "1M", "-bufsize", "4M")
		s := wait()
		if c.code != exitOK || s.code != exitOK {
			t.Fatalf("client %d, server %d\n%s\n%s", c.code, s.code, c.stderr, s.stderr)
		}
		sr := decode[serverResult](t, s)
		if sr.LinearBytes == 0 || sr.DevmemBytes == 0 || sr.Validation.Bytes != 1<<20 || sr.Validation.Mismatches != 0 {
			t.Fatalf("linear %d, devmem %d, validation %+v", sr.LinearBytes, sr.DevmemBytes, sr.Validation)
		}
	})
}

// TestDevmemNegative is the kernel tool's negative mode (ncdevmem -f
// IFNAME): bind with no queues, bind with header split off, and shrinking
// the channels under a bound queue all fail; the device is put back.
func TestDevmemNegative(t *testing.T) {
	p := simPair(t, 2)
	checkLeaks(t)
	before := rings(t, p.Local.Ifindex)
	o := runProg(t.Context(), "", nil, "-f", p.Local.Name, "-bufsize", "4M", "-json")
	if o.code != exitOK {
		t.Fatalf("status %d\n%s\n%s", o.code, o.stderr, o.stdout)
	}
	t.Log(o.stderr)
	r := decode[negativeResult](t, o)
	var names []string
	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("check %q failed: %s", c.Name, c.Detail)
		}
		names = append(names, c.Name)
	}
	want := "bind with no queues,bind with header split off,bind,shrink channels under a bound queue"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("checks %q, want %q", got, want)
	}
	if got := fmt.Sprint(r.Queues); got != "[1]" {
		t.Errorf("queues %s, want [1] (the upper half of 2)", got)
	}
	after := rings(t, p.Local.Ifindex)
	if after.TCPDataSplit != before.TCPDataSplit {
		t.Errorf("tcp-data-split %v after, %v before", after.TCPDataSplit, before.TCPDataSplit)
	}
	if q := boundQueues(t, p.Local.Ifindex); len(q) != 0 {
		t.Errorf("queues %v still bound", q)
	}
}

// TestDevmemInterruptRestores cancels a devmem server (Ctrl-C) while it
// waits: the NIC setup it made is undone and the queue unbound.
func TestDevmemInterruptRestores(t *testing.T) {
	p := simPair(t, 1)
	checkLeaks(t)
	before := rings(t, p.Local.Ifindex)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var during *netdev.Rings
	var bound []uint32
	ready := make(chan net.Addr, 1)
	done := make(chan outcome, 1)
	go func() {
		done <- runProg(ctx, "", func(a net.Addr) { ready <- a },
			"-l", "-f", p.Local.Name, "-s", p.Local.Addr4.Addr().String(), "-p", "0", "-mode", "devmem", "-bufsize", "4M")
	}()
	select {
	case <-ready:
		during, bound = rings(t, p.Local.Ifindex), boundQueues(t, p.Local.Ifindex)
		cancel()
	case o := <-done:
		t.Fatalf("server ended: %d\n%s", o.code, o.stderr)
	}
	o := <-done
	if o.code != exitInterrupted || !strings.Contains(o.stderr, "NIC setup restored") {
		t.Fatalf("status %d, want %d and the restore reported\n%s", o.code, exitInterrupted, o.stderr)
	}
	if during.TCPDataSplit != netdev.TCPDataSplitEnabled || len(bound) != 1 {
		t.Fatalf("while serving: tcp-data-split %v, bound %v; want on and one queue", during.TCPDataSplit, bound)
	}
	after := rings(t, p.Local.Ifindex)
	if after.TCPDataSplit != before.TCPDataSplit {
		t.Fatalf("tcp-data-split %v after the interrupt, %v before", after.TCPDataSplit, before.TCPDataSplit)
	}
	if q := boundQueues(t, p.Local.Ifindex); len(q) != 0 {
		t.Fatalf("queues %v still bound after the interrupt", q)
	}
}

// TestDevmemRXBufLen asks for an RX buffer length (-b) that netdevsim
// cannot set: the server fails, says why, and leaves the device as it was.
func TestDevmemRXBufLen(t *testing.T) {
	p := simPair(t, 1)
	checkLeaks(t)
	before := rings(t, p.Local.Ifindex)
	o := runProg(t.Context(), "", nil, "-l", "-f", p.Local.Name, "-s", p.Local.Addr4.Addr().String(), "-p", "0", "-b", "16K", "-bufsize", "4M")
	if o.code != exitFail || !strings.Contains(o.stderr, "rx-buf-len") {
		t.Fatalf("status %d, want a failure naming rx-buf-len:\n%s", o.code, o.stderr)
	}
	if after := rings(t, p.Local.Ifindex); *after != *before {
		t.Fatalf("rings changed: before %+v, after %+v", before, after)
	}
}

// TestDevmemFlowSteeringError connects from the server's own namespace:
// the flow goes over loopback, never through the bound queue, and the
// server fails as the kernel tool does.
func TestDevmemFlowSteeringError(t *testing.T) {
	p := simPair(t, 1)
	checkLeaks(t)
	addr := p.Local.Addr4.Addr().String()
	a, wait := server(t, t.Context(), "-l", "-f", p.Local.Name, "-s", addr, "-p", "0", "-v", "7", "-mode", "devmem", "-bufsize", "4M")
	c := runProg(t.Context(), "\x01\x02\x03\x04\x05\x06\n", nil, "-s", addr, "-p", port(a), "-mode", "copy")
	s := wait()
	if c.code != exitOK {
		t.Fatalf("client: %d\n%s", c.code, c.stderr)
	}
	if s.code != exitFail || !strings.Contains(s.stderr, "flow steering error") {
		t.Fatalf("server status %d, want the flow steering error:\n%s", s.code, s.stderr)
	}
}
