//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/metrics"
	"strconv"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/pagepool"
)

// childEnv selects the child receiver: the test binary run again by TestE2E
// as the "lib" receiver.
const childEnv = "DEVMEM_BENCH_E2E_CHILD"

// warmupBytes are received before the child starts counting allocations.
const warmupBytes = 8 << 20

// period is the ncdevmem -v 7 pattern: "\x01\x02\x03\x04\x05\x06\n".
const period = 7

// patternBuf returns n bytes of the -v 7 pattern from its start, n rounded
// down to whole periods.
func patternBuf(n int) []byte {
	n -= n % period
	b := make([]byte, n)
	for i := range b {
		if v := byte(i%period + 1); v < period {
			b[i] = v
		} else {
			b[i] = '\n'
		}
	}
	return b
}

// validator checks a stream against the pattern, chunk by chunk.
type validator struct {
	tmpl []byte // the pattern, one period more than the longest compare
	pos  int    // the stream's position in the period
	bad  bool
}

const validateChunk = 64 << 10

func newValidator() *validator {
	return &validator{tmpl: patternBuf(validateChunk + 2*period)}
}

func (v *validator) check(b []byte) {
	for len(b) > 0 {
		n := min(len(b), validateChunk)
		if !bytes.Equal(b[:n], v.tmpl[v.pos:v.pos+n]) {
			v.bad = true
		}
		v.pos = (v.pos + n) % period
		b = b[n:]
	}
}

// childMain is the "lib" receiver: flags -f IF -s ADDR -p PORT -batch N
// -out FILE. It listens with the devmem package on queue 0 of IF (NIC
// set up by the harness), accepts one connection, receives it to the end,
// validating every byte through the mapping, and writes its allocation
// count to FILE as "bytes allocbytes" after warm-up.
func childMain() int {
	fs := flag.NewFlagSet("lib", flag.ContinueOnError)
	iface := fs.String("f", "", "interface")
	addr := fs.String("s", "", "address")
	port := fs.Int("p", 0, "port")
	batch := fs.Int("batch", 0, "release batch (frags)")
	out := fs.String("out", "", "result file")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if err := childReceive(*iface, *addr, *port, *batch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "lib receiver:", err)
		return 1
	}
	return 0
}

func childReceive(iface, addr string, port, batch int, out string) error {
	ctx := context.Background()
	lc := &devmem.ListenConfig{
		Interface:  iface,
		BufferSize: 16000 * 4096, // ncdevmem's buffer
		Queues:     []uint32{0},
		Release:    pagepool.ReleasePolicy{BatchFrags: batch},
		Fallback:   devmem.FallbackNone,
	}
	l, err := lc.Listen(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(os.Stderr, "Waiting or connection on %s\n", l.Addr())
	c, err := l.AcceptContext(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	var total, counted, allocStart uint64
	started := false
	v := newValidator()
	frags := make([]devmem.Frag, 0, 256)
	linear := make([]byte, 819200) // ncdevmem's iobuf
	for {
		fs, _, err := c.ReadFrags(frags[:0], linear)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := c.BeginRead(); err != nil {
			return err
		}
		for _, f := range fs {
			b := c.FragBytes(f, linear)
			if b == nil {
				return fmt.Errorf("frag %+v: %w", f, devmem.ErrNoMapping)
			}
			v.check(b)
			total += uint64(f.Size)
			if started {
				counted += uint64(f.Size)
			}
		}
		if err := c.EndRead(); err != nil {
			return err
		}
		if err := c.Release(fs); err != nil {
			return err
		}
		if v.bad {
			return errors.New("validation failed")
		}
		if !started && total >= warmupBytes {
			metrics.Read(sample)
			allocStart, started = sample[0].Value.Uint64(), true
		}
	}
	metrics.Read(sample)
	allocs := uint64(0)
	if started {
		allocs = sample[0].Value.Uint64() - allocStart
	}
	if st := c.Stats(); st.Mode != devmem.ModeDevmem || st.DevmemBytes != total {
		return fmt.Errorf("not a devmem stream: %+v", st)
	}
	if out != "" {
		return os.WriteFile(out, fmt.Appendf(nil, "%d %d\n", counted, allocs), 0o644)
	}
	return nil
}
