package reliability_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/internal/testutil"
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/udmabuf"
	"golang.org/x/sys/unix"
)

// The privilege tests re-execute the test binary as a child process without
// CAP_NET_ADMIN over the host's network namespace; the child (childMain)
// makes the calls and reports their errors as JSON on stdout.
const (
	childEnv       = "RELIABILITY_CHILD"        // set in the child: the scenario
	childIfaceEnv  = "RELIABILITY_CHILD_IFACE"  // a device with ring parameters (netdevsim), if any
	childDMABufEnv = "RELIABILITY_CHILD_DMABUF" // set when ExtraFiles[0] (fd 3) is a dma-buf
	childDMABufFD  = 3
)

// childResult is one call the child made.
type childResult struct {
	Call         string
	Err          string // "" on success
	Permission   bool   // errors.Is(err, os.ErrPermission)
	NotSupported bool   // errors.Is(err, netdev.ErrNotSupported)
	NotExist     bool   // errors.Is(err, os.ErrNotExist)
	Skipped      string // why the call was not made
	Note         string // what else was observed
}

// childMain runs in the re-executed binary: it checks that it really lacks
// CAP_NET_ADMIN, then makes every privileged call and the copy fallback.
func childMain() int {
	var res []childResult
	add := func(call string, err error, note string) {
		r := childResult{Call: call, Note: note}
		if err != nil {
			r.Err = err.Error()
			r.Permission = errors.Is(err, os.ErrPermission)
			r.NotSupported = errors.Is(err, netdev.ErrNotSupported)
			r.NotExist = errors.Is(err, os.ErrNotExist)
		}
		res = append(res, r)
	}
	skip := func(call, why string) { res = append(res, childResult{Call: call, Skipped: why}) }
	defer func() { _ = json.NewEncoder(os.Stdout).Encode(res) }()

	caps, err := effectiveCaps()
	add("capget", err, fmt.Sprintf("uid %d euid %d effective caps %#x", os.Getuid(), os.Geteuid(), caps))

	lo, err := net.InterfaceByName("lo")
	if err != nil {
		add("lo", err, "")
		return 0
	}
	ifindex, ifname := lo.Index, "lo"
	if name := os.Getenv(childIfaceEnv); name != "" {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			add("iface", err, "")
			return 0
		}
		ifindex, ifname = ifi.Index, name
	}
	// The dma-buf the parent passed, or any descriptor: the kernel checks
	// the privilege before it looks at the dma-buf.
	buf := os.NewFile(childDMABufFD, "dmabuf")
	note := "fd 3 from the parent (a dma-buf)"
	if os.Getenv(childDMABufEnv) == "" {
		buf, err = os.Open(os.DevNull)
		if err != nil {
			add("open", err, "")
			return 0
		}
		note = "no dma-buf here: /dev/null (the privilege check comes first)"
	}
	defer buf.Close()

	c, err := netdev.Dial()
	add("netdev.Dial", err, "")
	if err != nil {
		return 0
	}
	defer c.Close()
	_, err = c.Queues(ifindex)
	add("Client.Queues", err, "unprivileged read")
	if c.HasBindRX() {
		b, err := c.BindRX(ifindex, buf, []uint32{0})
		b.Close()
		add("Client.BindRX", err, note)
	} else {
		skip("Client.BindRX", "no bind-rx in this kernel")
	}
	if c.HasBindTX() {
		b, err := c.BindTX(ifindex, buf)
		b.Close()
		add("Client.BindTX", err, note+"; Linux 7.2 lets anyone bind-tx")
	} else {
		skip("Client.BindTX", "no bind-tx in this kernel")
	}
	if c.Supports(netdev.CmdNAPISet) {
		zero := uint32(0)
		add("Client.SetNAPI", c.SetNAPI(1, netdev.NAPIConfig{DeferHardIRQs: &zero}), "")
	} else {
		skip("Client.SetNAPI", "no napi-set in this kernel")
	}

	et, err := netdev.NewEthtool()
	add("netdev.NewEthtool", err, "")
	if err == nil {
		on := netdev.TCPDataSplitEnabled
		add("Ethtool.SetRings", et.SetRings(ifindex, netdev.RingsUpdate{TCPDataSplit: &on}), "")
		one := uint32(1)
		add("Ethtool.SetChannels", et.SetChannels(ifindex, netdev.ChannelsUpdate{Combined: &one}), "")
		add("Ethtool.SetRSSIndir", et.SetRSSIndir(ifindex, []uint32{0}), "")
		_, err = et.InsertFlowRule(ifindex, netdev.FlowSpec{Dst: netip.MustParseAddrPort("127.0.0.1:5201"), Queue: 0})
		add("Ethtool.InsertFlowRule", err, "")
		et.Close()
	}
	undo, err := netdev.Apply(netdev.SetupConfig{Ifindex: ifindex, Queues: []uint32{0}})
	if err == nil {
		err = errors.Join(errors.New("Apply succeeded without privilege"), undo.Restore())
	}
	add("netdev.Apply", err, "on "+ifname)

	add("udmabuf.Available", udmabuf.Available(), "")

	// devmem: devmem RX must fail, the copy fallback must work.
	cfg := &devmem.ListenConfig{Interface: ifname, Setup: true, BufferSize: 4 << 20, Fallback: devmem.FallbackNone}
	if os.Getenv(childIfaceEnv) != "" {
		cfg.Buffer = buf
	}
	l, err := devmem.Listen("tcp", "127.0.0.1:0", cfg)
	if err == nil {
		l.Close()
		err = errors.New("devmem RX set up without privilege")
	}
	add("devmem.Listen FallbackNone", err, "")
	cfg.Fallback = devmem.FallbackCopy
	add("devmem.Listen copy fallback", copyRoundTrip(cfg), "")
	return 0
}

