package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/dmabuf"
	"github.com/devmem-go/devmem/internal/testutil"
	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/devmem-go/devmem/udmabuf"
	"golang.org/x/sys/unix"
)

// badCase is one public entry point given one bad input.
type badCase struct {
	entry, input string
	// need names what the case needs beyond Linux: "root", "udmabuf",
	// "no-udmabuf", "bind-tx" (Linux 6.16), "netdevsim" (the devmem test
	// kernel); it skips without.
	need string
	// call makes the call and returns its error.
	call func(t *testing.T, e *badEnv) error
	// want lists the sentinels the error must match (any of them, with
	// errors.Is; an allOf entry matches when all of its errors do);
	// wantMsg, if set, a substring of its message (for errors without a
	// sentinel class of their own); ok that the input is accepted.
	want    []error
	wantMsg string
	ok      bool
}

// badEnv is what the cases share: a netdev client, and in the VM a
// netdevsim device and a udmabuf.
type badEnv struct {
	nl     *netdev.Client
	et     *netdev.Ethtool
	lo     int
	sim    int    // netdevsim ifindex (VM)
	simNm  string // its name
	dmabuf *udmabuf.Buffer
}

// memfdFile returns a 1 MiB memfd: an open descriptor that is not a
// dma-buf. The test closes it.
func memfdFile(t *testing.T) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("not-a-dmabuf", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	return f
}

// closedFile returns an *os.File that is closed.
func closedFile(t *testing.T) *os.File {
	t.Helper()
	f := memfdFile(t)
	f.Close()
	return f
}

// pipeFD returns the read end of a pipe, closed by the test.
func pipeFD(t *testing.T) int {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0]
}

func u32p(v uint32) *uint32 { return &v }

const noDev = 1 << 30 // an ifindex no device has

