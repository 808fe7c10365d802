//go:build linux

package netdev

import (
	"errors"
	"math"
	"runtime"
	"strconv"
	"syscall"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func (c *client) bindRX(ifindex int, dmabuf syscall.Conn, queues []uint32) (*Binding, error) {
	if err := checkIfindex(CmdBindRX, ifindex, false); err != nil {
		return nil, err
	}
	if len(queues) == 0 {
		return nil, badArg(CmdBindRX, ifindex, "queues", "give at least one RX queue index")
	}
	qs := normalizeQueues(queues)
	id, conn, err := c.bind(CmdBindRX, ifindex, dmabuf, func(ae *netlink.AttributeEncoder) {
		for _, q := range qs {
			ae.Nested(uapi.NETDEV_A_DMABUF_QUEUES, func(nae *netlink.AttributeEncoder) error {
				nae.Uint32(uapi.NETDEV_A_QUEUE_ID, q)
				nae.Uint32(uapi.NETDEV_A_QUEUE_TYPE, uint32(QueueTypeRX))
				return nil
			})
		}
	})
	if err != nil {
		return nil, err
	}
	return &Binding{id: id, ifindex: ifindex, queues: qs, conn: conn}, nil
}

func (c *client) bindTX(ifindex int, dmabuf syscall.Conn) (*Binding, error) {
	if err := checkIfindex(CmdBindTX, ifindex, false); err != nil {
		return nil, err
	}
	id, conn, err := c.bind(CmdBindTX, ifindex, dmabuf, nil)
	if err != nil {
		return nil, err
	}
	return &Binding{id: id, ifindex: ifindex, tx: true, conn: conn}, nil
}

// bind runs bind-rx or bind-tx on a new socket that the returned binding
// will own. extra adds the command's attributes besides ifindex and fd.
func (c *client) bind(cmd Command, ifindex int, dmabuf syscall.Conn, extra func(*netlink.AttributeEncoder)) (uint32, *genetlink.Conn, error) {
	if c.closed.Load() {
		return 0, nil, errClosed
	}
	if dmabuf == nil {
		return 0, nil, &Error{Op: cmd.String(), Ifindex: ifindex, Err: unix.EBADF, Offset: -1, Attr: "fd",
			Hint: "the dma-buf is nil: pass the dma-buf, e.g. an *os.File"}
	}
	if !c.fam.supports(cmd) {
		// Let execute build the error before a socket is opened for nothing.
		_, err := execute(c.conn, c.fam, cmd, 0, ifindex, nil)
		return 0, nil, err
	}
	rc, err := dmabuf.SyscallConn()
	if err != nil {
		return 0, nil, closedDMABuf(cmd, ifindex, err)
	}
	conn, err := c.connInClientNS()
	if err != nil {
		return 0, nil, err
	}

	var (
		id     uint32
		reqErr error
	)
	cerr := rc.Control(func(fd uintptr) {
		if fd > math.MaxInt32 {
			reqErr = &Error{Op: cmd.String(), Ifindex: ifindex, Err: unix.EBADF, Offset: -1, Attr: "fd",
				Hint: "the dma-buf file descriptor is invalid"}
			return
		}
		var msgs []genetlink.Message
		msgs, reqErr = execute(conn, c.fam, cmd, 0, ifindex, func(ae *netlink.AttributeEncoder) {
			ae.Uint32(uapi.NETDEV_A_DMABUF_IFINDEX, uint32(ifindex))
			ae.Uint32(uapi.NETDEV_A_DMABUF_FD, uint32(fd))
			if extra != nil {
				extra(ae)
			}
		})
		if reqErr != nil {
			c.explainBind(cmd, reqErr, int(fd))
			return
		}
		if len(msgs) != 1 {
			reqErr = &Error{Op: cmd.String(), Ifindex: ifindex, Err: unix.EPROTO, Offset: -1,
				Hint: strconv.Itoa(len(msgs)) + " replies, want 1"}
			return
		}
		id, reqErr = parseID(msgs[0].Data, uapi.NETDEV_A_DMABUF_ID, cmd.String()+" reply")
	})
	// The fd number travelled in the request: keep its owner alive until
	// the kernel has answered.
	runtime.KeepAlive(dmabuf)
	if cerr != nil {
		_ = conn.Close()
		return 0, nil, closedDMABuf(cmd, ifindex, cerr)
	}
	if reqErr != nil {
		_ = conn.Close()
		return 0, nil, reqErr
	}
	return id, conn, nil
}

// rxQueueCount counts the configured RX queues of ifindex.
func (c *client) rxQueueCount(ifindex int) (int, bool) {
	qs, err := c.queues(ifindex)
	if err != nil {
		return 0, false
	}
	n := 0
	for _, q := range qs {
		if q.Type == QueueTypeRX {
			n++
		}
	}
	return n, n > 0
}

func closedDMABuf(cmd Command, ifindex int, err error) error {
	return &Error{Op: cmd.String(), Ifindex: ifindex, Err: unix.EBADF, Offset: -1, Attr: "fd",
		Hint: "the dma-buf is closed (" + err.Error() + ")"}
}

// explainBind sets the Hint of a bind-rx or bind-tx refusal. The kernel
// looks at the dma-buf only after the device (and, on newer kernels, the
// queues), and answers a descriptor that is no dma-buf with a bare EINVAL,
// so the descriptor is examined here, while it is still held, and a wrong
// one is named in the hint whatever the kernel said first.
func (c *client) explainBind(cmd Command, err error, fd int) {
	var e *Error
	if !errors.As(err, &e) || e.Hint != "" {
		return
	}
	e.Hint = bindHint(cmd, e, func() (int, bool) { return c.rxQueueCount(e.Ifindex) })
	p := notDMABuf(fd)
	if p == "" {
		return
	}
	var errno unix.Errno
	if errors.As(e.Err, &errno) && (errno == unix.EINVAL || errno == unix.EBADF) && e.Message == "" && e.Attr == "" {
		e.Hint = p
	} else if e.Hint != "" {
		e.Hint += "; also, " + p
	} else {
		e.Hint = p
	}
}

// notDMABuf says what is wrong with fd as a dma-buf, or "" if it is one:
// dma-bufs live on the kernel's dmabuf pseudo file system (DMA_BUF_MAGIC).
func notDMABuf(fd int) string {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return "file descriptor " + strconv.Itoa(fd) + " is not usable (" + err.Error() + ")"
	}
	if st.Type == unix.DMA_BUF_MAGIC {
		return ""
	}
	what := "a file"
	var s unix.Stat_t
	if unix.Fstat(fd, &s) == nil {
		switch s.Mode & unix.S_IFMT {
		case unix.S_IFIFO:
			what = "a pipe"
		case unix.S_IFSOCK:
			what = "a socket"
		case unix.S_IFREG:
			what = "a regular file (a memfd can be turned into a dma-buf with udmabuf)"
		case unix.S_IFCHR:
			what = "a character device"
		case unix.S_IFDIR:
			what = "a directory"
		}
	}
	return "file descriptor " + strconv.Itoa(fd) + " is " + what + ", not a dma-buf: pass a dma-buf (udmabuf, dma-heap or a GPU exporter)"
}

