package vmtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a fake QEMU (VMTEST_FAKE_QEMU=mode) that
// reads the nonce from the initramfs it is given and plays a guest, so the
// runner's handling of every outcome is tested in milliseconds. The real
// thing is TestIntegrationRunner.
func TestMain(m *testing.M) {
	if mode := os.Getenv("VMTEST_FAKE_QEMU"); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

var nonceRE = regexp.MustCompile(`"nonce":"([0-9a-f]+)"`)

func fakeQEMU(mode string, args []string) int {
	var initrd string
	for i, a := range args {
		if a == "-initrd" && i+1 < len(args) {
			initrd = args[i+1]
		}
	}
	b, err := os.ReadFile(initrd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake qemu:", err)
		return 1
	}
	var all bytes.Buffer
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		if c, _ := r.ReadByte(); c == 0 {
			continue
		}
		r.UnreadByte()
		zr, err := gzip.NewReader(r)
		if err != nil {
			break
		}
		zr.Multistream(false)
		io.Copy(&all, zr)
	}
	m := nonceRE.FindSubmatch(all.Bytes())
	if m == nil {
		fmt.Fprintln(os.Stderr, "fake qemu: no nonce in the initramfs")
		return 1
	}
	nonce := string(m[1])
	out := func(s string) { os.Stdout.WriteString(strings.ReplaceAll(s, "\n", "\r\n")) }
	hang := func() int { time.Sleep(time.Hour); return 0 }

	out("[    0.000000] Linux version 0.0 (fake)\n")
	if mode == "kvm" {
		fmt.Fprintln(os.Stderr, "KVM internal error. Suberror: 1")
		return hang()
	}
	if mode == "probe" {
		out("\n" + ExitMarker(nonce, 0) + "\n")
		return 0
	}
	out("vminit: boot noise\n\n" + StartMarker(nonce) + "\n")
	switch mode {
	case "pass", "code":
		out("hello\n\nworld\n")
		code := 0
		if mode == "code" {
			code = 3
		}
		out("\n" + ExitMarker(nonce, code) + "\n[    1.000000] reboot: Power down\n")
	case "partial":
		out("no newline at the end")
		out("\n" + ExitMarker(nonce, 0) + "\n")
	case "args":
		out(strings.Join(args, " ") + "\n")
		out("\n" + ExitMarker(nonce, 0) + "\n")
	case "panic":
		out("[    1.000000] Kernel panic - not syncing: fake\n")
	case "panichang":
		out("[    1.000000] Kernel panic - not syncing: fake\n")
		return hang()
	case "oops":
		out("[    1.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n")
		out("\n" + ExitMarker(nonce, 0) + "\n")
	case "nomarker":
		out("bye\n")
	case "hang":
		return hang()
	case "noexit":
		out("\n" + ExitMarker(nonce, 0) + "\n")
		return hang()
	}
	return 0
}

