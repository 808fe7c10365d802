//go:build linux

package e2e

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/bench/internal/syscount"
	"github.com/devmem-go/devmem/internal/testutil"
	"github.com/devmem-go/devmem/netdev"
	"golang.org/x/sys/unix"
)

var (
	sizeMiB   = flag.Int("e2e.size", 128, "MiB each timed run receives")
	countMiB  = flag.Int("e2e.countsize", 64, "MiB each traced (syscall-counting) run receives")
	rounds    = flag.Int("e2e.rounds", 3, "timed rounds; each runs every receiver once, in rotated order")
	receivers = flag.String("e2e.receivers", "c,go,go-verbose,go-once,lib", "receivers to run, comma-separated")
	logStderr = flag.Bool("e2e.log", false, "receivers' stderr to the console (it costs them more than /dev/null)")
	pin       = flag.Bool("e2e.pin", true, "with 2 or more CPUs: receivers on CPU 0, the harness (sender) on CPU 1")
)

// enableEnv must be 1 for TestE2E to run: it takes minutes.
const enableEnv = "DEVMEM_BENCH_E2E"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "lib" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// receiver is one program under test.
type receiver struct {
	name string
	bin  string   // testdata/NAME, or "" for this test binary
	args []string // after the common ones
	lib  bool     // the child receiver: -out, different flags
}

var allReceivers = []receiver{
	{name: "c", bin: "ncdevmem-c"},
	{name: "go", bin: "ncdevmem-go"},
	{name: "go-verbose", bin: "ncdevmem-go", args: []string{"-verbose"}},
	{name: "go-once", bin: "ncdevmem-go", args: []string{"-batch", "1"}},
	{name: "lib", lib: true},
	{name: "lib-once", lib: true, args: []string{"-batch", "1"}},
}

// setup is the machine every run uses.
type setup struct {
	pair    *testutil.SimPair
	nl      *netdev.Client // to see when a receiver has bound its queue
	addr    string         // the receiver's IPv4 address
	port    int            // next port
	devnull *os.File
	self    string // this test binary
	dir     string // a scratch directory for the lib receiver's results
	pattern []byte
	pinned  bool // receivers on CPU 0, the harness on CPU 1
}

// CPUs of -e2e.pin.
const (
	receiverCPU = 0
	senderCPU   = 1
)

func cpuSet(cpu int) *unix.CPUSet {
	var set unix.CPUSet
	set.Set(cpu)
	return &set
}

// pinProcess moves every thread of this process to cpu (threads created
// later inherit the affinity of the thread that creates them).
func pinProcess(cpu int) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, cpuSet(cpu)); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

