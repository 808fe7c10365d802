//go:build linux

package netdev

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// These tests run against the real kernel in a fresh network namespace.
// veth has channels but no ring parameters, RSS or n-tuple filters, so it
// shows the refusal paths; netdevsim (in the VM's test kernel) has header
// split and hds-thresh and shows the working path.

// setupState is every setting Preflight reads, to prove it changed nothing.
type setupState struct {
	Link     setupLink
	Queues   []setupQueue
	Channels *Channels
	Rings    *Rings
	RSS      *RSS
	Ntuple   featureState
	Rules    []uint32
	Errs     []string
}

func readSetupState(t *testing.T, ifindex int) setupState {
	t.Helper()
	n, err := openNIC()
	if err != nil {
		t.Fatalf("openNIC: %v", err)
	}
	defer n.close()
	var s setupState
	errs := func(err error) {
		if err != nil {
			s.Errs = append(s.Errs, err.Error())
		}
	}
	s.Link, err = n.link(ifindex)
	errs(err)
	s.Queues, err = n.rxQueues(ifindex)
	errs(err)
	s.Channels, err = n.channels(ifindex)
	errs(err)
	s.Rings, err = n.rings(ifindex)
	errs(err)
	s.RSS, err = n.rss(ifindex)
	errs(err)
	s.Ntuple, err = n.feature(ifindex, ntupleFeature)
	errs(err)
	_, s.Rules, err = n.(linuxNIC).flowRuleLocations(ifindex)
	errs(err)
	return s
}

var setupStateCmp = cmp.AllowUnexported(setupLink{}, setupQueue{})

func TestIntegrationEthtoolVeth(t *testing.T) {
	setupNetNS(t)
	ifindex := setupVeth(t, "dmv0", 4) // also starts the runtime's poller (its fds)
	fds := setupFDs(t)

	c, err := NewEthtool()
	if err != nil {
		t.Fatalf("NewEthtool: %v", err)
	}

	// veth reports channels: one RX and one TX queue per configured queue.
	ch, err := c.Channels(ifindex)
	if err != nil {
		t.Fatalf("Channels: %v", err)
	}
	if diff := cmp.Diff(&Channels{RX: 4, TX: 4, MaxRX: 4, MaxTX: 4}, ch); diff != "" {
		t.Errorf("Channels (-want +got):\n%s", diff)
	}

	// veth has no ring parameters: RINGS_GET is EOPNOTSUPP.
	_, err = c.Rings(ifindex)
	checkSetupError(t, "Rings", err, ErrNotSupported, &Error{Op: "rings-get", Ifindex: ifindex,
		Hint: "the device's driver does not support this; equivalent command: ethtool -g dmv0"})

	// Setting tcp-data-split: the kernel's validation refuses with extack.
	on := TCPDataSplitEnabled
	err = c.SetRings(ifindex, RingsUpdate{TCPDataSplit: &on})
	checkSetupError(t, "SetRings", err, ErrNotSupported, &Error{Op: "rings-set", Ifindex: ifindex,
		Message: "setting TCP data split is not supported",
		Hint:    "the device's driver does not support this; equivalent command: ethtool -G dmv0 tcp-data-split on"})

	// n-tuple rules go through SIOCETHTOOL; veth has no set_rxnfc.
	f := FlowSpec{Dst: netip.MustParseAddrPort("192.0.2.1:5201"), Src: netip.MustParseAddrPort("198.51.100.7:0"), Queue: 1}
	_, err = c.InsertFlowRule(ifindex, f)
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("InsertFlowRule: %v, want EOPNOTSUPP", err)
	}
	var ne *Error
	if errors.As(err, &ne) && (ne.Op != "SRXCLSRLINS" || !strings.Contains(ne.Hint, "ethtool -N dmv0 flow-type tcp4 dst-ip 192.0.2.1 dst-port 5201 action 1")) {
		t.Errorf("InsertFlowRule error %+v: want op SRXCLSRLINS and the 3-tuple command in the hint", ne)
	}
	if _, _, err := c.FlowRuleLocations(ifindex); !errors.Is(err, ErrNotSupported) {
		t.Errorf("FlowRuleLocations: %v, want ErrNotSupported", err)
	}
	if err := c.DeleteFlowRule(ifindex, 0); !errors.Is(err, ErrNotSupported) {
		t.Errorf("DeleteFlowRule: %v, want ErrNotSupported", err)
	}
	if _, err := c.RSS(ifindex); !errors.Is(err, ErrNotSupported) {
		t.Errorf("RSS: %v, want ErrNotSupported", err)
	}

	// Unknown devices are os.ErrNotExist, by netlink and by ioctl.
	if _, err := c.Channels(9999); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Channels(9999): %v, want os.ErrNotExist", err)
	}
	if _, _, err := c.FlowRuleLocations(9999); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FlowRuleLocations(9999): %v, want os.ErrNotExist", err)
	}

	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := setupFDs(t); got != fds {
		t.Errorf("open fds: %d before, %d after Close", fds, got)
	}
}

