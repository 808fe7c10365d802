//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// options are the command line: the kernel's ncdevmem flags, then this
// program's own.
type options struct {
	// The kernel's flags, same letters and meanings.
	listen       bool   // -l: RX server
	server       string // -s: server address (listen on it, or connect to it)
	client       string // -c: client address (server: 5-tuple flow rule; client: bind to it)
	port         string // -p
	iface        string // -f
	startQueue   int    // -t: first RX queue (-1: not given)
	numQueues    int    // -q: number of RX queues (-1: not given)
	validate     uint64 // -v: validation period (0: print the payload instead)
	chunk        int    // -z: TX chunk size (0: none)
	failOnLinear bool   // -L: fail on payload in host memory
	skipConfig   bool   // -n: leave the NIC as it is
	rxBufLen     uint64 // -b: RX buffer (page) size to set (0: leave)

	// This program's flags.
	selftest   bool
	jsonOut    bool
	verbose    bool
	conns      int  // connections (server: to accept, 0: until interrupted; client: to make)
	concurrent bool // handle the connections at once rather than one after the other
	size       int64
	batch      int    // release tokens in batches of this many frags (0: the library default, 1: at once)
	mode       string // auto, devmem, copy
	bufSize    int64  // bytes of the dma-buf (RX and TX)
	help       bool
	extra      []string // arguments that are not flags (reported, as the kernel does)
}

// defaultBufSize is the kernel ncdevmem's buffer: 16000 pages (62.5 MiB
// with 4 KiB pages), within udmabuf's default 64 MiB limit.
const defaultBufSize = 16000 * 4096

// shortValue and shortBool are the kernel's getopt string "Lls:c:p:v:q:t:f:z:n"
// plus -b.
const (
	shortValue = "scpvqtfzb"
	shortBool  = "lLn"
)

// longFlags are this program's own flags, which need their full name.
var longFlags = map[string]bool{
	"selftest": true, "json": true, "verbose": true, "conns": true, "concurrent": true,
	"size": true, "batch": true, "mode": true, "bufsize": true, "help": true, "h": true,
}

// errHelp is returned by parseArgs for -h and -help.
var errHelp = flag.ErrHelp

// parseArgs parses the command line. Short options may be clustered and
// take their value attached or as the next argument, as with the kernel
// tool's getopt ("-lv7", "-p5201", "-p 5201"); this program's options are
// words ("-json", "--conns=4"). Arguments that are not options are kept in
// extra, in order.
func parseArgs(args []string, usage io.Writer) (*options, error) {
	o := &options{startQueue: -1, numQueues: -1, conns: -1, mode: "auto", bufSize: defaultBufSize}
	fs := flag.NewFlagSet("ncdevmem", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&o.listen, "l", false, "")
	fs.StringVar(&o.server, "s", "", "")
	fs.StringVar(&o.client, "c", "", "")
	fs.StringVar(&o.port, "p", "", "")
	fs.StringVar(&o.iface, "f", "", "")
	fs.Func("t", "", intFlag(&o.startQueue, "-t"))
	fs.Func("q", "", intFlag(&o.numQueues, "-q"))
	fs.Func("v", "", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("-v wants a period, a non-negative number: %q", s)
		}
		o.validate = v
		return nil
	})
	fs.Func("z", "", intFlag(&o.chunk, "-z"))
	fs.BoolVar(&o.failOnLinear, "L", false, "")
	fs.BoolVar(&o.skipConfig, "n", false, "")
	fs.Func("b", "", func(s string) error {
		v, err := parseSize(s)
		if err != nil || v <= 0 || v > 1<<32-1 {
			return fmt.Errorf("-b wants an RX buffer size in bytes (e.g. 4096, 16K): %q", s)
		}
		o.rxBufLen = uint64(v)
		return nil
	})
	fs.BoolVar(&o.selftest, "selftest", false, "")
	fs.BoolVar(&o.jsonOut, "json", false, "")
	fs.BoolVar(&o.verbose, "verbose", false, "")
	fs.IntVar(&o.conns, "conns", -1, "")
	fs.BoolVar(&o.concurrent, "concurrent", false, "")
	fs.Func("size", "", func(s string) error {
		v, err := parseSize(s)
		if err != nil || v < 0 {
			return fmt.Errorf("-size wants a byte count (e.g. 1048576, 64M, 1G): %q", s)
		}
		o.size = v
		return nil
	})
	fs.IntVar(&o.batch, "batch", 0, "")
	fs.StringVar(&o.mode, "mode", "auto", "")
	fs.Func("bufsize", "", func(s string) error {
		v, err := parseSize(s)
		if err != nil || v <= 0 {
			return fmt.Errorf("-bufsize wants a byte count (e.g. 16M): %q", s)
		}
		o.bufSize = v
		return nil
	})
	fs.BoolVar(&o.help, "help", false, "")
	fs.BoolVar(&o.help, "h", false, "")

	flags, extra, err := splitArgs(args)
	if err != nil {
		return nil, err
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	o.extra = extra
	if o.help {
		fmt.Fprint(usage, usageText)
		return nil, errHelp
	}
	switch o.mode {
	case "auto", "devmem", "copy":
	default:
		return nil, fmt.Errorf("-mode must be auto, devmem or copy, not %q", o.mode)
	}
	if o.chunk < 0 {
		return nil, fmt.Errorf("-z must not be negative: %d", o.chunk)
	}
	if o.batch < 0 {
		return nil, fmt.Errorf("-batch must not be negative: %d", o.batch)
	}
	if o.conns < -1 {
		return nil, fmt.Errorf("-conns must not be negative: %d", o.conns)
	}
	return o, nil
}

