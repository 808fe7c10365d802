//go:build !linux

package netdev

import "fmt"

// errEthtoolOS is returned by every Ethtool operation off Linux.
var errEthtoolOS = fmt.Errorf("netdev: ethtool needs Linux: %w", ErrNotSupported)

// ethtoolClient is the non-Linux stand-in: every method fails.
type ethtoolClient struct{}

func newEthtoolClient() (*ethtoolClient, error)              { return nil, errEthtoolOS }
func (*ethtoolClient) close() error                          { return nil }
func (*ethtoolClient) rings(int) (*Rings, error)             { return nil, errEthtoolOS }
func (*ethtoolClient) setRings(int, RingsUpdate) error       { return errEthtoolOS }
func (*ethtoolClient) channels(int) (*Channels, error)       { return nil, errEthtoolOS }
func (*ethtoolClient) setChannels(int, ChannelsUpdate) error { return errEthtoolOS }
func (*ethtoolClient) rss(int) (*RSS, error)                 { return nil, errEthtoolOS }
func (*ethtoolClient) setRSSIndir(int, []uint32) error       { return errEthtoolOS }
func (*ethtoolClient) insertFlowRule(int, FlowSpec) (FlowRule, error) {
	return FlowRule{}, errEthtoolOS
}
func (*ethtoolClient) deleteFlowRule(int, uint32) error { return errEthtoolOS }
func (*ethtoolClient) flowRuleLocations(int) (uint32, []uint32, error) {
	return 0, nil, errEthtoolOS
}
