//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/devmem-go/devmem/devmem"
	"github.com/devmem-go/devmem/pagepool"
)

// serverConfig configures the object server.
type serverConfig struct {
	Addr       string   // listen address, e.g. "192.0.2.1:7070"
	Interface  string   // NIC for devmem RX ("" : the device of Addr)
	Queues     []uint32 // RX queues to bind (nil: the library picks one)
	Setup      bool     // prepare the NIC (header split, RSS, flow rule) and undo it on exit
	Mode       string   // "auto", "devmem" (fail without it) or "copy"
	StoreSize  int64    // bytes of the object store
	RXBuf      int64    // bytes of the receive dma-buf
	TXBuf      int64    // bytes of each data channel's send dma-buf
	MaxObject  uint64   // largest object accepted
	BatchFrags int      // release tokens in batches of this many frags

	// Dial makes the data channel connections; nil: devmem.Dial.
	Dial func(ctx context.Context, addr string, cfg *devmem.DialConfig) (*devmem.Conn, error)
}

// server is the object server: a devmem.Listener whose connections PUT
// into the store and GET out of it.
type server struct {
	cfg   serverConfig
	notes []string // what the NIC setup left out
	l     *devmem.Listener
	store *store
	start time.Time

	wg     sync.WaitGroup
	mu     sync.Mutex
	sess   map[*session]struct{}
	closed bool

	sessions                          atomic.Uint64
	putBytes, getBytes                atomic.Uint64
	getDevmem, getTXCopy, getInline   atomic.Uint64 // GET payload bytes by path
	dataChannels, dataChannelFailures atomic.Uint64
	protoErrors                       atomic.Uint64
	lastDataErr                       atomic.Value // string
}

// newServer makes the store and listens.
func newServer(ctx context.Context, cfg serverConfig) (*server, error) {
	if cfg.MaxObject == 0 {
		cfg.MaxObject = 64 << 20
	}
	if cfg.TXBuf == 0 {
		cfg.TXBuf = 4 << 20
	}
	if cfg.Dial == nil {
		cfg.Dial = func(ctx context.Context, addr string, dc *devmem.DialConfig) (*devmem.Conn, error) {
			return devmem.Dial(ctx, "tcp", addr, dc)
		}
	}
	st, err := newStore(cfg.StoreSize)
	if err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	lc := &devmem.ListenConfig{
		Interface:  cfg.Interface,
		Queues:     cfg.Queues,
		BufferSize: cfg.RXBuf,
		Setup:      cfg.Setup,
		Release:    pagepool.ReleasePolicy{BatchFrags: cfg.BatchFrags},
	}
	switch cfg.Mode {
	case "devmem":
		lc.Fallback = devmem.FallbackNone
	case "copy":
		f, err := memfdFile("objstore-rx", cfg.RXBuf)
		if err != nil {
			st.close()
			return nil, err
		}
		defer f.Close()
		lc.Buffer, lc.Setup = f, false
	}
	var notes []string
	if lc.Setup {
		notes = planSetup(lc, cfg.Addr)
	}
	l, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		st.close()
		return nil, err
	}
	return &server{cfg: cfg, l: l, store: st, start: time.Now(), sess: make(map[*session]struct{}), notes: notes}, nil
}

// serve accepts connections until ctx is done or the server is closed,
// then closes everything: sessions, the Listener (unbind, NIC setup
// undone), the store.
func (s *server) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.shutdown() })
	defer stop()
	var err error
	for {
		c, aerr := s.l.AcceptContext(ctx)
		if aerr != nil {
			if !errors.Is(aerr, net.ErrClosed) && ctx.Err() == nil {
				err = aerr
			}
			break
		}
		ss := &session{srv: s, c: c, fs: newFragStream(c), id: s.sessions.Add(1)}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			break
		}
		s.sess[ss] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			ss.run(ctx)
			s.mu.Lock()
			delete(s.sess, ss)
			s.mu.Unlock()
		}()
	}
	return errors.Join(err, s.shutdown())
}

