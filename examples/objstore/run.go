//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// stdio is what run uses of the process, and a hook for tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
	// ready, if not nil, is called with the server's address once it
	// listens.
	ready func(net.Addr)
}

const (
	exitOK          = 0
	exitFail        = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const usage = `usage: objstore COMMAND [flags]

  serve    -addr ADDR:PORT [-if IFNAME] [-queues Q[,Q...]] [-nosetup] [-mode auto|devmem|copy]
           [-store SIZE] [-rxbuf SIZE] [-txbuf SIZE] [-max-object SIZE] [-batch N] [-json]
           the object server: PUT payloads land in a dma-buf bound to the NIC's RX
           queues and are copied into the store; GETs leave from device memory on a
           data channel (devmem TX)
  put      -addr ADDR:PORT KEY [FILE]     store FILE (default stdin) under KEY
  get      -addr ADDR:PORT [-data=false] KEY [FILE]   fetch KEY into FILE (default stdout)
  del      -addr ADDR:PORT KEY
  stat     -addr ADDR:PORT               the server's counters, as JSON
  loadgen  -addr ADDR:PORT [-clients N] [-objects N] [-size SIZE] [-size-max SIZE]
           [-gets N] [-del] [-data=false] [-seed N] [-json]
           many concurrent clients; throughput and latency percentiles per phase
  demo     server and load generator in this process over loopback (copy mode)

Sizes take K, M or G suffixes. Exit status: 0 ok, 1 failure, 2 usage, 130 interrupted.
`

// run is the whole program.
func run(ctx context.Context, args []string, sio *stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(sio.err, usage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, sio)
	case "put", "get", "del", "stat":
		err = cmdClient(ctx, cmd, args, sio)
	case "loadgen":
		err = cmdLoadgen(ctx, args, sio)
	case "demo":
		err = cmdDemo(ctx, args, sio)
	default:
		fmt.Fprintf(sio.err, "objstore: unknown command %q\n%s", cmd, usage)
		return exitUsage
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(sio.err, "objstore %s: %v\n", cmd, err)
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintf(sio.err, "objstore %s: interrupted\n", cmd)
		return exitInterrupted
	default:
		fmt.Fprintf(sio.err, "objstore %s: %v\n", cmd, err)
		return exitFail
	}
}

type usageError struct{ error }

func newFlags(name string, sio *stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("objstore "+name, flag.ContinueOnError)
	fs.SetOutput(sio.err)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

// sizeFlag is a byte count flag with K, M, G suffixes.
type sizeFlag struct{ v *int64 }

func (s sizeFlag) String() string {
	if s.v == nil {
		return "0"
	}
	return strconv.FormatInt(*s.v, 10)
}

func (s sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s.v = n
	return nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"), strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("bad size %q (a byte count, e.g. 4096, 64K, 16M)", s)
	}
	return n * mult, nil
}

// parseQueues parses "3", "2,3" or "2-3".
func parseQueues(s string) ([]uint32, error) {
	if s == "" {
		return nil, nil
	}
	var qs []uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad queue %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil || b < a || b-a > 1024 {
				return nil, fmt.Errorf("bad queue range %q", part)
			}
		}
		for q := a; q <= b; q++ {
			qs = append(qs, uint32(q))
		}
	}
	return qs, nil
}

func cmdServe(ctx context.Context, args []string, sio *stdio) error {
	fs := newFlags("serve", sio)
	cfg := serverConfig{StoreSize: 256 << 20, RXBuf: 32 << 20, TXBuf: 4 << 20, MaxObject: 64 << 20}
	var queues string
	var noSetup, jsonOut bool
	maxObj := int64(cfg.MaxObject)
	fs.StringVar(&cfg.Addr, "addr", ":7070", "listen address (an address of the devmem NIC)")
	fs.StringVar(&cfg.Interface, "if", "", "the NIC (default: the device of -addr)")
	fs.StringVar(&queues, "queues", "", "RX queues to bind, e.g. 3 or 2-3 (default: one free queue)")
	fs.BoolVar(&noSetup, "nosetup", false, "leave the NIC as it is (header split, RSS, flow rules)")
	fs.StringVar(&cfg.Mode, "mode", "auto", "auto, devmem (fail without it) or copy")
	fs.Var(sizeFlag{&cfg.StoreSize}, "store", "object store size")
	fs.Var(sizeFlag{&cfg.RXBuf}, "rxbuf", "receive dma-buf size")
	fs.Var(sizeFlag{&cfg.TXBuf}, "txbuf", "send dma-buf size per data channel")
	fs.Var(sizeFlag{&maxObj}, "max-object", "largest object")
	fs.IntVar(&cfg.BatchFrags, "batch", 0, "release tokens in batches of this many frags (0: the library default, 1: at once)")
	fs.BoolVar(&jsonOut, "json", false, "print the final counters as JSON on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Mode != "auto" && cfg.Mode != "devmem" && cfg.Mode != "copy" {
		return usageError{fmt.Errorf("-mode %q: auto, devmem or copy", cfg.Mode)}
	}
	qs, err := parseQueues(queues)
	if err != nil {
		return usageError{err}
	}
	cfg.Queues, cfg.Setup, cfg.MaxObject = qs, !noSetup, uint64(maxObj)
	return serveMain(ctx, cfg, jsonOut, sio)
}