// onReceiverCPU runs start, which starts a receiver, on a thread pinned to
// the receivers' CPU, so that the receiver inherits that affinity from its
// first instruction; the thread goes back to the harness's CPU after.
func (s *setup) onReceiverCPU(start func()) {
	if !s.pinned {
		start()
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetaffinity(0, cpuSet(receiverCPU)); err != nil {
		panic(err)
	}
	defer func() {
		if err := unix.SchedSetaffinity(0, cpuSet(senderCPU)); err != nil {
			panic(err)
		}
	}()
	start()
}

// runResult is what one receiver run measured.
type runResult struct {
	bytes      int64
	wall       time.Duration // connected → receiver exited
	user, sys  time.Duration
	minflt     int64
	csw        int64         // voluntary + involuntary context switches
	allocBytes int64         // lib: Go heap bytes allocated after warm-up (-1: not measured)
	allocOver  int64         // lib: bytes received while counting
	atStart    time.Duration // user+system CPU when the sender connected
	counts     *syscount.Counts
}

func (s *setup) argv(r receiver, port int, out string) []string {
	p := strconv.Itoa(port)
	if r.lib {
		return append([]string{s.self, "-f", s.pair.Local.Name, "-s", s.addr, "-p", p, "-out", out}, r.args...)
	}
	return append([]string{filepath.Join("testdata", r.bin),
		"-l", "-n", "-f", s.pair.Local.Name, "-s", s.addr, "-p", p, "-t", "0", "-q", "1", "-v", "7"}, r.args...)
}

// run runs receiver r for one stream of size bytes; traced, under
// syscount, which counts its system calls (and nothing is timed).
func (s *setup) run(t *testing.T, r receiver, size int64, traced bool) runResult {
	t.Helper()
	s.port++
	port := s.port
	out := filepath.Join(s.dir, fmt.Sprintf("lib-%d", port))
	argv := s.argv(r, port, out)
	env := os.Environ()
	if r.lib {
		env = append(env, childEnv+"=lib")
	}
	stderr := s.devnull
	if *logStderr {
		stderr = os.Stderr
	}

	res := runResult{bytes: size, allocBytes: -1}
	var cmdPid *int
	exited := make(chan struct{})
	var waitErr error
	if traced {
		go s.onReceiverCPU(func() {
			// syscount.Run forks from, and traces on, this thread.
			defer close(exited)
			c, err := syscount.Run(argv, env, nil, s.devnull, stderr)
			if err == nil && c.ExitCode != 0 {
				err = fmt.Errorf("exit status %d", c.ExitCode)
			}
			res.counts, waitErr = c, err
		})
	} else {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, s.devnull, stderr
		var err error
		s.onReceiverCPU(func() { err = cmd.Start() })
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		cmdPid = &cmd.Process.Pid
		go func() {
			defer close(exited)
			waitErr = cmd.Wait()
			if ps := cmd.ProcessState; ps != nil {
				res.user, res.sys = ps.UserTime(), ps.SystemTime()
				// Not ru_maxrss: exec carries the harness's peak over
				// (the traced runs report the receiver's own, VmHWM).
				if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
					res.minflt = ru.Minflt
					res.csw = ru.Nvcsw + ru.Nivcsw
				}
			}
		}()
	}

	// The receiver's CPU time when the stream starts: it has set up
	// (udmabuf, bind, listen) and waits in accept.
	var pid int
	var atStart time.Duration
	onConnect := func() {
		if pid != 0 {
			atStart = procCPU(pid)
		}
	}
	if cmdPid != nil {
		pid = *cmdPid
	}
	connected, err := s.send(port, size, exited, onConnect)
	if err != nil {
		<-exited
		t.Fatalf("%s: sending %d bytes: %v (receiver: %v)", r.name, size, err, waitErr)
	}
	<-exited
	res.wall = time.Since(connected)
	res.atStart = atStart
	if s.pinned {
		// Threads the runtime started meanwhile may have inherited the
		// receivers' CPU.
		if err := pinProcess(senderCPU); err != nil {
			t.Fatal(err)
		}
	}
	if waitErr != nil {
		t.Fatalf("%s: receiver failed: %v (run with -e2e.log to see its stderr)", r.name, waitErr)
	}
	if r.lib && !traced {
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if _, err := fmt.Sscan(string(b), &res.allocOver, &res.allocBytes); err != nil {
			t.Fatalf("%s: result %q: %v", r.name, b, err)
		}
	}
	return res
}

// ready polls until the receiver has bound queue 0 of the device to its
// dma-buf (the Go receivers listen before they bind: a client that connects
// in between sends into host memory), until it exits or deadline passes.
func (s *setup) ready(exited <-chan struct{}, deadline time.Time) error {
	for {
		qs, err := s.nl.Queues(s.pair.Local.Ifindex)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.Type == netdev.QueueTypeRX && q.ID == 0 && q.DMABuf != 0 {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the receiver exited before it bound the queue")
		case <-time.After(20 * time.Millisecond): // poll, with a deadline
		}
		if time.Now().After(deadline) {
			return errors.New("the receiver did not bind queue 0 within a minute")
		}
	}
}