// shutdown closes the sessions, waits for them, then closes the Listener
// and the store. It is idempotent.
func (s *server) shutdown() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for ss := range s.sess {
		ss.close()
	}
	s.mu.Unlock()
	err := s.l.Close() // unblocks Accept
	s.wg.Wait()
	return errors.Join(err, s.store.close())
}

// session is one client connection.
type session struct {
	srv  *server
	c    *devmem.Conn
	fs   *fragStream
	id   uint64
	data *devmem.Conn // the data channel, after HELLO
	mu   sync.Mutex
}

func (ss *session) close() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.c.Close()
	if ss.data != nil {
		ss.data.Close()
	}
}

// run serves the session's requests one after the other until the client
// closes or a request is malformed.
func (ss *session) run(ctx context.Context) {
	defer ss.close()
	var hdr [headerLen]byte
	key := make([]byte, maxKey)
	for {
		if err := ss.fs.readFull(ctx, hdr[:]); err != nil {
			return // EOF, closed, or a broken stream
		}
		req, err := parseRequest(hdr[:])
		if err != nil {
			ss.srv.protoErrors.Add(1)
			_ = ss.reply(response{status: statusBadRequest, id: req.id}, err.Error())
			return // the stream is out of step
		}
		k := key[:req.keyLen]
		if err := ss.fs.readFull(ctx, k); err != nil {
			return
		}
		switch req.op {
		case opHello:
			err = ss.hello(ctx, req)
		case opPut:
			err = ss.put(ctx, req, string(k))
		case opGet:
			err = ss.get(ctx, req, string(k))
		case opDel:
			st := statusOK
			if !ss.srv.store.del(string(k)) {
				st = statusNotFound
			}
			err = ss.reply(response{status: st, id: req.id}, "")
		case opStat:
			err = ss.stat(req)
		}
		if err == nil {
			err = ss.fs.release()
		}
		if err != nil {
			return
		}
	}
}

func (ss *session) reply(r response, msg string) error {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	r.msgLen = uint16(len(msg))
	var b [headerLen]byte
	r.marshal(&b)
	_, err := ss.c.Write(append(b[:], msg...))
	return err
}

// put receives the payload from the frags straight into the store's
// regions, checksumming it on the way, and indexes it if the checksum
// matches.
func (ss *session) put(ctx context.Context, req request, key string) error {
	st := ss.srv.store
	if req.size > ss.srv.cfg.MaxObject {
		if err := ss.fs.each(ctx, req.size, func([]byte) error { return nil }); err != nil {
			return err
		}
		return ss.reply(response{status: statusTooLarge, id: req.id}, fmt.Sprintf("%d bytes, at most %d", req.size, ss.srv.cfg.MaxObject))
	}
	o, err := st.allocate(key, req.size, req.crc)
	if err != nil {
		if derr := ss.fs.each(ctx, req.size, func([]byte) error { return nil }); derr != nil {
			return derr
		}
		status := statusServerError
		if errors.Is(err, errNoSpace) {
			status = statusNoSpace
		}
		return ss.reply(response{status: status, id: req.id}, err.Error())
	}
	w := &objWriter{o: o}
	var sum uint32
	err = ss.fs.each(ctx, req.size, func(b []byte) error {
		sum = crc32.Update(sum, castagnoli, b)
		return w.write(b)
	})
	if err != nil {
		o.unref()
		if errors.Is(err, io.ErrUnexpectedEOF) || ctx.Err() != nil {
			return err
		}
		return ss.reply(response{status: statusServerError, id: req.id}, err.Error())
	}
	ss.srv.putBytes.Add(req.size)
	if sum != req.crc {
		o.unref()
		st.badSums.Add(1)
		return ss.reply(response{status: statusBadChecksum, id: req.id}, fmt.Sprintf("crc32c %08x, the client said %08x", sum, req.crc))
	}
	st.commit(o)
	return ss.reply(response{status: statusOK, id: req.id}, "")
}