// badCases is the table: every public entry point that takes input from
// the caller, with each kind of bad input that applies to it.
func badCases() []badCase {
	cl := func(f func(e *badEnv) error) func(t *testing.T, e *badEnv) error {
		return func(t *testing.T, e *badEnv) error { return f(e) }
	}
	bindErr := func(b *netdev.Binding, err error) error { b.Close(); return err }
	// An EINVAL must also match os.ErrInvalid (netdev.Error maps it), the
	// class of every argument error of the module.
	einvalErr := allOf{unix.EINVAL, os.ErrInvalid}
	einval := []error{einvalErr}
	invalid := []error{os.ErrInvalid}
	notExist := []error{os.ErrNotExist}
	notSupp := []error{netdev.ErrNotSupported}
	cases := []badCase{
		// netdev.Client: bind-rx and bind-tx.
		{"Client.BindRX", "ifindex 0", "", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindRX(0, e.dmabufOr(t), []uint32{0})) }, einval, "", false},
		{"Client.BindRX", "negative ifindex", "", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindRX(-1, e.dmabufOr(t), []uint32{0})) }, einval, "", false},
		{"Client.BindRX", "unknown ifindex", "root", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindRX(noDev, e.dmabufOr(t), []uint32{0})) }, notExist, "", false},
		{"Client.BindRX", "nil dma-buf", "", cl(func(e *badEnv) error { return bindErr(e.nl.BindRX(e.lo, nil, []uint32{0})) }), []error{unix.EBADF}, "", false},
		{"Client.BindRX", "closed fd", "", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindRX(e.lo, closedFile(t), []uint32{0})) }, []error{unix.EBADF}, "", false},
		{"Client.BindRX", "empty queue list", "", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindRX(e.lo, e.dmabufOr(t), nil)) }, einval, "", false},
		// 7.2 refuses lo with EOPNOTSUPP, 6.12 with EINVAL.
		{"Client.BindRX", "device without devmem (lo)", "root", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindRX(e.lo, e.dmabufOr(t), []uint32{0})) }, []error{netdev.ErrNotSupported, einvalErr}, "", false},
		{"Client.BindRX", "non-dma-buf fd (memfd)", "netdevsim", func(t *testing.T, e *badEnv) error {
			return bindErr(e.nl.BindRX(e.sim, memfdFile(t), []uint32{0}))
		}, einval, "", false},
		{"Client.BindRX", "queue out of range", "netdevsim", cl(func(e *badEnv) error { return bindErr(e.nl.BindRX(e.sim, e.dmabuf, []uint32{1000})) }), einval, "", false},
		{"Client.BindRX", "duplicate queues (accepted, deduplicated)", "netdevsim", cl(func(e *badEnv) error {
			b, err := e.nl.BindRX(e.sim, e.dmabuf, []uint32{0, 0, 0})
			if err != nil {
				return err
			}
			defer b.Close()
			if q := b.Queues(); len(q) != 1 || q[0] != 0 {
				return fmt.Errorf("Queues() = %v, want [0]", q)
			}
			return nil
		}), nil, "", true},
		{"Client.BindTX", "ifindex 0", "", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindTX(0, e.dmabufOr(t))) }, einval, "", false},
		{"Client.BindTX", "nil dma-buf", "", cl(func(e *badEnv) error { return bindErr(e.nl.BindTX(e.lo, nil)) }), []error{unix.EBADF}, "", false},
		{"Client.BindTX", "closed fd", "bind-tx", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindTX(e.lo, closedFile(t))) }, []error{unix.EBADF}, "", false},
		{"Client.BindTX", "unknown ifindex", "bind-tx", func(t *testing.T, e *badEnv) error { return bindErr(e.nl.BindTX(noDev, e.dmabufOr(t))) }, notExist, "", false},
		// netdev.Client: queries and settings.
		{"Client.Dev", "unknown ifindex", "", cl(func(e *badEnv) error { _, err := e.nl.Dev(noDev); return err }), notExist, "", false},
		{"Client.Dev", "ifindex 0", "", cl(func(e *badEnv) error { _, err := e.nl.Dev(0); return err }), einval, "", false},
		{"Client.Queue", "unknown ifindex", "", cl(func(e *badEnv) error { _, err := e.nl.Queue(noDev, 0, netdev.QueueTypeRX); return err }), notExist, "", false},
		{"Client.Queue", "queue out of range", "", cl(func(e *badEnv) error { _, err := e.nl.Queue(e.lo, 1000, netdev.QueueTypeRX); return err }), einval, "", false},
		{"Client.Queue", "bad queue type", "", cl(func(e *badEnv) error { _, err := e.nl.Queue(e.lo, 0, netdev.QueueType(7)); return err }), einval, "", false},
		{"Client.Queues", "unknown ifindex", "", cl(func(e *badEnv) error { _, err := e.nl.Queues(noDev); return err }), notExist, "", false},
		{"Client.Queues", "negative ifindex", "", cl(func(e *badEnv) error { _, err := e.nl.Queues(-5); return err }), einval, "", false},
		{"Client.NAPI", "unknown id", "", cl(func(e *badEnv) error { _, err := e.nl.NAPI(math.MaxUint32); return err }), notExist, "", false},
		{"Client.PagePool", "unknown id", "", cl(func(e *badEnv) error { _, err := e.nl.PagePool(math.MaxUint32); return err }), notExist, "", false},
		{"Client.PagePoolStats", "unknown id", "", cl(func(e *badEnv) error { _, err := e.nl.PagePoolStats(math.MaxUint32); return err }), []error{os.ErrNotExist, netdev.ErrNotSupported}, "", false},
		{"Client.SetNAPI", "defer-hard-irqs over MaxInt32", "", cl(func(e *badEnv) error {
			return e.nl.SetNAPI(1, netdev.NAPIConfig{DeferHardIRQs: u32p(math.MaxUint32)})
		}), einval, "", false},
		{"Client.SetNAPI", "negative gro-flush-timeout", "", cl(func(e *badEnv) error {
			d := -time.Second
			return e.nl.SetNAPI(1, netdev.NAPIConfig{GROFlushTimeout: &d})
		}), einval, "", false},
		{"Client.Subscribe", "unknown group", "", cl(func(e *badEnv) error {
			s, err := e.nl.Subscribe(netdev.Group(99))
			s.Close()
			return err
		}), notSupp, "", false},
		{"Client (closed)", "any call", "", cl(func(e *badEnv) error {
			c, err := netdev.Dial()
			if err != nil {
				return err
			}
			c.Close()
			_, err = c.Devs()
			return err
		}), []error{net.ErrClosed}, "", false},
		// netdev.Ethtool.
		{"Ethtool.Rings", "unknown ifindex", "", cl(func(e *badEnv) error { _, err := e.et.Rings(noDev); return err }), notExist, "", false},
		{"Ethtool.Rings", "device without ring parameters (lo)", "", cl(func(e *badEnv) error { _, err := e.et.Rings(e.lo); return err }), notSupp, "", false},
		{"Ethtool.Channels", "unknown ifindex", "", cl(func(e *badEnv) error { _, err := e.et.Channels(noDev); return err }), notExist, "", false},
		{"Ethtool.InsertFlowRule", "no destination port", "", cl(func(e *badEnv) error {
			_, err := e.et.InsertFlowRule(e.lo, netdev.FlowSpec{Dst: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)})
			return err
		}), invalid, "", false},
		{"Ethtool.InsertFlowRule", "mixed address families", "", cl(func(e *badEnv) error {
			_, err := e.et.InsertFlowRule(e.lo, netdev.FlowSpec{Dst: netip.MustParseAddrPort("127.0.0.1:80"), Src: netip.MustParseAddrPort("[::1]:80")})
			return err
		}), invalid, "", false},
		{"Ethtool.SetRSSIndir", "queue beyond the device's (netdevsim, no RSS)", "netdevsim", cl(func(e *badEnv) error { return e.et.SetRSSIndir(e.sim, []uint32{1000}) }), []error{einvalErr, netdev.ErrNotSupported}, "", false},
		// netdev.Preflight and Apply.
		{"netdev.Preflight", "unknown ifindex", "", cl(func(e *badEnv) error {
			_, err := netdev.Preflight(netdev.SetupConfig{Ifindex: noDev, Queues: []uint32{0}})
			return err
		}), notExist, "", false},
		{"netdev.Preflight", "ifindex 0", "", cl(func(e *badEnv) error {
			_, err := netdev.Preflight(netdev.SetupConfig{Queues: []uint32{0}})
			return err
		}), invalid, "", false},
		{"netdev.Preflight", "empty queue list", "", cl(func(e *badEnv) error {
			_, err := netdev.Preflight(netdev.SetupConfig{Ifindex: e.lo})
			return err
		}), invalid, "", false},
		{"netdev.Apply", "duplicate queues", "", cl(func(e *badEnv) error {
			u, err := netdev.Apply(netdev.SetupConfig{Ifindex: e.lo, Queues: []uint32{0, 0}})
			u.Restore()
			return err
		}), invalid, "", false},
		{"netdev.Apply", "flow to a queue not listed", "", cl(func(e *badEnv) error {
			u, err := netdev.Apply(netdev.SetupConfig{Ifindex: e.lo, Queues: []uint32{0},
				Flows: []netdev.FlowSpec{{Dst: netip.MustParseAddrPort("127.0.0.1:80"), Queue: 3}}})
			u.Restore()
			return err
		}), invalid, "", false},
		{"netdev.Apply", "device without header split (lo)", "root", cl(func(e *badEnv) error {
			u, err := netdev.Apply(netdev.SetupConfig{Ifindex: e.lo, Queues: []uint32{0}})
			u.Restore()
			var pe *netdev.PreflightError
			if err != nil && !errors.As(err, &pe) {
				return fmt.Errorf("not a *PreflightError: %w", err)
			}
			return err
		}), notSupp, "", false},
		{"netdev.Apply", "queue out of range (netdevsim)", "netdevsim", cl(func(e *badEnv) error {
			u, err := netdev.Apply(netdev.SetupConfig{Ifindex: e.sim, Queues: []uint32{1000}})
			u.Restore()
			var pe *netdev.PreflightError
			if err != nil && !errors.As(err, &pe) {
				return fmt.Errorf("not a *PreflightError: %w", err)
			}
			return err
		}), nil, "queue-exists", false},
		// udmabuf.
		{"udmabuf.Create", "zero size", "", cl(func(e *badEnv) error { b, err := udmabuf.Create(0, nil); b.Close(); return err }), invalid, "positive size", false},
		{"udmabuf.Create", "negative size", "", cl(func(e *badEnv) error { b, err := udmabuf.Create(-4096, nil); b.Close(); return err }), invalid, "positive size", false},
		{"udmabuf.Create", "unaligned size", "udmabuf", cl(func(e *badEnv) error { b, err := udmabuf.Create(4097, nil); b.Close(); return err }), invalid, "multiples of the page size", false},
		{"udmabuf.Create", "over size_limit_mb", "udmabuf", cl(func(e *badEnv) error { b, err := udmabuf.Create(1<<40, nil); b.Close(); return err }), invalid, "size_limit_mb", false},
		{"udmabuf.Create", "no /dev/udmabuf", "no-udmabuf", cl(func(e *badEnv) error { b, err := udmabuf.Create(1<<20, nil); b.Close(); return err }), []error{udmabuf.ErrNotSupported}, "", false},
		{"udmabuf.Create", "name too long", "udmabuf", cl(func(e *badEnv) error {
			b, err := udmabuf.Create(1<<20, &udmabuf.Options{Name: strings.Repeat("x", 64)})
			b.Close()
			return err
		}), invalid, "at most", false},
		{"udmabuf.CreateList", "no ranges", "", cl(func(e *badEnv) error { b, err := udmabuf.CreateList(nil, nil); b.Close(); return err }), invalid, "at least one range", false},
		{"udmabuf.CreateList", "zero-size range", "udmabuf", cl(func(e *badEnv) error {
			b, err := udmabuf.CreateList([]udmabuf.Range{{Size: 0}}, nil)
			b.Close()
			return err
		}), invalid, "size > 0", false},
		{"udmabuf.CreateList", "range of a file that is not a memfd", "udmabuf", func(t *testing.T, e *badEnv) error {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return err
			}
			defer f.Close()
			b, err := udmabuf.CreateList([]udmabuf.Range{{File: f, Size: 4096}}, nil)
			b.Close()
			return err
		}, invalid, "not a memfd", false},
		// dmabuf.
		{"dmabuf.New", "negative fd", "", cl(func(e *badEnv) error { b, err := dmabuf.New(-1); b.Close(); return err }), []error{unix.EBADF}, "invalid file descriptor", false},
		{"dmabuf.New", "closed fd", "", func(t *testing.T, e *badEnv) error {
			fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			unix.Close(fd)
			b, err := dmabuf.New(fd)
			b.Close()
			return err
		}, []error{unix.EBADF}, "", false},
		{"dmabuf.New", "a pipe", "", func(t *testing.T, e *badEnv) error { b, err := dmabuf.New(pipeFD(t)); b.Close(); return err }, []error{dmabuf.ErrNotDMABuf}, "", false},
		{"dmabuf.New", "a memfd", "", func(t *testing.T, e *badEnv) error {
			b, err := dmabuf.New(int(memfdFile(t).Fd()))
			b.Close()
			return err
		}, []error{dmabuf.ErrNotDMABuf}, "", false},
		{"dmabuf.FromFile", "a memfd (left open)", "", func(t *testing.T, e *badEnv) error {
			f := memfdFile(t)
			b, err := dmabuf.FromFile(f)
			b.Close()
			if _, serr := f.Stat(); serr != nil {
				return fmt.Errorf("the caller's file was closed on error: %w", serr)
			}
			return err
		}, []error{dmabuf.ErrNotDMABuf}, "", false},
		{"dmabuf.FromFile", "nil file", "", cl(func(e *badEnv) error { b, err := dmabuf.FromFile(nil); b.Close(); return err }), invalid, "nil *os.File", false},
		{"dmabuf.AllocHeap", "unknown heap", "", cl(func(e *badEnv) error { b, err := dmabuf.AllocHeap("no-such-heap", 4096); b.Close(); return err }), notExist, "", false},
		{"dmabuf.AllocHeap", "heap name with a path", "", cl(func(e *badEnv) error { b, err := dmabuf.AllocHeap("../null", 4096); b.Close(); return err }), invalid, "invalid dma-heap name", false},
		{"dmabuf.AllocHeap", "zero size", "", cl(func(e *badEnv) error { b, err := dmabuf.AllocHeap("system", 0); b.Close(); return err }), invalid, "size must be positive", false},
		// pagepool.Allocator.
		{"pagepool.NewAllocator", "no segments", "", cl(func(e *badEnv) error { _, err := pagepool.NewAllocator(nil, nil); return err }), []error{pagepool.ErrSegment}, "", false},
		{"pagepool.NewAllocator", "zero-length segment", "", cl(func(e *badEnv) error {
			_, err := pagepool.NewAllocator([]pagepool.Segment{{Len: 0}}, nil)
			return err
		}), []error{pagepool.ErrSegment}, "", false},
		{"pagepool.NewAllocator", "unaligned segment", "", cl(func(e *badEnv) error {
			_, err := pagepool.NewAllocator([]pagepool.Segment{{Offset: 100, Len: 1 << 20}}, nil)
			return err
		}), []error{pagepool.ErrSegment}, "", false},
		{"pagepool.NewAllocator", "overlapping segments", "", cl(func(e *badEnv) error {
			_, err := pagepool.NewAllocator([]pagepool.Segment{{Len: 1 << 20}, {Offset: 1 << 19, Len: 1 << 20}}, nil)
			return err
		}), []error{pagepool.ErrSegment}, "", false},
		{"pagepool.NewAllocator", "page size not a power of two", "", cl(func(e *badEnv) error {
			_, err := pagepool.NewAllocator([]pagepool.Segment{{Len: 1 << 20}}, &pagepool.AllocatorOptions{PageSize: 3000})
			return err
		}), []error{pagepool.ErrSegment, pagepool.ErrAlignment}, "", false},
		{"Allocator.Alloc", "zero size", "", cl(func(e *badEnv) error { _, err := testAllocator().Alloc(0, 0); return err }), []error{pagepool.ErrZeroSize}, "", false},
		{"Allocator.Alloc", "alignment not a power of two", "", cl(func(e *badEnv) error { _, err := testAllocator().Alloc(4096, 12288); return err }), []error{pagepool.ErrAlignment}, "", false},
		{"Allocator.Alloc", "larger than the allocator", "", cl(func(e *badEnv) error { _, err := testAllocator().Alloc(1<<40, 0); return err }), []error{pagepool.ErrOutOfRange}, "", false},
		{"Allocator.AllocScatter", "negative maxSegs", "", cl(func(e *badEnv) error { _, err := testAllocator().AllocScatter(nil, 4096, -1); return err }), []error{pagepool.ErrOutOfRange}, "", false},
		{"Allocator.Free", "zero Region", "", cl(func(e *badEnv) error { return testAllocator().Free(pagepool.Region{}) }), []error{pagepool.ErrForeignRegion, pagepool.ErrOutOfRange}, "", false},
		{"Allocator.Free", "double free", "", cl(func(e *badEnv) error {
			a := testAllocator()
			r, _ := a.Alloc(4096, 0)
			a.Free(r)
			return a.Free(r)
		}), []error{pagepool.ErrDoubleFree}, "", false},
		{"Allocator.Free", "region of another allocator", "", cl(func(e *badEnv) error {
			r, _ := testAllocator().Alloc(4096, 0)
			a := testAllocator()
			a.Alloc(8192, 0)
			return a.Free(r)
		}), []error{pagepool.ErrForeignRegion, pagepool.ErrDoubleFree}, "", false},
		{"Allocator.Free", "modified region", "", cl(func(e *badEnv) error {
			a := testAllocator()
			r, _ := a.Alloc(8192, 0)
			r.Len = 4096
			return a.Free(r)
		}), []error{pagepool.ErrForeignRegion}, "", false},
		// pagepool.Ledger (over an ordinary TCP socket: nothing reaches the
		// kernel but SO_DEVMEM_DONTNEED of tokens it does not know).
		{"pagepool.NewLedger", "nil RawConn", "", cl(func(e *badEnv) error { _, err := pagepool.NewLedger(nil, nil); return err }), invalid, "nil RawConn", false},
		{"Ledger.Record", "token 0", "", ledgerCase(func(l *pagepool.Ledger) error { return l.Record([]cmsg.Frag{dmaFrag(0, 0)}) }), []error{pagepool.ErrInvalidToken}, "", false},
		{"Ledger.Record", "token above MaxToken", "", ledgerCase(func(l *pagepool.Ledger) error {
			return l.Record([]cmsg.Frag{dmaFrag(pagepool.MaxToken+1, 0)})
		}), []error{pagepool.ErrInvalidToken}, "", false},
		{"Ledger.Record", "token twice", "", ledgerCase(func(l *pagepool.Ledger) error {
			l.Record([]cmsg.Frag{dmaFrag(5, 0)})
			return l.Record([]cmsg.Frag{dmaFrag(5, 4096)})
		}), []error{pagepool.ErrDuplicateToken}, "", false},
		{"Ledger.Release", "never recorded", "", ledgerCase(func(l *pagepool.Ledger) error { return l.Release([]cmsg.Frag{dmaFrag(9, 0)}) }), []error{pagepool.ErrNotOutstanding}, "", false},
		{"Ledger.Release", "released twice", "", ledgerCase(func(l *pagepool.Ledger) error {
			f := []cmsg.Frag{dmaFrag(3, 0)}
			l.Record(f)
			l.Release(f)
			return l.Release(f)
		}), []error{pagepool.ErrNotOutstanding}, "", false},
		{"Ledger.Release", "modified frag", "", ledgerCase(func(l *pagepool.Ledger) error {
			f := dmaFrag(3, 0)
			l.Record([]cmsg.Frag{f})
			f.Offset += 4096
			return l.Release([]cmsg.Frag{f})
		}), []error{pagepool.ErrForeignFrag}, "", false},
		{"Ledger.Release", "held by a batch", "", ledgerCase(func(l *pagepool.Ledger) error {
			f := []cmsg.Frag{dmaFrag(3, 0)}
			l.Record(f)
			l.Hold("x", f)
			return l.Release(f)
		}), []error{pagepool.ErrHeld}, "", false},
		{"Batch.Done", "twice", "", ledgerCase(func(l *pagepool.Ledger) error {
			f := []cmsg.Frag{dmaFrag(3, 0)}
			l.Record(f)
			b, _ := l.Hold("x", f)
			b.Done()
			return b.Done()
		}), []error{pagepool.ErrBatchDone}, "", false},
		{"Batch.Done", "zero Batch", "", cl(func(e *badEnv) error { return pagepool.Batch{}.Done() }), []error{pagepool.ErrBatchDone}, "", false},
		{"Ledger.Record", "after Close", "", ledgerCase(func(l *pagepool.Ledger) error {
			l.Close()
			return l.Record([]cmsg.Frag{dmaFrag(1, 0)})
		}), []error{pagepool.ErrClosed}, "", false},
		// cmsg: frags that lie about where they are.
		{"Frag.CheckBounds", "offset past the buffer", "", cl(func(e *badEnv) error { return dmaFrag(1, 1<<30).CheckBounds(1 << 20) }), []error{cmsg.ErrOutOfBounds}, "", false},
		{"Frag.CheckBounds", "end past the buffer", "", cl(func(e *badEnv) error {
			return cmsg.Frag{Offset: 1<<20 - 100, Size: 4096, Token: 1, DMABufID: 1, Kind: cmsg.DMABuf}.CheckBounds(1 << 20)
		}), []error{cmsg.ErrOutOfBounds}, "", false},
		{"Frag.CheckBounds", "offset+size overflows", "", cl(func(e *badEnv) error {
			return cmsg.Frag{Offset: math.MaxUint64 - 10, Size: 4096, Token: 1, DMABufID: 1, Kind: cmsg.DMABuf}.CheckBounds(math.MaxUint64)
		}), []error{cmsg.ErrOutOfBounds}, "", false},
		{"Frag.CheckBounds", "zero size", "", cl(func(e *badEnv) error {
			return cmsg.Frag{Offset: 0, Size: 0, Token: 1, DMABufID: 1, Kind: cmsg.DMABuf}.CheckBounds(1 << 20)
		}), []error{cmsg.ErrOutOfBounds}, "", false},
		{"cmsg.Parse", "cmsg_len past the buffer", "", cl(func(e *badEnv) error {
			b := cmsg.AppendDMABuf(nil, dmaFrag(1, 0))
			_, err := cmsg.Parse(nil, b[:len(b)-8])
			var pe *cmsg.ParseError
			if err != nil && !errors.As(err, &pe) {
				return fmt.Errorf("not a *ParseError: %w", err)
			}
			return err
		}), nil, "cmsg", false},
		// devmem.Listen and Dial.
		{"devmem.Listen", "network udp", "", cl(func(e *badEnv) error { return listenErr("udp", "127.0.0.1:0", nil) }), nil, "unknown network", false},
		{"devmem.Listen", "address without port", "", cl(func(e *badEnv) error { return listenErr("tcp", "127.0.0.1", nil) }), nil, "missing port", false},
		{"devmem.Listen", "port out of range", "", cl(func(e *badEnv) error { return listenErr("tcp", "127.0.0.1:70000", nil) }), nil, "port", false},
		{"devmem.Listen", "negative BufferSize", "", cl(func(e *badEnv) error {
			return listenErr("tcp", "127.0.0.1:0", &devmem.ListenConfig{BufferSize: -1})
		}), invalid, "negative BufferSize", false},
		{"devmem.Listen", "BufferSize beyond memory (copy fallback)", "", cl(func(e *badEnv) error {
			return listenErr("tcp", "127.0.0.1:0", &devmem.ListenConfig{BufferSize: 1 << 60})
		}), []error{unix.ENOMEM}, "mmap", false},
		{"devmem.Listen", "closed Buffer", "", func(t *testing.T, e *badEnv) error {
			return listenErr("tcp", "127.0.0.1:0", &devmem.ListenConfig{Buffer: closedFile(t)})
		}, []error{os.ErrClosed, net.ErrClosed, unix.EBADF}, "", false},
		{"devmem.Listen", "Buffer that is not a dma-buf, FallbackNone", "root", func(t *testing.T, e *badEnv) error {
			return listenErr("tcp", "127.0.0.1:0", &devmem.ListenConfig{Interface: "lo", Buffer: memfdFile(t), Fallback: devmem.FallbackNone})
		}, []error{netdev.ErrNotSupported, unix.EINVAL}, "", false},
		{"devmem.Listen", "unknown interface name, FallbackNone", "", func(t *testing.T, e *badEnv) error {
			return listenErr("tcp", "127.0.0.1:0", &devmem.ListenConfig{Interface: "nosuchdev0", Buffer: memfdFile(t), Fallback: devmem.FallbackNone})
		}, notExist, "", false},
		{"devmem.Listen", "queue out of range, FallbackNone", "netdevsim", cl(func(e *badEnv) error {
			return listenErr("tcp", "192.0.2.1:0", &devmem.ListenConfig{Interface: e.simNm, Queues: []uint32{1000}, Setup: true, Fallback: devmem.FallbackNone})
		}), nil, "queue", false},
		{"devmem.Listen", "duplicate queues, Setup (accepted, deduplicated)", "netdevsim", cl(func(e *badEnv) error {
			l, err := devmem.Listen("tcp", "192.0.2.1:0", &devmem.ListenConfig{Interface: e.simNm, Queues: []uint32{0, 0}, Setup: true, BufferSize: 1 << 20, Fallback: devmem.FallbackNone})
			if err != nil {
				return err
			}
			defer l.Close()
			if q := l.Stats().Queues; len(q) != 1 || q[0] != 0 {
				return fmt.Errorf("bound queues %v, want [0]", q)
			}
			return nil
		}), nil, "", true},
		{"devmem.Dial", "network udp", "", cl(func(e *badEnv) error { return dialErr("udp", "127.0.0.1:1", nil) }), nil, "unknown network", false},
		{"devmem.Dial", "nobody listening", "", cl(func(e *badEnv) error { return dialErr("tcp", closedPort(), nil) }), []error{syscall.ECONNREFUSED}, "", false},
		{"devmem.Dial", "negative BufferSize", "", cl(func(e *badEnv) error { return dialErr("tcp", "127.0.0.1:1", &devmem.DialConfig{BufferSize: -1}) }), invalid, "negative BufferSize", false},
		{"devmem.Dial", "unknown interface name", "", cl(func(e *badEnv) error {
			return dialErr("tcp", "127.0.0.1:1", &devmem.DialConfig{Interface: "nosuchdev0"})
		}), notExist, "", false},
		{"devmem.Dial", "closed Buffer", "", func(t *testing.T, e *badEnv) error {
			ln := sink(t, func(c net.Conn) { c.Close() })
			return dialErr("tcp", ln.Addr().String(), &devmem.DialConfig{Buffer: closedFile(t)})
		}, []error{os.ErrClosed, net.ErrClosed, unix.EBADF}, "", false},
	}
	return append(cases, connCases()...)
}

