//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// loadConfig configures the load generator.
type loadConfig struct {
	Addr        string
	Clients     int    // concurrent sessions
	Objects     int    // objects in all
	Size        int    // object size, or the smallest with SizeMax
	SizeMax     int    // largest object size (0: all are Size)
	Gets        int    // GET passes over the objects
	Del         bool   // delete the objects at the end
	DataChannel bool   // GET payloads on data channels (devmem TX on the server)
	Prefix      string // key prefix
	Seed        uint64 // content seed
	Net         netFuncs
}

// phase is one phase's numbers.
type phase struct {
	Name       string  `json:"name"`
	Ops        int     `json:"ops"`
	Errors     int     `json:"errors"`
	Bytes      uint64  `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	MiBps      float64 `json:"mib_per_s"`
	OpsPerSec  float64 `json:"ops_per_s"`
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// loadResult is the load generator's report.
type loadResult struct {
	OK          bool         `json:"ok"`
	Error       string       `json:"error,omitempty"`
	Clients     int          `json:"clients"`
	Objects     int          `json:"objects"`
	DataChannel string       `json:"data_channel"` // "devmem", "copy", "inline" and why
	Phases      []phase      `json:"phases"`
	Server      *serverStats `json:"server,omitempty"`
}

// objSize and objFill give object i's size and content, from the seed:
// the GET phase regenerates them to check every byte.
func (cfg *loadConfig) objSize(i int) int {
	if cfg.SizeMax <= cfg.Size {
		return cfg.Size
	}
	r := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
	return cfg.Size + r.IntN(cfg.SizeMax-cfg.Size+1)
}

func (cfg *loadConfig) objKey(i int) string { return fmt.Sprintf("%s%06d", cfg.Prefix, i) }

func objFill(seed uint64, key string, b []byte) {
	h := fnv.New64a()
	io.WriteString(h, key)
	r := rand.NewChaCha8([32]byte(bytes.Repeat(binaryU64(seed^h.Sum64()), 4)))
	_, _ = r.Read(b)
}

func binaryU64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// loadgen runs the load: every client connects (and opens its data
// channel), then PUTs its share of the objects, then GETs them back
// Gets times in random order, checking each byte, then deletes them if
// Del. Each phase starts when all clients finished the previous one.
func loadgen(ctx context.Context, cfg loadConfig) (*loadResult, error) {
	if cfg.Clients <= 0 || cfg.Objects <= 0 || cfg.Size < 0 {
		return nil, errors.New("loadgen: -clients and -objects must be positive, -size not negative")
	}
	if cfg.Net.dial == nil {
		cfg.Net = defaultNet()
	}
	res := &loadResult{Clients: cfg.Clients, Objects: cfg.Objects, Phases: []phase{}}
	clients := make([]*client, 0, cfg.Clients)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range cfg.Clients {
		c, err := dialClient(ctx, cfg.Addr, cfg.Net, cfg.DataChannel)
		if err != nil {
			return res, fmt.Errorf("loadgen: connecting: %w", err)
		}
		clients = append(clients, c)
	}
	// Ctrl-C: closing the connections unblocks the clients.
	stop := context.AfterFunc(ctx, func() {
		for _, c := range clients {
			c.Close()
		}
	})
	defer stop()
	switch c := clients[0]; {
	case !cfg.DataChannel:
		res.DataChannel = "inline"
	case c.data != nil:
		res.DataChannel = c.dataMode
	default:
		res.DataChannel = "inline (" + c.noData + ")"
	}

	type opFunc func(c *client, i int, buf []byte) (uint64, error)
	run := func(name string, passes int, op opFunc) phase {
		lat := make([][]time.Duration, len(clients))
		bytes := make([]uint64, len(clients))
		errs := make([]error, len(clients))
		nerr := make([]int, len(clients))
		var wg sync.WaitGroup
		start := time.Now()
		for k, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []int
				for i := k; i < cfg.Objects; i += len(clients) {
					mine = append(mine, i)
				}
				r := rand.New(rand.NewPCG(cfg.Seed, uint64(k)))
				buf := make([]byte, max(cfg.Size, cfg.SizeMax))
				for range passes {
					if name == "get" {
						r.Shuffle(len(mine), func(a, b int) { mine[a], mine[b] = mine[b], mine[a] })
					}
					for _, i := range mine {
						if ctx.Err() != nil {
							return
						}
						t0 := time.Now()
						n, err := op(c, i, buf)
						lat[k] = append(lat[k], time.Since(t0))
						bytes[k] += n
						if err != nil {
							nerr[k]++
							if errs[k] == nil {
								errs[k] = err
							}
						}
					}
				}
			}()
		}
		wg.Wait()
		p := phase{Name: name, Seconds: time.Since(start).Seconds()}
		var all []time.Duration
		for k := range clients {
			all = append(all, lat[k]...)
			p.Bytes += bytes[k]
			p.Errors += nerr[k]
			if errs[k] != nil && p.FirstError == "" {
				p.FirstError = errs[k].Error()
			}
		}
		p.Ops = len(all)
		slices.Sort(all)
		p.P50, p.P90, p.P99 = pct(all, 0.50), pct(all, 0.90), pct(all, 0.99)
		if len(all) > 0 {
			p.Max = ms(all[len(all)-1])
		}
		if p.Seconds > 0 {
			p.MiBps = float64(p.Bytes) / (1 << 20) / p.Seconds
			p.OpsPerSec = float64(p.Ops) / p.Seconds
		}
		return p
	}

	res.Phases = append(res.Phases, run("put", 1, func(c *client, i int, buf []byte) (uint64, error) {
		key := cfg.objKey(i)
		b := buf[:cfg.objSize(i)]
		objFill(cfg.Seed, key, b)
		return uint64(len(b)), c.Put(key, b)
	}))
	if cfg.Gets > 0 {
		want := make([][]byte, len(clients))
		for k := range want {
			want[k] = make([]byte, max(cfg.Size, cfg.SizeMax))
		}
		res.Phases = append(res.Phases, run("get", cfg.Gets, func(c *client, i int, buf []byte) (uint64, error) {
			key := cfg.objKey(i)
			got, err := c.Get(key, buf)
			if err != nil {
				return 0, err
			}
			k := i % len(clients)
			w := want[k][:cfg.objSize(i)]
			objFill(cfg.Seed, key, w)
			if !bytes.Equal(got, w) {
				return uint64(len(got)), fmt.Errorf("GET %s: %d bytes differ from what was PUT (%d bytes)", key, len(got), len(w))
			}
			return uint64(len(got)), nil
		}))
	}
	if cfg.Del {
		res.Phases = append(res.Phases, run("del", 1, func(c *client, i int, _ []byte) (uint64, error) {
			return 0, c.Del(cfg.objKey(i))
		}))
	}
	if st, err := clients[0].Stat(); err == nil {
		res.Server = st
	}
	var err error
	for _, p := range res.Phases {
		if p.Errors > 0 {
			err = errors.Join(err, fmt.Errorf("%s: %d of %d failed, first: %s", p.Name, p.Errors, p.Ops, p.FirstError))
		}
	}
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return res, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct returns the q-quantile of sorted durations, in milliseconds
// (nearest rank).
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return ms(sorted[max(i, 0)])
}
