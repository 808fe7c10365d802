package netdev

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/devmem-go/devmem/internal/uapi"
)

// SetupConfig says which RX queues of a device are to receive devmem
// traffic. [Preflight] checks it, [Apply] makes the device ready for it.
type SetupConfig struct {
	// Ifindex is the device, in the calling thread's network namespace.
	Ifindex int
	// Queues are the RX queues to bind a dma-buf to (at least one, no
	// duplicates).
	Queues []uint32
	// Flows are TCP flows to steer onto the devmem queues with n-tuple
	// rules; each FlowSpec.Queue must be one of Queues. Optional: without
	// flow rules only the RSS spread decides which flows land there.
	Flows []FlowSpec
	// SteerRSSAway rewrites the default RSS context's indirection table so
	// that ordinary traffic avoids the devmem queues (like "ethtool -X dev
	// equal N" when the devmem queues are the last ones). Ordinary flows
	// hashed onto a devmem queue would otherwise have their payload land in
	// the dma-buf, unreadable to their sockets.
	SteerRSSAway bool
}

// validate checks the config itself, before any kernel is asked.
func (cfg SetupConfig) validate() error {
	if cfg.Ifindex <= 0 {
		return fmt.Errorf("netdev: setup: ifindex %d is not a device (use net.InterfaceByName(name).Index): %w", cfg.Ifindex, os.ErrInvalid)
	}
	if len(cfg.Queues) == 0 {
		return fmt.Errorf("netdev: setup ifindex %d: no RX queues given: %w", cfg.Ifindex, os.ErrInvalid)
	}
	for i, q := range cfg.Queues {
		if slices.Contains(cfg.Queues[:i], q) {
			return fmt.Errorf("netdev: setup ifindex %d: queue %d listed twice: %w", cfg.Ifindex, q, os.ErrInvalid)
		}
	}
	for _, f := range cfg.Flows {
		if err := f.validate(); err != nil {
			return err
		}
		if !slices.Contains(cfg.Queues, f.Queue) {
			return fmt.Errorf("netdev: setup ifindex %d: flow %v targets queue %d, which is not among the devmem queues %v: %w",
				cfg.Ifindex, f, f.Queue, cfg.Queues, os.ErrInvalid)
		}
	}
	return nil
}

// Check names a precondition of devmem RX that [Preflight] examines.
type Check string

// The preconditions. Which ones bind-rx itself enforces is said on each.
const (
	// CheckQueueExists: the queue index is below the device's RX queue
	// count (real_num_rx_queues = rx + combined channels). bind-rx: EINVAL.
	CheckQueueExists Check = "queue-exists"
	// CheckQueueFree: no devmem binding, io_uring zero-copy RX or AF_XDP
	// socket holds the queue (netdev queue-get). bind-rx: EEXIST or EBUSY.
	CheckQueueFree Check = "queue-free"
	// CheckHeaderSplit: tcp-data-split is enabled. bind-rx: EINVAL
	// "tcp-data-split is disabled". Apply enables it.
	CheckHeaderSplit Check = "tcp-data-split"
	// CheckHDSThresh: hds-thresh is 0, or the driver does not expose it.
	// bind-rx: EINVAL "hds-thresh is not zero". Apply sets it to 0.
	CheckHDSThresh Check = "hds-thresh"
	// CheckXDP: no XDP program is attached to the device. bind-rx: EEXIST.
	CheckXDP Check = "xdp"
	// CheckNtuple: n-tuple filtering is on (only checked when flows are
	// configured). Apply turns it on where the driver allows.
	CheckNtuple Check = "ntuple"
	// CheckRSS: no entry of the default RSS indirection table points at
	// the queue, so ordinary traffic avoids it. Not checked by the kernel.
	// With SetupConfig.SteerRSSAway, Apply rewrites the table.
	CheckRSS Check = "rss"
)

// State is the outcome of one precondition check.
type State uint8

