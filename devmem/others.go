//go:build !linux

package devmem

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"time"

	"github.com/devmem-go/devmem/pagepool"
)

var errUnsupported = fmt.Errorf("devmem: devmem TCP on %s: %w", runtime.GOOS, ErrNotSupported)

// listener and conn have no implementation off Linux: Listen and Dial fail,
// so none is ever made; the methods of a nil one return errors.
type listener struct{}

type conn struct{}

func (lc *ListenConfig) listen(context.Context, string, string) (*listener, error) {
	return nil, opError(opListen, nil, nil, errUnsupported)
}

func dial(context.Context, string, string, *DialConfig) (*conn, error) {
	return nil, opError(opDial, nil, nil, errUnsupported)
}

func (*listener) accept(context.Context) (*Conn, error) { return nil, errUnsupported }
func (*listener) address() net.Addr                     { return nil }
func (*listener) close() error                          { return nil }
func (*listener) modeOf() Mode                          { return 0 }
func (*listener) reasonOf() error                       { return errUnsupported }
func (*listener) stats() ListenerStats                  { return ListenerStats{Reason: errUnsupported} }

func (*conn) read([]byte) (int, error)           { return 0, errUnsupported }
func (*conn) writeTo(io.Writer) (int64, error)   { return 0, errUnsupported }
func (*conn) write([]byte) (int, error)          { return 0, errUnsupported }
func (*conn) release([]Frag) error               { return errUnsupported }
func (*conn) hold(string, []Frag) (Batch, error) { return Batch{}, errUnsupported }
func (*conn) done(Batch) error                   { return errUnsupported }
func (*conn) fragBytes(Frag, []byte) []byte      { return nil }
func (*conn) syncRX(bool) error                  { return errUnsupported }
func (*conn) freeRegion(pagepool.Region) error   { return errUnsupported }
func (*conn) regionBytes(pagepool.Region) []byte { return nil }
func (*conn) flush(context.Context) error        { return errUnsupported }
func (*conn) close() error                       { return nil }
func (*conn) shutdown(bool) error                { return errUnsupported }
func (*conn) localAddr() net.Addr                { return nil }
func (*conn) remoteAddr() net.Addr               { return nil }
func (*conn) setDeadline(time.Time, bool, bool) error {
	return errUnsupported
}
func (*conn) syscallConn() (syscall.RawConn, error) { return nil, errUnsupported }
func (*conn) modeOf() Mode                          { return 0 }
func (*conn) reasonOf() error                       { return errUnsupported }
func (*conn) bindingID() uint32                     { return 0 }
func (*conn) stats() ConnStats                      { return ConnStats{} }
func (*conn) leakReport() pagepool.LeakReport       { return pagepool.LeakReport{} }

func (*conn) readFrags(_ context.Context, dst []Frag, _ []byte) ([]Frag, int, error) {
	return dst, 0, errUnsupported
}

func (*conn) alloc(context.Context, int) (pagepool.Region, error) {
	return pagepool.Region{}, errUnsupported
}

func (*conn) send(context.Context, []pagepool.Region, int) (int, error) {
	return 0, errUnsupported
}
