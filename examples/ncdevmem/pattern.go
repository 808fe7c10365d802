//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
)

// pattern is the byte sequence of the kernel's ncdevmem validation
// (validate_buffer in tools/testing/selftests/drivers/net/hw/ncdevmem.c),
// as a state machine shared by the sender and the checker.
//
// The state is an 8-bit seed that starts at 1. Each byte is the seed, or
// '\n' when the seed is 0; then the seed is incremented (wrapping at 256)
// and reset to 0 when it equals the period. For period 7 the stream is
// "\x01\x02\x03\x04\x05\x06\n" repeated: the output of
// `yes $(echo -e \\x01\\x02\\x03\\x04\\x05\\x06)`. A period of 256 or more
// never resets, so the seed cycles through all 256 values; the quirks of
// small periods (1 gives "\x01\x02...\xff\n\n\n...") are the kernel's too.
type pattern struct {
	period uint64
	seed   uint8
	// cycle is the stream from seed 1, repeated for templateLen bytes past
	// one cycle, for the bulk paths; nil for period 1, which has none.
	cycle    []byte
	cycleLen int
}

// templateLen is how many bytes of the stream fill and check handle with
// one copy or comparison.
const templateLen = 64 << 10

func newPattern(period uint64) pattern {
	p := pattern{period: period, seed: 1}
	switch {
	case period == 1:
		return p // 1, 2, ..., 255, then '\n' for ever: no cycle
	case period >= 2 && period < 256:
		p.cycleLen = int(period)
	default: // 0 and 256 and up: the seed never resets
		p.cycleLen = 256
	}
	t := pattern{period: period, seed: 1}
	p.cycle = make([]byte, p.cycleLen+templateLen)
	for i := range p.cycle {
		p.cycle[i] = t.next()
	}
	return p
}

// pos is the position of the seed in the cycle.
func (p *pattern) pos() int {
	if p.seed == 0 {
		return p.cycleLen - 1
	}
	return int(p.seed) - 1
}

// advance moves the state n bytes on (with a cycle).
func (p *pattern) advance(n int) {
	q := (p.pos() + n) % p.cycleLen
	if q == p.cycleLen-1 {
		p.seed = 0
	} else {
		p.seed = uint8(q + 1)
	}
}

// next returns the next byte of the stream.
func (p *pattern) next() byte {
	b := p.seed
	if b == 0 {
		b = '\n'
	}
	p.seed++
	if uint64(p.seed) == p.period {
		p.seed = 0
	}
	return b
}

// fill writes the next len(b) bytes of the stream into b.
func (p *pattern) fill(b []byte) {
	if p.cycle == nil {
		for i := range b {
			b[i] = p.next()
		}
		return
	}
	for len(b) > 0 {
		pos := p.pos()
		n := copy(b, p.cycle[pos:pos+templateLen])
		p.advance(n)
		b = b[n:]
	}
}

// equal reports whether b is the next len(b) bytes of the stream, and if
// so moves past them; otherwise the state is unchanged.
func (p *pattern) equal(b []byte) bool {
	if p.cycle == nil {
		return false
	}
	save := p.seed
	for len(b) > 0 {
		pos := p.pos()
		n := min(len(b), templateLen)
		if !bytes.Equal(b[:n], p.cycle[pos:pos+n]) {
			p.seed = save
			return false
		}
		p.advance(n)
		b = b[n:]
	}
	return true
}

// maxReportedMismatches is the number of wrong bytes the checker prints
// before it gives up, as the kernel's validate_buffer does.
const maxReportedMismatches = 20

// checker validates a received stream against the pattern. Unlike the
// kernel, which tolerates up to 20 wrong bytes, any wrong byte makes the
// run fail; the first 20 are reported in the kernel's words.
type checker struct {
	pattern
	offset uint64 // bytes checked so far
	errors uint64
	log    io.Writer // where mismatches are reported
}

// errTooManyMismatches is returned once more than maxReportedMismatches
// bytes were wrong.
var errTooManyMismatches = fmt.Errorf("validation failed: more than %d wrong bytes", maxReportedMismatches)

// check validates b, the next bytes of the stream. It returns
// errTooManyMismatches when the mismatches pass the limit.
func (c *checker) check(b []byte) error {
	if c.equal(b) {
		c.offset += uint64(len(b))
		return nil
	}
	for i, got := range b {
		want := c.next()
		if got == want {
			continue
		}
		c.errors++
		if c.log != nil {
			fmt.Fprintf(c.log, "Failed validation: expected=%d, actual=%d, index=%d\n", want, got, i)
		}
		if c.errors > maxReportedMismatches {
			c.offset += uint64(i) + 1
			return errTooManyMismatches
		}
	}
	c.offset += uint64(len(b))
	return nil
}

// generator is an io.Reader of size bytes of the pattern.
type generator struct {
	pattern
	left int64
}

func (g *generator) Read(b []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > g.left {
		b = b[:g.left]
	}
	g.fill(b)
	g.left -= int64(len(b))
	return len(b), nil
}