// States, from good to bad.
const (
	// StateHolds: the precondition holds now.
	StateHolds State = iota + 1
	// StateApplyFixes: it does not hold, and Apply will change the device
	// so that it does (Apply fails if the driver refuses).
	StateApplyFixes
	// StateWarning: binding will work, but something is off or could not
	// be checked (Detail says what).
	StateWarning
	// StateFails: it does not hold and Apply cannot fix it; bind-rx would
	// fail (or Apply would, for SteerRSSAway).
	StateFails
)

// String returns "holds", "apply-fixes", "warning" or "fails".
func (s State) String() string {
	switch s {
	case StateHolds:
		return "holds"
	case StateApplyFixes:
		return "apply-fixes"
	case StateWarning:
		return "warning"
	case StateFails:
		return "fails"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Condition is the result of one precondition check.
type Condition struct {
	Check Check // which precondition
	// Queue is the RX queue checked, or -1 for a device-wide condition
	// (which then applies to every requested queue).
	Queue int
	State State // outcome
	// Detail says what was found, e.g. "tcp-data-split is off".
	Detail string
	// Hint says how to fix it by hand (usually the ethtool or ip command),
	// when State is not StateHolds.
	Hint string
	// Err is the kernel error that decided the state, if any.
	Err error
}

// String renders the condition on one line.
func (c Condition) String() string {
	var b strings.Builder
	if c.Queue >= 0 {
		b.WriteString("queue " + strconv.Itoa(c.Queue) + " ")
	}
	b.WriteString(string(c.Check) + ": " + c.State.String())
	if c.Detail != "" {
		b.WriteString(": " + c.Detail)
	}
	if c.Hint != "" && c.State != StateHolds {
		b.WriteString(" (hint: " + c.Hint + ")")
	}
	return b.String()
}

// PreflightReport lists every precondition [Preflight] checked.
type PreflightReport struct {
	Ifindex int // the device checked
	// Name is the device's name at the time of the check.
	Name string
	// Conditions lists the device-wide conditions (Queue -1) first, then
	// each requested queue's, in SetupConfig.Queues order.
	Conditions []Condition
}

// Ready reports whether no condition is in StateFails, i.e. whether Apply
// can make the device ready.
func (r *PreflightReport) Ready() bool { return len(r.Failed()) == 0 }

// Failed returns the conditions in StateFails.
func (r *PreflightReport) Failed() []Condition {
	var out []Condition
	for _, c := range r.Conditions {
		if c.State == StateFails {
			out = append(out, c)
		}
	}
	return out
}

// String renders the report, one condition per line.
func (r *PreflightReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "devmem preflight of %s (ifindex %d):", r.Name, r.Ifindex)
	for _, c := range r.Conditions {
		b.WriteString("\n  " + c.String())
	}
	return b.String()
}

// PreflightError is returned by [Apply] when a precondition fails that
// Apply cannot fix; nothing was changed. errors.Is and errors.As see the
// kernel errors of the failed conditions (e.g. ErrNotSupported from a
// driver without ring parameters).
type PreflightError struct {
	Report *PreflightReport // the full report; Report.Failed() is what blocked
}

// Error lists the failed conditions.
func (e *PreflightError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "netdev: %s (ifindex %d) is not ready for devmem:", e.Report.Name, e.Report.Ifindex)
	for i, c := range e.Report.Failed() {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" " + c.String())
	}
	return b.String()
}

// Unwrap returns the kernel errors of the failed conditions.
func (e *PreflightError) Unwrap() []error {
	var errs []error
	for _, c := range e.Report.Failed() {
		if c.Err != nil {
			errs = append(errs, c.Err)
		}
	}
	return errs
}

