package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Errors Run returns when the VM, not the payload, failed. They are wrapped
// with details; test with errors.Is.
var (
	// ErrKernelPanic: the guest kernel panicked.
	ErrKernelPanic = errors.New("vmtest: the guest kernel panicked")
	// ErrKernelBug: the guest kernel logged an Oops or a BUG while the
	// payload ran, even if the payload passed.
	ErrKernelBug = errors.New("vmtest: the guest kernel reported a bug (Oops/BUG)")
	// ErrTimeout: the VM ran longer than Config.Timeout and was killed.
	ErrTimeout = errors.New("vmtest: timed out")
	// ErrNoExitMarker: the VM stopped without reporting the payload's exit
	// code (it powered off or crashed before /init could report).
	ErrNoExitMarker = errors.New("vmtest: the VM stopped without reporting the payload's exit code")
	// ErrKVM: QEMU reported a KVM internal error (a hypervisor that cannot
	// run this kernel); use VMTEST_ACCEL=tcg.
	ErrKVM = errors.New("vmtest: KVM cannot run this guest (use VMTEST_ACCEL=tcg)")
)

// How long QEMU may take to exit by itself once the guest reported its exit
// code, or panicked (variables for tests).
var (
	exitGrace  = 10 * time.Second
	panicGrace = 5 * time.Second
)

// kvmDevice is the KVM device (a variable for tests).
var kvmDevice = "/dev/kvm"

// DefaultTimeout is the VM's wall-clock limit when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Minute

// Config says how to boot the VM.
type Config struct {
	// Kernel is the kernel to boot (see FindKernel). Required.
	Kernel *Kernel
	// Init is the path of the static vminit binary. Required.
	Init string
	// Cache is the cache directory (CacheDir() when empty).
	Cache string
	// Accel is "tcg", "kvm", or "" / "auto": KVM when /dev/kvm is usable and
	// a probe boot of this kernel under KVM succeeds (the result is cached
	// per host boot), TCG otherwise.
	Accel string
	// MemoryMiB is the guest's memory; 0 means 1024.
	MemoryMiB int
	// CPUs is the guest's CPU count; 0 means 1 under TCG (multi-threaded
	// TCG in QEMU 7.2 panics early boots now and then) and 2 under KVM.
	CPUs int
	// Timeout bounds the whole VM run; 0 means DefaultTimeout.
	Timeout time.Duration
	// Append is added to the kernel command line.
	Append string
	// QEMUArgs are added to QEMU's command line (devices, -bios, ...).
	QEMUArgs []string
	// QEMU is the emulator binary; "" means qemu-system-x86_64 from $PATH.
	QEMU string
	// Stdout receives the payload's output (stdout and stderr, which share
	// the serial console). Nil discards it.
	Stdout io.Writer
	// Stderr receives QEMU's own messages, and the kernel's boot and
	// shutdown log when the run fails or Verbose is set. Nil discards them.
	Stderr io.Writer
	// Verbose copies the kernel's boot and shutdown log to Stderr as it
	// arrives.
	Verbose bool
}

// Payload is the program run in the guest.
type Payload struct {
	// Path is the host path of a static x86-64 executable (CGO_ENABLED=0).
	Path string
	// Args are its arguments, without argv[0].
	Args []string
	// Env is added to the guest's default environment (KEY=VALUE).
	Env []string
	// Dir, if set, must be absolute: its files and its testdata/ tree are
	// copied to the same path in the guest, and the payload runs there.
	Dir string
}

// Result is what a run produced.
type Result struct {
	// ExitCode is the payload's exit code (128+signal when killed by a
	// signal, 125 when /init could not start it). Meaningful only when the
	// exit marker was seen: Run's error is nil, or ErrKernelBug.
	ExitCode int
	// Accel is the accelerator used ("tcg" or "kvm").
	Accel string
	// Boot is the time from starting QEMU to the payload's start.
	Boot time.Duration
	// Total is the time from starting QEMU to its exit.
	Total time.Duration
}

// Run boots c.Kernel with p as the payload and returns the payload's exit
// code. Run is safe to call concurrently; each call boots its own VM.
func Run(ctx context.Context, c *Config, p *Payload) (*Result, error) {
	if c.Kernel == nil || c.Init == "" {
		return nil, errors.New("vmtest: Config.Kernel and Config.Init are required")
	}
	if p.Path == "" {
		return nil, errors.New("vmtest: Payload.Path is required")
	}
	if err := checkStatic(c.Init); err != nil {
		return nil, fmt.Errorf("vmtest: init: %w", err)
	}
	if err := checkStatic(p.Path); err != nil {
		return nil, err
	}
	accel, err := resolveAccel(ctx, c)
	if err != nil {
		return nil, err
	}
	return boot(ctx, c, accel, p)
}

