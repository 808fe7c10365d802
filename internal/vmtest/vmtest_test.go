package vmtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseExitMarker(t *testing.T) {
	const nonce = "00ff"
	for _, tt := range []struct {
		line string
		code int
		ok   bool
	}{
		{"VMTEST-EXIT 00ff 0\n", 0, true},
		{"VMTEST-EXIT 00ff 1\r\n", 1, true},
		{"VMTEST-EXIT 00ff 255", 255, true},
		{"partial line without newlineVMTEST-EXIT 00ff 3\n", 3, true},
		{"VMTEST-EXIT 00fe 0\n", 0, false}, // another run's nonce
		{"VMTEST-EXIT 00ff\n", 0, false},
		{"VMTEST-EXIT 00ff x\n", 0, false},
		{"VMTEST-EXIT 00ff 256\n", 0, false},
		{"VMTEST-EXIT 00ff -1\n", 0, false},
		{"PASS\n", 0, false},
	} {
		code, ok := ParseExitMarker(tt.line, nonce)
		if code != tt.code || ok != tt.ok {
			t.Errorf("ParseExitMarker(%q) = %d, %v; want %d, %v", tt.line, code, ok, tt.code, tt.ok)
		}
	}
	for code := range 256 {
		if got, ok := ParseExitMarker(ExitMarker(nonce, code)+"\n", nonce); !ok || got != code {
			t.Fatalf("round trip of %d: %d, %v", code, got, ok)
		}
	}
}

func TestForwardEnv(t *testing.T) {
	for kv, want := range map[string]bool{
		"VMTEST_SELFTEST_FAIL=1": true,
		"DEVMEM_NIC=eth0":        true,
		"GOTRACEBACK=all":        true,
		"GODEBUG=x=1":            true,
		"DEVMEM_VMTEST=other":    false, // set by vminit
		"DEVMEM_CACHE=/x":        false, // a host path
		"PATH=/usr/bin":          false,
		"HOME=/root":             false,
		"VMTEST":                 false,
		"XVMTEST_A=1":            false,
	} {
		if got := ForwardEnv(kv); got != want {
			t.Errorf("ForwardEnv(%q) = %v, want %v", kv, got, want)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindKernel(t *testing.T) {
	cache := t.TempDir()
	if _, err := FindKernel(cache, "stock-7.2"); err == nil || !strings.Contains(err.Error(), "make kernels") ||
		!errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing kernel: %v, want an os.ErrNotExist that says to run make kernels", err)
	}

	dir := filepath.Join(cache, "kernels", "stock-7.2")
	writeFile(t, filepath.Join(dir, "bzImage"), "kernel")
	writeFile(t, filepath.Join(dir, "vmlinux"), "not an ELF file") // ignored: no PVH entry
	writeFile(t, filepath.Join(dir, "modules", "failover.ko.xz"), "m1")
	writeFile(t, filepath.Join(dir, "modules", "net_failover.ko.xz"), "m2")
	writeFile(t, filepath.Join(dir, "modules", "modules.load"), "# deps first\nfailover.ko.xz\n\nnet_failover.ko.xz\n")
	k, err := FindKernel(cache, "stock-7.2")
	if err != nil {
		t.Fatal(err)
	}
	want := &Kernel{
		Name:  "stock-7.2",
		Image: filepath.Join(dir, "bzImage"),
		Modules: []string{
			filepath.Join(dir, "modules", "failover.ko.xz"),
			filepath.Join(dir, "modules", "net_failover.ko.xz"),
		},
	}
	if diff := cmp.Diff(want, k); diff != "" {
		t.Errorf("FindKernel (-want +got):\n%s", diff)
	}

	// By path: the image's name, no modules.
	img := filepath.Join(t.TempDir(), "my-bzImage")
	writeFile(t, img, "kernel")
	k, err = FindKernel(cache, img)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Kernel{Name: "my-bzImage", Image: img}, k); diff != "" {
		t.Errorf("FindKernel(path) (-want +got):\n%s", diff)
	}

	// A listed module that is missing is an error, not a silent skip.
	writeFile(t, filepath.Join(dir, "modules", "modules.load"), "veth.ko.xz\n")
	if _, err := FindKernel(cache, "stock-7.2"); err == nil {
		t.Error("FindKernel with a missing listed module succeeded")
	}
}

// entry is one newc archive member as the kernel's unpacker sees it.
type entry struct {
	Name         string
	Mode         uint32
	RMajor, RMin uint32
	Data         string
}

// parseInitramfs decodes a sequence of gzip'd newc archives the way the
// kernel does (archives back to back, zero padding between them).
func parseInitramfs(t *testing.T, b []byte) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	// A bytes.Reader is an io.ByteReader, so gzip reads exactly one member
	// from it and leaves it positioned at the next.
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		c, _ := r.ReadByte()
		if c == 0 {
			continue
		}
		r.UnreadByte()
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip member at %d: %v", len(b)-r.Len(), err)
		}
		zr.Multistream(false)
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		parseNewc(t, raw, out)
	}
	return out
}