func intFlag(p *int, name string) func(string) error {
	return func(s string) error {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return fmt.Errorf("%s wants a non-negative number: %q", name, s)
		}
		*p = v
		return nil
	}
}

// splitArgs rewrites getopt-style arguments into single flags the flag
// package understands and separates the arguments that are not options.
func splitArgs(args []string) (flags, extra []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(extra, args[i+1:]...), nil
		case len(a) < 2 || a[0] != '-':
			extra = append(extra, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if k := strings.IndexByte(name, '='); k >= 0 {
			name = name[:k]
		}
		if longFlags[name] {
			flags = append(flags, a)
			// A value in the next argument stays with its flag.
			if !strings.Contains(a, "=") && !isBoolLong(name) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		if strings.HasPrefix(a, "--") {
			return nil, nil, fmt.Errorf("unknown option: %s", a)
		}
		// A cluster of short options: -lL, -p5201, -lv 7.
		for j := 1; j < len(a); j++ {
			ch := a[j]
			switch {
			case strings.IndexByte(shortBool, ch) >= 0:
				flags = append(flags, "-"+string(ch))
			case strings.IndexByte(shortValue, ch) >= 0:
				flags = append(flags, "-"+string(ch))
				if j+1 < len(a) {
					flags = append(flags, a[j+1:])
				} else if i+1 < len(args) {
					i++
					flags = append(flags, args[i])
				} else {
					return nil, nil, fmt.Errorf("option requires an argument: -%c", ch)
				}
				j = len(a)
			default:
				return nil, nil, fmt.Errorf("unknown option: -%c (in %q)", ch, a)
			}
		}
	}
	return flags, extra, nil
}

func isBoolLong(name string) bool {
	switch name {
	case "selftest", "json", "verbose", "concurrent", "help", "h":
		return true
	}
	return false
}

// parseSize parses a byte count with an optional K, M or G suffix (powers
// of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K") || strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M") || strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G") || strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if v > 0 && v > (1<<62)/mult {
		return 0, errors.New("too large")
	}
	return v * mult, nil
}

const usageText = `usage:
  ncdevmem -l -s ADDR -p PORT [-f IFNAME] [-c CLIENT] [-t Q -q N] [-v PERIOD] [-L] [-n] [-b SIZE]
        RX server: receive one connection (see -conns) into a dma-buf bound to
        RX queues Q..Q+N-1 of IFNAME; validate the byte pattern (-v) or print
        the payload on stdout.
  ncdevmem -s ADDR -p PORT [-f IFNAME] [-c CLIENT] [-z CHUNK] [-size BYTES]
        TX client: send stdin (or -size bytes of the -v pattern) from a dma-buf.
  ncdevmem -f IFNAME [-t Q -q N]
        negative tests: binding with no queues, with header split off, and
        shrinking the channels under a bound queue must all fail.
  ncdevmem -selftest
        server and client over loopback in this process (copy mode), pattern
        verified; no root needed.

The kernel's flags (tools/testing/selftests/drivers/net/hw/ncdevmem.c):
  -l          listen (RX server)
  -s ADDR     server address, IPv4 or IPv6
  -c ADDR     client address: the server steers the 5-tuple flow, the client binds to it
  -p PORT     port
  -f IFNAME   network interface
  -t Q        first RX queue to bind
  -q N        number of RX queues
  -v PERIOD   validate the byte pattern of this period (bytes 1..PERIOD-1, then '\n')
  -z CHUNK    TX: send in pieces of CHUNK bytes
  -L          fail when payload arrives in host memory (SCM_DEVMEM_LINEAR, or copy mode)
  -n          skip NIC setup (header split, RSS, flow steering)
  -b SIZE     RX buffer size of the NIC's rings (rx-buf-len), where the driver supports it

This program's own:
  -conns N      server: connections to serve (default 1, 0: until interrupted);
                client: connections to make (default 1)
  -concurrent   handle the connections at the same time
  -size BYTES   client: send BYTES of the -v pattern (default period 7) instead of stdin
  -batch N      release tokens in batches of N frags (default 0: the library's,
                1024 and whenever the reader waits for data; 1: at once)
  -mode M       auto (devmem, else copy with the reason), devmem (fail without it), copy
  -bufsize B    dma-buf size (default 16000 pages)
  -json         print the results as JSON on stdout (no payload, no per-frag lines)
  -verbose      per-read and per-frag lines on stderr, like the kernel tool
  -selftest     see above

Exit status: 0 success, 1 failure, 130 interrupted.
`