// get sends an object: on the data channel, from a region of its send
// buffer filled from the store (devmem TX: the NIC reads the dma-buf), or
// inline on the request connection.
func (ss *session) get(ctx context.Context, req request, key string) error {
	o := ss.srv.store.get(key)
	if o == nil {
		return ss.reply(response{status: statusNotFound, id: req.id}, "")
	}
	defer o.unref()
	where := uint8(whereInline)
	if ss.data != nil {
		where = whereData
	}
	if err := ss.reply(response{status: statusOK, where: where, size: o.size, crc: o.crc, id: req.id}, ""); err != nil {
		return err
	}
	ss.srv.getBytes.Add(o.size)
	if where == whereInline {
		ss.srv.getInline.Add(o.size)
		return o.chunks(0, o.size, 1<<20, func(b []byte) error {
			_, err := ss.c.Write(b)
			return err
		})
	}
	d := ss.data
	chunk := int(min(ss.srv.cfg.TXBuf/4, 1<<20))
	for off := uint64(0); off < o.size; {
		n := int(min(uint64(chunk), o.size-off))
		r, err := d.Alloc(ctx, n)
		if err != nil {
			return err
		}
		dst := d.RegionBytes(r)
		if dst == nil {
			_ = d.FreeRegion(r)
			return devmem.ErrNoMapping
		}
		k := 0
		// The device-to-device copy of a real deployment (store to send
		// buffer); here the CPU's.
		if err := o.chunks(off, uint64(n), n, func(b []byte) error { k += copy(dst[k:], b); return nil }); err != nil {
			_ = d.FreeRegion(r)
			return err
		}
		if _, err := d.Send(ctx, r, n); err != nil {
			return err
		}
		off += uint64(n)
	}
	if d.Mode() == devmem.ModeDevmem {
		ss.srv.getDevmem.Add(o.size)
	} else {
		ss.srv.getTXCopy.Add(o.size)
	}
	return nil
}

