//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

// kernelPattern is validate_buffer's state machine, transcribed from
// ncdevmem.c line by line: the reference the pattern type must match.
//
//	static unsigned char seed = 1;
//	expected = seed ? seed : '\n';
//	seed++;
//	if (seed == do_validation) seed = 0;
type kernelPattern struct {
	seed         uint8 // unsigned char
	doValidation uint64
	started      bool
}

func (k *kernelPattern) next() byte {
	if !k.started {
		k.seed, k.started = 1, true
	}
	expected := k.seed
	if expected == 0 {
		expected = '\n'
	}
	k.seed++
	if uint64(k.seed) == k.doValidation { // size_t == int promotion of the char
		k.seed = 0
	}
	return expected
}

func kernelBytes(period uint64, n int) []byte {
	k := &kernelPattern{doValidation: period}
	b := make([]byte, n)
	for i := range b {
		b[i] = k.next()
	}
	return b
}

func TestPatternMatchesKernel(t *testing.T) {
	periods := []uint64{0, 1, 2, 3, 7, 8, 10, 11, 100, 255, 256, 257, 1000, 1 << 40}
	// Sizes that cross cycle and template boundaries.
	sizes := []int{1, 6, 7, 8, 255, 256, 257, 1000, templateLen - 1, templateLen, templateLen + 13, 3*templateLen + 5}
	for _, p := range periods {
		want := kernelBytes(p, 2*templateLen+1234)
		for _, n := range sizes {
			// fill in pieces of n bytes must give the kernel's stream.
			g := newPattern(p)
			got := make([]byte, 0, len(want))
			for len(got) < len(want) {
				k := min(n, len(want)-len(got))
				piece := make([]byte, k)
				g.fill(piece)
				got = append(got, piece...)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for got[i] == want[i] {
					i++
				}
				t.Fatalf("period %d, pieces of %d: byte %d is %d, the kernel's is %d", p, n, i, got[i], want[i])
			}
			// The checker accepts it in pieces of n, with no mismatch.
			c := &checker{pattern: newPattern(p)}
			for off := 0; off < len(want); off += n {
				if err := c.check(want[off:min(off+n, len(want))]); err != nil {
					t.Fatalf("period %d, pieces of %d: check at %d: %v", p, n, off, err)
				}
			}
			if c.errors != 0 || c.offset != uint64(len(want)) {
				t.Fatalf("period %d: checker %d errors, offset %d; want 0, %d", p, c.errors, c.offset, len(want))
			}
		}
	}
}

// TestPatternIsYes checks the kernel tool's documented senders: for -v 7
// the stream is `yes $(echo -e \\x01\\x02\\x03\\x04\\x05\\x06)`, for -v 8
// the same with \x07.
func TestPatternIsYes(t *testing.T) {
	for _, tc := range []struct {
		period uint64
		line   string
	}{
		{7, "\x01\x02\x03\x04\x05\x06\n"},
		{8, "\x01\x02\x03\x04\x05\x06\x07\n"},
	} {
		want := strings.Repeat(tc.line, 1000)
		g := &generator{pattern: newPattern(tc.period), left: int64(len(want))}
		var got bytes.Buffer
		if _, err := got.ReadFrom(g); err != nil {
			t.Fatal(err)
		}
		if got.String() != want {
			t.Errorf("period %d: the generator's stream is not yes %q", tc.period, tc.line)
		}
	}
}

func TestCheckerReportsMismatches(t *testing.T) {
	var log bytes.Buffer
	c := &checker{pattern: newPattern(7), log: &log}
	good := kernelBytes(7, 100)
	bad := bytes.Clone(good)
	bad[3] = 'x'
	if err := c.check(bad); err != nil {
		t.Fatalf("one wrong byte: %v, want no error yet (the run fails at the end)", err)
	}
	if c.errors != 1 {
		t.Fatalf("errors %d, want 1", c.errors)
	}
	if want := "Failed validation: expected=4, actual=120, index=3\n"; log.String() != want {
		t.Fatalf("log %q, want %q", log.String(), want)
	}
	// The stream goes on in step after a wrong byte.
	if err := c.check(kernelBytes(7, 200)[100:]); err != nil || c.errors != 1 {
		t.Fatalf("continuing: %v, %d errors", err, c.errors)
	}
	// More than 20 wrong bytes stop the check.
	junk := bytes.Repeat([]byte{'x'}, 50)
	if err := c.check(junk); err != errTooManyMismatches {
		t.Fatalf("50 wrong bytes: %v, want errTooManyMismatches", err)
	}
	if c.errors != maxReportedMismatches+1 {
		t.Fatalf("errors %d, want %d", c.errors, maxReportedMismatches+1)
	}
}

func FuzzPattern(f *testing.F) {
	f.Add(uint64(7), uint16(100), uint16(3))
	f.Add(uint64(1), uint16(600), uint16(255))
	f.Add(uint64(300), uint16(1000), uint16(17))
	// newPattern builds a 64 KiB template, which cost more than the checks.
	// Its result depends only on min(period, 256); TestPatternMatchesKernel
	// checks it against the kernel's stream for each kind of period, so
	// the executions share one per class (the templates are only read).
	var templates [257]*pattern
	newPatternOnce := func(period uint64) pattern {
		i := min(period, 256)
		if templates[i] == nil {
			p := newPattern(period)
			templates[i] = &p
		}
		p := *templates[i]
		p.period = period
		return p
	}
	f.Fuzz(func(t *testing.T, period uint64, total, piece uint16) {
		if piece == 0 {
			piece = 1
		}
		// The stream's state cycles within 256 bytes and a fill or check
		// of at most 64 KiB never crosses the template (that needs
		// longer calls: TestPatternMatchesKernel), so 8 KiB streams reach
		// every state and boundary at 8 times the executions per second.
		total %= 8 << 10
		want := kernelBytes(period, int(total))
		g := newPatternOnce(period)
		got := make([]byte, total)
		for off := 0; off < len(got); off += int(piece) {
			g.fill(got[off:min(off+int(piece), len(got))])
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("period %d: fill differs from the kernel's stream", period)
		}
		c := &checker{pattern: newPatternOnce(period)}
		for off := 0; off < len(want); off += int(piece) {
			if err := c.check(want[off:min(off+int(piece), len(want))]); err != nil {
				t.Fatal(err)
			}
		}
		if c.errors != 0 {
			t.Fatalf("period %d: %d mismatches on the kernel's own stream", period, c.errors)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	data := kernelBytes(7, 7<<17) // whole periods: every iteration starts in phase
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	c := &checker{pattern: newPattern(7)}
	for b.Loop() {
		if err := c.check(data); err != nil {
			b.Fatal(err)
		}
	}
}
