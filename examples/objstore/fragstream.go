//go:build linux

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/devmem-go/devmem/devmem"
)

// fragStream reads a connection's byte stream as it lies in the receive
// buffer: the frags of devmem.Conn.ReadFrags, consumed in order, each
// released once all of its bytes were used. Headers are copied out of
// it; PUT payloads go from the frags to the store without another buffer.
type fragStream struct {
	c      *devmem.Conn
	frags  []devmem.Frag
	linear []byte
	i      int    // current frag
	off    uint32 // bytes of it consumed
	open   bool   // inside BeginRead/EndRead
}

func newFragStream(c *devmem.Conn) *fragStream {
	return &fragStream{c: c, frags: make([]devmem.Frag, 0, 128), linear: make([]byte, 256<<10)}
}

// next returns up to max bytes of the stream, valid until the next call.
// At the end of the stream it returns io.EOF.
func (s *fragStream) next(ctx context.Context, max int) ([]byte, error) {
	for s.i >= len(s.frags) {
		if err := s.fill(ctx); err != nil {
			return nil, err
		}
	}
	f := s.frags[s.i]
	b := s.c.FragBytes(f, s.linear)
	if b == nil {
		return nil, fmt.Errorf("objstore: frag %+v: %w", f, devmem.ErrNoMapping)
	}
	b = b[s.off:]
	if len(b) > max {
		b = b[:max]
	}
	s.off += uint32(len(b))
	if s.off == f.Size {
		s.i, s.off = s.i+1, 0
	}
	return b, nil
}

// fill gives back the frags consumed so far and reads the next ones.
func (s *fragStream) fill(ctx context.Context) error {
	if err := s.release(); err != nil {
		return err
	}
	fs, _, err := s.c.ReadFragsContext(ctx, s.frags[:0], s.linear)
	if err != nil {
		return err
	}
	s.frags, s.i, s.off = fs, 0, 0
	if err := s.c.BeginRead(); err != nil {
		return err
	}
	s.open = true
	return nil
}

// release gives back the frags that were fully consumed and ends the CPU
// read window when all of them were. The current frag, if begun, stays.
func (s *fragStream) release() error {
	if s.i == 0 {
		return nil
	}
	done := s.frags[:s.i]
	err := s.c.Release(done)
	if s.i == len(s.frags) {
		s.frags, s.i = s.frags[:0], 0
		if s.open {
			s.open = false
			if eerr := s.c.EndRead(); err == nil {
				err = eerr
			}
		}
		return err
	}
	// Keep the rest at the front; their bytes stay where they are.
	n := copy(s.frags, s.frags[s.i:])
	s.frags, s.i = s.frags[:n], 0
	return err
}

// readFull copies the next len(p) bytes into p. A stream that ends
// before the first byte gives io.EOF, inside p io.ErrUnexpectedEOF.
func (s *fragStream) readFull(ctx context.Context, p []byte) error {
	for n := 0; n < len(p); {
		b, err := s.next(ctx, len(p)-n)
		if err == io.EOF && n > 0 {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		n += copy(p[n:], b)
	}
	return nil
}

// each calls fn with the next n bytes, piece by piece as they lie in the
// buffer. It consumes all n bytes even when fn fails, and returns fn's
// first error after that (the stream stays in step).
func (s *fragStream) each(ctx context.Context, n uint64, fn func([]byte) error) error {
	var ferr error
	for n > 0 {
		b, err := s.next(ctx, int(min(n, 1<<30)))
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if ferr == nil {
			ferr = fn(b)
		}
		n -= uint64(len(b))
	}
	return ferr
}