// send waits for the receiver to bind, connects from the peer namespace,
// retrying while it is not listening yet (until it exits or a minute
// passes), sends size bytes of the pattern and closes. It returns when it
// connected.
func (s *setup) send(port int, size int64, exited <-chan struct{}, onConnect func()) (time.Time, error) {
	var c net.Conn
	deadline := time.Now().Add(time.Minute)
	if err := s.ready(exited, deadline); err != nil {
		return time.Time{}, err
	}
	var connected time.Time
	err := s.pair.PeerNS.Do(func() error {
		// The namespace's thread sends, so the sender stays where the
		// harness is pinned (and its transmit's softirqs with it, which
		// run the receiving netdevsim's RX and devmem copy).
		if s.pinned {
			if err := unix.SchedSetaffinity(0, cpuSet(senderCPU)); err != nil {
				return err
			}
		}
		for {
			var err error
			c, err = net.DialTimeout("tcp", net.JoinHostPort(s.addr, strconv.Itoa(port)), 10*time.Second)
			if err == nil {
				break
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
			select {
			case <-exited:
				return errors.New("the receiver exited before it listened")
			case <-time.After(20 * time.Millisecond): // poll, with a deadline
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nothing listened within a minute: %w", err)
			}
		}
		defer c.Close()
		onConnect()
		connected = time.Now()
		for left := size; left > 0; {
			n := min(left, int64(len(s.pattern)))
			if _, err := c.Write(s.pattern[:n]); err != nil {
				return err
			}
			left -= n
		}
		return c.(*net.TCPConn).CloseWrite()
	})
	return connected, err
}

func TestE2E(t *testing.T) {
	if os.Getenv(enableEnv) != "1" {
		t.Skipf("the end-to-end benchmark runs only with %s=1 (bench/e2e/run.sh sets it)", enableEnv)
	}
	testutil.SkipIfNoNetdevsim(t)
	testutil.SkipIfNoUdmabuf(t)
	var rs []receiver
	for _, name := range strings.Split(*receivers, ",") {
		found := false
		for _, r := range allReceivers {
			if r.name == name {
				rs, found = append(rs, r), true
			}
		}
		if !found {
			t.Fatalf("-e2e.receivers: no receiver %q", name)
		}
	}
	for _, r := range rs {
		if r.bin == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join("testdata", r.bin)); err != nil {
			t.Fatalf("%s: %v (bench/e2e/run.sh builds it)", r.name, err)
		}
	}

	p := testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: 1})
	headerSplit(t, p.Local.Ifindex)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	nl, err := netdev.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	pinned := *pin && runtime.NumCPU() >= 2
	if pinned {
		if err := pinProcess(senderCPU); err != nil {
			t.Fatalf("pinning the harness to CPU %d: %v", senderCPU, err)
		}
	}
	s := &setup{pinned: pinned, pair: p, nl: nl, addr: p.Local.Addr4.Addr().String(), port: 5200, devnull: devnull,
		self: self, dir: t.TempDir(), pattern: patternBuf(1 << 20)}

	printConfig(pinned)
	size := int64(*sizeMiB) << 20
	csize := int64(*countMiB) << 20

	// Warm-up: each receiver once, small, untimed.
	for _, r := range rs {
		s.run(t, r, 4<<20, false)
	}
	// Timed rounds, in rotated order: each receiver with an empty stream
	// (its start-up and exit: udmabuf, bind, mmap, unbind: reported),
	// then with the stream, whose net CPU counts from the moment the
	// sender connects. Then a traced run of each.
	for round := range *rounds {
		net := map[string]float64{} // net CPU s/GiB of this round
		gross := map[string]float64{}
		for i := range rs {
			r := rs[(round+i)%len(rs)]
			e := s.run(t, r, 0, false)
			fmt.Printf("BenchmarkE2EStartup/recv=%s 1 %d ns/op %.2f cpu-ms %.2f user-ms %.2f sys-ms\n",
				r.name, e.wall.Nanoseconds(), ms(e.user+e.sys), ms(e.user), ms(e.sys))
			res := s.run(t, r, size, false)
			gib := float64(res.bytes) / (1 << 30)
			cpu := (res.user + res.sys).Seconds()
			// net: from the moment the sender connected (/proc/PID/stat)
			// to the exit (wait4): the stream and the exit, not the
			// set-up.
			netCPU := cpu - res.atStart.Seconds()
			line := fmt.Sprintf("BenchmarkE2E/recv=%s 1 %d ns/op %.4f cpu-s/GiB %.4f net-cpu-s/GiB %.4f user-s/GiB %.4f sys-s/GiB %.4f s/GiB %.2f MB/s %.0f minflt %.0f csw/GiB",
				r.name, res.wall.Nanoseconds(), cpu/gib, netCPU/gib, res.user.Seconds()/gib, res.sys.Seconds()/gib,
				res.wall.Seconds()/gib, float64(res.bytes)/1e6/res.wall.Seconds(), float64(res.minflt), float64(res.csw)/gib)
			if res.allocBytes >= 0 && res.allocOver > 0 {
				line += fmt.Sprintf(" %.0f B/GiB", float64(res.allocBytes)/(float64(res.allocOver)/(1<<30)))
			}
			fmt.Println(line)
			net[r.name], gross[r.name] = netCPU/gib, cpu/gib
		}
		// The ratios to the kernel's ncdevmem within the round: the load
		// of the host moves a round's numbers together, so paired
		// ratios vary far less than the numbers themselves.
		if c, ok := net["c"]; ok {
			for _, r := range rs {
				if r.name != "c" {
					fmt.Printf("BenchmarkE2ERatio/recv=%s 1 %.4f net-cpu/c %.4f cpu/c\n", r.name, net[r.name]/c, gross[r.name]/gross["c"])
				}
			}
		}
		for i := range rs {
			r := rs[(round+i)%len(rs)]
			e := s.run(t, r, 0, true)
			fmt.Print(strings.Replace(e.counts.BenchLine("recv="+r.name, 0), "BenchmarkSyscalls/", "BenchmarkStartupSyscalls/", 1))
			res := s.run(t, r, csize, true)
			fmt.Print(minus(res.counts, e.counts).BenchLine("recv="+r.name, res.bytes))
		}
	}
}