// connCases are the bad inputs to the methods of a Conn.
func connCases() []badCase {
	rx := func(f func(t *testing.T, c *devmem.Conn, client *net.TCPConn) error) func(t *testing.T, e *badEnv) error {
		return func(t *testing.T, e *badEnv) error {
			l := listenCopy(t, &devmem.ListenConfig{BufferSize: 1 << 20})
			c, client := pair(t, l)
			return f(t, c, client)
		}
	}
	// received returns n frags read from c, unreleased.
	received := func(t *testing.T, c *devmem.Conn, client *net.TCPConn, n int) []devmem.Frag {
		var fs []devmem.Frag
		for len(fs) < n {
			client.Write([]byte("some data"))
			got, _, err := c.ReadFrags(nil, make([]byte, 64))
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, got...)
		}
		return fs
	}
	tx := func(f func(t *testing.T, c *devmem.Conn) error) func(t *testing.T, e *badEnv) error {
		return func(t *testing.T, e *badEnv) error {
			ln := sink(t, func(c net.Conn) { t.Cleanup(func() { c.Close() }) })
			return f(t, dialCopy(t, ln.Addr().String(), 1<<20))
		}
	}
	return []badCase{
		{"Conn.ReadFrags", "empty linear buffer", "", rx(func(t *testing.T, c *devmem.Conn, _ *net.TCPConn) error {
			_, _, err := c.ReadFrags(nil, nil)
			return err
		}), []error{devmem.ErrLinearTooSmall}, "", false},
		{"Conn.ReadFrags", "dialed Conn", "", tx(func(t *testing.T, c *devmem.Conn) error {
			_, _, err := c.ReadFrags(nil, make([]byte, 10))
			return err
		}), []error{devmem.ErrNoBuffer}, "", false},
		{"Conn.Release", "forged frag", "", rx(func(t *testing.T, c *devmem.Conn, _ *net.TCPConn) error {
			return c.Release([]devmem.Frag{dmaFrag(77, 0)})
		}), []error{pagepool.ErrNotOutstanding}, "", false},
		{"Conn.Release", "frag with a changed offset", "", rx(func(t *testing.T, c *devmem.Conn, client *net.TCPConn) error {
			f := received(t, c, client, 1)
			defer c.Release(f)
			g := f[0]
			g.Offset += 4096
			return c.Release([]devmem.Frag{g})
		}), []error{pagepool.ErrForeignFrag}, "", false},
		{"Conn.Release", "released twice", "", rx(func(t *testing.T, c *devmem.Conn, client *net.TCPConn) error {
			f := received(t, c, client, 1)
			c.Release(f)
			return c.Release(f)
		}), []error{pagepool.ErrNotOutstanding}, "", false},
		{"Conn.Release", "frag of another Conn", "", func(t *testing.T, e *badEnv) error {
			l := listenCopy(t, &devmem.ListenConfig{BufferSize: 1 << 20})
			c1, cl1 := pair(t, l)
			c2, cl2 := pair(t, l)
			f1 := received(t, c1, cl1, 1)
			f2 := received(t, c2, cl2, 1)
			defer c1.Release(f1)
			defer c2.Release(f2)
			return c2.Release(f1)
		}, []error{pagepool.ErrNotOutstanding, pagepool.ErrForeignFrag}, "", false},
		{"Conn.Hold", "held twice", "", rx(func(t *testing.T, c *devmem.Conn, client *net.TCPConn) error {
			f := received(t, c, client, 1)
			b, err := c.Hold("first", f)
			if err != nil {
				return err
			}
			defer b.Done()
			_, err = c.Hold("second", f)
			return err
		}), []error{pagepool.ErrHeld}, "", false},
		{"Conn.Release", "after Close", "", rx(func(t *testing.T, c *devmem.Conn, client *net.TCPConn) error {
			f := received(t, c, client, 1)
			c.Close()
			return c.Release(f)
		}), []error{net.ErrClosed, pagepool.ErrClosed, pagepool.ErrNotOutstanding}, "", false},
		{"Conn.FragBytes", "frags outside the buffer", "", rx(func(t *testing.T, c *devmem.Conn, _ *net.TCPConn) error {
			for _, f := range []devmem.Frag{
				dmaFrag(1, 1<<40),
				{Offset: math.MaxUint64 - 1, Size: 4096, Token: 1, Kind: cmsg.DMABuf},
				{Offset: 1<<20 - 1, Size: 2, Token: 1, Kind: cmsg.DMABuf},
				{Offset: 10, Size: 100, Kind: cmsg.Linear},
			} {
				if b := c.FragBytes(f, make([]byte, 64)); b != nil {
					return fmt.Errorf("FragBytes(%+v) = %d bytes, want nil", f, len(b))
				}
			}
			return nil
		}), nil, "", true},
		{"Conn.Alloc", "accepted Conn", "", rx(func(t *testing.T, c *devmem.Conn, _ *net.TCPConn) error {
			_, err := c.Alloc(context.Background(), 4096)
			return err
		}), []error{devmem.ErrNoBuffer}, "", false},
		{"Conn.Send", "accepted Conn", "", rx(func(t *testing.T, c *devmem.Conn, _ *net.TCPConn) error {
			_, err := c.Send(context.Background(), pagepool.Region{Len: 4096}, 10)
			return err
		}), []error{devmem.ErrNoBuffer}, "", false},
		{"Conn.Alloc", "zero size", "", tx(func(t *testing.T, c *devmem.Conn) error {
			_, err := c.Alloc(context.Background(), 0)
			return err
		}), []error{pagepool.ErrZeroSize}, "", false},
		{"Conn.Alloc", "negative size", "", tx(func(t *testing.T, c *devmem.Conn) error {
			_, err := c.Alloc(context.Background(), -1)
			return err
		}), []error{pagepool.ErrZeroSize}, "", false},
		{"Conn.Alloc", "larger than the buffer", "", tx(func(t *testing.T, c *devmem.Conn) error {
			_, err := c.Alloc(context.Background(), 1<<30)
			return err
		}), []error{pagepool.ErrOutOfRange}, "", false},
		{"Conn.Send", "region outside the buffer", "", tx(func(t *testing.T, c *devmem.Conn) error {
			_, err := c.Send(context.Background(), pagepool.Region{Offset: 1 << 30, Len: 4096}, 10)
			return err
		}), []error{pagepool.ErrForeignRegion}, "", false},
		{"Conn.Send", "zero bytes", "", tx(func(t *testing.T, c *devmem.Conn) error {
			r, err := c.Alloc(context.Background(), 4096)
			if err != nil {
				return err
			}
			defer c.FreeRegion(r)
			_, err = c.Send(context.Background(), r, 0)
			return err
		}), []error{os.ErrInvalid}, "Send of 0 bytes", false},
		{"Conn.Send", "more bytes than the region", "", tx(func(t *testing.T, c *devmem.Conn) error {
			r, err := c.Alloc(context.Background(), 4096)
			if err != nil {
				return err
			}
			defer c.FreeRegion(r)
			_, err = c.Send(context.Background(), r, 4097)
			return err
		}), []error{os.ErrInvalid}, "from regions of", false},
		{"Conn.Send", "region sent twice (freed)", "", tx(func(t *testing.T, c *devmem.Conn) error {
			r, err := c.Alloc(context.Background(), 4096)
			if err != nil {
				return err
			}
			if _, err := c.Send(context.Background(), r, 100); err != nil {
				return err
			}
			// The Conn owns r now, and has freed it: sending it again
			// would send memory it may have handed out since.
			_, err = c.Send(context.Background(), r, 100)
			return err
		}), []error{pagepool.ErrDoubleFree, pagepool.ErrForeignRegion}, "", false},
		{"Conn.Send", "region not from Alloc (forged, inside the buffer)", "", tx(func(t *testing.T, c *devmem.Conn) error {
			_, err := c.Send(context.Background(), pagepool.Region{Offset: 8192, Len: 4096}, 100)
			return err
		}), []error{pagepool.ErrForeignRegion, pagepool.ErrDoubleFree}, "", false},
		{"Conn.FreeRegion", "freed twice", "", tx(func(t *testing.T, c *devmem.Conn) error {
			r, err := c.Alloc(context.Background(), 4096)
			if err != nil {
				return err
			}
			c.FreeRegion(r)
			return c.FreeRegion(r)
		}), []error{pagepool.ErrDoubleFree}, "", false},
		{"Conn.RegionBytes", "region outside the buffer", "", tx(func(t *testing.T, c *devmem.Conn) error {
			if b := c.RegionBytes(pagepool.Region{Offset: 1<<20 - 4096, Len: 8192}); b != nil {
				return fmt.Errorf("RegionBytes of a region past the end: %d bytes, want nil", len(b))
			}
			return nil
		}), nil, "", true},
	}
}

