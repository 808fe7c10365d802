package devmem

import (
	"sync"
	"sync/atomic"
	"time"
)

// idleRelease returns a connection's queued releases to the kernel while
// its reader waits for data (ListenConfig.ReleaseIdle): a timer armed when
// the reader starts to wait, or when the application releases frags while
// it waits, and stopped when the reader wakes. A busy stream never waits,
// so it keeps its full batches; an idle one holds nothing back for longer
// than the delay.
type idleRelease struct {
	c      *conn
	d      time.Duration // < 0: flush at once, without the timer
	t      *time.Timer
	parked atomic.Bool // the reader waits in the poller
	ended  atomic.Bool // the stream ended (EOF, an error): release at once
	armed  atomic.Bool // t is running

	mu  sync.Mutex // held while the timer's flush runs
	off bool       // the connection is closing: flush no more

	flushes atomic.Uint64 // flushes made for idleness
}

func newIdleRelease(c *conn, d time.Duration) *idleRelease {
	ir := &idleRelease{c: c, d: d}
	if d > 0 {
		ir.t = time.AfterFunc(time.Hour, ir.fire)
		ir.t.Stop()
	}
	return ir
}

// park is called by the reader (in the poller callback) before it waits.
func (ir *idleRelease) park() {
	ir.parked.Store(true)
	ir.arm()
}

// wake is called by the reader when its wait ends.
func (ir *idleRelease) wake() {
	if ir.parked.Swap(false) && ir.armed.Swap(false) {
		ir.t.Stop()
	}
}

// released is called after the application released frags.
func (ir *idleRelease) released() {
	switch {
	case ir.ended.Load():
		ir.flush()
	case ir.parked.Load():
		ir.arm()
	}
}

// end is called by the reader at the end of the stream: it returns what is
// queued, and releases from now on go back at once.
func (ir *idleRelease) end() {
	ir.ended.Store(true)
	ir.mu.Lock()
	defer ir.mu.Unlock()
	if !ir.off {
		_ = ir.c.led.Flush()
	}
}

func (ir *idleRelease) arm() {
	if ir.d < 0 {
		ir.flush()
		return
	}
	if ir.armed.CompareAndSwap(false, true) {
		ir.t.Reset(ir.d)
	}
}

func (ir *idleRelease) fire() {
	ir.armed.Store(false)
	ir.flush()
}

// flush returns what is queued, if anything; errors stay with the ledger,
// which keeps the frags pending and reports them (Stats, Close).
func (ir *idleRelease) flush() {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	if ir.off || ir.c.led.Stats().PendingFrags == 0 {
		return
	}
	ir.flushes.Add(1)
	_ = ir.c.led.Flush()
}

// stop ends the timer and waits for a flush it started; the ledger is
// closed next.
func (ir *idleRelease) stop() {
	if ir.t != nil {
		ir.t.Stop()
	}
	ir.mu.Lock()
	ir.off = true
	ir.mu.Unlock()
}
