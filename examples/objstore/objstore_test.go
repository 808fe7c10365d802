//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/devmem-go/devmem/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type outcome struct {
	code           int
	stdout, stderr string
}

func runProg(ctx context.Context, stdin string, ready func(net.Addr), args ...string) outcome {
	var out, errb syncBuffer
	code := run(ctx, args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errb, ready: ready})
	return outcome{code, out.String(), errb.String()}
}

// startServer runs "objstore serve -json args" in the background until the
// test ends (or stop is called) and returns its address and a function
// that stops it and returns its final counters.
func startServer(t *testing.T, args ...string) (addr string, stop func() (outcome, *serverStats)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan outcome, 1)
	go func() {
		done <- runProg(ctx, "", func(a net.Addr) { ready <- a }, append([]string{"serve", "-json"}, args...)...)
	}()
	var once sync.Once
	var o outcome
	var st *serverStats
	stop = func() (outcome, *serverStats) {
		once.Do(func() {
			cancel()
			o = <-done
			st = new(serverStats)
			if err := json.Unmarshal([]byte(o.stdout), st); err != nil {
				t.Errorf("server's final counters: %v\n%s\n%s", err, o.stdout, o.stderr)
			}
		})
		return o, st
	}
	t.Cleanup(func() { stop() })
	select {
	case a := <-ready:
		return a.String(), stop
	case o := <-done:
		cancel()
		t.Fatalf("server ended before it listened: %d\n%s", o.code, o.stderr)
		return "", nil
	}
}

func checkLeaks(t *testing.T) {
	testutil.CheckGoroutineLeak(t)
	testutil.CheckFDLeak(t)
}

// TestPutGet is the proof on the copy path: a few hundred objects of
// varied sizes PUT by concurrent clients, GET back and compared byte for
// byte (and by checksum), then deleted; on the data channel and inline.
func TestPutGet(t *testing.T) {
	for _, data := range []bool{true, false} {
		name := "data channel"
		if !data {
			name = "inline"
		}
		t.Run(name, func(t *testing.T) {
			checkLeaks(t)
			addr, stop := startServer(t, "-addr", "127.0.0.1:0", "-store", "48M", "-rxbuf", "8M", "-txbuf", "1M")
			cfg := loadConfig{Addr: addr, Clients: 8, Objects: 300, Size: 1, SizeMax: 48 << 10, Gets: 2, Del: true, DataChannel: data, Seed: 7, Prefix: "t/"}
			res, err := loadgen(t.Context(), cfg)
			if err != nil {
				t.Fatalf("loadgen: %v", err)
			}
			var total uint64
			for i := range cfg.Objects {
				total += uint64(cfg.objSize(i))
			}
			got := map[string]int{}
			for _, p := range res.Phases {
				got[p.Name] = p.Ops
				if p.Errors != 0 {
					t.Errorf("%s: %d errors, first %s", p.Name, p.Errors, p.FirstError)
				}
			}
			if diff := cmp.Diff(map[string]int{"put": 300, "get": 600, "del": 300}, got); diff != "" {
				t.Errorf("ops per phase (-want +got):\n%s", diff)
			}
			o, st := stop()
			if o.code != exitInterrupted {
				t.Errorf("server status %d, want %d (stopped)\n%s", o.code, exitInterrupted, o.stderr)
			}
			want := serverStats{Mode: "copy", Sessions: 8, Puts: 300, Gets: 600, Dels: 300, PutBytes: total, GetBytes: 2 * total, Objects: 0, StoreInUse: 0}
			if data {
				want.GetTXCopy, want.DataChannels = 2*total, 8
			} else {
				want.GetInline = 2 * total
			}
			gotSt := serverStats{Mode: st.Mode, Sessions: st.Sessions, Puts: st.Puts, Gets: st.Gets, Dels: st.Dels, PutBytes: st.PutBytes,
				GetBytes: st.GetBytes, Objects: st.Objects, StoreInUse: st.StoreInUse, GetTXCopy: st.GetTXCopy, GetInline: st.GetInline, DataChannels: st.DataChannels}
			if diff := cmp.Diff(want, gotSt); diff != "" {
				t.Errorf("server counters (-want +got):\n%s", diff)
			}
			if st.RXCopiedBytes < total {
				t.Errorf("server received %d bytes by copy, want at least the %d of the payloads", st.RXCopiedBytes, total)
			}
		})
	}
}

func readResp(t *testing.T, r io.Reader) (response, string) {
	t.Helper()
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	resp, err := parseResponse(h[:])
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, resp.msgLen)
	if _, err := io.ReadFull(r, msg); err != nil {
		t.Fatal(err)
	}
	return resp, string(msg)
}

