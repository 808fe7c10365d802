//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/devmem-go/devmem/netdev"
	"github.com/devmem-go/devmem/udmabuf"
)

// negative runs the kernel tool's run_devmem_tests: with the device
// prepared for devmem, binding with no queues must fail, binding with
// header split off must fail, binding the queues must then work, and
// shrinking the channels under the bound queues must fail. The device is
// put back as it was, also on failure.
func negative(ctx context.Context, o *options, sio *stdio) (res *negativeResult, err error) {
	res = &negativeResult{Role: "negative", Interface: o.iface, Checks: []checkStep{}}
	if o.iface == "" {
		return res, errors.New("missing -f argument")
	}
	ifi, err := net.InterfaceByName(o.iface)
	if err != nil {
		return res, fmt.Errorf("-f %s: %w", o.iface, err)
	}
	ifindex := ifi.Index
	fmt.Fprintf(sio.err, "using ifindex=%d\n", ifindex)

	nl, err := netdev.Dial()
	if err != nil {
		return res, err
	}
	defer nl.Close()
	if !nl.HasBindRX() {
		return res, fmt.Errorf("the kernel has no netdev bind-rx (devmem TCP needs Linux 6.12): %w", netdev.ErrNotSupported)
	}
	et, err := netdev.NewEthtool()
	if err != nil {
		return res, err
	}
	defer et.Close()

	switch {
	case o.startQueue < 0 && o.numQueues < 0:
		ch, err := et.Channels(ifindex)
		if err != nil {
			return res, fmt.Errorf("couldn't detect number of queues: %w", err)
		}
		n := int(ch.RXQueues())
		if n < 2 {
			return res, fmt.Errorf("number of device queues is too low (%d): the checks need two", n)
		}
		// Bind several queues where there are, as the kernel tool does.
		o.startQueue, o.numQueues = n/2, n/2
	case o.startQueue < 0 || o.numQueues < 0:
		return res, errors.New("both -t and -q are required")
	case o.numQueues == 0:
		return res, errors.New("-q must be at least 1")
	}
	queues := queueRange(o.startQueue, o.numQueues)
	res.Queues = queues
	if err := ctx.Err(); err != nil {
		return res, err
	}

	buf, err := udmabuf.Create(o.bufSize, nil)
	if err != nil {
		return res, err
	}
	defer buf.Close()

	cfg, notes := trimSetup(netdev.SetupConfig{Ifindex: ifindex, Queues: queues, SteerRSSAway: true})
	for _, n := range notes {
		fmt.Fprintf(sio.err, "ncdevmem: note: %s\n", n)
	}
	undo, err := netdev.Apply(cfg)
	if err != nil {
		return res, fmt.Errorf("preparing %s: %w", o.iface, err)
	}
	defer func() {
		if rerr := undo.Restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring %s: %w", o.iface, rerr))
		}
	}()
	rings, err := et.Rings(ifindex)
	if err != nil {
		return res, err
	}

	step := func(name string, ok bool, detail string) {
		res.Checks = append(res.Checks, checkStep{Name: name, OK: ok, Detail: detail})
		verdict := "ok"
		if !ok {
			verdict = "FAIL"
		}
		fmt.Fprintf(sio.err, "ncdevmem: %s: %s: %s\n", name, verdict, detail)
	}
	// mustFail binds and expects a refusal.
	mustFail := func(name string, qs []uint32) bool {
		b, err := nl.BindRX(ifindex, buf, qs)
		if err == nil {
			b.Close()
			step(name, false, "the bind succeeded")
			return false
		}
		step(name, true, "refused: "+err.Error())
		return true
	}

	if !mustFail("bind with no queues", nil) {
		return res, errors.New("binding empty queues array should have failed")
	}

	// Header split back to the driver's default, as the kernel tool does:
	// bind-rx wants it on, "auto" is not enough.
	unknown := netdev.TCPDataSplitUnknown
	if err := et.SetRings(ifindex, netdev.RingsUpdate{TCPDataSplit: &unknown}); err != nil {
		return res, fmt.Errorf("turning header split off: %w", err)
	}
	if !mustFail("bind with header split off", queues) {
		return res, errors.New("configure dmabuf with header split off should have failed")
	}
	on, zero := netdev.TCPDataSplitEnabled, uint32(0)
	up := netdev.RingsUpdate{TCPDataSplit: &on}
	if rings.HDSThreshSupported {
		up.HDSThresh = &zero
	}
	if err := et.SetRings(ifindex, up); err != nil {
		return res, fmt.Errorf("turning header split back on: %w", err)
	}

	b, err := nl.BindRX(ifindex, buf, queues)
	if err != nil {
		step("bind", false, err.Error())
		return res, fmt.Errorf("failed to bind: %w", err)
	}
	defer b.Close()
	step("bind", true, b.String())

	// Deactivating a bound queue must be refused.
	ch, err := et.Channels(ifindex)
	if err != nil {
		return res, err
	}
	n := uint32(o.numQueues)
	shrink, back := shrinkChannels(ch, n, n)
	fmt.Fprintf(sio.err, "setting channel count rx:%d tx:%d\n", n, n)
	if err := et.SetChannels(ifindex, shrink); err == nil {
		step("shrink channels under a bound queue", false, "the kernel accepted it")
		if rerr := et.SetChannels(ifindex, back); rerr != nil {
			fmt.Fprintf(sio.err, "ncdevmem: un-setting channels: %v\n", rerr)
		}
		return res, errors.New("deactivating a bound queue should be illegal")
	} else {
		step("shrink channels under a bound queue", true, "refused: "+err.Error())
	}
	if err := b.Close(); err != nil {
		return res, err
	}
	res.OK = true
	return res, nil
}

// shrinkChannels returns the update that sets rx RX and tx TX channels
// as the kernel tool's check_changing_channels does, and the one that puts
// ch back.
func shrinkChannels(ch *netdev.Channels, rx, tx uint32) (shrink, back netdev.ChannelsUpdate) {
	u32 := func(v uint32) *uint32 { return &v }
	back = netdev.ChannelsUpdate{Combined: u32(ch.Combined), RX: u32(ch.RX), TX: u32(ch.TX)}
	if ch.MaxCombined > 0 {
		if ch.MaxRX > 0 || ch.MaxTX > 0 {
			shrink.RX, shrink.TX = u32(0), u32(0)
		}
		switch {
		case rx == tx:
			shrink.Combined = u32(rx)
		case rx > tx:
			shrink.Combined, shrink.RX = u32(tx), u32(rx-tx)
		default:
			shrink.Combined, shrink.TX = u32(rx), u32(tx-rx)
		}
		if ch.MaxRX == 0 && ch.MaxTX == 0 {
			back.RX, back.TX = nil, nil
		}
		return shrink, back
	}
	shrink.RX, shrink.TX = u32(rx), u32(tx)
	back.Combined = nil
	return shrink, back
}
