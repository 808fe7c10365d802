//go:build linux

package netdev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ethtoolClient is the Linux implementation behind Ethtool: a genetlink
// socket for the ethtool family (and, lazily, the netdev family's
// queue-get), plus a datagram socket for SIOCETHTOOL.
type ethtoolClient struct {
	c   *genetlink.Conn
	fam genlOps // "ethtool"

	netdevOnce sync.Once
	netdev     genlOps // "netdev", resolved on first use
	netdevErr  error

	mu     sync.RWMutex // guards fd and closed against Close
	fd     int          // SIOCETHTOOL socket, -1 when none
	closed bool
}

// genlOps is a resolved generic netlink family with its op list.
type genlOps struct {
	id      uint16
	version uint8
	name    string
	ops     map[uint32]bool
}

func (f genlOps) has(cmd uint32) bool { return f.ops[cmd] }

func newEthtoolClient() (*ethtoolClient, error) {
	// The ethtool family validates strictly and always sends extended
	// acks, so Strict is safe and gives us the kernel's messages.
	conn, err := genetlink.Dial(&netlink.Config{Strict: true})
	if err != nil {
		return nil, wrapError("dial", 0, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		// A kernel without IPv4 still answers SIOCETHTOOL on any socket.
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		_ = conn.Close()
		return nil, wrapError("socket", 0, os.NewSyscallError("socket", err))
	}
	e, err := initEthtoolClient(conn, fd)
	if err != nil {
		_ = conn.Close()
		_ = unix.Close(fd)
		return nil, err
	}
	return e, nil
}

// initEthtoolClient resolves the ethtool family on conn. fd is the
// SIOCETHTOOL socket (-1 for none, as in tests). It is the seam the fake
// tests use.
func initEthtoolClient(conn *genetlink.Conn, fd int) (*ethtoolClient, error) {
	fam, err := resolveGenlOps(conn, unix.ETHTOOL_GENL_NAME)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("netdev: the kernel has no ethtool netlink family (needs CONFIG_ETHTOOL_NETLINK): %w", ErrNotSupported)
		}
		return nil, err
	}
	return &ethtoolClient{c: conn, fam: fam, fd: fd}, nil
}

func (e *ethtoolClient) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	err := e.c.Close()
	if e.fd >= 0 {
		if cerr := unix.Close(e.fd); err == nil && cerr != nil {
			err = os.NewSyscallError("close", cerr)
		}
		e.fd = -1
	}
	return err
}

// resolveGenlOps asks the generic netlink controller for a family, with its
// op list (genetlink.Conn.GetFamily drops the ops, which feature detection
// needs).
func resolveGenlOps(conn *genetlink.Conn, name string) (genlOps, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, name)
	b, err := ae.Encode()
	if err != nil {
		return genlOps{}, err
	}
	msgs, err := conn.Execute(genetlink.Message{
		Header: genetlink.Header{Command: unix.CTRL_CMD_GETFAMILY, Version: 1},
		Data:   b,
	}, unix.GENL_ID_CTRL, netlink.Request)
	if err != nil {
		return genlOps{}, wrapError("getfamily "+name, 0, err)
	}
	if len(msgs) != 1 {
		return genlOps{}, fmt.Errorf("netdev: getfamily %s: %d replies, want 1", name, len(msgs))
	}
	f, err := parseGenlOps(msgs[0].Data)
	if err != nil {
		return genlOps{}, fmt.Errorf("netdev: getfamily %s: %w", name, err)
	}
	if f.name != name {
		return genlOps{}, fmt.Errorf("netdev: getfamily %s: the kernel answered for family %q", name, f.name)
	}
	return f, nil
}

