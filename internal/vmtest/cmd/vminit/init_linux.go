package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/devmem-go/devmem/internal/vmtest"
	"golang.org/x/sys/unix"
)

// exitInfra is the code reported when /init itself fails (config, modules):
// the payload never ran.
const exitInfra = 125

var console *os.File = os.Stdout

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vminit: must run as PID 1 (the /init of the VM test runner's initramfs)")
		os.Exit(2)
	}
	var cfg vmtest.GuestConfig
	code := run(&cfg)
	powerOff(cfg.Nonce, code)
}

// run sets the machine up and runs the payload; it returns the exit code to
// report.
func run(cfg *vmtest.GuestConfig) int {
	setupMounts()
	setupConsole()

	b, err := os.ReadFile(vmtest.ConfigPath)
	if err != nil {
		logf("reading config: %v", err)
		return exitInfra
	}
	if err := json.Unmarshal(b, cfg); err != nil {
		logf("parsing %s: %v", vmtest.ConfigPath, err)
		return exitInfra
	}
	verbose = cfg.Verbose
	debugf("config read")
	if err := linkUp("lo"); err != nil {
		logf("bringing lo up: %v", err)
		return exitInfra
	}
	writeEtc()
	if err := loadModules(cfg.Modules); err != nil {
		logf("%v", err)
		return exitInfra
	}
	debugf("modules loaded")
	if cfg.Path == "" {
		// Boot probe: nothing to run.
		return 0
	}

	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"USER=root",
		"LOGNAME=root",
		"TMPDIR=/tmp",
		"LANG=C.UTF-8",
		vmtest.EnvInVM + "=" + cfg.Kernel,
	}
	env = append(env, cfg.Env...)
	dir := cfg.Dir
	if dir == "" {
		dir = "/root"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("creating working directory: %v", err)
		return exitInfra
	}

	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = console
	cmd.Stderr = console
	// Stdin stays nil: /dev/null.
	fmt.Fprintf(console, "\n%s\n", vmtest.StartMarker(cfg.Nonce))
	debugf("starting payload")
	err = cmd.Run()
	debugf("payload exited")
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			logf("payload killed by signal %v", ws.Signal())
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		logf("starting payload: %v", err)
		return exitInfra
	}
}

var verbose bool

// debugf logs a step with the guest's uptime when the host asked for it.
func debugf(format string, args ...any) {
	if !verbose {
		return
	}
	up, _ := os.ReadFile("/proc/uptime")
	t, _, _ := strings.Cut(string(up), " ")
	logf("[%ss] "+format, append([]any{t}, args...)...)
}

func logf(format string, args ...any) {
	fmt.Fprintf(console, "vminit: "+format+"\n", args...)
}

func setupMounts() {
	type mnt struct {
		src, dst, fstype string
		flags            uintptr
		data             string
		optional         bool
	}
	const nodev = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, m := range []mnt{
		{"proc", "/proc", "proc", nodev, "", false},
		{"sysfs", "/sys", "sysfs", nodev, "", false},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", false},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "ptmxmode=0666", true},
		{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", true},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", false},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", false},
		{"debugfs", "/sys/kernel/debug", "debugfs", nodev, "", true},
		{"hugetlbfs", "/dev/hugepages", "hugetlbfs", unix.MS_NOSUID | unix.MS_NODEV, "", true},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil && !m.optional {
			logf("mkdir %s: %v", m.dst, err)
		}
		if m.fstype == "tmpfs" && !isEmptyDir(m.dst) {
			// The initramfs already put files here (a package
			// directory under /tmp, as in a CI checkout in /tmp):
			// a tmpfs would hide them. The root file system is
			// writable memory already, so keep it.
			if err := os.Chmod(m.dst, 0o1777); err != nil {
				logf("chmod %s: %v", m.dst, err)
			}
			continue
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil && !m.optional {
			logf("mount %s on %s: %v", m.fstype, m.dst, err)
		}
	}
	for name, target := range map[string]string{
		"/dev/fd":     "/proc/self/fd",
		"/dev/stdin":  "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1",
		"/dev/stderr": "/proc/self/fd/2",
		"/dev/ptmx":   "pts/ptmx",
	} {
		if _, err := os.Lstat(name); err != nil {
			_ = os.Symlink(target, name)
		}
	}
}

// isEmptyDir reports whether dir has no entries (or cannot be read).
func isEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return true
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) == 0
}

// setupConsole makes fds 0-2 point at /dev/console when the kernel could
// not open it for us.
func setupConsole() {
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		_ = unix.Dup3(fd, i, 0)
	}
	_ = unix.Close(fd)
	console = os.NewFile(1, "/dev/console")
}

func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func writeEtc() {
	files := map[string]string{
		"/etc/hosts":         "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"/etc/passwd":        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"/etc/group":         "root:x:0:\nnogroup:x:65534:\n",
		"/etc/nsswitch.conf": "hosts: files dns\npasswd: files\ngroup: files\n",
		"/etc/hostname":      "vmtest\n",
	}
	_ = os.MkdirAll("/etc", 0o755)
	_ = os.MkdirAll("/root", 0o700)
	for name, data := range files {
		if _, err := os.Stat(name); err == nil {
			continue
		}
		_ = os.WriteFile(name, []byte(data), 0o644)
	}
	_ = unix.Sethostname([]byte("vmtest"))
}

// loadModules loads mods in order. The list is in dependency order already
// (the kernel fetch script resolves .modinfo depends=); modules that fail
// are retried after the others as long as some load, in case the order is
// off.
func loadModules(mods []string) error {
	pending := mods
	var errs []error
	for len(pending) > 0 {
		var again []string
		errs = errs[:0]
		for _, m := range pending {
			if err := loadModule(m); err != nil {
				again = append(again, m)
				errs = append(errs, err)
			}
		}
		if len(again) == len(pending) {
			return fmt.Errorf("loading modules: %w", errors.Join(errs...))
		}
		pending = again
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	switch filepath.Ext(path) {
	case ".xz", ".zst", ".gz":
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: %w", strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), err)
	}
	return nil
}

// powerOff reports code, flushes everything and turns the machine off. It
// never returns: PID 1 exiting would panic the kernel.
func powerOff(nonce string, code int) {
	unix.Sync()
	fmt.Fprintf(console, "\n%s\n", vmtest.ExitMarker(nonce, code))
	// Wait until the UART has sent everything (tcdrain).
	_ = unix.IoctlSetInt(int(console.Fd()), unix.TCSBRK, 1)
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	logf("power off: %v", err)
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_HALT)
	for {
		time.Sleep(time.Hour)
	}
}
