// Command vmrun runs a static Linux x86-64 binary, typically a go test
// binary, in a fresh QEMU VM booting a chosen kernel, and exits with the
// binary's exit code. It is meant as `go test -exec`:
//
//	CGO_ENABLED=0 go test -exec "$PWD/bin/vmrun" ./...
//	VMTEST_KERNEL=stock-6.12 CGO_ENABLED=0 go test -exec "$PWD/bin/vmrun -v" ./netdev
//
// Usage:
//
//	vmrun [flags] BINARY [ARG...]
//
// Flags (each defaults to an environment variable, so that `go test -exec`
// needs none):
//
//	-kernel NAME|PATH  $VMTEST_KERNEL: stock-7.2 (default), stock-6.12,
//	                   devmem-7.2, or the path of a bzImage
//	-init PATH         $VMTEST_INIT: the static vminit binary
//	                   (default: vminit next to vmrun)
//	-accel tcg|kvm|auto $VMTEST_ACCEL (default auto: KVM only if a probe
//	                   boot under it works)
//	-mem MIB           $VMTEST_MEM (default 1024)
//	-cpus N            $VMTEST_CPUS (default 1 under TCG, 2 under KVM)
//	-timeout D         $VMTEST_TIMEOUT (default: the test binary's
//	                   -test.timeout plus 1m, or 10m)
//	-append ARGS       $VMTEST_APPEND: extra kernel command line
//	-v                 $VMTEST_VERBOSE=1: show the kernel's boot log and
//	                   timings on stderr
//
// The binary runs as root in the guest, in the same directory as on the host
// (that directory's files and its testdata/ tree are copied in), with
// VMTEST_*, DEVMEM_*, GOTRACEBACK, GODEBUG, GOMAXPROCS, GOGC and GOMEMLIMIT
// passed through from the host, and DEVMEM_VMTEST set to the kernel's name.
//
// Exit status: the binary's (128+N when killed by signal N); 125 when the VM
// failed (kernel panic or Oops, timeout, no exit report) or /init could not
// start the binary; 2 for usage errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/devmem-go/devmem/internal/vmtest"
)

const exitVM = 125

func main() {
	// QEMU gets PDEATHSIG from the thread that forks it: keep that thread
	// alive as long as the process.
	runtime.LockOSThread()
	os.Exit(run())
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func envInt(key string) int {
	n, _ := strconv.Atoi(os.Getenv(key))
	return n
}

func run() int {
	fs := flag.NewFlagSet("vmrun", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vmrun [flags] BINARY [ARG...]\n")
		fs.PrintDefaults()
	}
	var (
		kernel  = fs.String("kernel", env("VMTEST_KERNEL", vmtest.DefaultKernel), "kernel name (stock-7.2, stock-6.12, devmem-7.2) or bzImage path")
		initBin = fs.String("init", env("VMTEST_INIT", ""), "static vminit binary (default: vminit next to vmrun)")
		accel   = fs.String("accel", env("VMTEST_ACCEL", "auto"), "tcg, kvm or auto")
		mem     = fs.Int("mem", envInt("VMTEST_MEM"), "guest memory in MiB (0: 1024)")
		cpus    = fs.Int("cpus", envInt("VMTEST_CPUS"), "guest CPUs (0: 1 under TCG, 2 under KVM)")
		timeout = fs.Duration("timeout", 0, "VM wall-clock limit (default $VMTEST_TIMEOUT, else -test.timeout+1m, else 10m)")
		appendA = fs.String("append", env("VMTEST_APPEND", ""), "extra kernel command line")
		verbose = fs.Bool("v", env("VMTEST_VERBOSE", "") == "1", "show the kernel log and timings on stderr")
	)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	bin, args := fs.Arg(0), fs.Args()[1:]

	if *timeout == 0 {
		t, err := defaultTimeout(args)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
			return 2
		}
		*timeout = t
	}
	if *initBin == "" {
		exe, err := os.Executable()
		if err == nil {
			*initBin = filepath.Join(filepath.Dir(exe), "vminit")
		}
	}
	if _, err := os.Stat(*initBin); err != nil {
		fmt.Fprintf(os.Stderr, "vmrun: vminit not found (%v): build it with `make vmtest-tools` or set VMTEST_INIT\n", err)
		return 2
	}
	absBin, err := filepath.Abs(bin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
		return 2
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
		return 2
	}

	cache := vmtest.CacheDir()
	k, err := vmtest.FindKernel(cache, *kernel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmrun: %v\n", err)
		return exitVM
	}
	var fwd []string
	for _, kv := range os.Environ() {
		if vmtest.ForwardEnv(kv) {
			fwd = append(fwd, kv)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer stop()
	c := &vmtest.Config{
		Kernel:    k,
		Init:      *initBin,
		Cache:     cache,
		Accel:     *accel,
		MemoryMiB: *mem,
		CPUs:      *cpus,
		Timeout:   *timeout,
		Append:    *appendA,
		QEMUArgs:  strings.Fields(os.Getenv("VMTEST_QEMU_ARGS")),
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Verbose:   *verbose,
	}
	res, err := vmtest.Run(ctx, c, &vmtest.Payload{Path: absBin, Args: args, Env: fwd, Dir: wd})
	if res != nil && *verbose {
		fmt.Fprintf(os.Stderr, "vmrun: kernel %s, %s: boot %.2fs, total %.2fs, exit %d\n",
			k.Name, res.Accel, res.Boot.Seconds(), res.Total.Seconds(), res.ExitCode)
	}
	switch {
	case err != nil && errors.Is(err, vmtest.ErrKernelBug):
		fmt.Fprintf(os.Stderr, "vmrun: FAIL: %v\n", err)
		if res.ExitCode != 0 {
			return res.ExitCode
		}
		return exitVM
	case err != nil:
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "vmrun: interrupted: %v\n", context.Cause(ctx))
		} else {
			fmt.Fprintf(os.Stderr, "vmrun: FAIL: %v\n", err)
		}
		return exitVM
	}
	return res.ExitCode
}

// defaultTimeout is $VMTEST_TIMEOUT, else the test binary's -test.timeout
// plus a minute for booting, else vmtest.DefaultTimeout.
func defaultTimeout(args []string) (time.Duration, error) {
	if v := os.Getenv("VMTEST_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("VMTEST_TIMEOUT=%q: want a positive duration such as 10m", v)
		}
		return d, nil
	}
	for i, a := range args {
		var v string
		switch {
		case strings.HasPrefix(a, "-test.timeout="):
			v = strings.TrimPrefix(a, "-test.timeout=")
		case a == "-test.timeout" && i+1 < len(args):
			v = args[i+1]
		default:
			continue
		}
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d + time.Minute, nil
		}
	}
	return vmtest.DefaultTimeout, nil
}