// parseGenlOps decodes a CTRL_CMD_NEWFAMILY reply.
func parseGenlOps(b []byte) (genlOps, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return genlOps{}, err
	}
	f := genlOps{ops: make(map[uint32]bool)}
	for ad.Next() {
		switch ad.Type() {
		case unix.CTRL_ATTR_FAMILY_ID:
			f.id = ad.Uint16()
		case unix.CTRL_ATTR_FAMILY_NAME:
			f.name = ad.String()
		case unix.CTRL_ATTR_VERSION:
			f.version = uint8(ad.Uint32())
		case unix.CTRL_ATTR_OPS:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					nad.Nested(func(oad *netlink.AttributeDecoder) error {
						for oad.Next() {
							if oad.Type() == unix.CTRL_ATTR_OP_ID {
								f.ops[oad.Uint32()] = true
							}
						}
						return nil
					})
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return genlOps{}, err
	}
	if f.id == 0 {
		return genlOps{}, errors.New("reply has no family id")
	}
	return f, nil
}

// errBadIfindex is returned for an ifindex the kernel would reject anyway.
func errBadIfindex(op string, ifindex int) error {
	return &Error{Op: op, Ifindex: ifindex, Err: unix.EINVAL, Offset: -1,
		Hint: "pass the device's positive ifindex (net.InterfaceByName(name).Index)"}
}

// execute sends one ethtool request for ifindex: the header nest hdrAttr
// carrying DEV_INDEX (and FLAGS when non-zero), then whatever encode adds.
func (e *ethtoolClient) execute(op string, cmd uint8, flags netlink.HeaderFlags, ifindex int, hdrAttr uint16, hdrFlags uint32, encode func(ae *netlink.AttributeEncoder)) ([]genetlink.Message, error) {
	if ifindex <= 0 {
		return nil, errBadIfindex(op, ifindex)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(hdrAttr, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(unix.ETHTOOL_A_HEADER_DEV_INDEX, uint32(ifindex))
		if hdrFlags != 0 {
			nae.Uint32(unix.ETHTOOL_A_HEADER_FLAGS, hdrFlags)
		}
		return nil
	})
	if encode != nil {
		encode(ae)
	}
	b, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("netdev: %s: %w", op, err)
	}
	msgs, err := e.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: e.fam.version},
		Data:   b,
	}, e.fam.id, netlink.Request|flags)
	if err != nil {
		return nil, wrapError(op, ifindex, err)
	}
	return msgs, nil
}

// get runs a "do" get request and returns the single reply's attributes.
func (e *ethtoolClient) get(op string, cmd uint8, ifindex int, hdrAttr uint16, hdrFlags uint32, encode func(*netlink.AttributeEncoder)) ([]byte, error) {
	msgs, err := e.execute(op, cmd, 0, ifindex, hdrAttr, hdrFlags, encode)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("netdev: %s ifindex %d: %d replies, want 1", op, ifindex, len(msgs))
	}
	return msgs[0].Data, nil
}

// set runs a set request, attaching hint (built from the device name) to a
// refusal.
func (e *ethtoolClient) set(op string, cmd uint8, ifindex int, hdrAttr uint16, hdrFlags uint32, encode func(*netlink.AttributeEncoder), command func(dev string) string) error {
	_, err := e.execute(op, cmd, netlink.Acknowledge, ifindex, hdrAttr, hdrFlags, encode)
	if err != nil {
		return setHint(err, ethtoolHint(err, command(e.ifname(ifindex))))
	}
	return nil
}

// setHint sets the Hint of the *Error in err's chain, if it has none yet.
func setHint(err error, hint string) error {
	var ne *Error
	if errors.As(err, &ne) && ne.Hint == "" {
		ne.Hint = hint
	}
	return err
}

// ethtoolHint explains a refusal of the operation whose ethtool command is cmd.
func ethtoolHint(err error, cmd string) string {
	var ne *Error
	msg := ""
	if errors.As(err, &ne) {
		msg = ne.Message
	}
	switch {
	case errors.Is(err, os.ErrPermission):
		return "needs CAP_NET_ADMIN in the device's network namespace; equivalent command: " + cmd
	case errors.Is(err, os.ErrNotExist):
		return "no such device in this network namespace; equivalent command: " + cmd
	case errors.Is(err, ErrNotSupported):
		return "the device's driver does not support this; equivalent command: " + cmd
	case strings.Contains(msg, "memory provider"):
		return "a devmem binding (or io_uring zero-copy RX) holds a queue of the device: close the binding first, then run the equivalent of: " + cmd
	}
	return "equivalent command: " + cmd
}