// nic is what Preflight, Apply and Undo need from the kernel. The Linux
// implementation speaks ethtool netlink, SIOCETHTOOL, rtnetlink and the
// netdev family; tests use a fake.
type nic interface {
	link(ifindex int) (setupLink, error)
	rxQueues(ifindex int) ([]setupQueue, error)
	channels(ifindex int) (*Channels, error)
	rings(ifindex int) (*Rings, error)
	setRings(ifindex int, u RingsUpdate) error
	feature(ifindex int, name string) (featureState, error)
	setFeature(ifindex int, name string, on bool) error
	rxRings(ifindex int) (uint32, error)
	rss(ifindex int) (*RSS, error)
	setRSSIndir(ifindex int, indir []uint32) error
	insertFlowRule(ifindex int, f FlowSpec) (FlowRule, error)
	deleteFlowRule(ifindex int, loc uint32) error
	close() error
}

// setupLink is what rtnetlink says about a device.
type setupLink struct {
	name string
	xdp  uint8 // IFLA_XDP_ATTACHED: uapi.XDP_ATTACHED_*
}

// setupQueue is one RX queue as netdev queue-get reports it.
type setupQueue struct {
	id      uint32
	dmabuf  uint32 // binding id, 0 if none
	ioURing bool   // io_uring zero-copy RX provider
	xsk     bool   // AF_XDP socket
}

// featureState is one netdev feature as ETHTOOL_MSG_FEATURES_GET reports it.
type featureState struct {
	Known      bool // the kernel listed the feature
	Changeable bool // in the "hw" set: the driver lets it be toggled
	Active     bool
}

// ntupleFeature is the kernel's name for NETIF_F_NTUPLE ("ethtool -K dev ntuple").
const ntupleFeature = "rx-ntuple-filter"

// setupSnapshot is the device state Preflight reports on and Apply changes.
type setupSnapshot struct {
	link setupLink

	queues    []setupQueue // nil if queue-get failed
	queuesErr error
	nrx       int // RX queue count, -1 if unknown
	nrxErr    error

	rings    *Rings
	ringsErr error

	ntuple    featureState
	ntupleErr error

	rxRings uint32 // RSS ring count
	rss     *RSS
	rssErr  error
}

// setupProbe reads everything, changing nothing. Only a failed device lookup is
// an error; other failures end up in conditions.
func setupProbe(n nic, cfg SetupConfig) (*setupSnapshot, error) {
	link, err := n.link(cfg.Ifindex)
	if err != nil {
		return nil, err
	}
	s := &setupSnapshot{link: link, nrx: -1}
	s.queues, s.queuesErr = n.rxQueues(cfg.Ifindex)
	if s.queuesErr == nil && len(s.queues) == 0 {
		s.queues, s.queuesErr = nil, errNoQueues
	}
	if s.queuesErr == nil {
		s.nrx = len(s.queues)
	} else if ch, err := n.channels(cfg.Ifindex); err == nil {
		s.nrx = int(ch.RXQueues())
	} else {
		s.nrxErr = errors.Join(s.queuesErr, err)
	}
	s.rings, s.ringsErr = n.rings(cfg.Ifindex)
	if len(cfg.Flows) > 0 {
		s.ntuple, s.ntupleErr = n.feature(cfg.Ifindex, ntupleFeature)
	}
	s.rss, s.rssErr = n.rss(cfg.Ifindex)
	if s.rssErr == nil {
		rings, err := n.rxRings(cfg.Ifindex)
		switch {
		case err == nil && rings > 0:
			s.rxRings = rings
		case s.nrx > 0:
			s.rxRings = uint32(s.nrx)
		case err != nil:
			s.rssErr = err
		default:
			s.rssErr = errors.New("the device reports no RX rings")
		}
		if s.rssErr == nil && len(s.rss.Indir) == 0 {
			s.rssErr = &Error{Op: "rss-get", Ifindex: cfg.Ifindex, Err: errNoIndir, Offset: -1}
		}
	}
	return s, nil
}

// errNoQueues is queue-get's empty answer: the kernel lists the queues of
// devices that are up only.
var errNoQueues = errors.New("netdev queue-get lists no RX queues, as it does for a device that is down")

// errNoIndir marks a device that reports no RSS indirection table.
var errNoIndir = fmt.Errorf("no RSS indirection table: %w", ErrNotSupported)