// serveMain runs a server until ctx is done.
func serveMain(ctx context.Context, cfg serverConfig, jsonOut bool, sio *stdio) error {
	s, err := newServer(ctx, cfg)
	if err != nil {
		return err
	}
	st := s.stats()
	fmt.Fprintf(sio.err, "objstore: listening on %s, mode %s", st.Address, st.Mode)
	if st.Mode == "devmem" {
		fmt.Fprintf(sio.err, " (queues %v, dmabuf id %d)", st.Queues, st.BindingID)
	} else {
		fmt.Fprintf(sio.err, " (%s)", st.Reason)
	}
	fmt.Fprintf(sio.err, "; store %s of %s\n", human(st.StoreCapacity), st.StoreKind)
	if st.Mode == "devmem" {
		for _, n := range s.notes {
			fmt.Fprintf(sio.err, "objstore: note: %s\n", n)
		}
	}
	if sio.ready != nil {
		sio.ready(s.l.Addr())
	}
	final := make(chan serverStats, 1)
	stop := context.AfterFunc(ctx, func() { final <- s.stats() })
	err = s.serve(ctx)
	var last serverStats
	if stop() {
		last = s.stats()
	} else {
		last = <-final
	}
	fmt.Fprintf(sio.err, "objstore: %d sessions, %d puts (%s), %d gets (%s: devmem TX %s, copy TX %s, inline %s), %d bad checksums; rx devmem %s, linear %s, copied %s\n",
		last.Sessions, last.Puts, human(last.PutBytes), last.Gets, human(last.GetBytes), human(last.GetTXDevmem), human(last.GetTXCopy), human(last.GetInline),
		last.BadChecksums, human(last.RXDevmemBytes), human(last.RXLinearBytes), human(last.RXCopiedBytes))
	if jsonOut {
		writeJSON(sio.out, last)
	}
	if err == nil {
		err = ctx.Err() // stopped (Ctrl-C): say so in the exit status
	}
	return err
}

