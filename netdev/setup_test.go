package netdev

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
)

// fakeDev is a device's state as the fake NIC keeps it.
type fakeDev struct {
	Rings  Rings
	Ntuple featureState
	Indir  []uint32
	Rules  map[uint32]FlowSpec
}

// fakeNIC implements nic over a fakeDev. Every change is logged; fail
// injects an error for an operation ("rings-set", "features-set on",
// "features-set off", "rss-set", "insert", "delete").
type fakeNIC struct {
	dev       fakeDev
	lnk       setupLink
	queues    []setupQueue
	queuesErr error
	ringsErr  error
	rxRing    uint32
	rssErr    error
	fail      map[string]error
	log       []string
	opens     int
	closes    int
}

func newFakeNIC() *fakeNIC {
	return &fakeNIC{
		dev: fakeDev{
			Rings:  Rings{RX: 1024, RXMax: 4096, TCPDataSplit: TCPDataSplitUnknown, HDSThresh: 256, HDSThreshMax: 1024, HDSThreshSupported: true},
			Ntuple: featureState{Known: true, Changeable: true},
			Indir:  []uint32{0, 1, 2, 3, 0, 1, 2, 3},
			Rules:  map[uint32]FlowSpec{},
		},
		lnk:    setupLink{name: "eth0"},
		queues: []setupQueue{{id: 0}, {id: 1}, {id: 2}, {id: 3}},
		rxRing: 4,
		fail:   map[string]error{},
	}
}

func (f *fakeNIC) open() (nic, error) { f.opens++; return f, nil }
func (f *fakeNIC) close() error       { f.closes++; return nil }

func (f *fakeNIC) link(ifindex int) (setupLink, error) {
	if ifindex != 3 {
		return setupLink{}, &Error{Op: "getlink", Ifindex: ifindex, Err: syscall.ENODEV}
	}
	return f.lnk, nil
}
func (f *fakeNIC) rxQueues(int) ([]setupQueue, error) { return slices.Clone(f.queues), f.queuesErr }
func (f *fakeNIC) channels(int) (*Channels, error) {
	return &Channels{Combined: uint32(len(f.queues))}, nil
}
func (f *fakeNIC) rings(int) (*Rings, error) {
	if f.ringsErr != nil {
		return nil, f.ringsErr
	}
	r := f.dev.Rings
	return &r, nil
}

func (f *fakeNIC) setRings(_ int, u RingsUpdate) error {
	var parts []string
	if u.TCPDataSplit != nil {
		parts = append(parts, "tcp-data-split="+u.TCPDataSplit.String())
	}
	if u.HDSThresh != nil {
		parts = append(parts, fmt.Sprintf("hds-thresh=%d", *u.HDSThresh))
	}
	f.log = append(f.log, "rings-set "+strings.Join(parts, " "))
	if err := f.fail["rings-set"]; err != nil {
		return err
	}
	if u.TCPDataSplit != nil {
		f.dev.Rings.TCPDataSplit = *u.TCPDataSplit
	}
	if u.HDSThresh != nil {
		f.dev.Rings.HDSThresh = *u.HDSThresh
	}
	return nil
}

func (f *fakeNIC) feature(_ int, name string) (featureState, error) {
	if name != ntupleFeature {
		return featureState{}, nil
	}
	return f.dev.Ntuple, nil
}

func (f *fakeNIC) setFeature(_ int, name string, on bool) error {
	op := map[bool]string{true: "features-set on", false: "features-set off"}[on]
	f.log = append(f.log, op)
	if err := f.fail[op]; err != nil {
		return err
	}
	f.dev.Ntuple.Active = on
	return nil
}

func (f *fakeNIC) rxRings(int) (uint32, error) { return f.rxRing, nil }
func (f *fakeNIC) rss(int) (*RSS, error) {
	if f.rssErr != nil {
		return nil, f.rssErr
	}
	return &RSS{Indir: slices.Clone(f.dev.Indir)}, nil
}

