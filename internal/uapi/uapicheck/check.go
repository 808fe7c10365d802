//go:build uapicheck

package uapicheck

// A Check compares one number from the C headers with its Go twin: a
// constant, a sizeof or an offsetof.
type Check struct {
	Name string // e.g. "NETDEV_CMD_BIND_RX" or "sizeof(struct dmabuf_cmsg)"
	C    int64  // value the C compiler computed
	Go   int64  // value internal/uapi declares
}

var checks []Check

// register adds checks; called from each area's init.
func register(cs ...Check) { checks = append(checks, cs...) }