// minus returns the calls of a that b did not make, by name (at least 0):
// a stream's system calls without those of start-up and exit.
func minus(a, b *syscount.Counts) *syscount.Counts {
	d := &syscount.Counts{ByName: map[string]uint64{}, ExitCode: a.ExitCode, PeakRSS: a.PeakRSS}
	for n, v := range a.ByName {
		if v > b.ByName[n] {
			d.ByName[n] = v - b.ByName[n]
			d.Total += v - b.ByName[n]
		}
	}
	return d
}

// procCPU returns the user+system CPU time of process pid so far (all its
// threads), from /proc/PID/stat (clock ticks of 10 ms); 0 if unreadable.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after "(comm)": state is the 3rd field of the line, utime
	// the 14th and stime the 15th.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const tick = 10 * time.Millisecond // USER_HZ = 100
	return time.Duration(ut+st) * tick
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// headerSplit sets what bind-rx needs on the receiving device
// (tcp-data-split on, hds-thresh 0): the receivers run with -n, which
// leaves the NIC alone.
func headerSplit(t *testing.T, ifindex int) {
	t.Helper()
	et, err := netdev.NewEthtool()
	if err != nil {
		t.Fatal(err)
	}
	defer et.Close()
	split, thresh := netdev.TCPDataSplitEnabled, uint32(0)
	u := netdev.RingsUpdate{TCPDataSplit: &split}
	if r, err := et.Rings(ifindex); err == nil && r.HDSThreshSupported {
		u.HDSThresh = &thresh
	}
	if err := et.SetRings(ifindex, u); err != nil {
		t.Fatalf("header split: %v", err)
	}
}

// printConfig prints the configuration lines of the result files: the
// guest's CPU (as QEMU presents it), kernel and CPU count.
func printConfig(pinned bool) {
	fmt.Printf("goos: %s\ngoarch: %s\npkg: github.com/devmem-go/devmem/bench/e2e\n", runtime.GOOS, runtime.GOARCH)
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				fmt.Printf("cpu: %s\n", strings.TrimSpace(v))
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Printf("kernel: %s\n", strings.TrimSpace(string(b)))
	}
	fmt.Printf("guest-cpus: %d\n", runtime.NumCPU())
	fmt.Printf("count-mib: %d\n", *countMiB)
	if pinned {
		fmt.Printf("pinning: receivers on CPU %d, harness and sender on CPU %d\n", receiverCPU, senderCPU)
	}
}

// TestProcCPU checks procCPU against getrusage for this process.
func TestProcCPU(t *testing.T) {
	var ru syscall.Rusage
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) > 200*time.Millisecond || time.Now().After(deadline) {
			break
		}
	}
	got := procCPU(os.Getpid())
	want := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if got < want-50*time.Millisecond || got > want+time.Second {
		t.Errorf("procCPU %v, getrusage before it %v", got, want)
	}
	if procCPU(-1) != 0 {
		t.Error("procCPU of no process is not 0")
	}
}
