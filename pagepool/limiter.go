package pagepool

import (
	"sync"
	"sync/atomic"
)

// Limiter bounds the frags and bytes outstanding on all the sockets of one
// RX binding together, so that they cannot drain its page pool: give the
// same Limiter to their ledgers (LedgerOptions.Limiter). At the bound, their
// Wait and RecordContext calls block (or fail, with FailFast) until frags are
// returned to the kernel.
//
// A Limiter is safe for concurrent use.
type Limiter struct {
	maxF, maxB uint64
	frags      atomic.Uint64
	bytes      atomic.Uint64
	note       notifier

	regMu   sync.Mutex
	ledgers []*Ledger
}

// NewLimiter returns a limiter for maxFrags frags and maxBytes bytes; 0 is no
// bound.
func NewLimiter(maxFrags, maxBytes uint64) *Limiter {
	return &Limiter{maxF: maxFrags, maxB: maxBytes}
}

// Outstanding returns the frags and bytes outstanding on the ledgers that
// use the limiter.
func (m *Limiter) Outstanding() (frags, bytes uint64) {
	return m.frags.Load(), m.bytes.Load()
}

// room reports whether the limiter is below its bounds; a nil limiter always
// is.
func (m *Limiter) room() bool {
	return m == nil || ((m.maxF == 0 || m.frags.Load() < m.maxF) && (m.maxB == 0 || m.bytes.Load() < m.maxB))
}

func (m *Limiter) add(f, b uint64) {
	m.frags.Add(f)
	m.bytes.Add(b)
}

func (m *Limiter) sub(f, b uint64) {
	if f == 0 && b == 0 {
		return
	}
	m.frags.Add(-f)
	m.bytes.Add(-b)
	m.note.wake()
}

func (m *Limiter) register(l *Ledger) {
	m.regMu.Lock()
	m.ledgers = append(m.ledgers, l)
	m.regMu.Unlock()
}

func (m *Limiter) unregister(l *Ledger) {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	for i, x := range m.ledgers {
		if x == l {
			last := len(m.ledgers) - 1
			m.ledgers[i] = m.ledgers[last]
			m.ledgers[last] = nil
			m.ledgers = m.ledgers[:last]
			return
		}
	}
}

// flushAll flushes the queued releases of every ledger but except. Their
// errors are counted in their own stats.
func (m *Limiter) flushAll(except *Ledger) {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	for _, l := range m.ledgers {
		if l != except {
			_ = l.Flush()
		}
	}
}

// notifier wakes goroutines waiting for a condition: they take the channel
// with wait, check the condition, and block on the channel; wake closes it.
// Nothing is allocated unless someone waits.
type notifier struct {
	waiters atomic.Int32
	mu      sync.Mutex
	ch      chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) wake() {
	if n.waiters.Load() == 0 {
		return
	}
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.mu.Unlock()
}