// copyRoundTrip listens with cfg, which must fall back to copy mode, and
// checks one transfer.
func copyRoundTrip(cfg *devmem.ListenConfig) error {
	l, err := devmem.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	if l.Mode() != devmem.ModeCopy {
		return fmt.Errorf("mode %v without privilege", l.Mode())
	}
	data, sum := stream(9, 1<<20)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(data)
	}()
	c, err := l.AcceptDevmem()
	if err != nil {
		return err
	}
	defer c.Close()
	h := sha256.New()
	if _, err := readFragsAll(c, h); err != nil {
		return err
	}
	if [32]byte(h.Sum(nil)) != sum {
		return errors.New("copy fallback: data differs")
	}
	return fmt.Errorf("ok (reason: %w)", l.Reason())
}

// effectiveCaps returns the effective capability set of the process.
func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// runChild runs the test binary at path as a child with attr, and returns
// the calls it reports by name.
func runChild(t *testing.T, path string, attr *syscall.SysProcAttr, scenario string, env []string, extra []*os.File) map[string]childResult {
	t.Helper()
	cmd := exec.Command(path, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + scenario}, env...)...)
	cmd.SysProcAttr = attr
	cmd.ExtraFiles = extra
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EINVAL) {
			t.Skipf("cannot start the unprivileged child (%v): this kernel or sandbox forbids it", err)
		}
		t.Fatalf("child: %v\nstderr: %s", err, stderr.String())
	}
	var res []childResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("child output: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	m := map[string]childResult{}
	for _, r := range res {
		t.Logf("child: %-28s %s%s  [%s]", r.Call, r.Err, r.Skipped, r.Note)
		m[r.Call] = r
	}
	return m
}