func TestRunFake(t *testing.T) {
	oldExit, oldPanic := exitGrace, panicGrace
	exitGrace, panicGrace = 200*time.Millisecond, 200*time.Millisecond
	t.Cleanup(func() { exitGrace, panicGrace = oldExit, oldPanic })

	tmp := t.TempDir()
	init := filepath.Join(tmp, "init")
	writeFile(t, init, "init")
	img := filepath.Join(tmp, "bzImage")
	writeFile(t, img, "kernel")
	payload := filepath.Join(tmp, "payload")
	writeFile(t, payload, "payload")

	for _, tt := range []struct {
		mode    string
		timeout time.Duration
		code    int
		err     error
		stdout  string
		stderr  string
	}{
		{mode: "pass", stdout: "hello\n\nworld\n"},
		{mode: "code", code: 3, stdout: "hello\n\nworld\n"},
		// The newline before the exit marker ends the payload's last line.
		{mode: "partial", stdout: "no newline at the end\n"},
		// The kernel's messages while the payload runs go with its output.
		{mode: "panic", err: ErrKernelPanic, stdout: "Kernel panic - not syncing: fake"},
		{mode: "panichang", err: ErrKernelPanic},
		{mode: "oops", err: ErrKernelBug, stdout: "BUG: kernel NULL pointer"},
		{mode: "nomarker", err: ErrNoExitMarker, stdout: "bye\n"},
		{mode: "hang", timeout: 300 * time.Millisecond, err: ErrTimeout},
		{mode: "noexit"},
		{mode: "kvm", err: ErrKVM, stderr: "qemu: KVM internal error"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			t.Setenv("VMTEST_FAKE_QEMU", tt.mode)
			var stdout, stderr bytes.Buffer
			c := &Config{
				Kernel:  &Kernel{Name: "fake", Image: img},
				Init:    init,
				Cache:   tmp,
				QEMU:    os.Args[0],
				Timeout: tt.timeout,
				Stdout:  &stdout,
				Stderr:  &stderr,
			}
			start := time.Now()
			res, err := boot(context.Background(), c, "tcg", &Payload{Path: payload, Dir: tmp})
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v; stderr:\n%s", err, tt.err, stderr.String())
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("took %v", elapsed)
			}
			if err == nil && res.ExitCode != tt.code {
				t.Errorf("exit code %d, want %d", res.ExitCode, tt.code)
			}
			if tt.stdout != "" && tt.err == nil && stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want exactly %q (no boot noise, no marker)", stdout.String(), tt.stdout)
			}
			if tt.stdout != "" && !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.stdout)
			}
			if tt.stderr != "" && !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
			if strings.Contains(stdout.String(), "VMTEST-") || strings.Contains(stdout.String(), "boot noise") {
				t.Errorf("markers or boot log leaked into stdout: %q", stdout.String())
			}
		})
	}

	t.Run("cmdline", func(t *testing.T) {
		t.Setenv("VMTEST_FAKE_QEMU", "args")
		var stdout bytes.Buffer
		c := &Config{
			Kernel: &Kernel{Name: "fake", Image: img}, Init: init, Cache: tmp, QEMU: os.Args[0],
			Append: "foo=bar", QEMUArgs: []string{"-device", "x"}, Stdout: &stdout,
		}
		if _, err := boot(context.Background(), c, "tcg", &Payload{Path: payload}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"-accel tcg -cpu max", "-m 1024 -smp 1", "-kernel " + img,
			"console=ttyS0 panic=-1 quiet nowatchdog workqueue.watchdog_thresh=0 foo=bar", "-no-reboot", "-device x"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("QEMU command line %q lacks %q", stdout.String(), want)
			}
		}
	})

	t.Run("probe", func(t *testing.T) {
		dev := filepath.Join(tmp, "kvm")
		writeFile(t, dev, "")
		old := kvmDevice
		kvmDevice = dev
		t.Cleanup(func() { kvmDevice = old })
		c := &Config{Kernel: &Kernel{Name: "fake", Image: img}, Init: init, Cache: tmp, QEMU: os.Args[0]}

		t.Setenv("VMTEST_FAKE_QEMU", "kvm")
		if a, err := resolveAccel(context.Background(), c); err != nil || a != "tcg" {
			t.Fatalf("KVM that fails: accel %q, %v; want tcg", a, err)
		}
		// Remembered: no second probe, even if KVM would work now.
		t.Setenv("VMTEST_FAKE_QEMU", "probe")
		if a, _ := resolveAccel(context.Background(), c); a != "tcg" {
			t.Errorf("probe not cached: %q", a)
		}
		os.Remove(filepath.Join(tmp, "vmtest", "kvm-probe"))
		if a, err := resolveAccel(context.Background(), c); err != nil || a != "kvm" {
			t.Errorf("KVM that works: accel %q, %v; want kvm", a, err)
		}
		kvmDevice = filepath.Join(tmp, "nonexistent")
		if a, _ := resolveAccel(context.Background(), c); a != "tcg" {
			t.Errorf("no /dev/kvm: %q, want tcg", a)
		}
		c.Accel = "kvm"
		if a, _ := resolveAccel(context.Background(), c); a != "kvm" {
			t.Errorf("explicit kvm: %q", a)
		}
		c.Accel = "hvf"
		if _, err := resolveAccel(context.Background(), c); err == nil {
			t.Error("unknown accelerator accepted")
		}
	})
}

