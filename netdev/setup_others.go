//go:build !linux

package netdev

func openNIC() (nic, error) { return nil, errEthtoolOS }