// setupReport turns a snapshot into conditions.
func setupReport(cfg SetupConfig, s *setupSnapshot) *PreflightReport {
	dev := s.link.name
	r := &PreflightReport{Ifindex: cfg.Ifindex, Name: dev}
	add := func(c Condition) { r.Conditions = append(r.Conditions, c) }

	// Device-wide.
	switch {
	case s.ringsErr != nil:
		c := Condition{Check: CheckHeaderSplit, Queue: -1, State: StateFails, Err: s.ringsErr,
			Detail: "cannot read the ring parameters: " + setupErrString(s.ringsErr)}
		if errors.Is(s.ringsErr, ErrNotSupported) {
			c.Detail = "the driver has no ring parameters, so header split cannot be enabled"
			c.Hint = "devmem needs a NIC whose driver supports header split (ethtool -g " + dev + " shows tcp-data-split)"
		}
		add(c)
		c.Check = CheckHDSThresh
		add(c)
	default:
		if s.rings.TCPDataSplit == TCPDataSplitEnabled {
			add(Condition{Check: CheckHeaderSplit, Queue: -1, State: StateHolds, Detail: "tcp-data-split is on"})
		} else {
			add(Condition{Check: CheckHeaderSplit, Queue: -1, State: StateApplyFixes,
				Detail: "tcp-data-split is " + s.rings.TCPDataSplit.String(),
				Hint:   "ethtool -G " + dev + " tcp-data-split on"})
		}
		switch {
		case !s.rings.HDSThreshSupported:
			add(Condition{Check: CheckHDSThresh, Queue: -1, State: StateHolds, Detail: "the driver does not expose hds-thresh"})
		case s.rings.HDSThresh == 0:
			add(Condition{Check: CheckHDSThresh, Queue: -1, State: StateHolds, Detail: "hds-thresh is 0"})
		default:
			add(Condition{Check: CheckHDSThresh, Queue: -1, State: StateApplyFixes,
				Detail: "hds-thresh is " + strconv.FormatUint(uint64(s.rings.HDSThresh), 10),
				Hint:   "ethtool -G " + dev + " hds-thresh 0"})
		}
	}

	if s.link.xdp != uapi.XDP_ATTACHED_NONE {
		add(Condition{Check: CheckXDP, Queue: -1, State: StateFails,
			Detail: "an XDP program is attached (" + xdpMode(s.link.xdp) + ")",
			Hint:   "detach it: ip link set dev " + dev + " xdp off"})
	} else {
		add(Condition{Check: CheckXDP, Queue: -1, State: StateHolds, Detail: "no XDP program attached"})
	}

	if len(cfg.Flows) > 0 {
		c := Condition{Check: CheckNtuple, Queue: -1}
		switch f := s.ntuple; {
		case s.ntupleErr != nil:
			c.State, c.Err = StateWarning, s.ntupleErr
			c.Detail = "cannot read the ntuple feature: " + setupErrString(s.ntupleErr)
		case f.Active:
			c.State, c.Detail = StateHolds, "n-tuple filters are on"
		case f.Changeable:
			c.State, c.Detail = StateApplyFixes, "n-tuple filters are off"
			c.Hint = "ethtool -K " + dev + " ntuple on"
		case f.Known:
			c.State, c.Detail = StateFails, "the driver has no n-tuple filters"
			c.Hint = "steer the flows another way (RSS), or leave SetupConfig.Flows empty"
		default:
			c.State, c.Detail = StateWarning, "the kernel did not list the "+ntupleFeature+" feature"
		}
		add(c)
	}

	others := rssOthers(s.rxRings, cfg.Queues)
	if s.rssErr != nil {
		c := Condition{Check: CheckRSS, Queue: -1, State: StateWarning, Err: s.rssErr,
			Detail: "cannot read the RSS indirection table (" + setupErrString(s.rssErr) + "); ordinary traffic may land on devmem queues",
			Hint:   "check with ethtool -x " + dev}
		if cfg.SteerRSSAway {
			c.State = StateFails
			c.Detail = "cannot read the RSS indirection table, so SteerRSSAway cannot rewrite it: " + setupErrString(s.rssErr)
			c.Hint = "leave SteerRSSAway off, or use a driver with RSS support (ethtool -x " + dev + ")"
		}
		add(c)
	} else if cfg.SteerRSSAway && len(others) == 0 {
		add(Condition{Check: CheckRSS, Queue: -1, State: StateFails,
			Detail: "every RSS ring is a devmem queue: nothing is left for ordinary traffic",
			Hint:   "add queues (ethtool -L " + dev + " combined N) or bind fewer"})
	}

	// Per queue.
	for _, q := range cfg.Queues {
		qi := int(q)
		switch {
		case s.nrx < 0:
			add(Condition{Check: CheckQueueExists, Queue: qi, State: StateWarning, Err: s.nrxErr,
				Detail: "cannot read the RX queue count: " + setupErrString(s.nrxErr)})
		case qi < s.nrx:
			add(Condition{Check: CheckQueueExists, Queue: qi, State: StateHolds,
				Detail: "the device has " + strconv.Itoa(s.nrx) + " RX queues"})
		default:
			add(Condition{Check: CheckQueueExists, Queue: qi, State: StateFails,
				Detail: "the device has only " + strconv.Itoa(s.nrx) + " RX queues",
				Hint:   "raise the queue count: ethtool -L " + dev + " combined " + strconv.Itoa(qi+1) + " (or rx, depending on the driver)"})
		}

		switch {
		case s.queuesErr == errNoQueues:
			add(Condition{Check: CheckQueueFree, Queue: qi, State: StateWarning,
				Detail: "not checked: " + s.queuesErr.Error(),
				Hint:   "bring the device up: ip link set dev " + dev + " up"})
		case s.queuesErr != nil:
			add(Condition{Check: CheckQueueFree, Queue: qi, State: StateWarning, Err: s.queuesErr,
				Detail: "not checked: netdev queue-get failed: " + setupErrString(s.queuesErr)})
		default:
			i := slices.IndexFunc(s.queues, func(qs setupQueue) bool { return qs.id == q })
			switch {
			case i < 0:
				// Reported by CheckQueueExists.
				add(Condition{Check: CheckQueueFree, Queue: qi, State: StateFails, Detail: "no such RX queue"})
			case s.queues[i].dmabuf != 0:
				add(Condition{Check: CheckQueueFree, Queue: qi, State: StateFails,
					Detail: "bound to dma-buf binding " + strconv.FormatUint(uint64(s.queues[i].dmabuf), 10),
					Hint:   "close the binding that holds it (the process owning its netlink socket)"})
			case s.queues[i].ioURing:
				add(Condition{Check: CheckQueueFree, Queue: qi, State: StateFails,
					Detail: "used by io_uring zero-copy RX", Hint: "pick another queue or stop the io_uring receiver"})
			case s.queues[i].xsk:
				add(Condition{Check: CheckQueueFree, Queue: qi, State: StateFails,
					Detail: "has an AF_XDP socket", Hint: "pick another queue or close the AF_XDP socket"})
			default:
				add(Condition{Check: CheckQueueFree, Queue: qi, State: StateHolds, Detail: "no memory provider or AF_XDP socket"})
			}
		}

		if s.rssErr == nil {
			n := 0
			for _, e := range s.rss.Indir {
				if e == q {
					n++
				}
			}
			c := Condition{Check: CheckRSS, Queue: qi, State: StateHolds,
				Detail: "no RSS table entry points at it"}
			if n > 0 {
				c.Detail = strconv.Itoa(n) + " of " + strconv.Itoa(len(s.rss.Indir)) + " RSS table entries point at it: ordinary traffic lands there"
				if len(others) > 0 {
					c.Hint = rssAwayCommand(dev, others)
				}
				if cfg.SteerRSSAway {
					c.State = StateApplyFixes
				} else {
					c.State = StateWarning
					if c.Hint != "" {
						c.Hint = "set SteerRSSAway, or run: " + c.Hint
					}
				}
			}
			add(c)
		}
	}
	return r
}