// hello opens the data channel: dial the client's port, send the token.
func (ss *session) hello(ctx context.Context, req request) error {
	if ss.data != nil {
		return ss.reply(response{status: statusBadRequest, id: req.id}, "data channel already open")
	}
	remote := ss.c.RemoteAddr().(*net.TCPAddr)
	addr := net.JoinHostPort(remote.IP.String(), strconv.Itoa(int(req.size)))
	dc := &devmem.DialConfig{BufferSize: ss.srv.cfg.TXBuf}
	if ss.srv.cfg.Mode == "copy" {
		f, err := memfdFile("objstore-tx", ss.srv.cfg.TXBuf)
		if err != nil {
			return err
		}
		defer f.Close()
		dc.Buffer = f
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := ss.srv.cfg.Dial(dctx, addr, dc)
	if err != nil {
		ss.srv.dataChannelFailures.Add(1)
		ss.srv.lastDataErr.Store(err.Error())
		return ss.reply(response{status: statusServerError, id: req.id}, "data channel: "+err.Error())
	}
	token := rand.Uint64()
	var tb [8]byte
	binary.BigEndian.PutUint64(tb[:], token)
	if _, err := d.Write(tb[:]); err != nil {
		d.Close()
		return ss.reply(response{status: statusServerError, id: req.id}, "data channel: "+err.Error())
	}
	ss.mu.Lock()
	ss.data = d
	ss.mu.Unlock()
	ss.srv.dataChannels.Add(1)
	if d.Mode() == devmem.ModeCopy {
		ss.srv.lastDataErr.Store(oneLine(d.Reason()))
	}
	return ss.reply(response{status: statusOK, size: token, id: req.id}, d.Mode().String())
}

// serverStats is the STAT answer and the server's summary.
type serverStats struct {
	Mode      string   `json:"mode"`
	Reason    string   `json:"reason,omitempty"`
	Address   string   `json:"address"`
	BindingID uint32   `json:"binding_id,omitempty"`
	Queues    []uint32 `json:"queues,omitempty"`
	Uptime    float64  `json:"uptime_seconds"`

	StoreKind     string  `json:"store_kind"`
	StoreCapacity uint64  `json:"store_capacity"`
	StoreInUse    uint64  `json:"store_in_use"`
	Fragmentation float64 `json:"store_fragmentation"`
	Objects       int     `json:"objects"`

	Sessions     uint64 `json:"sessions"`
	Puts         uint64 `json:"puts"`
	Gets         uint64 `json:"gets"`
	Dels         uint64 `json:"dels"`
	BadChecksums uint64 `json:"bad_checksums"`
	NoSpace      uint64 `json:"no_space"`
	ProtoErrors  uint64 `json:"protocol_errors"`
	PutBytes     uint64 `json:"put_bytes"`
	GetBytes     uint64 `json:"get_bytes"`

	// Where the PUT payloads arrived, where the GET payloads left from.
	RXDevmemBytes uint64 `json:"rx_devmem_bytes"`
	RXLinearBytes uint64 `json:"rx_linear_bytes"`
	RXPlainBytes  uint64 `json:"rx_plain_bytes"`
	RXCopiedBytes uint64 `json:"rx_copied_bytes"`
	ReleaseCalls  uint64 `json:"release_calls"`
	GetTXDevmem   uint64 `json:"get_tx_devmem_bytes"`
	GetTXCopy     uint64 `json:"get_tx_copy_bytes"`
	GetInline     uint64 `json:"get_inline_bytes"`

	DataChannels        uint64 `json:"data_channels"`
	DataChannelFailures uint64 `json:"data_channel_failures"`
	DataChannelNote     string `json:"data_channel_note,omitempty"`
}

func (s *server) stats() serverStats {
	ls := s.l.Stats()
	as := s.store.alloc.Stats()
	st := serverStats{
		Mode: ls.Mode.String(), Address: s.l.Addr().String(), BindingID: ls.BindingID, Queues: ls.Queues,
		Uptime:    time.Since(s.start).Seconds(),
		StoreKind: s.store.kind, StoreCapacity: as.Capacity, StoreInUse: as.InUse, Fragmentation: as.Fragmentation,
		Objects: s.store.count(), Sessions: s.sessions.Load(),
		Puts: s.store.puts.Load(), Gets: s.store.gets.Load(), Dels: s.store.dels.Load(),
		BadChecksums: s.store.badSums.Load(), NoSpace: s.store.noSpace.Load(), ProtoErrors: s.protoErrors.Load(),
		PutBytes: s.putBytes.Load(), GetBytes: s.getBytes.Load(),
		RXDevmemBytes: ls.Conns.DevmemBytes, RXLinearBytes: ls.Conns.LinearBytes, RXPlainBytes: ls.Conns.PlainBytes,
		RXCopiedBytes: ls.Conns.CopiedBytes, ReleaseCalls: ls.Conns.ReleaseCalls,
		GetTXDevmem: s.getDevmem.Load(), GetTXCopy: s.getTXCopy.Load(), GetInline: s.getInline.Load(),
		DataChannels: s.dataChannels.Load(), DataChannelFailures: s.dataChannelFailures.Load(),
	}
	if ls.Reason != nil {
		st.Reason = oneLine(ls.Reason)
		if s.cfg.Mode == "copy" {
			st.Reason = "requested with -mode copy"
		}
	}
	if v, ok := s.lastDataErr.Load().(string); ok {
		st.DataChannelNote = v
	}
	return st
}

func (ss *session) stat(req request) error {
	b, err := json.Marshal(ss.srv.stats())
	if err != nil {
		return err
	}
	var h [headerLen]byte
	r := response{status: statusOK, size: uint64(len(b)), crc: checksum(b), id: req.id}
	r.marshal(&h)
	_, err = ss.c.Write(append(h[:], b...))
	return err
}

// memfdFile makes a memfd of size bytes: handed to the library as a
// buffer it cannot bind, it asks for the copy path (-mode copy).
func memfdFile(name string, size int64) (*os.File, error) {
	fd, err := unixMemfd(name, size)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}
