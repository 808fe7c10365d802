//go:build !linux

package netdev

import (
	"fmt"
	"runtime"
	"syscall"
)

// errUnsupported is returned by every operation on other operating
// systems.
var errUnsupported = fmt.Errorf("netdev: not implemented on %s: %w", runtime.GOOS, ErrNotSupported)

// client is a stub: Dial fails, so no method is ever reached.
type client struct{}

func dial() (*client, error)                                 { return nil, errUnsupported }
func (*client) close() error                                 { return nil }
func (*client) supports(Command) bool                        { return false }
func (*client) dev(int) (*Dev, error)                        { return nil, errUnsupported }
func (*client) devs() ([]*Dev, error)                        { return nil, errUnsupported }
func (*client) queue(int, uint32, QueueType) (*Queue, error) { return nil, errUnsupported }
func (*client) queues(int) ([]*Queue, error)                 { return nil, errUnsupported }
func (*client) napi(uint32) (*NAPI, error)                   { return nil, errUnsupported }
func (*client) napis(int) ([]*NAPI, error)                   { return nil, errUnsupported }
func (*client) setNAPI(uint32, NAPIConfig) error             { return errUnsupported }
func (*client) pagePool(uint32) (*PagePool, error)           { return nil, errUnsupported }
func (*client) pagePools(int) ([]*PagePool, error)           { return nil, errUnsupported }
func (*client) pagePoolStats(uint32) (*PagePoolStats, error) { return nil, errUnsupported }
func (*client) pagePoolsStats(int) ([]*PagePoolStats, error) { return nil, errUnsupported }
func (*client) queueStats(int, QStatsScope) ([]*QueueStats, error) {
	return nil, errUnsupported
}
func (*client) createQueue(int, Lease) (uint32, error) { return 0, errUnsupported }
func (*client) bindRX(int, syscall.Conn, []uint32) (*Binding, error) {
	return nil, errUnsupported
}
func (*client) bindTX(int, syscall.Conn) (*Binding, error) { return nil, errUnsupported }
func (*client) subscribe([]Group) (*Subscription, error)   { return nil, errUnsupported }