// ifname returns the device's name for hints, or a placeholder.
func (e *ethtoolClient) ifname(ifindex int) string {
	name, err := e.ifnameErr(ifindex)
	if err != nil {
		return "<ifindex " + strconv.Itoa(ifindex) + ">"
	}
	return name
}

func (e *ethtoolClient) ifnameErr(ifindex int) (string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return "", os.ErrClosed
	}
	if e.fd < 0 {
		return "", unix.EBADF
	}
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return "", err
	}
	ifr.SetUint32(uint32(ifindex))
	if err := unix.IoctlIfreq(e.fd, unix.SIOCGIFNAME, ifr); err != nil {
		return "", err
	}
	return ifr.Name(), nil
}

// ethtoolIoctl runs SIOCETHTOOL for ifindex with b as the command
// structure (its first u32 is the ETHTOOL_* command). b must come from
// ioctlBuf so that it is suitably aligned.
func (e *ethtoolClient) ethtoolIoctl(ifindex int, b []byte) error {
	if ifindex <= 0 {
		return unix.EINVAL
	}
	name, err := e.ifnameErr(ifindex)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			// SIOCGIFNAME's "no such device"; say it like netlink does.
			return unix.ENODEV
		}
		return err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return os.ErrClosed
	}
	var ifr uapi.IfreqData
	copy(ifr.Name[:len(ifr.Name)-1], name)
	ifr.Data = unsafe.Pointer(unsafe.SliceData(b))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(e.fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(b)
	if errno != 0 {
		return errno
	}
	return nil
}

// ioctlBuf returns n zeroed bytes, 8-byte aligned (the ethtool structures
// hold u64 fields).
func ioctlBuf(n int) []byte {
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), n)
}

// Rings.

func (e *ethtoolClient) rings(ifindex int) (*Rings, error) {
	b, err := e.get("rings-get", unix.ETHTOOL_MSG_RINGS_GET, ifindex, unix.ETHTOOL_A_RINGS_HEADER, 0, nil)
	if err != nil {
		return nil, setHint(err, ethtoolHint(err, "ethtool -g "+e.ifname(ifindex)))
	}
	r, err := parseRings(b)
	if err != nil {
		return nil, fmt.Errorf("netdev: rings-get ifindex %d: %w", ifindex, err)
	}
	return r, nil
}