// TestIntegrationRunner boots real VMs through vmrun, as `go test -exec`
// does, with the selftest package's test binary: a passing payload exits 0,
// a failing one exits 1, a hang, a power-off without report and a kernel
// panic are reported as VM failures (125).
func TestIntegrationRunner(t *testing.T) {
	if testing.Short() {
		t.Skip("boots VMs; skipped with -short")
	}
	if os.Getenv(EnvInVM) != "" {
		t.Skip("already inside the VM")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("needs qemu-system-x86_64 (apt-get install qemu-system-x86)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build the runner")
	}
	kernel := os.Getenv("VMTEST_KERNEL")
	if kernel == "" {
		kernel = DefaultKernel
	}
	if _, err := FindKernel(CacheDir(), kernel); err != nil {
		t.Skipf("needs a kernel: %v", err)
	}

	tmp := t.TempDir()
	build := exec.Command(goBin, "build", "-o", tmp+"/", "./cmd/vmrun", "./cmd/vminit")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building vmrun and vminit: %v\n%s", err, out)
	}
	selftest := filepath.Join(tmp, "selftest.test")
	build = exec.Command(goBin, "test", "-c", "-o", selftest, "./selftest")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the selftest binary: %v\n%s", err, out)
	}
	pkgDir, err := filepath.Abs("selftest")
	if err != nil {
		t.Fatal(err)
	}

	// vmrun runs like go test -exec runs it: in the package directory, the
	// test binary and its flags as arguments.
	vmrun := func(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
		var o, e bytes.Buffer
		cmd := exec.Command(filepath.Join(tmp, "vmrun"), args...)
		cmd.Dir = pkgDir
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "VMTEST_") || strings.HasPrefix(kv, "VMTEST_ACCEL=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "VMTEST_KERNEL="+kernel)
		cmd.Env = append(cmd.Env, env...)
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("running vmrun: %v", err)
		}
		return cmd.ProcessState.ExitCode(), o.String(), e.String()
	}

	for _, tt := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{
			name: "pass",
			env:  []string{"VMTEST_SELFTEST_FORWARD=forwarded", "SELFTEST_NOT_FORWARDED=1"},
			args: []string{selftest, "-test.v", "-test.count=1"},
			code: 0, stdout: []string{"--- PASS: TestGuest", "--- PASS: TestGuest/devices", "\nPASS\n"},
		},
		{
			name: "fail",
			env:  []string{"VMTEST_SELFTEST_FAIL=1"},
			args: []string{selftest, "-test.run=TestSelftestFail"},
			code: 1, stdout: []string{"deliberate failure (VMTEST_SELFTEST_FAIL=1, in VM: true)", "FAIL"},
		},
		{
			name: "hang",
			env:  []string{"VMTEST_SELFTEST=hang", "VMTEST_TIMEOUT=45s"},
			args: []string{selftest, "-test.v", "-test.run=TestSelftestMode"},
			code: 125, stdout: []string{"=== RUN   TestSelftestMode"}, stderr: []string{"timed out after 45s"},
		},
		{
			name: "poweroff",
			env:  []string{"VMTEST_SELFTEST=poweroff"},
			args: []string{selftest, "-test.v", "-test.run=TestSelftestMode"},
			code: 125, stdout: []string{"=== RUN   TestSelftestMode"}, stderr: []string{"without reporting"},
		},
		{
			name: "panic",
			env:  []string{"VMTEST_SELFTEST=panic"},
			args: []string{selftest, "-test.v", "-test.run=TestSelftestMode"},
			code: 125, stderr: []string{"kernel panicked"},
		},
		{
			name: "dynamic",
			args: []string{"/bin/true"},
			code: 125, stderr: []string{"CGO_ENABLED=0"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			code, stdout, stderr := vmrun(t, tt.env, tt.args...)
			t.Logf("%s: exit %d in %.1fs", tt.name, code, time.Since(start).Seconds())
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}
