package netdev

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/genetlink"
	"golang.org/x/sys/unix"
)

// Group is a multicast group of the netdev family.
type Group uint8

// Multicast groups.
const (
	// GroupMgmt carries device notifications: DevAdded, DevDeleted,
	// DevChanged (a change of XDP features).
	GroupMgmt Group = iota + 1
	// GroupPagePool carries page pool notifications: PagePoolAdded,
	// PagePoolDeleted, PagePoolChanged. Linux 6.8+ with CONFIG_PAGE_POOL.
	GroupPagePool
)

// String returns the group's name in the kernel: "mgmt" or "page-pool".
func (g Group) String() string {
	switch g {
	case GroupMgmt:
		return uapi.NETDEV_MCGRP_MGMT
	case GroupPagePool:
		return uapi.NETDEV_MCGRP_PAGE_POOL
	}
	return "group-" + strconv.Itoa(int(g))
}

// EventType says what a notification reports.
type EventType uint8

// Event types, one per notification command of the family.
const (
	DevAdded        EventType = iota + 1 // dev-add-ntf
	DevDeleted                           // dev-del-ntf
	DevChanged                           // dev-change-ntf
	PagePoolAdded                        // page-pool-add-ntf
	PagePoolDeleted                      // page-pool-del-ntf
	PagePoolChanged                      // page-pool-change-ntf
)

// String returns the name of the notification command, e.g. "dev-add-ntf".
func (t EventType) String() string {
	if c, ok := eventCommand(t); ok {
		return c.String()
	}
	return "event-" + strconv.Itoa(int(t))
}

func eventCommand(t EventType) (Command, bool) {
	switch t {
	case DevAdded:
		return CmdDevAddNtf, true
	case DevDeleted:
		return CmdDevDelNtf, true
	case DevChanged:
		return CmdDevChangeNtf, true
	case PagePoolAdded:
		return CmdPagePoolAddNtf, true
	case PagePoolDeleted:
		return CmdPagePoolDelNtf, true
	case PagePoolChanged:
		return CmdPagePoolChangeNtf, true
	}
	return 0, false
}

// Event is one notification. Dev is set for the Dev* types, PagePool for
// the PagePool* types.
type Event struct {
	Type     EventType
	Dev      *Dev
	PagePool *PagePool
}

// parseEvent decodes one notification; ok is false for commands this
// package does not know.
func parseEvent(cmd uint8, b []byte) (ev Event, ok bool, err error) {
	switch Command(cmd) {
	case CmdDevAddNtf, CmdDevDelNtf, CmdDevChangeNtf:
		ev.Type = DevAdded + EventType(cmd-uint8(CmdDevAddNtf))
		ev.Dev, err = parseDev(b)
	case CmdPagePoolAddNtf, CmdPagePoolDelNtf, CmdPagePoolChangeNtf:
		ev.Type = PagePoolAdded + EventType(cmd-uint8(CmdPagePoolAddNtf))
		ev.PagePool, err = parsePagePool(b)
	default:
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, err
	}
	return ev, true, nil
}

// A Subscription receives notifications of the netdev family on its own
// netlink socket, for the network namespace of the [Client] that made it.
// There are no notifications for bind or unbind.
//
// Receive may be called from one goroutine at a time (concurrent calls
// wait for each other); Close may be called at any time from any
// goroutine and unblocks a waiting Receive. A Subscription must be closed
// when no longer needed; it starts no goroutines.
type Subscription struct {
	famID  uint16
	conn   *genetlink.Conn
	closed atomic.Bool

	mu          sync.Mutex // serialises Receive, guards the fields below
	pending     []Event
	deadlineSet bool // a read deadline may be set on conn
}

// Subscribe opens a socket that joins the given multicast groups (every
// group the kernel has when none are given) and returns the subscription,
// which the caller must Close. Only events that happen after Subscribe
// returns are delivered. Asking for a group the kernel lacks gives an
// error matching ErrNotSupported.
func (c *Client) Subscribe(groups ...Group) (*Subscription, error) {
	return c.c.subscribe(groups)
}

// aLongTimeAgo is a deadline in the past that wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// Receive returns the next notification, waiting for it until ctx is done.
// When ctx ends first, the error is ctx.Err(); after Close it matches
// net.ErrClosed. If the kernel dropped notifications because the socket's
// buffer was full, Receive returns an *Error matching unix.ENOBUFS once
// and then goes on: re-read the state (Devs, PagePools) to catch up.
func (s *Subscription) Receive(ctx context.Context) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if len(s.pending) > 0 {
			ev := s.pending[0]
			s.pending[0] = Event{}
			s.pending = s.pending[1:]
			return ev, nil
		}
		if s.closed.Load() {
			return Event{}, fmt.Errorf("netdev: receive: %w", net.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return Event{}, err
		}
		// A context that cannot end needs no deadline; clear one an
		// earlier call left behind.
		dl, hasDL := ctx.Deadline()
		cancelable := ctx.Done() != nil
		if cancelable || s.deadlineSet {
			if err := s.conn.SetReadDeadline(dl); err != nil {
				return Event{}, s.receiveError(ctx, hasDL, err)
			}
			s.deadlineSet = cancelable
		}
		stop := func() bool { return false }
		if cancelable {
			stop = context.AfterFunc(ctx, func() { _ = s.conn.SetReadDeadline(aLongTimeAgo) })
		}
		msgs, nmsgs, err := s.conn.Receive()
		stop()
		if err != nil {
			return Event{}, s.receiveError(ctx, hasDL, err)
		}
		for i, m := range msgs {
			if i >= len(nmsgs) || uint16(nmsgs[i].Header.Type) != s.famID {
				continue
			}
			ev, ok, err := parseEvent(m.Header.Command, m.Data)
			if err != nil {
				return Event{}, err
			}
			if ok {
				s.pending = append(s.pending, ev)
			}
		}
	}
}

func (s *Subscription) receiveError(ctx context.Context, hasDL bool, err error) error {
	switch {
	case s.closed.Load():
		return fmt.Errorf("netdev: receive: %w", net.ErrClosed)
	case ctx.Err() != nil:
		return ctx.Err()
	case hasDL && errors.Is(err, os.ErrDeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, unix.ENOBUFS):
		e := wrapError("receive", 0, err).(*Error)
		e.Hint = "notifications were lost (socket buffer overrun): re-read the state with Devs or PagePools"
		return e
	}
	return wrapError("receive", 0, err)
}

// Close closes the subscription's socket, which unblocks a waiting
// Receive. It is idempotent and nil-safe.
func (s *Subscription) Close() error {
	if s == nil || !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	return s.conn.Close()
}