// parseRings decodes an ETHTOOL_MSG_RINGS_GET_REPLY.
func parseRings(b []byte) (*Rings, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	var r Rings
	var haveThresh, haveMax bool
	for ad.Next() {
		switch ad.Type() {
		case unix.ETHTOOL_A_RINGS_RX_MAX:
			r.RXMax = ad.Uint32()
		case unix.ETHTOOL_A_RINGS_RX:
			r.RX = ad.Uint32()
		case unix.ETHTOOL_A_RINGS_RX_BUF_LEN:
			r.RXBufLen = ad.Uint32()
		case unix.ETHTOOL_A_RINGS_TCP_DATA_SPLIT:
			r.TCPDataSplit = TCPDataSplit(ad.Uint8())
		case unix.ETHTOOL_A_RINGS_HDS_THRESH:
			r.HDSThresh = ad.Uint32()
			haveThresh = true
		case unix.ETHTOOL_A_RINGS_HDS_THRESH_MAX:
			r.HDSThreshMax = ad.Uint32()
			haveMax = true
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	// The kernel sends both or neither.
	r.HDSThreshSupported = haveThresh && haveMax
	return &r, nil
}

func (e *ethtoolClient) setRings(ifindex int, u RingsUpdate) error {
	return e.set("rings-set", unix.ETHTOOL_MSG_RINGS_SET, ifindex, unix.ETHTOOL_A_RINGS_HEADER, 0,
		u.encode, func(dev string) string { return "ethtool -G " + dev + u.args() })
}

// encode adds the non-nil fields in attribute order.
func (u RingsUpdate) encode(ae *netlink.AttributeEncoder) {
	if u.RX != nil {
		ae.Uint32(unix.ETHTOOL_A_RINGS_RX, *u.RX)
	}
	if u.RXBufLen != nil {
		ae.Uint32(unix.ETHTOOL_A_RINGS_RX_BUF_LEN, *u.RXBufLen)
	}
	if u.TCPDataSplit != nil {
		ae.Uint8(unix.ETHTOOL_A_RINGS_TCP_DATA_SPLIT, uint8(*u.TCPDataSplit))
	}
	if u.HDSThresh != nil {
		ae.Uint32(unix.ETHTOOL_A_RINGS_HDS_THRESH, *u.HDSThresh)
	}
}

// args renders u as "ethtool -G" arguments.
func (u RingsUpdate) args() string {
	var b strings.Builder
	if u.RX != nil {
		fmt.Fprintf(&b, " rx %d", *u.RX)
	}
	if u.RXBufLen != nil {
		fmt.Fprintf(&b, " rx-buf-len %d", *u.RXBufLen)
	}
	if u.TCPDataSplit != nil {
		// "ethtool -G" says "auto" for the driver default.
		s := u.TCPDataSplit.String()
		if *u.TCPDataSplit == TCPDataSplitUnknown {
			s = "auto"
		}
		fmt.Fprintf(&b, " tcp-data-split %s", s)
	}
	if u.HDSThresh != nil {
		fmt.Fprintf(&b, " hds-thresh %d", *u.HDSThresh)
	}
	return b.String()
}

// Channels.

func (e *ethtoolClient) channels(ifindex int) (*Channels, error) {
	b, err := e.get("channels-get", unix.ETHTOOL_MSG_CHANNELS_GET, ifindex, unix.ETHTOOL_A_CHANNELS_HEADER, 0, nil)
	if err != nil {
		return nil, setHint(err, ethtoolHint(err, "ethtool -l "+e.ifname(ifindex)))
	}
	c, err := parseChannels(b)
	if err != nil {
		return nil, fmt.Errorf("netdev: channels-get ifindex %d: %w", ifindex, err)
	}
	return c, nil
}

// parseChannels decodes an ETHTOOL_MSG_CHANNELS_GET_REPLY.
func parseChannels(b []byte) (*Channels, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	var c Channels
	for ad.Next() {
		switch ad.Type() {
		case unix.ETHTOOL_A_CHANNELS_RX_MAX:
			c.MaxRX = ad.Uint32()
		case unix.ETHTOOL_A_CHANNELS_TX_MAX:
			c.MaxTX = ad.Uint32()
		case unix.ETHTOOL_A_CHANNELS_OTHER_MAX:
			c.MaxOther = ad.Uint32()
		case unix.ETHTOOL_A_CHANNELS_COMBINED_MAX:
			c.MaxCombined = ad.Uint32()
		case unix.ETHTOOL_A_CHANNELS_RX_COUNT:
			c.RX = ad.Uint32()
		case unix.ETHTOOL_A_CHANNELS_TX_COUNT:
			c.TX = ad.Uint32()
		case unix.ETHTOOL_A_CHANNELS_OTHER_COUNT:
			c.Other = ad.Uint32()
		case unix.ETHTOOL_A_CHANNELS_COMBINED_COUNT:
			c.Combined = ad.Uint32()
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (e *ethtoolClient) setChannels(ifindex int, u ChannelsUpdate) error {
	return e.set("channels-set", unix.ETHTOOL_MSG_CHANNELS_SET, ifindex, unix.ETHTOOL_A_CHANNELS_HEADER, 0,
		u.encode, func(dev string) string { return "ethtool -L " + dev + u.args() })
}

func (u ChannelsUpdate) encode(ae *netlink.AttributeEncoder) {
	if u.RX != nil {
		ae.Uint32(unix.ETHTOOL_A_CHANNELS_RX_COUNT, *u.RX)
	}
	if u.TX != nil {
		ae.Uint32(unix.ETHTOOL_A_CHANNELS_TX_COUNT, *u.TX)
	}
	if u.Other != nil {
		ae.Uint32(unix.ETHTOOL_A_CHANNELS_OTHER_COUNT, *u.Other)
	}
	if u.Combined != nil {
		ae.Uint32(unix.ETHTOOL_A_CHANNELS_COMBINED_COUNT, *u.Combined)
	}
}

func (u ChannelsUpdate) args() string {
	var b strings.Builder
	for _, f := range []struct {
		name string
		v    *uint32
	}{{"rx", u.RX}, {"tx", u.TX}, {"other", u.Other}, {"combined", u.Combined}} {
		if f.v != nil {
			fmt.Fprintf(&b, " %s %d", f.name, *f.v)
		}
	}
	return b.String()
}

// RSS.

func (e *ethtoolClient) rss(ifindex int) (*RSS, error) {
	if !e.fam.has(unix.ETHTOOL_MSG_RSS_GET) {
		indir, err := e.rxfhIndir(ifindex)
		if err != nil {
			return nil, err
		}
		return &RSS{Indir: indir}, nil
	}
	b, err := e.get("rss-get", unix.ETHTOOL_MSG_RSS_GET, ifindex, uapi.ETHTOOL_A_RSS_HEADER, 0, nil)
	if err != nil {
		return nil, setHint(err, ethtoolHint(err, "ethtool -x "+e.ifname(ifindex)))
	}
	r, err := parseRSS(b)
	if err != nil {
		return nil, fmt.Errorf("netdev: rss-get ifindex %d: %w", ifindex, err)
	}
	return r, nil
}

// parseRSS decodes an ETHTOOL_MSG_RSS_GET_REPLY.
func parseRSS(b []byte) (*RSS, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	var r RSS
	for ad.Next() {
		switch ad.Type() {
		case uapi.ETHTOOL_A_RSS_HFUNC:
			r.HFunc = ad.Uint32()
		case uapi.ETHTOOL_A_RSS_INDIR:
			ad.Do(func(b []byte) error {
				if len(b)%4 != 0 {
					return fmt.Errorf("RSS indirection table of %d bytes is not a u32 array", len(b))
				}
				r.Indir = make([]uint32, len(b)/4)
				for i := range r.Indir {
					r.Indir[i] = binary.NativeEndian.Uint32(b[4*i:])
				}
				return nil
			})
		case uapi.ETHTOOL_A_RSS_HKEY:
			r.Key = ad.Bytes()
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (e *ethtoolClient) setRSSIndir(ifindex int, indir []uint32) error {
	command := func(dev string) string { return rssCommand(dev, indir) }
	if !e.fam.has(uapi.ETHTOOL_MSG_RSS_SET) {
		err := e.setRxfhIndir(ifindex, indir)
		if err != nil {
			return setHint(err, ethtoolHint(err, command(e.ifname(ifindex))))
		}
		return nil
	}
	return e.set("rss-set", uapi.ETHTOOL_MSG_RSS_SET, ifindex, uapi.ETHTOOL_A_RSS_HEADER, 0,
		func(ae *netlink.AttributeEncoder) {
			// A zero-length table resets to the default.
			b := make([]byte, 4*len(indir))
			for i, q := range indir {
				binary.NativeEndian.PutUint32(b[4*i:], q)
			}
			ae.Bytes(uapi.ETHTOOL_A_RSS_INDIR, b)
		}, command)
}

func (e *ethtoolClient) rxfhIndir(ifindex int) ([]uint32, error) { return rxfhIndir(e, ifindex) }

func (e *ethtoolClient) setRxfhIndir(ifindex int, indir []uint32) error {
	return setRxfhIndir(e, ifindex, indir)
}

func (e *ethtoolClient) rxRings(ifindex int) (uint32, error) { return rxRings(e, ifindex) }

// Features (only single named features are needed: rx-ntuple-filter).

func (e *ethtoolClient) feature(ifindex int, name string) (featureState, error) {
	// No ETHTOOL_FLAG_COMPACT_BITSETS: the verbose form names each bit,
	// and feature bit numbers are not part of the uAPI.
	b, err := e.get("features-get", unix.ETHTOOL_MSG_FEATURES_GET, ifindex, unix.ETHTOOL_A_FEATURES_HEADER, 0, nil)
	if err != nil {
		return featureState{}, setHint(err, ethtoolHint(err, "ethtool -k "+e.ifname(ifindex)))
	}
	f, err := parseFeature(b, name)
	if err != nil {
		return featureState{}, fmt.Errorf("netdev: features-get ifindex %d: %w", ifindex, err)
	}
	return f, nil
}

// parseFeature finds feature name in an ETHTOOL_MSG_FEATURES_GET_REPLY
// with verbose bitsets.
func parseFeature(b []byte, name string) (featureState, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return featureState{}, err
	}
	var f featureState
	for ad.Next() {
		switch ad.Type() {
		case unix.ETHTOOL_A_FEATURES_HW:
			// Value/mask bitset over all features: listed = known,
			// VALUE flag = changeable.
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				found, value, err := bitsetBit(nad, name)
				f.Known = f.Known || found
				f.Changeable = found && value
				return err
			})
		case unix.ETHTOOL_A_FEATURES_ACTIVE:
			// List bitset: listed = set.
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				found, _, err := bitsetBit(nad, name)
				f.Active = found
				return err
			})
		}
	}
	if err := ad.Err(); err != nil {
		return featureState{}, err
	}
	return f, nil
}

// bitsetBit looks for the bit called name in a verbose ETHTOOL_A_BITSET_*
// nest and returns whether it is listed and whether its VALUE flag is set.
func bitsetBit(ad *netlink.AttributeDecoder, name string) (found, value bool, err error) {
	for ad.Next() {
		if ad.Type() != unix.ETHTOOL_A_BITSET_BITS {
			continue
		}
		ad.Nested(func(bad *netlink.AttributeDecoder) error {
			for bad.Next() {
				if bad.Type() != unix.ETHTOOL_A_BITSET_BITS_BIT {
					continue
				}
				bad.Nested(func(xad *netlink.AttributeDecoder) error {
					var n string
					var v bool
					for xad.Next() {
						switch xad.Type() {
						case unix.ETHTOOL_A_BITSET_BIT_NAME:
							n = xad.String()
						case unix.ETHTOOL_A_BITSET_BIT_VALUE:
							v = xad.Flag()
						}
					}
					if n == name {
						found, value = true, v
					}
					return nil
				})
			}
			return nil
		})
	}
	return found, value, ad.Err()
}

// setFeature turns one named feature on or off and checks that it took.
func (e *ethtoolClient) setFeature(ifindex int, name string, on bool) error {
	word := map[bool]string{true: "on", false: "off"}[on]
	command := func(dev string) string {
		if name == ntupleFeature {
			return "ethtool -K " + dev + " ntuple " + word
		}
		return "ethtool -K " + dev + " " + name + " " + word
	}
	err := e.set("features-set", unix.ETHTOOL_MSG_FEATURES_SET, ifindex, unix.ETHTOOL_A_FEATURES_HEADER,
		unix.ETHTOOL_FLAG_OMIT_REPLY, func(ae *netlink.AttributeEncoder) {
			// A value/mask bitset naming one bit changes only that bit.
			ae.Nested(unix.ETHTOOL_A_FEATURES_WANTED, func(bae *netlink.AttributeEncoder) error {
				bae.Nested(unix.ETHTOOL_A_BITSET_BITS, func(bsae *netlink.AttributeEncoder) error {
					bsae.Nested(unix.ETHTOOL_A_BITSET_BITS_BIT, func(bitae *netlink.AttributeEncoder) error {
						bitae.String(unix.ETHTOOL_A_BITSET_BIT_NAME, name)
						if on {
							bitae.Flag(unix.ETHTOOL_A_BITSET_BIT_VALUE, true)
						}
						return nil
					})
					return nil
				})
				return nil
			})
		}, command)
	if err != nil {
		return err
	}
	// The kernel accepts a wish it cannot grant (the feature depends on
	// another one); check what is active now.
	f, err := e.feature(ifindex, name)
	if err != nil {
		return err
	}
	if f.Active != on {
		return &Error{Op: "features-set", Ifindex: ifindex, Err: unix.EOPNOTSUPP, Offset: -1,
			Message: fmt.Sprintf("feature %s is still %s", name, map[bool]string{true: "on", false: "off"}[f.Active]),
			Hint:    "the driver did not change it (it may depend on another feature); equivalent command: " + command(e.ifname(ifindex))}
	}
	return nil
}
