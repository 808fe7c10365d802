package dmabuf

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"weak"
)

var errMappingClosed = fmt.Errorf("dmabuf: mapping is closed: %w", os.ErrClosed)

// Mapping is a dma-buf mapped into the process by [Buffer.Map].
//
// ReadAt and WriteAt copy with bounds checks and are safe for concurrent
// use with each other and with Close. [Mapping.Bytes] gives the memory
// itself for zero-copy access; that slice is only valid until the Mapping
// or its Buffer is closed (touching it afterwards crashes the program), and
// it does not keep the Mapping alive: keep using the Mapping (or call
// runtime.KeepAlive on it) while the slice is in use.
//
// The mapping is shared with devices: bracket CPU access with
// [Buffer.Sync] (or BeginCPUAccess/EndCPUAccess) so that caches are
// maintained on systems where DMA is not cache-coherent.
//
// A Mapping that becomes unreachable without Close is unmapped by a
// runtime cleanup.
type Mapping struct {
	mu      sync.RWMutex
	data    []byte // nil once unmapped
	buf     weak.Pointer[Buffer]
	cleanup runtime.Cleanup
}

var (
	_ io.ReaderAt = (*Mapping)(nil)
	_ io.WriterAt = (*Mapping)(nil)
)

func newMapping(data []byte, b *Buffer) *Mapping {
	m := &Mapping{data: data, buf: weak.Make(b)}
	m.cleanup = runtime.AddCleanup(m, func(d []byte) { _ = sysMunmap(d) }, data)
	return m
}

// Bytes returns the mapped memory, or nil once the Mapping is closed. See
// [Mapping] for how long the slice stays valid.
func (m *Mapping) Bytes() []byte {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.data
}

// Len returns the mapped length in bytes, or 0 once closed.
func (m *Mapping) Len() int {
	if m == nil {
		return 0
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.data)
}

// ReadAt copies len(p) bytes from offset off into p. Following
// io.ReaderAt, it returns io.EOF with the bytes that were there when the
// range runs past the end. A negative offset gives an error matching
// os.ErrInvalid, a closed Mapping one matching os.ErrClosed.
func (m *Mapping) ReadAt(p []byte, off int64) (int, error) {
	if m == nil {
		return 0, errMappingClosed
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.data == nil {
		return 0, errMappingClosed
	}
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

var errNegativeOffset = fmt.Errorf("dmabuf: negative offset: %w", os.ErrInvalid)

// WriteAt copies p into the mapping at offset off. It writes nothing and
// returns an error wrapping io.ErrShortWrite if the range does not fit; a
// negative offset gives an error matching os.ErrInvalid, a closed Mapping
// one matching os.ErrClosed.
func (m *Mapping) WriteAt(p []byte, off int64) (int, error) {
	if m == nil {
		return 0, errMappingClosed
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.data == nil {
		return 0, errMappingClosed
	}
	if off < 0 {
		return 0, errNegativeOffset
	}
	if off > int64(len(m.data)) || int64(len(p)) > int64(len(m.data))-off {
		return 0, fmt.Errorf("dmabuf: write of %d bytes at offset %d does not fit a %d-byte mapping: %w",
			len(p), off, len(m.data), io.ErrShortWrite)
	}
	return copy(m.data[off:], p), nil
}

// Close unmaps the memory. Closing a closed or nil Mapping returns nil.
func (m *Mapping) Close() error {
	if m == nil {
		return nil
	}
	err := m.unmap()
	if b := m.buf.Value(); b != nil {
		b.forget(m)
	}
	return err
}

func (m *Mapping) unmap() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil
	}
	err := sysMunmap(m.data)
	m.data = nil
	m.cleanup.Stop()
	return err
}
