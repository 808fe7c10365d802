//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// stdio is what run uses of the process: the standard streams, and a hook
// for tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	// ready, if not nil, is called with the server's address once it
	// listens (tests use it instead of polling the port).
	ready func(net.Addr)
}

// Exit statuses.
const (
	exitOK          = 0
	exitFail        = 1
	exitInterrupted = 130
)

// run is the whole program: it parses args, runs the mode they ask for and
// returns the exit status. Cancelling ctx (Ctrl-C in main) stops it; the
// NIC setup is restored before it returns either way.
func run(ctx context.Context, args []string, sio *stdio) int {
	o, err := parseArgs(args, sio.err)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(sio.err, "ncdevmem: %v\n(ncdevmem -h for the usage)\n", err)
		return exitFail
	}
	for _, a := range o.extra {
		fmt.Fprintf(sio.err, "extra arguments: %s\n", a)
	}

	var (
		res  any
		name string
	)
	switch {
	case o.selftest:
		name = "selftest"
		res, err = selftest(ctx, o, sio)
	case o.server == "" && o.client == "" && !o.listen:
		name = "negative tests"
		res, err = negative(ctx, o, sio)
	case o.listen:
		name = "server"
		var r *serverResult
		r, err = serve(ctx, o, sio)
		res = r
		if !o.jsonOut && r != nil {
			printServer(sio.err, r)
		}
	default:
		name = "client"
		var r *clientResult
		r, err = transmit(ctx, o, sio)
		res = r
		if !o.jsonOut && r != nil {
			printClient(sio.err, r)
		}
	}
	setOK(res, err)
	if o.jsonOut {
		writeJSON(sio.out, res)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(sio.err, "ncdevmem: interrupted")
		return exitInterrupted
	case err != nil:
		fmt.Fprintf(sio.err, "ncdevmem: %s: %v\n", name, err)
		return exitFail
	}
	switch name {
	case "server":
		fmt.Fprintln(sio.err, "ncdevmem: ok")
	case "client":
		fmt.Fprintln(sio.err, "ncdevmem: tx ok")
	case "negative tests":
		fmt.Fprintln(sio.err, "ncdevmem: negative tests ok")
	case "selftest":
		fmt.Fprintln(sio.err, "ncdevmem selftest: ok")
	}
	return exitOK
}

// setOK fills the ok and error fields of a result.
func setOK(res any, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch r := res.(type) {
	case *serverResult:
		if r != nil {
			r.OK, r.Error = err == nil, msg
		}
	case *clientResult:
		if r != nil {
			r.OK, r.Error = err == nil, msg
		}
	case *negativeResult:
		if r != nil {
			r.OK, r.Error = err == nil, msg
		}
	case *selftestResult:
		if r != nil {
			r.OK, r.Error = err == nil, msg
		}
	}
}

// printServer writes the server's summary, with the kernel tool's last
// line.
func printServer(w io.Writer, r *serverResult) {
	if r.Connections == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ncdevmem: received %s in %.2f s (%.2f Gbit/s) on %d connection(s), mode %s", human(r.Bytes), r.Seconds, r.Gbps, r.Connections, r.Mode)
	if r.Mode == "devmem" {
		fmt.Fprintf(&b, "; devmem %s, linear %s", human(r.DevmemBytes), human(r.LinearBytes))
	}
	fmt.Fprintf(&b, "; %d frags, %d release calls", r.Frags, r.ReleaseCalls)
	if r.Mode == "devmem" {
		fmt.Fprintf(&b, " (%d SO_DEVMEM_DONTNEED)", r.DontneedCalls)
	}
	if v := r.Validation; v != nil {
		fmt.Fprintf(&b, "; validated %s (period %d), %d wrong", human(v.Bytes), v.Period, v.Mismatches)
	}
	fmt.Fprintln(w, b.String())
	fmt.Fprintf(w, "page_aligned_frags=%d, non_page_aligned_frags=%d\n", r.PageAlignedFrags, r.NonPageAlignedFrags)
}

func printClient(w io.Writer, r *clientResult) {
	if r.Connections == 0 {
		return
	}
	fmt.Fprintf(w, "ncdevmem: sent %s in %.2f s (%.2f Gbit/s) on %d connection(s), mode %s; %d sends, %d sendmsg calls, %d completed (%d copied by the kernel)\n",
		human(r.Bytes), r.Seconds, r.Gbps, r.Connections, r.Mode, r.Sends, r.SendCalls, r.Completions, r.Copied)
}