func (f *fakeNIC) setRSSIndir(_ int, indir []uint32) error {
	f.log = append(f.log, fmt.Sprintf("rss-set %v", indir))
	if err := f.fail["rss-set"]; err != nil {
		return err
	}
	if len(indir) == 0 {
		for i := range f.dev.Indir {
			f.dev.Indir[i] = uint32(i) % f.rxRing
		}
		return nil
	}
	for i := range f.dev.Indir {
		f.dev.Indir[i] = indir[i%len(indir)]
	}
	return nil
}

func (f *fakeNIC) insertFlowRule(_ int, fs FlowSpec) (FlowRule, error) {
	f.log = append(f.log, "insert "+fs.String())
	if err := f.fail["insert"]; err != nil {
		return FlowRule{}, err
	}
	loc := uint32(100)
	for f.dev.Rules[loc] != (FlowSpec{}) {
		loc++
	}
	f.dev.Rules[loc] = fs
	return FlowRule{Flow: fs, Location: loc, FiveTuple: fs.hasSrc()}, nil
}

func (f *fakeNIC) deleteFlowRule(_ int, loc uint32) error {
	f.log = append(f.log, fmt.Sprintf("delete %d", loc))
	if err := f.fail["delete"]; err != nil {
		return err
	}
	delete(f.dev.Rules, loc)
	return nil
}

func (f *fakeNIC) snapshot() fakeDev {
	d := f.dev
	d.Indir = slices.Clone(d.Indir)
	d.Rules = make(map[uint32]FlowSpec, len(f.dev.Rules))
	for k, v := range f.dev.Rules {
		d.Rules[k] = v
	}
	return d
}

var fakeDevCmp = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func fullConfig() SetupConfig {
	return SetupConfig{
		Ifindex:      3,
		Queues:       []uint32{2, 3},
		Flows:        []FlowSpec{{Dst: netip.MustParseAddrPort("192.0.2.1:5201"), Src: netip.MustParseAddrPort("198.51.100.7:0"), Queue: 2}},
		SteerRSSAway: true,
	}
}

// errBound is the kernel's refusal to turn header split off while a
// binding holds a queue.
var errBound = &Error{Op: "rings-set", Ifindex: 3, Err: syscall.EINVAL, Offset: -1,
	Message: "can't disable tcp-data-split while device has memory provider enabled"}