// checkSetupError asserts err is an *Error matching is, with want's Op,
// Ifindex, Hint and (when set) Message.
func checkSetupError(t *testing.T, what string, err, is error, want *Error) {
	t.Helper()
	if !errors.Is(err, is) {
		t.Errorf("%s: %v, want errors.Is %v", what, err, is)
		return
	}
	var ne *Error
	if !errors.As(err, &ne) {
		t.Errorf("%s: %T is not an *Error", what, err)
		return
	}
	got := &Error{Op: ne.Op, Ifindex: ne.Ifindex, Hint: ne.Hint}
	if want.Message != "" {
		got.Message = ne.Message
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s *Error (-want +got):\n%s", what, diff)
	}
}

func vethSetupConfig(ifindex int) SetupConfig {
	return SetupConfig{
		Ifindex:      ifindex,
		Queues:       []uint32{2, 3, 7},
		Flows:        []FlowSpec{{Dst: netip.MustParseAddrPort("[::ffff:192.0.2.1]:5201"), Queue: 2}},
		SteerRSSAway: true,
	}
}

func TestIntegrationPreflightVeth(t *testing.T) {
	setupNetNS(t)
	ifindex := setupVeth(t, "dmv0", 4)
	before := readSetupState(t, ifindex)
	fds := setupFDs(t)

	// Down: queue-get lists nothing, so queue-free is not checked, and
	// the queue count comes from the channels.
	r, err := Preflight(vethSetupConfig(ifindex))
	if err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	t.Logf("%v", r)
	want := []condKey{
		{CheckHeaderSplit, -1, StateFails},
		{CheckHDSThresh, -1, StateFails},
		{CheckXDP, -1, StateHolds},
		{CheckNtuple, -1, StateFails}, // veth has no n-tuple filters
		{CheckRSS, -1, StateFails},    // SteerRSSAway but no RSS
		{CheckQueueExists, 2, StateHolds},
		{CheckQueueFree, 2, StateWarning},
		{CheckQueueExists, 3, StateHolds},
		{CheckQueueFree, 3, StateWarning},
		{CheckQueueExists, 7, StateFails},
		{CheckQueueFree, 7, StateWarning},
	}
	if diff := cmp.Diff(want, condKeys(r)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if r.Ready() || r.Name != "dmv0" || r.Ifindex != ifindex {
		t.Errorf("report: ready %v, name %q, ifindex %d; want not ready, dmv0, %d", r.Ready(), r.Name, r.Ifindex, ifindex)
	}
	hs := r.Conditions[0]
	if !errors.Is(hs.Err, ErrNotSupported) || !strings.Contains(hs.Hint, "ethtool -g dmv0") {
		t.Errorf("header-split condition %v: want ErrNotSupported and an ethtool -g hint", hs)
	}
	if c := r.Conditions[6]; !strings.Contains(c.Hint, "ip link set dev dmv0 up") {
		t.Errorf("queue-free condition of a down device %v: want an ip link hint", c)
	}

	// Up: queue-get answers for queues 0-3.
	setupLinkUp(t, ifindex)
	before = readSetupState(t, ifindex)
	if len(before.Queues) != 4 {
		t.Fatalf("queue-get of the up veth: %+v, want 4 RX queues", before.Queues)
	}
	r, err = Preflight(vethSetupConfig(ifindex))
	if err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	want[6].State, want[8].State, want[10].State = StateHolds, StateHolds, StateFails
	if diff := cmp.Diff(want, condKeys(r)); diff != "" {
		t.Errorf("conditions of the up device (-want +got):\n%s", diff)
	}

	after := readSetupState(t, ifindex)
	if diff := cmp.Diff(before, after, setupStateCmp); diff != "" {
		t.Errorf("Preflight changed the device (-before +after):\n%s", diff)
	}
	if got := setupFDs(t); got != fds {
		t.Errorf("open fds: %d before, %d after Preflight", fds, got)
	}

	if _, err := Preflight(SetupConfig{Ifindex: 9999, Queues: []uint32{0}}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Preflight of ifindex 9999: %v, want os.ErrNotExist", err)
	}
}

func TestIntegrationApplyVeth(t *testing.T) {
	setupNetNS(t)
	ifindex := setupVeth(t, "dmv0", 4)
	before := readSetupState(t, ifindex)
	fds := setupFDs(t)

	for _, cfg := range []SetupConfig{
		vethSetupConfig(ifindex),
		{Ifindex: ifindex, Queues: []uint32{1}}, // the smallest config fails the same way
	} {
		u, err := Apply(cfg)
		var pe *PreflightError
		if u != nil || !errors.As(err, &pe) || !errors.Is(err, ErrNotSupported) {
			t.Fatalf("Apply(%+v) = %v, %v; want a *PreflightError matching ErrNotSupported", cfg, u, err)
		}
		if !strings.Contains(err.Error(), "tcp-data-split: fails") {
			t.Errorf("Apply error %q does not name the header-split failure", err)
		}
	}

	after := readSetupState(t, ifindex)
	if diff := cmp.Diff(before, after, setupStateCmp); diff != "" {
		t.Errorf("Apply changed the device (-before +after):\n%s", diff)
	}
	if got := setupFDs(t); got != fds {
		t.Errorf("open fds: %d before, %d after Apply", fds, got)
	}
}

// TestIntegrationApplyNetdevsim needs netdevsim (the VM's test kernel has
// it): its rings support tcp-data-split and hds-thresh.
func TestIntegrationApplyNetdevsim(t *testing.T) {
	setupNetNS(t)
	ifindex := setupNetdevsim(t, 4000+os.Getpid()%1000, 2)
	setupLinkUp(t, ifindex) // queue-get lists the queues of devices that are up
	c, err := NewEthtool()
	if err != nil {
		t.Fatalf("NewEthtool: %v", err)
	}
	defer c.Close()

	// Start from a state Apply has to change: header split off and a
	// non-zero threshold.
	off, thresh := TCPDataSplitDisabled, uint32(128)
	if err := c.SetRings(ifindex, RingsUpdate{TCPDataSplit: &off, HDSThresh: &thresh}); err != nil {
		t.Fatalf("SetRings(off, 128): %v", err)
	}
	orig, err := c.Rings(ifindex)
	if err != nil {
		t.Fatalf("Rings: %v", err)
	}
	if orig.TCPDataSplit != TCPDataSplitDisabled || orig.HDSThresh != 128 || !orig.HDSThreshSupported {
		t.Fatalf("netdevsim rings after SetRings: %+v, want tcp-data-split off, hds-thresh 128", orig)
	}

	cfg := SetupConfig{Ifindex: ifindex, Queues: []uint32{1}}
	r, err := Preflight(cfg)
	if err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	t.Logf("%v", r)
	want := []condKey{
		{CheckHeaderSplit, -1, StateApplyFixes},
		{CheckHDSThresh, -1, StateApplyFixes},
		{CheckXDP, -1, StateHolds},
		{CheckRSS, -1, StateWarning}, // netdevsim has no RSS
		{CheckQueueExists, 1, StateHolds},
		{CheckQueueFree, 1, StateHolds},
	}
	if diff := cmp.Diff(want, condKeys(r)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}

	u, err := Apply(cfg)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got, err := c.Rings(ifindex)
	if err != nil {
		t.Fatalf("Rings after Apply: %v", err)
	}
	if got.TCPDataSplit != TCPDataSplitEnabled || got.HDSThresh != 0 {
		t.Errorf("after Apply: tcp-data-split %v, hds-thresh %d; want on, 0", got.TCPDataSplit, got.HDSThresh)
	}
	if r, err := Preflight(cfg); err != nil || !r.Ready() || r.Conditions[0].State != StateHolds || r.Conditions[1].State != StateHolds {
		t.Errorf("Preflight after Apply: %v, %v; want header split and hds-thresh to hold", r, err)
	}

	// Bound, the kernel refuses to turn header split back off: Restore
	// fails with a hint and keeps the step for later. (Needs the test
	// kernel's netdevsim, which takes dma-bufs.)
	bindAndRestore(t, ifindex, u)

	if err := u.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	got, err = c.Rings(ifindex)
	if err != nil {
		t.Fatalf("Rings after Restore: %v", err)
	}
	if diff := cmp.Diff(orig, got); diff != "" {
		t.Errorf("Restore did not bring the rings back (-orig +got):\n%s", diff)
	}
	if err := u.Restore(); err != nil {
		t.Errorf("second Restore: %v", err)
	}

	// A queue beyond the device's two fails before anything changes.
	if _, err := Apply(SetupConfig{Ifindex: ifindex, Queues: []uint32{5}}); err == nil {
		t.Error("Apply with queue 5 of 2 succeeded")
	} else if fmt.Sprint(err) == "" {
		t.Error("empty error")
	}
	got, _ = c.Rings(ifindex)
	if diff := cmp.Diff(orig, got); diff != "" {
		t.Errorf("failed Apply changed the rings (-orig +got):\n%s", diff)
	}
}

// bindAndRestore binds a udmabuf to queue 1, checks that Preflight sees the
// queue taken and that Restore is refused while bound, then unbinds.
func bindAndRestore(t *testing.T, ifindex int, u *Undo) {
	t.Helper()
	buf := setupUdmabuf(t, 64*os.Getpagesize())
	nd, err := Dial()
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer nd.Close()
	b, err := nd.BindRX(ifindex, buf, []uint32{1})
	if errors.Is(err, ErrNotSupported) {
		t.Logf("bind-rx not supported by this netdevsim (%v): skipping the bound part", err)
		return
	}
	if err != nil {
		t.Fatalf("BindRX after Apply: %v", err)
	}
	defer b.Close()

	r, err := Preflight(SetupConfig{Ifindex: ifindex, Queues: []uint32{1}})
	if err != nil {
		t.Fatalf("Preflight while bound: %v", err)
	}
	if c := r.Conditions[len(r.Conditions)-1]; c.Check != CheckQueueFree || c.State != StateFails ||
		!strings.Contains(c.Detail, "bound to dma-buf binding") {
		t.Errorf("queue-free while bound: %v, want fails: bound to dma-buf binding", c)
	}

	err = u.Restore()
	var ne *Error
	if !errors.Is(err, unix.EINVAL) || !errors.As(err, &ne) || !strings.Contains(ne.Hint, "close the binding first") {
		t.Errorf("Restore while bound: %v, want EINVAL with a hint to unbind first", err)
	}
	t.Logf("bound queue 1 as %v; Restore while bound: %v", b, err)
	if err := b.Close(); err != nil {
		t.Fatalf("unbind: %v", err)
	}
}
