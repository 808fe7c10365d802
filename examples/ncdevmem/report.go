//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// serverResult is what the RX server reports (the -json document with
// role "server").
type serverResult struct {
	Role      string   `json:"role"`
	OK        bool     `json:"ok"`
	Error     string   `json:"error,omitempty"`
	Mode      string   `json:"mode"`             // "devmem" or "copy"
	Reason    string   `json:"reason,omitempty"` // why copy mode
	Address   string   `json:"address"`
	Interface string   `json:"interface,omitempty"`
	Queues    []uint32 `json:"queues,omitempty"`
	BindingID uint32   `json:"binding_id,omitempty"`
	Notes     []string `json:"notes,omitempty"` // what the NIC setup left out, and why

	Connections int     `json:"connections"`
	Bytes       uint64  `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	Gbps        float64 `json:"gbps"`

	Frags               uint64 `json:"frags"`
	DevmemBytes         uint64 `json:"devmem_bytes"`
	LinearBytes         uint64 `json:"linear_bytes"`
	PlainBytes          uint64 `json:"plain_bytes"`
	CopiedBytes         uint64 `json:"copied_bytes"`
	PageAlignedFrags    uint64 `json:"page_aligned_frags"`
	NonPageAlignedFrags uint64 `json:"non_page_aligned_frags"`
	ReleaseCalls        uint64 `json:"release_calls"`
	DontneedCalls       uint64 `json:"dontneed_calls"`

	Validation *validation  `json:"validation,omitempty"`
	Conns      []connResult `json:"conns"`
}

// validation is the pattern check's result.
type validation struct {
	Period     uint64 `json:"period"`
	Bytes      uint64 `json:"bytes"`
	Mismatches uint64 `json:"mismatches"`
}

// connResult is one connection of the server.
type connResult struct {
	Remote              string  `json:"remote"`
	Bytes               uint64  `json:"bytes"`
	Seconds             float64 `json:"seconds"`
	Frags               uint64  `json:"frags"`
	DevmemBytes         uint64  `json:"devmem_bytes"`
	LinearBytes         uint64  `json:"linear_bytes"`
	PlainBytes          uint64  `json:"plain_bytes"`
	CopiedBytes         uint64  `json:"copied_bytes"`
	PageAlignedFrags    uint64  `json:"page_aligned_frags"`
	NonPageAlignedFrags uint64  `json:"non_page_aligned_frags"`
	ReleaseCalls        uint64  `json:"release_calls"`
	DontneedCalls       uint64  `json:"dontneed_calls"`
	Validated           uint64  `json:"validated_bytes,omitempty"`
	Mismatches          uint64  `json:"mismatches,omitempty"`
	Error               string  `json:"error,omitempty"`
}

// clientResult is what the TX client reports (role "client").
type clientResult struct {
	Role      string `json:"role"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	Mode      string `json:"mode"`
	Reason    string `json:"reason,omitempty"`
	Address   string `json:"address"`
	Interface string `json:"interface,omitempty"`

	Connections int     `json:"connections"`
	Bytes       uint64  `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	Gbps        float64 `json:"gbps"`

	Sends       uint64 `json:"sends"`      // Send calls
	SendCalls   uint64 `json:"send_calls"` // sendmsg(MSG_ZEROCOPY) calls
	Completions uint64 `json:"completions"`
	Copied      uint64 `json:"copied_completions"` // sends the kernel reported it copied

	Conns []clientConnResult `json:"conns"`
}

type clientConnResult struct {
	Local     string  `json:"local"`
	Mode      string  `json:"mode"`
	BindingID uint32  `json:"binding_id,omitempty"`
	Bytes     uint64  `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	Sends     uint64  `json:"sends"`
	SendCalls uint64  `json:"send_calls"`
	Completed uint64  `json:"completions"`
	Copied    uint64  `json:"copied_completions"`
	Error     string  `json:"error,omitempty"`
}

// selftestResult is the -selftest report (role "selftest").
type selftestResult struct {
	Role   string        `json:"role"`
	OK     bool          `json:"ok"`
	Error  string        `json:"error,omitempty"`
	Rounds []selftestRun `json:"rounds"`
}

type selftestRun struct {
	Name   string        `json:"name"`
	Server *serverResult `json:"server"`
	Client *clientResult `json:"client"`
}

// negativeResult is the negative-test report (role "negative").
type negativeResult struct {
	Role      string      `json:"role"`
	OK        bool        `json:"ok"`
	Error     string      `json:"error,omitempty"`
	Interface string      `json:"interface"`
	Queues    []uint32    `json:"queues"`
	Checks    []checkStep `json:"checks"`
}

type checkStep struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func gbps(bytes uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) * 8 / d.Seconds() / 1e9
}

// human renders a byte count with a binary unit.
func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// oneLine reduces an error to its first line, for the copy-mode
// explanation.
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

// meter counts progress for the live line; safe for concurrent use.
type meter struct {
	bytes atomic.Uint64
	frags atomic.Uint64
	open  atomic.Int64
	done  atomic.Int64
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressLine renders the live line.
func progressLine(label string, bytes, frags uint64, open, done int64, elapsed time.Duration) string {
	s := fmt.Sprintf("ncdevmem: %s %s  %.2f Gbit/s  conns %d open %d done", label, human(bytes), gbps(bytes, elapsed), open, done)
	if frags > 0 {
		s += fmt.Sprintf("  frags %d", frags)
	}
	return s
}

// startProgress prints a live progress line on w every 250 ms while w is
// a terminal, and returns the function that stops it and clears the line.
func startProgress(w io.Writer, label string, m *meter) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	start := time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r\033[K"+progressLine(label, m.bytes.Load(), m.frags.Load(), m.open.Load(), m.done.Load(), time.Since(start)))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			wg.Wait()
		})
	}
}
