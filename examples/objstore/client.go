//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// netFuncs make the client's sockets; tests replace them to make the
// sockets in another network namespace.
type netFuncs struct {
	dial   func(ctx context.Context, addr string) (net.Conn, error)
	listen func(addr string) (net.Listener, error)
}

func defaultNet() netFuncs {
	return netFuncs{
		dial: func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		listen: func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) },
	}
}

// client is one session with the object server: the request connection
// and, after hello, the data channel GET payloads arrive on.
type client struct {
	ctrl     net.Conn
	br       *bufio.Reader
	data     net.Conn
	dataMode string // the server's send path on the data channel: "devmem" or "copy"
	noData   string // why there is no data channel, when one was asked for
	id       uint32
}

// dialClient connects to the server at addr; with dataChannel it also
// opens the data channel (hello), and falls back to inline GETs with
// the reason if the server cannot dial back.
func dialClient(ctx context.Context, addr string, nf netFuncs, dataChannel bool) (*client, error) {
	c, err := nf.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	cl := &client{ctrl: c, br: bufio.NewReaderSize(c, 64<<10)}
	if dataChannel {
		err := cl.hello(ctx, nf)
		if errors.Is(err, errNoDataChannel) {
			cl.noData = err.Error() // GETs come inline
		} else if err != nil {
			cl.Close()
			return nil, err
		}
	}
	return cl, nil
}

func (c *client) Close() error {
	err := c.ctrl.Close()
	if c.data != nil {
		err = errors.Join(err, c.data.Close())
	}
	return err
}

// errNoDataChannel is returned by hello when the server could not dial
// back; the session stays usable with inline GETs.
var errNoDataChannel = errors.New("objstore: no data channel")

// hello listens on a port of the local address, asks the server to dial
// it, and checks the token on the connection that arrives.
func (c *client) hello(ctx context.Context, nf netFuncs) error {
	local := c.ctrl.LocalAddr().(*net.TCPAddr)
	ln, err := nf.listen(net.JoinHostPort(local.IP.String(), "0"))
	if err != nil {
		return fmt.Errorf("data channel listener: %w", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	resp, msg, err := c.do(opHello, "", uint64(port), 0, nil)
	if err != nil {
		return err
	}
	if resp.status != statusOK {
		return fmt.Errorf("%w: %s", errNoDataChannel, msg)
	}
	if d, ok := ctx.Deadline(); ok {
		if tl, ok := ln.(*net.TCPListener); ok {
			_ = tl.SetDeadline(d)
		}
	} else if tl, ok := ln.(*net.TCPListener); ok {
		_ = tl.SetDeadline(time.Now().Add(10 * time.Second))
	}
	d, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("data channel: %w", err)
	}
	var tb [8]byte
	if _, err := io.ReadFull(d, tb[:]); err != nil || binary.BigEndian.Uint64(tb[:]) != resp.size {
		d.Close()
		return fmt.Errorf("data channel: token mismatch (%v)", err)
	}
	c.data, c.dataMode = d, msg
	return nil
}

// do sends one request and reads the response header and message.
func (c *client) do(o op, key string, size uint64, crc uint32, payload []byte) (response, string, error) {
	c.id++
	req := request{op: o, keyLen: uint16(len(key)), size: size, crc: crc, id: c.id}
	var h [headerLen]byte
	req.marshal(&h)
	bufs := net.Buffers{h[:], []byte(key)}
	if len(payload) > 0 {
		bufs = append(bufs, payload)
	}
	if _, err := bufs.WriteTo(c.ctrl); err != nil {
		return response{}, "", err
	}
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return response{}, "", fmt.Errorf("objstore: %v response: %w", o, err)
	}
	resp, err := parseResponse(h[:])
	if err != nil {
		return resp, "", err
	}
	if resp.id != req.id {
		return resp, "", fmt.Errorf("%w: response to request %d, want %d", errBadFrame, resp.id, req.id)
	}
	msg := make([]byte, resp.msgLen)
	if _, err := io.ReadFull(c.br, msg); err != nil {
		return resp, "", err
	}
	return resp, string(msg), nil
}

// Put stores data under key.
func (c *client) Put(key string, data []byte) error {
	resp, msg, err := c.do(opPut, key, uint64(len(data)), checksum(data), data)
	if err != nil {
		return err
	}
	if resp.status != statusOK {
		return &statusError{opPut, resp.status, msg}
	}
	return nil
}

// Get returns the object of key, read into buf if it is large enough,
// after checking its checksum.
func (c *client) Get(key string, buf []byte) ([]byte, error) {
	resp, msg, err := c.do(opGet, key, 0, 0, nil)
	if err != nil {
		return nil, err
	}
	if resp.status != statusOK {
		return nil, &statusError{opGet, resp.status, msg}
	}
	if uint64(cap(buf)) < resp.size {
		buf = make([]byte, resp.size)
	}
	buf = buf[:resp.size]
	var src io.Reader = c.br
	if resp.where == whereData {
		if c.data == nil {
			return nil, fmt.Errorf("%w: payload on a data channel this session does not have", errBadFrame)
		}
		src = c.data
	}
	if _, err := io.ReadFull(src, buf); err != nil {
		return nil, fmt.Errorf("objstore: GET %s payload: %w", key, err)
	}
	if sum := checksum(buf); sum != resp.crc {
		return nil, fmt.Errorf("objstore: GET %s: crc32c %08x, the server said %08x", key, sum, resp.crc)
	}
	return buf, nil
}

// Del removes key.
func (c *client) Del(key string) error {
	resp, msg, err := c.do(opDel, key, 0, 0, nil)
	if err != nil {
		return err
	}
	if resp.status != statusOK {
		return &statusError{opDel, resp.status, msg}
	}
	return nil
}

// Stat returns the server's counters.
func (c *client) Stat() (*serverStats, error) {
	resp, msg, err := c.do(opStat, "", 0, 0, nil)
	if err != nil {
		return nil, err
	}
	if resp.status != statusOK {
		return nil, &statusError{opStat, resp.status, msg}
	}
	b := make([]byte, resp.size)
	if _, err := io.ReadFull(c.br, b); err != nil {
		return nil, err
	}
	if checksum(b) != resp.crc {
		return nil, errors.New("objstore: STAT: bad checksum")
	}
	st := new(serverStats)
	return st, json.Unmarshal(b, st)
}

func unixMemfd(name string, size int64) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("memfd_create", err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("ftruncate", err)
	}
	return fd, nil
}

// oneLine reduces an error to its first line.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " (...)"
	}
	return s
}