func cmdClient(ctx context.Context, cmd string, args []string, sio *stdio) error {
	fs := newFlags(cmd, sio)
	addr := fs.String("addr", "127.0.0.1:7070", "server address")
	data := fs.Bool("data", true, "get: receive on a data channel (devmem TX on the server)")
	if err := parse(fs, args); err != nil {
		return err
	}
	want := map[string][2]int{"put": {1, 2}, "get": {1, 2}, "del": {1, 1}, "stat": {0, 0}}[cmd]
	if fs.NArg() < want[0] || fs.NArg() > want[1] {
		return usageError{fmt.Errorf("wants %d to %d arguments, got %d", want[0], want[1], fs.NArg())}
	}
	c, err := dialClient(ctx, *addr, defaultNet(), cmd == "get" && *data)
	if err != nil {
		return err
	}
	defer c.Close()
	switch cmd {
	case "put":
		var in io.Reader = sio.in
		if fs.NArg() == 2 {
			f, err := os.Open(fs.Arg(1))
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		if err := c.Put(fs.Arg(0), b); err != nil {
			return err
		}
		fmt.Fprintf(sio.err, "objstore: put %s: %d bytes, crc32c %08x\n", fs.Arg(0), len(b), checksum(b))
	case "get":
		b, err := c.Get(fs.Arg(0), nil)
		if err != nil {
			return err
		}
		out := sio.out
		if fs.NArg() == 2 {
			f, err := os.Create(fs.Arg(1))
			if err != nil {
				return err
			}
			defer f.Close()
			out = f
		}
		if _, err := out.Write(b); err != nil {
			return err
		}
		how := "inline"
		if c.data != nil {
			how = "data channel, server " + c.dataMode + " TX"
		}
		fmt.Fprintf(sio.err, "objstore: get %s: %d bytes, crc32c verified (%s)\n", fs.Arg(0), len(b), how)
	case "del":
		return c.Del(fs.Arg(0))
	case "stat":
		st, err := c.Stat()
		if err != nil {
			return err
		}
		writeJSON(sio.out, st)
	}
	return nil
}

func loadFlags(fs *flag.FlagSet, cfg *loadConfig, jsonOut *bool) {
	size, sizeMax := int64(cfg.Size), int64(cfg.SizeMax)
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent clients")
	fs.IntVar(&cfg.Objects, "objects", cfg.Objects, "objects")
	fs.Func("size", fmt.Sprintf("object size (default %d)", size), func(s string) error {
		n, err := parseSize(s)
		cfg.Size = int(n)
		return err
	})
	fs.Func("size-max", "largest object size: sizes vary from -size to it", func(s string) error {
		n, err := parseSize(s)
		cfg.SizeMax = int(n)
		return err
	})
	fs.IntVar(&cfg.Gets, "gets", cfg.Gets, "GET passes over the objects")
	fs.BoolVar(&cfg.Del, "del", cfg.Del, "delete the objects at the end")
	fs.BoolVar(&cfg.DataChannel, "data", cfg.DataChannel, "GETs on data channels (devmem TX on the server)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "content seed")
	fs.StringVar(&cfg.Prefix, "prefix", cfg.Prefix, "key prefix")
	fs.BoolVar(jsonOut, "json", false, "print the report as JSON on stdout")
	_ = sizeMax
}

func defaultLoad() loadConfig {
	return loadConfig{Clients: 16, Objects: 400, Size: 64 << 10, Gets: 1, DataChannel: true, Seed: 1, Prefix: "obj/"}
}

func cmdLoadgen(ctx context.Context, args []string, sio *stdio) error {
	fs := newFlags("loadgen", sio)
	cfg := defaultLoad()
	var jsonOut bool
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:7070", "server address")
	loadFlags(fs, &cfg, &jsonOut)
	if err := parse(fs, args); err != nil {
		return err
	}
	return loadMain(ctx, cfg, jsonOut, sio)
}

func loadMain(ctx context.Context, cfg loadConfig, jsonOut bool, sio *stdio) error {
	res, err := loadgen(ctx, cfg)
	if res != nil {
		res.OK = err == nil
		if err != nil {
			res.Error = err.Error()
		}
		if jsonOut {
			writeJSON(sio.out, res)
		} else {
			printLoad(sio.err, res)
		}
	}
	return err
}

func printLoad(w io.Writer, r *loadResult) {
	fmt.Fprintf(w, "objstore loadgen: %d clients, %d objects, GET payloads: %s\n", r.Clients, r.Objects, r.DataChannel)
	fmt.Fprintf(w, "%-5s %7s %7s %10s %9s %9s %9s %9s %9s %9s\n", "phase", "ops", "errors", "MiB/s", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "seconds")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "%-5s %7d %7d %10.1f %9.0f %9.3f %9.3f %9.3f %9.3f %9.2f\n", p.Name, p.Ops, p.Errors, p.MiBps, p.OpsPerSec, p.P50, p.P90, p.P99, p.Max, p.Seconds)
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server: mode %s", s.Mode)
		if s.Reason != "" {
			fmt.Fprintf(w, " (%s)", s.Reason)
		}
		fmt.Fprintf(w, "; store %s of %s, %d objects, fragmentation %.2f; PUT rx devmem %s, linear %s, copied %s; GET tx devmem %s, copy %s, inline %s\n",
			human(s.StoreInUse), s.StoreKind, s.Objects, s.Fragmentation, human(s.RXDevmemBytes), human(s.RXLinearBytes), human(s.RXCopiedBytes),
			human(s.GetTXDevmem), human(s.GetTXCopy), human(s.GetInline))
	}
}

// cmdDemo runs a server and the load generator over loopback in this
// process: the copy path, on any Linux, without privileges.
func cmdDemo(ctx context.Context, args []string, sio *stdio) error {
	fs := newFlags("demo", sio)
	cfg := defaultLoad()
	var jsonOut bool
	loadFlags(fs, &cfg, &jsonOut)
	store := int64(64 << 20)
	fs.Var(sizeFlag{&store}, "store", "object store size")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		scfg := serverConfig{Addr: "127.0.0.1:0", Mode: "auto", StoreSize: store, RXBuf: 16 << 20, TXBuf: 4 << 20}
		done <- serveMain(ctx, scfg, false, &stdio{out: io.Discard, err: sio.err, ready: func(a net.Addr) { ready <- a }})
	}()
	select {
	case a := <-ready:
		cfg.Addr = a.String()
	case err := <-done:
		return err
	}
	lerr := loadMain(ctx, cfg, jsonOut, sio)
	cancel()
	if err := <-done; lerr == nil && err != nil && ctx.Err() == nil {
		return err
	}
	return lerr
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
