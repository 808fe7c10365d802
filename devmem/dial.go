package devmem

import "context"

// Dial connects to address on network ("tcp", "tcp4" or "tcp6") with cfg
// (nil for the defaults) and prepares devmem TX: it binds the buffer for
// transmit (netdev bind-tx) on the device of the connection's route (or
// cfg.Interface), pins the socket to that device (SO_BINDTODEVICE) and turns
// SO_ZEROCOPY on. When that cannot be done it falls back to the copy path
// with the same API, as cfg.Fallback allows. ctx bounds the connect and the
// setup. Requires Linux 6.16 for devmem TX.
func Dial(ctx context.Context, network, address string, cfg *DialConfig) (*Conn, error) {
	if cfg == nil {
		cfg = &DialConfig{}
	}
	c, err := dial(ctx, network, address, cfg)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c}, nil
}