func (c *Config) cache() string {
	if c.Cache != "" {
		return c.Cache
	}
	return CacheDir()
}

func (c *Config) qemuArgs(accel, initrd string) []string {
	mem := c.MemoryMiB
	if mem == 0 {
		mem = 1024
	}
	cpus := c.CPUs
	cpu := "max"
	if accel == "kvm" {
		cpu = "host"
		if cpus == 0 {
			cpus = 2
		}
	}
	if cpus == 0 {
		cpus = 1
	}
	// Lockup watchdogs misfire under emulation on a busy host; their
	// "BUG:" lines would fail the run.
	cmdline := "console=ttyS0 panic=-1 quiet nowatchdog workqueue.watchdog_thresh=0"
	if c.Append != "" {
		cmdline += " " + c.Append
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "stdio", "-no-reboot",
		"-accel", accel, "-cpu", cpu,
		"-m", fmt.Sprint(mem), "-smp", fmt.Sprint(cpus),
		"-kernel", c.Kernel.Image, "-initrd", initrd,
		"-append", cmdline,
	}
	return append(args, c.QEMUArgs...)
}

// boot runs one VM. p.Path == "" boots without a payload (the KVM probe).
func boot(ctx context.Context, c *Config, accel string, p *Payload) (*Result, error) {
	base, err := baseImage(c.cache(), c.Init, c.Kernel)
	if err != nil {
		return nil, err
	}
	var nb [12]byte
	rand.Read(nb[:])
	cfg := GuestConfig{
		Nonce:   hex.EncodeToString(nb[:]),
		Kernel:  c.Kernel.Name,
		Args:    p.Args,
		Env:     p.Env,
		Modules: guestModules(c.Kernel.Modules),
		Verbose: c.Verbose,
	}
	initrd, err := buildInitrd(base, &cfg, p.Path, p.Dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(initrd)

	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w after %v (set VMTEST_TIMEOUT)", ErrTimeout, timeout))
	defer cancel()

	qemu := c.QEMU
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	cmd := exec.Command(qemu, c.qemuArgs(accel, initrd)...)
	setSysProcAttr(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("vmtest: %w", err)
	}
	out := orDiscard(c.Stdout)
	errw := orDiscard(c.Stderr)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("vmtest: starting QEMU (install qemu-system-x86): %w", err)
	}

	// kill stops QEMU once, recording why.
	var (
		mu     sync.Mutex
		reason error
	)
	kill := func(why error) {
		mu.Lock()
		defer mu.Unlock()
		if reason == nil {
			reason = why
			_ = cmd.Process.Kill()
		}
	}
	// grace gives QEMU a few seconds to exit by itself after the guest is
	// done (powered off or panicked).
	var graceOnce sync.Once
	grace := func(d time.Duration, why error) {
		graceOnce.Do(func() {
			t := time.AfterFunc(d, func() { kill(why) })
			context.AfterFunc(ctx, func() { t.Stop() })
		})
	}
	stop := context.AfterFunc(ctx, func() { kill(context.Cause(ctx)) })
	defer stop()

	// QEMU's own messages.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			line := s.Text()
			fmt.Fprintf(errw, "qemu: %s\n", line)
			if strings.Contains(line, "KVM internal error") {
				kill(ErrKVM)
			}
		}
	}()

	var (
		res             = &Result{Accel: accel}
		started, exited bool
		panicked, bug   bool
		bootLog, tail   limitedBuffer
		heldNewline     bool
	)
	bootLog.max, tail.max = 1<<20, 256<<10
	if p.Path == "" {
		started = true // the probe has no start marker
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
	for {
		chunk, rerr := r.ReadSlice('\n')
		if len(chunk) > 0 {
			whole := rerr == nil
			text := string(chunk)
			if whole {
				text = strings.TrimRight(text, "\r\n") + "\n"
			}
			switch {
			case kernelPanic.MatchString(text):
				panicked = true
				grace(panicGrace, ErrKernelPanic)
			case started && !exited && kernelBug.MatchString(text):
				bug = true
			}
			if code, ok := ParseExitMarker(text, cfg.Nonce); ok {
				exited = true
				res.ExitCode = code
				grace(exitGrace, errors.New("vmtest: QEMU did not exit after the guest powered off"))
				continue
			}
			switch {
			case !started:
				if strings.Contains(text, StartMarker(cfg.Nonce)) {
					started = true
					res.Boot = time.Since(start)
					continue
				}
				bootLog.WriteString(text)
				if c.Verbose {
					io.WriteString(errw, text)
				}
			case !exited:
				// vminit starts the exit marker on a new line; hold a
				// bare newline back until we know it is not that one.
				if text == "\n" {
					if heldNewline {
						io.WriteString(out, "\n")
					}
					heldNewline = true
					continue
				}
				if heldNewline {
					io.WriteString(out, "\n")
					heldNewline = false
				}
				io.WriteString(out, text)
			default:
				tail.WriteString(text)
				if c.Verbose {
					io.WriteString(errw, text)
				}
			}
		}
		if rerr == bufio.ErrBufferFull {
			continue
		}
		if rerr != nil {
			break
		}
	}
	wg.Wait()
	werr := cmd.Wait()
	res.Total = time.Since(start)

	mu.Lock()
	why := reason
	mu.Unlock()

	var err2 error
	switch {
	case panicked:
		err2 = ErrKernelPanic
	case why != nil && !exited:
		err2 = why
	case exited && bug:
		err2 = ErrKernelBug
	case !exited:
		err2 = fmt.Errorf("%w (QEMU: %v)", ErrNoExitMarker, werr)
	}
	if err2 != nil {
		if !c.Verbose {
			if !started {
				fmt.Fprintf(errw, "vmtest: kernel log before the payload started:\n%s", bootLog.String())
			} else if tail.Len() > 0 {
				fmt.Fprintf(errw, "vmtest: kernel log after the payload:\n%s", tail.String())
			}
		}
		return res, fmt.Errorf("%w (kernel %s, %s, %.1fs)", err2, c.Kernel.Name, accel, res.Total.Seconds())
	}
	if res.ExitCode == exitInfra && !started {
		fmt.Fprintf(errw, "vmtest: /init failed before starting the payload:\n%s", bootLog.String())
	}
	return res, nil
}

