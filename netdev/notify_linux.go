//go:build linux

package netdev

import (
	"github.com/mdlayher/genetlink"
	"golang.org/x/sys/unix"
)

func (c *client) subscribe(groups []Group) (s *Subscription, err error) {
	if c.closed.Load() {
		return nil, errClosed
	}
	if len(groups) == 0 {
		// Every group the kernel has: page-pool needs CONFIG_PAGE_POOL.
		for _, g := range []Group{GroupMgmt, GroupPagePool} {
			if _, ok := c.fam.groups[g.String()]; ok {
				groups = append(groups, g)
			}
		}
	}
	ids := make([]uint32, 0, len(groups))
	for _, g := range groups {
		id, ok := c.fam.groups[g.String()]
		if !ok {
			hint := "the kernel has no netdev multicast group " + g.String()
			if g == GroupPagePool {
				hint += " (Linux 6.8+ with CONFIG_PAGE_POOL)"
			}
			return nil, &Error{Op: "subscribe", Err: unix.EOPNOTSUPP, Offset: -1, Hint: hint}
		}
		ids = append(ids, id)
	}
	conn, err := c.connInClientNS()
	if err != nil {
		return nil, err
	}
	return subscribeConn(conn, c.fam.id, ids)
}

// subscribeConn joins groups on conn and wraps it; conn is closed on error.
func subscribeConn(conn *genetlink.Conn, famID uint16, groups []uint32) (*Subscription, error) {
	for _, id := range groups {
		if err := conn.JoinGroup(id); err != nil {
			_ = conn.Close()
			return nil, wrapError("subscribe", 0, err)
		}
	}
	return &Subscription{famID: famID, conn: conn}, nil
}
