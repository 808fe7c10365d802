package selftest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devmem-go/devmem/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestGuest checks what the runner promises a test inside the VM.
func TestGuest(t *testing.T) {
	if !testutil.InVM() {
		t.Skip("runs only inside the VM runner (make vmtest)")
	}
	kernel := testutil.VMKernel()
	t.Logf("kernel %s", kernel)

	t.Run("cwd", func(t *testing.T) {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(filepath.ToSlash(wd), "/internal/vmtest/selftest") {
			t.Errorf("working directory %q, want the package directory", wd)
		}
		if _, err := os.Stat("doc.go"); err != nil {
			t.Errorf("package files not copied: %v", err)
		}
		b, err := os.ReadFile("testdata/hello.txt")
		if err != nil {
			t.Fatalf("testdata not copied: %v", err)
		}
		if got, want := string(b), "hello from testdata\n"; got != want {
			t.Errorf("testdata/hello.txt = %q, want %q", got, want)
		}
	})

	t.Run("env", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Errorf("uid %d, want 0", os.Getuid())
		}
		for k, want := range map[string]string{
			"TMPDIR": "/tmp",
			"HOME":   "/root",
			// Set by `make vmtest` on the host, forwarded by vmrun.
			"VMTEST_SELFTEST_FORWARD": os.Getenv("VMTEST_SELFTEST_FORWARD"),
		} {
			if got := os.Getenv(k); got != want {
				t.Errorf("$%s = %q, want %q", k, got, want)
			}
		}
		if os.Getenv("SELFTEST_NOT_FORWARDED") != "" {
			t.Errorf("a host variable that is not VMTEST_*/DEVMEM_* leaked into the guest")
		}
		// Flags after the binary reach it.
		if v := flagValue("test.count"); v != "" && v != "1" {
			t.Logf("test.count=%s", v)
		}
	})

	t.Run("mounts", func(t *testing.T) {
		b, err := os.ReadFile("/proc/mounts")
		if err != nil {
			t.Fatal(err)
		}
		wd, _ := os.Getwd()
		for _, fs := range []string{"proc /proc", "sysfs /sys", "devtmpfs /dev", "tmpfs /tmp", "tmpfs /run", "debugfs /sys/kernel/debug"} {
			if fs == "tmpfs /tmp" && strings.HasPrefix(wd, "/tmp/") {
				// vminit keeps the package directory it placed
				// under /tmp visible instead of mounting over it.
				continue
			}
			if !bytes.Contains(b, []byte(fs+" ")) {
				t.Errorf("%s not mounted; /proc/mounts:\n%s", fs, b)
			}
		}
		f, err := os.CreateTemp("", "w")
		if err != nil {
			t.Fatalf("temp dir not writable: %v", err)
		}
		f.Close()
		os.Remove(f.Name())
	})

	t.Run("loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp", "localhost:0")
		if err != nil {
			t.Fatalf("listen on localhost: %v", err)
		}
		defer ln.Close()
		done := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, err = c.Write([]byte("ok"))
				c.Close()
			}
			done <- err
		}()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
			t.Errorf("read %q, %v; want \"ok\"", buf, err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
		ln6, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Errorf("listen on ::1: %v", err)
		} else {
			ln6.Close()
		}
	})

	t.Run("devices", func(t *testing.T) {
		want := []string{"/dev/null", "/dev/udmabuf"}
		switch {
		case strings.HasPrefix(kernel, "stock-"):
			// Debian kernels: veth is a module the runner loads; the
			// system dma-heap is built in.
			want = append(want, "/sys/module/veth", "/dev/dma_heap/system")
		case kernel == "devmem-7.2":
			want = append(want, "/sys/bus/netdevsim/new_device", "/dev/dma_heap/system")
		}
		for _, p := range want {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("kernel %s: %v", kernel, err)
			}
		}
		var uts unix.Utsname
		if err := unix.Uname(&uts); err != nil {
			t.Fatal(err)
		}
		release := unix.ByteSliceToString(uts.Release[:])
		t.Logf("uname -r: %s", release)
		for prefix, ver := range map[string]string{"stock-7.2": "7.2.", "stock-6.12": "6.12.", "devmem-7.2": "7.2."} {
			if kernel == prefix && !strings.HasPrefix(release, ver) {
				t.Errorf("kernel %s booted release %q", kernel, release)
			}
		}
	})
}

func flagValue(name string) string {
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestSelftestFail fails on purpose when VMTEST_SELFTEST_FAIL=1: the runner
// must turn it into a failing `go test`.
func TestSelftestFail(t *testing.T) {
	if os.Getenv("VMTEST_SELFTEST_FAIL") != "1" {
		t.Skip("set VMTEST_SELFTEST_FAIL=1 to check that a failing test in the VM fails the run")
	}
	t.Fatalf("deliberate failure (VMTEST_SELFTEST_FAIL=1, in VM: %v)", testutil.InVM())
}

// TestSelftestMode misbehaves as $VMTEST_SELFTEST says, for the runner's
// host tests: "hang" never returns, "poweroff" turns the machine off without
// letting /init report, "panic" crashes the kernel. Only inside the VM.
func TestSelftestMode(t *testing.T) {
	mode := os.Getenv("VMTEST_SELFTEST")
	if mode == "" {
		t.Skip("set VMTEST_SELFTEST=hang|poweroff|panic (inside the VM runner)")
	}
	if !testutil.InVM() {
		t.Skipf("VMTEST_SELFTEST=%s only inside the VM runner", mode)
	}
	switch mode {
	case "hang":
		// Not select{}: the runtime would call that a deadlock and exit.
		for {
			time.Sleep(time.Hour)
		}
	case "poweroff":
		unix.Sync()
		if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
			t.Fatal(err)
		}
	case "panic":
		if err := os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("VMTEST_SELFTEST=%q: want hang, poweroff or panic", mode)
	}
	// The machine is going down.
	for {
		time.Sleep(time.Hour)
	}
}