// kernelPanic matches the kernel's panic line.
var kernelPanic = regexp.MustCompile(`^(\[ *[0-9]+\.[0-9]+\] )?Kernel panic - not syncing`)

// kernelBug matches the first line of a kernel Oops or BUG report, with or
// without the printk timestamp.
var kernelBug = regexp.MustCompile(`^(\[ *[0-9]+\.[0-9]+\] )?(BUG: |Oops: |general protection fault)`)

// exitInfra is what vminit reports when it could not start the payload.
const exitInfra = 125

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// limitedBuffer keeps the last max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) WriteString(s string) {
	b.Buffer.WriteString(s)
	if over := b.Len() - b.max; b.max > 0 && over > 0 {
		b.Next(over)
	}
}

// resolveAccel turns c.Accel into "tcg" or "kvm".
func resolveAccel(ctx context.Context, c *Config) (string, error) {
	switch c.Accel {
	case "tcg", "kvm":
		return c.Accel, nil
	case "", "auto":
	default:
		return "", fmt.Errorf("vmtest: accelerator %q: want tcg, kvm or auto", c.Accel)
	}
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return "tcg", nil
	}
	f.Close()

	// /dev/kvm can be a hypervisor that only runs special guests (PVM):
	// boot this kernel once under KVM and remember the answer for this
	// host boot.
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	key := strings.TrimSpace(string(bootID)) + " " + c.Kernel.Image
	dir := filepath.Join(c.cache(), "vmtest")
	probeFile := filepath.Join(dir, "kvm-probe")
	if b, err := os.ReadFile(probeFile); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "\t"); ok && k == key {
				return v, nil
			}
		}
	}
	pc := *c
	pc.Timeout = 60 * time.Second
	pc.Stdout, pc.Stderr, pc.Verbose = nil, nil, false
	accel := "tcg"
	if res, err := boot(ctx, &pc, "kvm", &Payload{}); err == nil && res.ExitCode == 0 {
		accel = "kvm"
	} else if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if f, err := os.OpenFile(probeFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "%s\t%s\n", key, accel)
			f.Close()
		}
	}
	return accel, nil
}