func TestApplyRestore(t *testing.T) {
	f := newFakeNIC()
	orig := f.snapshot()

	u, err := setupApply(f, f.open, fullConfig())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	wantApplied := fakeDev{
		Rings:  Rings{RX: 1024, RXMax: 4096, TCPDataSplit: TCPDataSplitEnabled, HDSThresh: 0, HDSThreshMax: 1024, HDSThreshSupported: true},
		Ntuple: featureState{Known: true, Changeable: true, Active: true},
		Indir:  []uint32{0, 1, 0, 1, 0, 1, 0, 1},
		Rules:  map[uint32]FlowSpec{100: fullConfig().Flows[0]},
	}
	if diff := cmp.Diff(wantApplied, f.snapshot(), fakeDevCmp); diff != "" {
		t.Errorf("device after Apply (-want +got):\n%s", diff)
	}
	wantLog := []string{
		"rings-set tcp-data-split=on hds-thresh=0",
		"features-set on",
		"rss-set [0 1 0 1 0 1 0 1]",
		"insert tcp4 192.0.2.1:5201 <- 198.51.100.7:0 queue 2",
	}
	if diff := cmp.Diff(wantLog, f.log); diff != "" {
		t.Errorf("Apply's changes (-want +got):\n%s", diff)
	}
	wantRules := []FlowRule{{Flow: fullConfig().Flows[0], Location: 100, FiveTuple: true}}
	if diff := cmp.Diff(wantRules, u.Rules(), fakeDevCmp); diff != "" {
		t.Errorf("Rules (-want +got):\n%s", diff)
	}
	if u.Ifindex() != 3 {
		t.Errorf("Ifindex = %d, want 3", u.Ifindex())
	}

	f.log = nil
	if err := u.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	wantLog = []string{
		"delete 100",
		"rss-set []", // the table was the default spread: reset it
		"features-set off",
		"rings-set tcp-data-split=unknown hds-thresh=256",
	}
	if diff := cmp.Diff(wantLog, f.log); diff != "" {
		t.Errorf("Restore's changes, in reverse (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, f.snapshot(), fakeDevCmp); diff != "" {
		t.Errorf("device after Restore (-orig +got):\n%s", diff)
	}
	if f.opens != 1 || f.closes != 1 {
		t.Errorf("Restore opened %d and closed %d NICs, want 1 and 1", f.opens, f.closes)
	}

	// Idempotent: nothing left to do, nothing opened.
	f.log = nil
	if err := u.Restore(); err != nil || f.log != nil || f.opens != 1 {
		t.Errorf("second Restore: %v, changes %v, opens %d; want nil, none, 1", err, f.log, f.opens)
	}
	var nilUndo *Undo
	if err := nilUndo.Restore(); err != nil {
		t.Errorf("nil Restore: %v", err)
	}
}

func TestApplyRestoresCustomRSSExactly(t *testing.T) {
	f := newFakeNIC()
	f.dev.Indir = []uint32{3, 2, 1, 0, 3, 2, 1, 0}
	orig := f.snapshot()
	cfg := SetupConfig{Ifindex: 3, Queues: []uint32{1}, SteerRSSAway: true}
	u, err := setupApply(f, f.open, cfg)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if want := []uint32{0, 2, 3, 0, 2, 3, 0, 2}; !slices.Equal(f.dev.Indir, want) {
		t.Errorf("RSS table after Apply: %v, want %v (queue 1 left out)", f.dev.Indir, want)
	}
	f.log = nil
	if err := u.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if diff := cmp.Diff([]string{"rss-set [3 2 1 0 3 2 1 0]", "rings-set tcp-data-split=unknown hds-thresh=256"}, f.log); diff != "" {
		t.Errorf("Restore (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, f.snapshot(), fakeDevCmp); diff != "" {
		t.Errorf("device after Restore (-orig +got):\n%s", diff)
	}
}

func TestApplyRollsBack(t *testing.T) {
	errNoRule := &Error{Op: "SRXCLSRLINS", Ifindex: 3, Err: syscall.EOPNOTSUPP, Offset: -1, Hint: "h"}
	errNtupleOff := &Error{Op: "features-set", Ifindex: 3, Err: syscall.EBUSY, Offset: -1}
	tests := []struct {
		name     string
		fail     map[string]error
		wantIs   []error
		wantLog  []string
		wantSame bool // device back to the original
	}{
		{
			name:   "flow rule refused",
			fail:   map[string]error{"insert": errNoRule},
			wantIs: []error{errNoRule, ErrNotSupported},
			wantLog: []string{
				"rings-set tcp-data-split=on hds-thresh=0",
				"features-set on",
				"rss-set [0 1 0 1 0 1 0 1]",
				"insert tcp4 192.0.2.1:5201 <- 198.51.100.7:0 queue 2",
				"rss-set []",
				"features-set off",
				"rings-set tcp-data-split=unknown hds-thresh=256",
			},
			wantSame: true,
		},
		{
			name:   "RSS refused",
			fail:   map[string]error{"rss-set": errBound},
			wantIs: []error{errBound, syscall.EINVAL},
			wantLog: []string{
				"rings-set tcp-data-split=on hds-thresh=0",
				"features-set on",
				"rss-set [0 1 0 1 0 1 0 1]",
				"features-set off",
				"rings-set tcp-data-split=unknown hds-thresh=256",
			},
			wantSame: true,
		},
		{
			name:   "flow rule refused and rollback fails too",
			fail:   map[string]error{"insert": errNoRule, "features-set off": errNtupleOff},
			wantIs: []error{errNoRule, errNtupleOff},
			wantLog: []string{
				"rings-set tcp-data-split=on hds-thresh=0",
				"features-set on",
				"rss-set [0 1 0 1 0 1 0 1]",
				"insert tcp4 192.0.2.1:5201 <- 198.51.100.7:0 queue 2",
				"rss-set []",
				"features-set off",
				"rings-set tcp-data-split=unknown hds-thresh=256",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNIC()
			f.fail = tt.fail
			orig := f.snapshot()
			u, err := setupApply(f, f.open, fullConfig())
			if u != nil || err == nil {
				t.Fatalf("Apply = %v, %v; want an error", u, err)
			}
			for _, is := range tt.wantIs {
				if !errors.Is(err, is) {
					t.Errorf("error %v: want errors.Is %v", err, is)
				}
			}
			if diff := cmp.Diff(tt.wantLog, f.log); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if tt.wantSame {
				if diff := cmp.Diff(orig, f.snapshot(), fakeDevCmp); diff != "" {
					t.Errorf("device after the failed Apply (-orig +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRestoreRetriesFailedSteps(t *testing.T) {
	f := newFakeNIC()
	orig := f.snapshot()
	u, err := setupApply(f, f.open, fullConfig())
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	// Still bound: the kernel refuses the rings step; the others go on.
	f.fail["rings-set"] = errBound
	f.log = nil
	err = u.Restore()
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "restoring rings") {
		t.Fatalf("Restore while bound: %v, want the rings step's EINVAL", err)
	}
	if diff := cmp.Diff([]string{"delete 100", "rss-set []", "features-set off", "rings-set tcp-data-split=unknown hds-thresh=256"}, f.log); diff != "" {
		t.Errorf("first Restore (-want +got):\n%s", diff)
	}
	// Unbound: only the failed step runs again.
	delete(f.fail, "rings-set")
	f.log = nil
	if err := u.Restore(); err != nil {
		t.Fatalf("second Restore: %v", err)
	}
	if diff := cmp.Diff([]string{"rings-set tcp-data-split=unknown hds-thresh=256"}, f.log); diff != "" {
		t.Errorf("second Restore (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(orig, f.snapshot(), fakeDevCmp); diff != "" {
		t.Errorf("device after Restore (-orig +got):\n%s", diff)
	}
	f.log = nil
	if err := u.Restore(); err != nil || f.log != nil {
		t.Errorf("third Restore: %v, changes %v", err, f.log)
	}
}

func TestApplyPreflightFailureChangesNothing(t *testing.T) {
	for _, tt := range []struct {
		name   string
		setup  func(f *fakeNIC)
		is     error
		failed []condKey
	}{
		{"queue bound", func(f *fakeNIC) { f.queues[2].dmabuf = 7 }, nil,
			[]condKey{{CheckQueueFree, 2, StateFails}}},
		{"xdp attached", func(f *fakeNIC) { f.lnk.xdp = uapi.XDP_ATTACHED_DRV }, nil,
			[]condKey{{CheckXDP, -1, StateFails}}},
		{"no ring parameters", func(f *fakeNIC) {
			f.ringsErr = &Error{Op: "rings-get", Ifindex: 3, Err: syscall.EOPNOTSUPP}
		}, ErrNotSupported, []condKey{{CheckHeaderSplit, -1, StateFails}, {CheckHDSThresh, -1, StateFails}}},
		{"queue missing", func(f *fakeNIC) { f.queues = f.queues[:3] }, nil,
			[]condKey{{CheckQueueExists, 3, StateFails}, {CheckQueueFree, 3, StateFails}}},
		{"no ntuple filters", func(f *fakeNIC) { f.dev.Ntuple = featureState{Known: true} }, nil,
			[]condKey{{CheckNtuple, -1, StateFails}}},
		{"RSS unreadable", func(f *fakeNIC) {
			f.rssErr = &Error{Op: "rss-get", Ifindex: 3, Err: syscall.EOPNOTSUPP}
		}, ErrNotSupported, []condKey{{CheckRSS, -1, StateFails}}},
		{"all rings devmem", func(f *fakeNIC) { f.rxRing = 2; f.dev.Indir = []uint32{0, 1} }, nil,
			[]condKey{{CheckRSS, -1, StateFails}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeNIC()
			tt.setup(f)
			cfg := fullConfig()
			if tt.name == "all rings devmem" {
				cfg.Queues, cfg.Flows[0].Queue = []uint32{0, 1}, 0
			}
			u, err := setupApply(f, f.open, cfg)
			var pe *PreflightError
			if u != nil || !errors.As(err, &pe) {
				t.Fatalf("Apply = %v, %v; want a *PreflightError", u, err)
			}
			if diff := cmp.Diff(tt.failed, condKeys(&PreflightReport{Conditions: pe.Report.Failed()})); diff != "" {
				t.Errorf("failed conditions (-want +got):\n%s", diff)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v: want errors.Is %v", err, tt.is)
			}
			if f.log != nil {
				t.Errorf("Apply changed the device: %v", f.log)
			}
		})
	}
}

func TestApplyHeaderSplitAlreadyOn(t *testing.T) {
	// Header split reported on and hds-thresh 0: Apply still sets it (the
	// kernel checks the configured value), records nothing to restore, and
	// tolerates a driver that cannot set it.
	for _, setErr := range []error{nil, &Error{Op: "rings-set", Ifindex: 3, Err: syscall.EOPNOTSUPP}} {
		f := newFakeNIC()
		f.dev.Rings.TCPDataSplit, f.dev.Rings.HDSThresh = TCPDataSplitEnabled, 0
		if setErr != nil {
			f.fail["rings-set"] = setErr
		}
		u, err := setupApply(f, f.open, SetupConfig{Ifindex: 3, Queues: []uint32{3}})
		if err != nil {
			t.Fatalf("Apply (set error %v): %v", setErr, err)
		}
		if diff := cmp.Diff([]string{"rings-set tcp-data-split=on hds-thresh=0"}, f.log); diff != "" {
			t.Errorf("Apply (-want +got):\n%s", diff)
		}
		f.log = nil
		if err := u.Restore(); err != nil || f.log != nil || f.opens != 0 {
			t.Errorf("Restore: %v, changes %v, opens %d; want nothing to do", err, f.log, f.opens)
		}
	}
	// Reported off and the driver cannot set it: Apply fails cleanly.
	f := newFakeNIC()
	f.fail["rings-set"] = &Error{Op: "rings-set", Ifindex: 3, Err: syscall.EOPNOTSUPP}
	if _, err := setupApply(f, f.open, SetupConfig{Ifindex: 3, Queues: []uint32{3}}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Apply with an unsettable header split: %v, want ErrNotSupported", err)
	}
}

func TestSetupConfigValidate(t *testing.T) {
	dst := netip.MustParseAddrPort("192.0.2.1:80")
	for _, tt := range []struct {
		cfg  SetupConfig
		want string
	}{
		{SetupConfig{Ifindex: 3, Queues: []uint32{1}}, ""},
		{SetupConfig{Queues: []uint32{1}}, "not a device"},
		{SetupConfig{Ifindex: 3}, "no RX queues"},
		{SetupConfig{Ifindex: 3, Queues: []uint32{1, 2, 1}}, "listed twice"},
		{SetupConfig{Ifindex: 3, Queues: []uint32{1}, Flows: []FlowSpec{{Dst: dst, Queue: 2}}}, "not among the devmem queues"},
		{SetupConfig{Ifindex: 3, Queues: []uint32{1}, Flows: []FlowSpec{{Queue: 1}}}, "destination address is missing"},
	} {
		err := tt.cfg.validate()
		if (err == nil) != (tt.want == "") || (err != nil && (!strings.Contains(err.Error(), tt.want) || !errors.Is(err, os.ErrInvalid))) {
			t.Errorf("validate(%+v) = %v, want %q (os.ErrInvalid)", tt.cfg, err, tt.want)
		}
	}
	f := newFakeNIC()
	if _, err := setupPreflight(f, SetupConfig{Ifindex: 9, Queues: []uint32{0}}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("preflight of a missing device: %v, want os.ErrNotExist", err)
	}
}

// condKey is what a condition decides, without its wording.
type condKey struct {
	Check Check
	Queue int
	State State
}

func condKeys(r *PreflightReport) []condKey {
	var out []condKey
	for _, c := range r.Conditions {
		out = append(out, condKey{c.Check, c.Queue, c.State})
	}
	return out
}

func TestPreflightReport(t *testing.T) {
	f := newFakeNIC()
	f.queues[3].ioURing = true
	f.dev.Ntuple.Active = true
	cfg := SetupConfig{Ifindex: 3, Queues: []uint32{2, 3, 5}, Flows: fullConfig().Flows}
	r, err := setupPreflight(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []condKey{
		{CheckHeaderSplit, -1, StateApplyFixes},
		{CheckHDSThresh, -1, StateApplyFixes},
		{CheckXDP, -1, StateHolds},
		{CheckNtuple, -1, StateHolds},
		{CheckQueueExists, 2, StateHolds},
		{CheckQueueFree, 2, StateHolds},
		{CheckRSS, 2, StateWarning}, // SteerRSSAway off
		{CheckQueueExists, 3, StateHolds},
		{CheckQueueFree, 3, StateFails}, // io_uring
		{CheckRSS, 3, StateWarning},
		{CheckQueueExists, 5, StateFails},
		{CheckQueueFree, 5, StateFails},
		{CheckRSS, 5, StateHolds},
	}
	if diff := cmp.Diff(want, condKeys(r)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	hints := map[string]string{}
	for _, c := range r.Conditions {
		hints[c.String()[:strings.Index(c.String(), ":")]] = c.Hint
	}
	wantHints := map[string]string{
		"tcp-data-split":       "ethtool -G eth0 tcp-data-split on",
		"hds-thresh":           "ethtool -G eth0 hds-thresh 0",
		"queue 2 rss":          "set SteerRSSAway, or run: ethtool -X eth0 equal 2",
		"queue 5 queue-exists": "raise the queue count: ethtool -L eth0 combined 6 (or rx, depending on the driver)",
		"queue 3 queue-free":   "pick another queue or stop the io_uring receiver",
		"xdp":                  "",
		"ntuple":               "",
		"queue 2 queue-exists": "",
		"queue 2 queue-free":   "",
		"queue 3 queue-exists": "",
		"queue 3 rss":          "set SteerRSSAway, or run: ethtool -X eth0 equal 2",
		"queue 5 queue-free":   "",
		"queue 5 rss":          "",
	}
	if diff := cmp.Diff(wantHints, hints); diff != "" {
		t.Errorf("hints (-want +got):\n%s", diff)
	}
	if r.Ready() {
		t.Error("Ready with a busy and a missing queue")
	}
	if got := len(r.Failed()); got != 3 {
		t.Errorf("%d failed conditions, want 3", got)
	}
	if s := r.String(); !strings.HasPrefix(s, "devmem preflight of eth0 (ifindex 3):\n  tcp-data-split: apply-fixes: tcp-data-split is unknown (hint: ethtool -G eth0 tcp-data-split on)") {
		t.Errorf("String() = %q", s)
	}
	if f.log != nil {
		t.Errorf("Preflight changed the device: %v", f.log)
	}
}

func TestRSSTables(t *testing.T) {
	if got := rssTable(8, rssOthers(4, []uint32{2, 3})); !slices.Equal(got, []uint32{0, 1, 0, 1, 0, 1, 0, 1}) {
		t.Errorf("equal 2 table: %v", got)
	}
	if got := rssOthers(3, []uint32{0, 1, 2}); got != nil {
		t.Errorf("rssOthers with every ring devmem: %v, want none", got)
	}
	if !isDefaultRSS([]uint32{0, 1, 2, 0, 1, 2}, 3) || isDefaultRSS([]uint32{0, 1, 0, 1}, 3) || isDefaultRSS([]uint32{0}, 0) {
		t.Error("isDefaultRSS is wrong")
	}
	for s, want := range map[State]string{StateHolds: "holds", StateApplyFixes: "apply-fixes", StateWarning: "warning", StateFails: "fails", 9: "state(9)"} {
		if s.String() != want {
			t.Errorf("State(%d).String() = %q, want %q", s, s.String(), want)
		}
	}
	for s, want := range map[TCPDataSplit]string{TCPDataSplitUnknown: "unknown", TCPDataSplitDisabled: "off", TCPDataSplitEnabled: "on", 7: "tcp-data-split(7)"} {
		if s.String() != want {
			t.Errorf("TCPDataSplit(%d).String() = %q, want %q", s, s.String(), want)
		}
	}
}