// dmabufOr returns the udmabuf in the VM, else an open descriptor that is
// no dma-buf (/dev/null), closed by the test: the kernel checks the
// privilege and the device before it looks at the dma-buf.
func (e *badEnv) dmabufOr(t *testing.T) syscall.Conn {
	if e.dmabuf != nil {
		return e.dmabuf
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func dmaFrag(token uint32, off uint64) cmsg.Frag {
	return cmsg.Frag{Offset: off, Size: 4096, Token: token, DMABufID: 1, Kind: cmsg.DMABuf}
}

func testAllocator() *pagepool.Allocator {
	a, err := pagepool.NewAllocator([]pagepool.Segment{{Len: 1 << 20}}, &pagepool.AllocatorOptions{PageSize: 4096})
	if err != nil {
		panic(err)
	}
	return a
}

// ledgerCase runs f on a ledger over an ordinary TCP socket.
func ledgerCase(f func(l *pagepool.Ledger) error) func(t *testing.T, e *badEnv) error {
	return func(t *testing.T, e *badEnv) error {
		ln := sink(t, func(c net.Conn) { t.Cleanup(func() { c.Close() }) })
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		l, err := pagepool.NewLedger(rc, &pagepool.LedgerOptions{Policy: pagepool.ReleasePolicy{BatchFrags: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return f(l)
	}
}

func listenErr(network, addr string, cfg *devmem.ListenConfig) error {
	l, err := devmem.Listen(network, addr, cfg)
	if err == nil {
		l.Close()
	}
	return err
}

func dialErr(network, addr string, cfg *devmem.DialConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := devmem.Dial(ctx, network, addr, cfg)
	if err == nil {
		c.Close()
	}
	return err
}

// closedPort returns a loopback address nobody listens on.
func closedPort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestBadInput runs the table: each case must fail with its documented
// error class (or be accepted, where the API says so), without panicking
// and without leaking a descriptor or goroutine.
func TestBadInput(t *testing.T) {
	env := &badEnv{lo: 1}
	if ifi, err := net.InterfaceByName("lo"); err == nil {
		env.lo = ifi.Index
	}
	nl, err := netdev.Dial()
	if err != nil {
		t.Skipf("netdev: %v", err)
	}
	defer nl.Close()
	env.nl = nl
	et, err := netdev.NewEthtool()
	if err != nil {
		t.Fatal(err)
	}
	defer et.Close()
	env.et = et
	haveUdmabuf := udmabuf.Available() == nil
	haveSim := false
	if testutil.InVM() && haveUdmabuf && testutil.VMKernel() == "devmem-7.2" {
		p := testutil.NetdevsimPair(t, testutil.NetdevsimOptions{Queues: 2})
		env.sim, env.simNm = p.Local.Ifindex, p.Local.Name
		b, err := udmabuf.Create(1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		env.dmabuf = b
		// Header split on, so that bind-rx gets to the arguments.
		u, err := netdev.Apply(netdev.SetupConfig{Ifindex: env.sim, Queues: []uint32{0}})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Restore()
		haveSim = true
	}
	root := os.Geteuid() == 0
	var ran, skipped int
	var table strings.Builder
	for _, bc := range badCases() {
		t.Run(bc.entry+"/"+bc.input, func(t *testing.T) {
			switch {
			case bc.need == "root" && !root:
				skipped++
				t.Skip("needs root (the kernel checks the privilege first)")
			case bc.need == "udmabuf" && !haveUdmabuf:
				skipped++
				t.Skip("needs /dev/udmabuf (runs in the VM)")
			case bc.need == "no-udmabuf" && haveUdmabuf:
				skipped++
				t.Skip("needs a machine without /dev/udmabuf")
			case bc.need == "bind-tx" && !nl.HasBindTX():
				skipped++
				t.Skip("needs bind-tx (Linux 6.16): without it every bind-tx is ErrNotSupported")
			case bc.need == "netdevsim" && !haveSim:
				skipped++
				t.Skip("needs netdevsim and udmabuf (the devmem-7.2 VM kernel)")
			}
			guard(t)
			ran++
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("%s with %s panicked: %v", bc.entry, bc.input, p)
					}
				}()
				err = bc.call(t, env)
			}()
			fmt.Fprintf(&table, "| %s | %s | %s |\n", bc.entry, bc.input, classOf(err))
			if bc.ok {
				if err != nil {
					t.Fatalf("%s with %s: %v, want success", bc.entry, bc.input, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s with %s: no error", bc.entry, bc.input)
			}
			if len(bc.want) > 0 && !slicesAny(bc.want, func(w error) bool { return matches(err, w) }) {
				t.Errorf("%s with %s: %v\nwant an error matching one of %v", bc.entry, bc.input, err, bc.want)
			}
			if bc.wantMsg != "" && !strings.Contains(err.Error(), bc.wantMsg) {
				t.Errorf("%s with %s: %q does not say %q", bc.entry, bc.input, err, bc.wantMsg)
			}
		})
	}
	faults.add("bad inputs", uint64(ran))
	figure(t, "bad input", "%d cases run, %d skipped here", ran, skipped)
	if testing.Verbose() {
		t.Logf("the table (entry | input | error class):\n%s", table.String())
	}
}

// classOf names the sentinels err matches, for the table in the log.
func classOf(err error) string {
	if err == nil {
		return "accepted"
	}
	var names []string
	for _, c := range []struct {
		name string
		err  error
	}{
		{"os.ErrNotExist", os.ErrNotExist}, {"os.ErrPermission", os.ErrPermission}, {"os.ErrInvalid", os.ErrInvalid},
		{"os.ErrClosed", os.ErrClosed}, {"net.ErrClosed", net.ErrClosed}, {"ErrNotSupported", netdev.ErrNotSupported},
		{"EINVAL", unix.EINVAL}, {"EBADF", unix.EBADF}, {"ENOMEM", unix.ENOMEM}, {"ECONNREFUSED", unix.ECONNREFUSED},
		{"dmabuf.ErrNotDMABuf", dmabuf.ErrNotDMABuf}, {"cmsg.ErrOutOfBounds", cmsg.ErrOutOfBounds},
		{"devmem.ErrNoBuffer", devmem.ErrNoBuffer}, {"devmem.ErrLinearTooSmall", devmem.ErrLinearTooSmall},
		{"pagepool.ErrZeroSize", pagepool.ErrZeroSize}, {"pagepool.ErrOutOfRange", pagepool.ErrOutOfRange},
		{"pagepool.ErrAlignment", pagepool.ErrAlignment}, {"pagepool.ErrDoubleFree", pagepool.ErrDoubleFree},
		{"pagepool.ErrForeignRegion", pagepool.ErrForeignRegion}, {"pagepool.ErrSegment", pagepool.ErrSegment},
		{"pagepool.ErrInvalidToken", pagepool.ErrInvalidToken}, {"pagepool.ErrDuplicateToken", pagepool.ErrDuplicateToken},
		{"pagepool.ErrNotOutstanding", pagepool.ErrNotOutstanding}, {"pagepool.ErrForeignFrag", pagepool.ErrForeignFrag},
		{"pagepool.ErrHeld", pagepool.ErrHeld}, {"pagepool.ErrBatchDone", pagepool.ErrBatchDone}, {"pagepool.ErrClosed", pagepool.ErrClosed},
	} {
		if errors.Is(err, c.err) {
			names = append(names, c.name)
		}
	}
	if len(names) == 0 {
		return "(no sentinel) " + err.Error()
	}
	return strings.Join(names, ", ")
}

// allOf is a want entry that an error matches when it matches every one
// of the errors listed, such as a kernel EINVAL that must also match
// os.ErrInvalid.
type allOf []error

func (a allOf) Error() string {
	s := make([]string, len(a))
	for i, e := range a {
		s[i] = e.Error()
		if errno, ok := e.(unix.Errno); ok {
			s[i] = unix.ErrnoName(errno)
		}
	}
	return "all of (" + strings.Join(s, ", ") + ")"
}

// matches reports whether err matches w: errors.Is, or for an allOf every
// one of its errors.
func matches(err, w error) bool {
	if a, ok := w.(allOf); ok {
		for _, e := range a {
			if !errors.Is(err, e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, w)
}

func slicesAny[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if f(v) {
			return true
		}
	}
	return false
}
