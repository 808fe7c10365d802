//go:build linux

package main

import (
	"context"
	"net"
	"testing"

	"github.com/devmem-go/devmem/internal/testutil"
)

// TestDevmemPutGet is the proof on the devmem path, on the project's
// devmem test kernel (the VM runner's devmem-7.2, whose netdevsim is
// patched to act as a header-split NIC with DMA): the server listens on
// one netdevsim device with a udmabuf bound to its RX queue; the load
// generator's clients run in the peer device's namespace; PUT payloads
// arrive in the dma-buf (devmem RX) and GETs leave on data channels with
// devmem TX. Elsewhere it skips.
//
//	make vmtest-one KERNEL=devmem-7.2 PKG=./examples/objstore
func TestDevmemPutGet(t *testing.T) {
	testutil.SkipIfNoNetdevsim(t)
	testutil.SkipIfNoUdmabuf(t)
	p := testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: 1})
	checkLeaks(t)
	addr, stop := startServer(t, "-addr", net.JoinHostPort(p.Local.Addr4.Addr().String(), "0"), "-if", p.Local.Name,
		"-mode", "devmem", "-store", "32M", "-rxbuf", "16M", "-txbuf", "2M", "-batch", "64")

	// The clients' sockets (and their data-channel listeners) belong to
	// the peer's namespace.
	nf := netFuncs{
		dial: func(ctx context.Context, a string) (c net.Conn, err error) {
			err = p.PeerNS.Do(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, "tcp", a)
				return err
			})
			return c, err
		},
		listen: func(a string) (l net.Listener, err error) {
			err = p.PeerNS.Do(func() error {
				l, err = net.Listen("tcp", a)
				return err
			})
			return l, err
		},
	}
	cfg := loadConfig{Addr: addr, Clients: 4, Objects: 200, Size: 1 << 10, SizeMax: 32 << 10, Gets: 1, Del: true,
		DataChannel: true, Seed: 3, Prefix: "vm/", Net: nf}
	res, err := loadgen(t.Context(), cfg)
	if err != nil {
		t.Fatalf("loadgen: %v", err)
	}
	printLoad(testWriter{t}, res)
	var total uint64
	for i := range cfg.Objects {
		total += uint64(cfg.objSize(i))
	}
	o, st := stop()
	if o.code != exitInterrupted {
		t.Fatalf("server: %d\n%s", o.code, o.stderr)
	}
	if st.Mode != "devmem" || st.BindingID == 0 {
		t.Fatalf("server mode %s (%s), binding %d", st.Mode, st.Reason, st.BindingID)
	}
	if st.Puts != 200 || st.Gets != 200 || st.Dels != 200 || st.PutBytes != total || st.BadChecksums != 0 || st.StoreInUse != 0 {
		t.Fatalf("server: %d puts (%d bytes, want %d), %d gets, %d dels, %d bad checksums, %d bytes in use",
			st.Puts, st.PutBytes, total, st.Gets, st.Dels, st.BadChecksums, st.StoreInUse)
	}
	// Every payload byte came through the dma-buf (requests too: the
	// device's only queue is bound).
	if st.RXDevmemBytes < total || st.RXPlainBytes != 0 {
		t.Fatalf("received %d bytes in the dma-buf (want at least %d), %d as ordinary data", st.RXDevmemBytes, total, st.RXPlainBytes)
	}
	if st.DataChannels != 4 || st.GetTXDevmem != total || st.GetTXCopy != 0 || st.GetInline != 0 {
		t.Fatalf("GETs: %d data channels, %d bytes devmem TX (want %d), %d copy TX, %d inline (%s)",
			st.DataChannels, st.GetTXDevmem, total, st.GetTXCopy, st.GetInline, st.DataChannelNote)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