// TestRefusals checks the answers a storage client relies on: a payload
// whose checksum does not match is not stored, an object too large or
// one that does not fit is refused, unknown keys are not found; the
// session stays in step after each.
func TestRefusals(t *testing.T) {
	checkLeaks(t)
	addr, stop := startServer(t, "-addr", "127.0.0.1:0", "-store", "64K", "-rxbuf", "4M", "-max-object", "100K")
	defer stop()
	c, err := dialClient(t.Context(), addr, defaultNet(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	data := bytes.Repeat([]byte("payload."), 1000)
	resp, msg, err := c.do(opPut, "k", uint64(len(data)), checksum(data)^1, data)
	if err != nil || resp.status != statusBadChecksum || !strings.Contains(msg, "crc32c") {
		t.Fatalf("PUT with a wrong checksum: %v %v %q", err, resp.status, msg)
	}
	var se *statusError
	if _, err := c.Get("k", nil); !errors.As(err, &se) || se.status != statusNotFound {
		t.Fatalf("GET of the refused object: %v, want not found", err)
	}
	if err := c.Put("big", make([]byte, 101<<10)); !errors.As(err, &se) || se.status != statusTooLarge {
		t.Fatalf("PUT over -max-object: %v, want too large", err)
	}
	if err := c.Put("a", make([]byte, 60<<10)); err != nil {
		t.Fatalf("PUT that fits: %v", err)
	}
	if err := c.Put("b", make([]byte, 60<<10)); !errors.As(err, &se) || se.status != statusNoSpace {
		t.Fatalf("PUT into a full store: %v, want no space", err)
	}
	if err := c.Del("nope"); !errors.As(err, &se) || se.status != statusNotFound {
		t.Fatalf("DEL of an unknown key: %v", err)
	}
	// Still in step: the data that fitted is intact, and zero-size
	// objects work.
	if err := c.Put("empty", nil); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Get("empty", nil); err != nil || len(b) != 0 {
		t.Fatalf("GET empty: %q %v", b, err)
	}
	if b, err := c.Get("a", nil); err != nil || !bytes.Equal(b, make([]byte, 60<<10)) {
		t.Fatalf("GET a: %d bytes, %v", len(b), err)
	}
	st, err := c.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.BadChecksums != 1 || st.NoSpace != 1 || st.Objects != 2 {
		t.Fatalf("stats: %d bad checksums, %d no space, %d objects; want 1, 1, 2", st.BadChecksums, st.NoSpace, st.Objects)
	}
}

// TestOverwrite checks that a new PUT replaces an object, and that the
// pages of replaced and deleted objects go back to the allocator.
func TestOverwrite(t *testing.T) {
	checkLeaks(t)
	addr, stop := startServer(t, "-addr", "127.0.0.1:0", "-store", "1M", "-rxbuf", "4M")
	defer stop()
	c, err := dialClient(t.Context(), addr, defaultNet(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 40 { // 40 x 100 KiB through a 1 MiB store
		b := bytes.Repeat([]byte{byte(i)}, 100<<10)
		if err := c.Put("key", b); err != nil {
			t.Fatalf("PUT %d: %v", i, err)
		}
		got, err := c.Get("key", nil)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	if err := c.Del("key"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.StoreInUse != 0 || st.Objects != 0 || st.Puts != 40 {
		t.Fatalf("after delete: %d bytes in use, %d objects, %d puts", st.StoreInUse, st.Objects, st.Puts)
	}
}

// TestPipelined sends requests back to back without waiting for the
// answers, so that one receive holds the end of a request and the start
// of the next: the frag stream must carry the rest over.
func TestPipelined(t *testing.T) {
	checkLeaks(t)
	addr, stop := startServer(t, "-addr", "127.0.0.1:0", "-store", "8M", "-rxbuf", "4M")
	defer stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var frames []byte
	var objs [][]byte
	for i := range 50 {
		b := bytes.Repeat([]byte{byte(i), byte(i >> 8), 'x'}, 1+i*97)
		objs = append(objs, b)
		var h [headerLen]byte
		key := "p" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		(&request{op: opPut, keyLen: uint16(len(key)), size: uint64(len(b)), crc: checksum(b), id: uint32(i)}).marshal(&h)
		frames = append(append(append(frames, h[:]...), key...), b...)
	}
	go func() { _, _ = c.Write(frames) }()
	for i := range objs {
		resp, msg := readResp(t, c)
		if resp.status != statusOK || resp.id != uint32(i) {
			t.Fatalf("response %d: %v id %d %q", i, resp.status, resp.id, msg)
		}
	}
}

// TestBadFrame sends garbage: the server answers "bad request" and closes
// the session, and keeps serving others.
func TestBadFrame(t *testing.T) {
	checkLeaks(t)
	addr, stop := startServer(t, "-addr", "127.0.0.1:0", "-store", "1M", "-rxbuf", "4M")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, msg := readResp(t, c)
	if resp.status != statusBadRequest || !strings.Contains(msg, "magic") {
		t.Fatalf("response to HTTP: %v %q", resp.status, msg)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after a bad frame: read %d, %v; want the session closed", n, err)
	}
	cl, err := dialClient(t.Context(), addr, defaultNet(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Put("k", []byte("v")); err != nil {
		t.Fatalf("another session: %v", err)
	}
	_, st := stop()
	if st.ProtoErrors != 1 {
		t.Fatalf("protocol errors %d, want 1", st.ProtoErrors)
	}
}

// TestCLI runs put, get, del and stat as a user would.
func TestCLI(t *testing.T) {
	checkLeaks(t)
	addr, stop := startServer(t, "-addr", "127.0.0.1:0", "-store", "4M", "-rxbuf", "4M")
	defer stop()
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if o := runProg(t.Context(), "", nil, "put", "-addr", addr, "some/key", in); o.code != exitOK {
		t.Fatalf("put: %d %s", o.code, o.stderr)
	}
	o := runProg(t.Context(), "", nil, "get", "-addr", addr, "some/key")
	if o.code != exitOK || o.stdout != string(data) || !strings.Contains(o.stderr, "data channel") {
		t.Fatalf("get: %d, %d bytes, %s", o.code, len(o.stdout), o.stderr)
	}
	if o := runProg(t.Context(), "from stdin", nil, "put", "-addr", addr, "k2"); o.code != exitOK {
		t.Fatalf("put from stdin: %d %s", o.code, o.stderr)
	}
	if o := runProg(t.Context(), "", nil, "get", "-data=false", "-addr", addr, "k2"); o.stdout != "from stdin" || !strings.Contains(o.stderr, "inline") {
		t.Fatalf("get inline: %q %s", o.stdout, o.stderr)
	}
	if o := runProg(t.Context(), "", nil, "del", "-addr", addr, "k2"); o.code != exitOK {
		t.Fatalf("del: %d %s", o.code, o.stderr)
	}
	if o := runProg(t.Context(), "", nil, "get", "-addr", addr, "k2"); o.code != exitFail || !strings.Contains(o.stderr, "not found") {
		t.Fatalf("get after del: %d %s", o.code, o.stderr)
	}
	o = runProg(t.Context(), "", nil, "stat", "-addr", addr)
	var st serverStats
	if err := json.Unmarshal([]byte(o.stdout), &st); err != nil || st.Objects != 1 {
		t.Fatalf("stat: %v %+v", err, st)
	}
	for _, args := range [][]string{{}, {"nope"}, {"put"}, {"serve", "-mode", "fast"}, {"serve", "-queues", "x"}, {"loadgen", "-bogus"}} {
		if o := runProg(t.Context(), "", nil, args...); o.code != exitUsage {
			t.Errorf("%q: status %d, want %d", args, o.code, exitUsage)
		}
	}
}

// TestDemo is the README's command.
func TestDemo(t *testing.T) {
	checkLeaks(t)
	o := runProg(t.Context(), "", nil, "demo", "-clients", "4", "-objects", "100", "-size", "16K", "-json")
	if o.code != exitOK {
		t.Fatalf("demo: %d\n%s", o.code, o.stderr)
	}
	var r loadResult
	if err := json.Unmarshal([]byte(o.stdout), &r); err != nil {
		t.Fatal(err)
	}
	if !r.OK || len(r.Phases) != 2 || r.Phases[1].P99 <= 0 || r.Server == nil || r.Server.Mode != "copy" {
		t.Fatalf("demo report: %+v", r)
	}
}

func TestParseQueues(t *testing.T) {
	for in, want := range map[string][]uint32{"": nil, "3": {3}, "1,3": {1, 3}, "2-4": {2, 3, 4}, "0,5-6": {0, 5, 6}} {
		got, err := parseQueues(in)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("parseQueues(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "3-1", "1-", "-1", "0-99999"} {
		if _, err := parseQueues(in); err == nil {
			t.Errorf("parseQueues(%q): no error", in)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	var h [headerLen]byte
	(&request{op: opPut, keyLen: 3, size: 10, crc: 1, id: 2}).marshal(&h)
	f.Add(h[:])
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n      "))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		if r.keyLen > maxKey || r.op < opHello || r.op > opStat {
			t.Fatalf("accepted %+v", r)
		}
		var h [headerLen]byte
		r.marshal(&h)
		if !bytes.Equal(h[:], b[:headerLen]) {
			t.Fatalf("round trip: %x != %x", h, b[:headerLen])
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	var h [headerLen]byte
	(&response{status: statusOK, where: whereData, size: 5, crc: 3, id: 4}).marshal(&h)
	f.Add(h[:])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResponse(b)
		if err != nil {
			return
		}
		var h [headerLen]byte
		r.marshal(&h)
		if !bytes.Equal(h[:], b[:headerLen]) {
			t.Fatalf("round trip: %x != %x", h, b[:headerLen])
		}
	})
}