// connInClientNS opens a socket (for a binding or a subscription) in the network
// namespace of the client's socket (ifindex values are resolved there),
// even when the calling thread sits in another one.
func (c *client) connInClientNS() (*genetlink.Conn, error) {
	if c.dialSide != nil {
		return c.dialSide()
	}
	conn, err := dialConn(0)
	if err != nil {
		return nil, err
	}
	want, err1 := netnsCookie(c.conn)
	got, err2 := netnsCookie(conn)
	if err1 != nil || err2 != nil || want == got {
		// Same namespace, or a kernel without SO_NETNS_COOKIE (before 5.14,
		// far older than bind-rx).
		return conn, nil
	}
	_ = conn.Close()
	nsfd, err := socketNetNS(c.conn)
	if err != nil {
		return nil, &Error{Op: "bind", Err: err, Offset: -1,
			Hint: "the calling thread is in another network namespace than the Client and the Client's namespace cannot be entered: call BindRX from the Client's namespace"}
	}
	defer unix.Close(nsfd)
	return dialConn(nsfd)
}

// netnsCookie returns the SO_NETNS_COOKIE of conn's socket.
func netnsCookie(conn *genetlink.Conn) (uint64, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		v    uint64
		serr error
	)
	if err := rc.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	}); err != nil {
		return 0, err
	}
	return v, serr
}

// socketNetNS returns a new fd for the network namespace of conn's socket
// (SIOCGSKNS, needs CAP_NET_ADMIN in that namespace).
func socketNetNS(conn *genetlink.Conn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	var (
		nsfd int
		ierr error
	)
	if err := rc.Control(func(fd uintptr) {
		nsfd, ierr = unix.IoctlRetInt(int(fd), unix.SIOCGSKNS)
	}); err != nil {
		return -1, err
	}
	return nsfd, ierr
}