func parseNewc(t *testing.T, b []byte, out map[string]entry) {
	t.Helper()
	off := 0
	hex := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("newc header at %d: %v", off, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off+110 <= len(b) {
		if string(b[off:off+6]) != "070701" {
			if b[off] == 0 {
				off++
				continue
			}
			t.Fatalf("bad newc magic at %d: %q", off, b[off:off+6])
		}
		if off%4 != 0 {
			t.Fatalf("newc header at unaligned offset %d", off)
		}
		mode, size, namesize := hex(1), int(hex(6)), int(hex(11))
		rmaj, rmin := hex(9), hex(10)
		name := string(b[off+110 : off+110+namesize-1])
		data := align(off + 110 + namesize)
		end := data + size
		if name != "TRAILER!!!" {
			out[name] = entry{Name: name, Mode: mode, RMajor: rmaj, RMin: rmin, Data: string(b[data:end])}
		}
		off = align(end)
	}
}

func TestInitramfs(t *testing.T) {
	tmp := t.TempDir()
	init := filepath.Join(tmp, "vminit")
	writeFile(t, init, "init program")
	mod := filepath.Join(tmp, "veth.ko.xz")
	writeFile(t, mod, "module")
	bin := filepath.Join(tmp, "pkg.test")
	writeFile(t, bin, "test binary")
	pkg := filepath.Join(tmp, "src", "pkg")
	writeFile(t, filepath.Join(pkg, "a.go"), "package pkg")
	writeFile(t, filepath.Join(pkg, "testdata", "in.txt"), "input")
	writeFile(t, filepath.Join(pkg, "testdata", "sub", "deep.txt"), "deep")
	writeFile(t, filepath.Join(pkg, "subpkg", "b.go"), "package subpkg") // not copied
	if err := os.Symlink("in.txt", filepath.Join(pkg, "testdata", "link")); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := writeBase(&buf, init, []string{mod}); err != nil {
		t.Fatal(err)
	}
	for buf.Len()%4 != 0 {
		buf.WriteByte(0)
	}
	cfg := GuestConfig{Nonce: "abc", Kernel: "k", Args: []string{"-test.v"}}
	if err := writePayload(&buf, &cfg, bin, pkg); err != nil {
		t.Fatal(err)
	}
	got := parseInitramfs(t, buf.Bytes())

	rel := strings.TrimPrefix(pkg, "/")
	const (
		dir  = 0o040000
		reg  = 0o100000
		chr  = 0o020000
		link = 0o120000
	)
	want := map[string]entry{
		"dev":                               {Mode: dir | 0o755},
		"dev/console":                       {Mode: chr | 0o600, RMajor: 5, RMin: 1},
		"init":                              {Mode: reg | 0o755, Data: "init program"},
		"vmtest/modules/veth.ko.xz":         {Mode: reg | 0o644, Data: "module"},
		"vmtest/bin/pkg.test":               {Mode: reg | 0o755, Data: "test binary"},
		rel + "/a.go":                       {Mode: reg | 0o644, Data: "package pkg"},
		rel + "/testdata/in.txt":            {Mode: reg | 0o644, Data: "input"},
		rel + "/testdata/sub/deep.txt":      {Mode: reg | 0o644, Data: "deep"},
		rel + "/testdata/link":              {Mode: link | 0o777, Data: "in.txt"},
		strings.TrimPrefix(ConfigPath, "/"): {},
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("initramfs lacks %s", name)
			continue
		}
		if name == strings.TrimPrefix(ConfigPath, "/") {
			continue
		}
		w.Name = name
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	for name, e := range got {
		if strings.Contains(name, "subpkg") {
			t.Errorf("subdirectory copied: %s", name)
		}
		// Every parent directory comes before use, as a directory.
		if p := filepath.Dir(name); p != "." {
			if d, ok := got[p]; !ok || d.Mode&0o170000 != dir {
				t.Errorf("%s: parent %s missing or not a directory", name, p)
			}
		}
		_ = e
	}

	var gc GuestConfig
	if err := json.Unmarshal([]byte(got[strings.TrimPrefix(ConfigPath, "/")].Data), &gc); err != nil {
		t.Fatal(err)
	}
	wantCfg := GuestConfig{Nonce: "abc", Kernel: "k", Path: "/vmtest/bin/pkg.test", Args: []string{"-test.v"}, Dir: pkg}
	if diff := cmp.Diff(wantCfg, gc); diff != "" {
		t.Errorf("guest config (-want +got):\n%s", diff)
	}
}

func TestCheckStatic(t *testing.T) {
	for _, p := range []string{"/bin/true", "/bin/sh"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := checkStatic(p); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("checkStatic(%s) = %v, want a dynamically-linked error naming CGO_ENABLED=0", p, err)
		}
	}
	notELF := filepath.Join(t.TempDir(), "script")
	writeFile(t, notELF, "#!/bin/sh\n")
	if err := checkStatic(notELF); err == nil {
		t.Error("checkStatic accepted a shell script")
	}
}

func TestLimitedBuffer(t *testing.T) {
	b := limitedBuffer{max: 8}
	for i := range 10 {
		b.WriteString(fmt.Sprint(i))
	}
	b.WriteString("abcdef")
	if got := b.String(); got != "89abcdef" {
		t.Errorf("kept %q, want the last 8 bytes", got)
	}
}

func TestPruneBases(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i := range 5 {
		p := filepath.Join(dir, fmt.Sprintf("base-%d.cpio.gz", i))
		writeFile(t, p, "x")
		mt := now.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "kvm-probe"), "x")
	pruneBases(dir, 2)
	var got []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff([]string{"base-3.cpio.gz", "base-4.cpio.gz", "kvm-probe"}, got); diff != "" {
		t.Errorf("after pruning (-want +got):\n%s", diff)
	}
}
