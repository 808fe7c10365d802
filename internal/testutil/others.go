//go:build !linux

package testutil

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/devmem-go/devmem/internal"
)

var errNotLinux = errors.Join(internal.ErrNotSupported, errors.New("testutil: network namespaces need Linux"))

// NetNS is a network namespace; Linux only.
type NetNS struct{}

// ErrNetNSClosed is returned by Do after Close.
var ErrNetNSClosed = errors.New("testutil: network namespace closed")

// NewNetNS skips the test: network namespaces need Linux.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	t.Skip("network namespaces need Linux")
	return nil
}

// OpenNetNS fails: network namespaces need Linux.
func OpenNetNS() (*NetNS, error) { return nil, errNotLinux }

// Do fails: network namespaces need Linux.
func (*NetNS) Do(func() error) error { return errNotLinux }

// FD returns -1.
func (*NetNS) FD() int { return -1 }

// Close does nothing.
func (*NetNS) Close() error { return nil }

// RTNL is an rtnetlink client; Linux only.
type RTNL struct{}

// DialRTNL fails: rtnetlink needs Linux.
func DialRTNL(*NetNS) (*RTNL, error) { return nil, errNotLinux }

// NewRTNL skips the test: rtnetlink needs Linux.
func NewRTNL(t testing.TB, _ *NetNS) *RTNL {
	t.Helper()
	t.Skip("rtnetlink needs Linux")
	return nil
}

// Close does nothing.
func (*RTNL) Close() error { return nil }

// LinkIndex fails: Linux only.
func (*RTNL) LinkIndex(string) (int, error) { return 0, errNotLinux }

// SetUp fails: Linux only.
func (*RTNL) SetUp(int) error { return errNotLinux }

// AddAddr fails: Linux only.
func (*RTNL) AddAddr(int, netip.Prefix) error { return errNotLinux }

// AddVeth fails: Linux only.
func (*RTNL) AddVeth(string, string, *NetNS) error { return errNotLinux }

// MoveLink fails: Linux only.
func (*RTNL) MoveLink(int, *NetNS) error { return errNotLinux }

// DelLink fails: Linux only.
func (*RTNL) DelLink(int) error { return errNotLinux }

// NetdevsimPair skips the test: netdevsim needs Linux.
func NetdevsimPair(t testing.TB, _ NetdevsimOptions) *SimPair {
	t.Helper()
	t.Skip("netdevsim needs Linux")
	return nil
}