// setupErrString is err in few words for a Condition's Detail (the full
// error is in Condition.Err): an *Error's errno and kernel message.
func setupErrString(err error) string {
	var ne *Error
	switch {
	case err == nil:
		return "unknown"
	case errors.As(err, &ne) && ne.Err != nil:
		if ne.Message != "" {
			return ne.Err.Error() + ": " + ne.Message
		}
		return ne.Err.Error()
	}
	return err.Error()
}

func xdpMode(m uint8) string {
	switch m {
	case uapi.XDP_ATTACHED_DRV:
		return "driver mode"
	case uapi.XDP_ATTACHED_SKB:
		return "generic mode"
	case uapi.XDP_ATTACHED_HW:
		return "offloaded"
	case uapi.XDP_ATTACHED_MULTI:
		return "several modes"
	}
	return "mode " + strconv.Itoa(int(m))
}

// rssOthers returns the RSS rings below rings that are not devmem queues.
func rssOthers(rings uint32, devmem []uint32) []uint32 {
	var out []uint32
	for q := range rings {
		if !slices.Contains(devmem, q) {
			out = append(out, q)
		}
	}
	return out
}

// rssTable spreads size entries over others round-robin; for devmem
// queues that are the last ones this is "ethtool -X dev equal N".
func rssTable(size int, others []uint32) []uint32 {
	if len(others) == 0 {
		return nil
	}
	t := make([]uint32, size)
	for i := range t {
		t[i] = others[i%len(others)]
	}
	return t
}