// TestUnprivileged runs the privileged calls in a child that lacks
// CAP_NET_ADMIN over the host's network namespace, in two ways: uid 65534
// (nobody, no capabilities at all) and uid 0 in a new user namespace (root
// in a container: all capabilities, but only over its own namespace). Each
// privileged call must fail with an error matching os.ErrPermission whose
// message names CAP_NET_ADMIN, while unprivileged reads and the copy
// fallback of devmem.Listen keep working.
func TestUnprivileged(t *testing.T) {
	testutil.SkipUnlessRoot(t)
	guard(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// uid 65534 cannot enter the go build directory (0700): run a copy.
	dir, err := os.MkdirTemp("", "reliability-priv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nobodyBin := filepath.Join(dir, "reliability.test")
	if err := copyFile(nobodyBin, self); err != nil {
		t.Fatal(err)
	}

	var env []string
	var extra []*os.File
	iface := ""
	if testutil.InVM() && testutil.VMKernel() == "devmem-7.2" {
		// A device with ring parameters and a real dma-buf, so that
		// Apply and bind get past their other checks.
		testutil.SkipIfNoUdmabuf(t)
		p := testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: 1})
		iface = p.Local.Name
		env = append(env, childIfaceEnv+"="+iface)
		b, err := udmabuf.Create(1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		f, err := dupFile(b.FD())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		extra = []*os.File{f}
		env = append(env, childDMABufEnv+"=1")
	}

	scenarios := []struct {
		name string
		path string
		attr *syscall.SysProcAttr
	}{
		{"nobody", nobodyBin, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}},
		{"userns-root", self, &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		}},
	}
	tried := 0
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			res := runChild(t, sc.path, sc.attr, sc.name, env, extra)
			// The privileged calls: EPERM, and a message that says so.
			privileged := []string{"Client.BindRX", "Client.SetNAPI", "Ethtool.SetRings", "Ethtool.SetChannels"}
			if iface != "" {
				// On netdevsim Apply gets past its checks to the first
				// change; on lo it stops at the missing ring parameters.
				privileged = append(privileged, "netdev.Apply", "Ethtool.SetRSSIndir")
			}
			for _, call := range privileged {
				r, ok := res[call]
				switch {
				case !ok:
					t.Errorf("%s: not reported by the child", call)
				case r.Skipped != "":
					t.Logf("%s: skipped: %s", call, r.Skipped)
				case !r.Permission:
					t.Errorf("%s without CAP_NET_ADMIN: %q, want an error matching os.ErrPermission", call, r.Err)
				case !strings.Contains(r.Err, "CAP_NET_ADMIN"):
					t.Errorf("%s: %q does not name CAP_NET_ADMIN", call, r.Err)
				default:
					tried++
				}
			}
			// Flow rules, and RSS before Linux 6.17 (no ETHTOOL_MSG_RSS_SET),
			// go through the ioctl, which reads the device's table first:
			// on lo, which has none, either refusal is right.
			for _, call := range []string{"Ethtool.InsertFlowRule", "Ethtool.SetRSSIndir"} {
				if r := res[call]; iface == "" && !r.Permission && !r.NotSupported {
					t.Errorf("%s without CAP_NET_ADMIN: %q, want os.ErrPermission (or ErrNotSupported on lo)", call, r.Err)
				}
			}
			if iface == "" {
				if r := res["netdev.Apply"]; r.Err == "" || !(r.Permission || r.NotSupported) {
					t.Errorf("netdev.Apply on lo without CAP_NET_ADMIN: %q, want os.ErrPermission or ErrNotSupported", r.Err)
				}
			}
			for _, call := range []string{"netdev.Dial", "Client.Queues", "netdev.NewEthtool"} {
				if r := res[call]; r.Err != "" {
					t.Errorf("%s needs no privilege, got %q", call, r.Err)
				}
			}
			if r := res["devmem.Listen FallbackNone"]; r.Err == "" || strings.Contains(r.Err, "set up without privilege") {
				t.Errorf("devmem.Listen with FallbackNone: %q, want a failure", r.Err)
			}
			if r := res["devmem.Listen copy fallback"]; !strings.HasPrefix(r.Err, "ok") {
				t.Errorf("copy fallback without privilege: %q", r.Err)
			}
			if iface != "" {
				if r := res["devmem.Listen copy fallback"]; !strings.Contains(r.Err, "CAP_NET_ADMIN") {
					t.Errorf("copy fallback reason %q does not name CAP_NET_ADMIN", r.Err)
				}
			}
		})
	}
	figure(t, "privilege", "%d privileged calls refused with os.ErrPermission naming CAP_NET_ADMIN", tried)
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dupFile duplicates fd into an *os.File the caller must close.
func dupFile(fd int) (*os.File, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), "dmabuf-"+strconv.Itoa(nfd)), nil
}
