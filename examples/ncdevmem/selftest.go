//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// selftestSize and selftestConns are the defaults of -selftest: enough to
// measure, quick on a small machine.
const (
	selftestSize  = 32 << 20
	selftestConns = 4
)

// selftest runs the RX server and the TX client in this process over
// loopback, where devmem is impossible (the copy path runs, and says why),
// and checks that every byte of the pattern arrived: first IPv4 with
// concurrent connections, then IPv6 (where the host has ::1) with
// sequential ones. It needs no privileges.
func selftest(ctx context.Context, o *options, sio *stdio) (*selftestResult, error) {
	res := &selftestResult{Role: "selftest", Rounds: []selftestRun{}}
	size := o.size
	if size == 0 {
		size = selftestSize
	}
	conns := o.conns
	if conns <= 0 {
		conns = selftestConns
	}
	period := o.validate
	if period == 0 {
		period = 7
	}
	rounds := []struct {
		name, addr string
		conns      int
		concurrent bool
		size       int64
	}{
		{"ipv4", "127.0.0.1", conns, true, size},
		{"ipv6", "::1", 2, false, max(size/4, 1)},
	}
	log := io.Discard
	if o.verbose {
		log = sio.err
	}
	explained := false
	for _, r := range rounds {
		if r.name == "ipv6" && !hasIPv6Loopback() {
			fmt.Fprintln(sio.err, "ncdevmem selftest: ipv6: skipped, the host has no ::1")
			continue
		}
		so := &options{
			listen: true, server: r.addr, port: "0", validate: period,
			startQueue: -1, numQueues: -1, skipConfig: true, jsonOut: true,
			conns: r.conns, concurrent: r.concurrent, batch: o.batch,
			mode: o.mode, bufSize: o.bufSize, verbose: o.verbose,
		}
		co := &options{
			server: r.addr, validate: period, startQueue: -1, numQueues: -1,
			conns: r.conns, concurrent: r.concurrent, size: r.size,
			mode: o.mode, bufSize: o.bufSize, chunk: o.chunk, jsonOut: true,
		}
		run := selftestRun{Name: r.name}
		srv, cli, err := pair(ctx, so, co, log)
		run.Server, run.Client = srv, cli
		res.Rounds = append(res.Rounds, run)
		if srv != nil && !explained && srv.Mode == "copy" {
			fmt.Fprintf(sio.err, "ncdevmem selftest: copy mode: %s\n", srv.Reason)
			explained = true
		}
		if err == nil {
			want := uint64(r.conns) * uint64(r.size)
			switch {
			case srv.Bytes != want:
				err = fmt.Errorf("server received %d bytes, the clients sent %d", srv.Bytes, want)
			case srv.Validation == nil || srv.Validation.Bytes != want || srv.Validation.Mismatches != 0:
				err = fmt.Errorf("validation: %+v, want %d bytes checked and no mismatch", srv.Validation, want)
			case cli.Bytes != want:
				err = fmt.Errorf("clients sent %d bytes, want %d", cli.Bytes, want)
			}
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", r.name, err)
		}
		how := "sequential"
		if r.concurrent {
			how = "concurrent"
		}
		fmt.Fprintf(sio.err, "ncdevmem selftest: %s %s, %d %s connections: %s in %.2f s (%.2f Gbit/s), pattern (period %d) verified; %d frags, %d release calls, mode %s\n",
			r.name, r.addr, r.conns, how, human(srv.Bytes), srv.Seconds, srv.Gbps, period, srv.Frags, srv.ReleaseCalls, srv.Mode)
	}
	res.OK = true
	return res, nil
}

// pair runs a server with so and, once it listens, a client with co
// against it.
func pair(ctx context.Context, so, co *options, log io.Writer) (*serverResult, *clientResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan net.Addr, 1)
	type served struct {
		res *serverResult
		err error
	}
	done := make(chan served, 1)
	go func() {
		r, err := serve(ctx, so, &stdio{in: eofReader{}, out: io.Discard, err: log, ready: func(a net.Addr) { ready <- a }})
		done <- served{r, err}
	}()
	var srv served
	select {
	case a := <-ready:
		co.port = strconv.Itoa(a.(*net.TCPAddr).Port)
	case srv = <-done:
		if srv.err == nil {
			srv.err = errors.New("the server ended before it listened")
		}
		return srv.res, nil, fmt.Errorf("server: %w", srv.err)
	}
	cli, cerr := transmit(ctx, co, &stdio{in: eofReader{}, out: io.Discard, err: log})
	if cerr != nil {
		cancel() // the server may still wait for connections
	}
	srv = <-done
	switch {
	case cerr != nil:
		return srv.res, cli, fmt.Errorf("client: %w", cerr)
	case srv.err != nil:
		return srv.res, cli, fmt.Errorf("server: %w", srv.err)
	}
	return srv.res, cli, nil
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// eofReader is an empty stdin.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