// maxHintWeights bounds the weight list of rssCommand's hint.
const maxHintWeights = 256

// rssCommand renders the "ethtool -X" equivalent of setting indir.
func rssCommand(dev string, indir []uint32) string {
	if len(indir) == 0 {
		return "ethtool -X " + dev + " default"
	}
	// A table that repeats 0..p-1 is "equal p".
	p := slices.Index(indir[1:], 0) + 1
	if p == 0 {
		p = len(indir)
	}
	equal := true
	for i, q := range indir {
		if q != uint32(i%p) {
			equal = false
			break
		}
	}
	if equal {
		return "ethtool -X " + dev + " equal " + strconv.Itoa(p)
	}
	top := slices.Max(indir)
	if top >= maxHintWeights {
		// No device has that many rings; a weight per ring up to it
		// would make a hint of kilobytes.
		return "ethtool -X " + dev + " weight ..."
	}
	weights := make([]int, top+1)
	for _, q := range indir {
		weights[q]++
	}
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	var b strings.Builder
	b.WriteString("ethtool -X " + dev + " weight")
	for _, w := range weights {
		b.WriteString(" " + strconv.Itoa(w/g))
	}
	return b.String()
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// rssAwayCommand renders the "ethtool -X" command that keeps ordinary
// traffic on others, the RSS rings that are not devmem queues.
func rssAwayCommand(dev string, others []uint32) string {
	w := make([]uint32, slices.Max(others)+1)
	for _, q := range others {
		w[q] = 1
	}
	if !slices.Contains(w, 0) {
		return "ethtool -X " + dev + " equal " + strconv.Itoa(len(w))
	}
	var b strings.Builder
	b.WriteString("ethtool -X " + dev + " weight")
	for _, x := range w {
		b.WriteString(" " + strconv.Itoa(int(x)))
	}
	return b.String()
}

// isDefaultRSS reports whether indir is the kernel's default spread over
// rings (ethtool_rxfh_indir_default: i mod rings).
func isDefaultRSS(indir []uint32, rings uint32) bool {
	if rings == 0 {
		return false
	}
	for i, q := range indir {
		if q != uint32(i)%rings {
			return false
		}
	}
	return true
}

// Preflight checks, without changing anything, every precondition of
// devmem RX on cfg's device and queues: that each queue exists and is free,
// header split and hds-thresh, XDP, n-tuple filters (when cfg.Flows is
// set) and the RSS spread. It returns an error only for a bad config or a
// device it cannot find (errors.Is(err, os.ErrNotExist)); everything else
// is in the report. Requires Linux.
func Preflight(cfg SetupConfig) (*PreflightReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n, err := openNIC()
	if err != nil {
		return nil, err
	}
	defer n.close()
	return setupPreflight(n, cfg)
}

func setupPreflight(n nic, cfg SetupConfig) (*PreflightReport, error) {
	s, err := setupProbe(n, cfg)
	if err != nil {
		return nil, err
	}
	return setupReport(cfg, s), nil
}

// Apply makes cfg's device ready for devmem RX on cfg.Queues and returns
// the [Undo] that puts it back. In order it:
//
//  1. checks the preconditions like [Preflight] and returns a
//     *[PreflightError] without changing anything if one fails that it
//     cannot fix (queue missing or busy, XDP attached, driver without ring
//     parameters, ...);
//  2. sets tcp-data-split on, and hds-thresh 0 where the driver exposes it
//     ("ethtool -G dev tcp-data-split on hds-thresh 0"), always, because
//     bind-rx checks the configured value and the reported one may be the
//     driver's default;
//  3. turns n-tuple filtering on when cfg.Flows is set and it is off
//     ("ethtool -K dev ntuple on");
//  4. with cfg.SteerRSSAway, rewrites the RSS indirection table to spread
//     over the other queues only ("ethtool -X dev equal N");
//  5. inserts one n-tuple rule per flow ("ethtool -N dev flow-type tcp4
//     ... action Q").
//
// Before each change it records the current value. If a step fails, Apply
// undoes the steps before it, in reverse order, and returns the step's
// *[Error] (joined with any error of the rollback); the device is then as
// it was.
//
// Apply needs CAP_NET_ADMIN. Requires Linux 6.12 or later for devmem
// itself (hds-thresh: 6.14).
//
// # Order of operations
//
// A program should: Apply, then bind the dma-buf (netdev bind-rx), serve,
// close every devmem socket and the binding (unbind), and only then call
// [Undo.Restore]: while a binding holds a queue the kernel refuses to turn
// header split off or raise hds-thresh. Call Restore from the same network
// namespace as Apply.
func Apply(cfg SetupConfig) (*Undo, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n, err := openNIC()
	if err != nil {
		return nil, err
	}
	defer n.close()
	return setupApply(n, openNIC, cfg)
}

func setupApply(n nic, open func() (nic, error), cfg SetupConfig) (_ *Undo, err error) {
	s, err := setupProbe(n, cfg)
	if err != nil {
		return nil, err
	}
	rep := setupReport(cfg, s)
	if !rep.Ready() {
		return nil, &PreflightError{Report: rep}
	}
	u := &Undo{ifindex: cfg.Ifindex, open: open}
	defer func() {
		if err != nil {
			if rerr := u.run(n); rerr != nil {
				err = errors.Join(err, fmt.Errorf("netdev: rolling back: %w", rerr))
			}
		}
	}()
	ifindex := cfg.Ifindex

	// 2. Header split.
	old := *s.rings
	on := TCPDataSplitEnabled
	zero := uint32(0)
	upd := RingsUpdate{TCPDataSplit: &on}
	if old.HDSThreshSupported {
		upd.HDSThresh = &zero
	}
	alreadyOK := old.TCPDataSplit == TCPDataSplitEnabled && (!old.HDSThreshSupported || old.HDSThresh == 0)
	if err := n.setRings(ifindex, upd); err != nil {
		// A driver that reports header split on but cannot set it may
		// have it configured already; bind-rx will tell.
		if !(alreadyOK && errors.Is(err, ErrNotSupported)) {
			return nil, err
		}
	} else if !alreadyOK {
		restore := RingsUpdate{TCPDataSplit: &old.TCPDataSplit}
		if old.HDSThreshSupported {
			restore.HDSThresh = &old.HDSThresh
		}
		u.add(fmt.Sprintf("rings (tcp-data-split %v, hds-thresh %d)", old.TCPDataSplit, old.HDSThresh),
			func(n nic) error { return n.setRings(ifindex, restore) })
	}

	// 3. n-tuple filtering.
	if len(cfg.Flows) > 0 && s.ntupleErr == nil && !s.ntuple.Active && s.ntuple.Changeable {
		if err := n.setFeature(ifindex, ntupleFeature, true); err != nil {
			return nil, err
		}
		u.add("ntuple off", func(n nic) error { return n.setFeature(ifindex, ntupleFeature, false) })
	}

	// 4. RSS.
	if cfg.SteerRSSAway {
		oldIndir := slices.Clone(s.rss.Indir)
		table := rssTable(len(oldIndir), rssOthers(s.rxRings, cfg.Queues))
		if !slices.Equal(table, oldIndir) {
			if err := n.setRSSIndir(ifindex, table); err != nil {
				return nil, err
			}
			restore := oldIndir
			what := "RSS indirection table"
			if isDefaultRSS(oldIndir, s.rxRings) {
				restore, what = nil, "RSS indirection table (default)"
			}
			u.add(what, func(n nic) error { return n.setRSSIndir(ifindex, restore) })
		}
	}

	// 5. Flow rules.
	for _, f := range cfg.Flows {
		r, err := n.insertFlowRule(ifindex, f)
		if err != nil {
			return nil, err
		}
		u.rules = append(u.rules, r)
		u.add("flow rule "+strconv.FormatUint(uint64(r.Location), 10)+" ("+f.String()+")",
			func(n nic) error { return n.deleteFlowRule(ifindex, r.Location) })
	}
	return u, nil
}

// Undo restores what [Apply] changed on a device. It holds no kernel
// resources: [Undo.Restore] opens what it needs. It is safe for concurrent
// use.
type Undo struct {
	mu      sync.Mutex
	ifindex int
	open    func() (nic, error)
	steps   []undoStep // in the order Apply made the changes
	rules   []FlowRule
}

type undoStep struct {
	what string
	fn   func(nic) error
	done bool
}

func (u *Undo) add(what string, fn func(nic) error) {
	u.steps = append(u.steps, undoStep{what: what, fn: fn})
}

// Ifindex returns the device Apply changed.
func (u *Undo) Ifindex() int { return u.ifindex }

// Rules returns the n-tuple rules Apply installed, one per
// SetupConfig.Flows entry, in order.
func (u *Undo) Rules() []FlowRule {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.rules)
}

// Restore puts back exactly the settings Apply recorded, in reverse order:
// it deletes the flow rules, restores the RSS table (a table that was the
// default spread is reset to the default, so it keeps following channel
// changes), turns n-tuple filtering back off if Apply turned it on, and
// restores tcp-data-split and hds-thresh.
//
// Call it after the devmem binding is closed: while bound, the kernel
// refuses the header-split step (EINVAL, "can't disable tcp-data-split
// while device has memory provider enabled"). A failed step does not stop
// the others; Restore returns the failures joined, and a later call retries
// only the steps that failed. Once everything is restored, Restore returns
// nil. It is nil-safe.
func (u *Undo) Restore() error {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !slices.ContainsFunc(u.steps, func(s undoStep) bool { return !s.done }) {
		return nil
	}
	n, err := u.open()
	if err != nil {
		return err
	}
	defer n.close()
	return u.run(n)
}

// run runs the steps not yet done, last first.
func (u *Undo) run(n nic) error {
	var errs []error
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := &u.steps[i]
		if s.done {
			continue
		}
		if err := s.fn(n); err != nil {
			errs = append(errs, fmt.Errorf("netdev: restoring %s: %w", s.what, err))
			continue
		}
		s.done = true
	}
	return errors.Join(errs...)
}
