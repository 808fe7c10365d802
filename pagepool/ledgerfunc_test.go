package pagepool_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/google/go-cmp/cmp"
)

// issuer hands out tokens the way the kernel does (lowest free first) and
// frees them as SO_DEVMEM_DONTNEED would: the release function of a
// NewLedgerFunc ledger.
type issuer struct {
	mu     sync.Mutex
	live   []bool // by token
	calls  [][]pagepool.TokenRange
	forget map[uint32]bool // tokens release pretends not to hold
	err    error           // next release fails with it
	during func()          // runs inside release, after the frees
}

func (is *issuer) issue(n int, size uint32) []cmsg.Frag {
	is.mu.Lock()
	defer is.mu.Unlock()
	var fs []cmsg.Frag
	for t := 1; len(fs) < n; t++ {
		for t >= len(is.live) {
			is.live = append(is.live, false)
		}
		if !is.live[t] {
			is.live[t] = true
			fs = append(fs, cmsg.Frag{Offset: uint64(t) * 4096, Size: size, Token: uint32(t), Kind: cmsg.DMABuf})
		}
	}
	return fs
}

func (is *issuer) release(rs []pagepool.TokenRange) (int, error) {
	is.mu.Lock()
	is.calls = append(is.calls, append([]pagepool.TokenRange(nil), rs...))
	if err := is.err; err != nil {
		is.err = nil
		is.mu.Unlock()
		return 0, err
	}
	n := 0
	for _, r := range rs {
		for t := r.Start; t < r.Start+r.Count; t++ {
			if int(t) < len(is.live) && is.live[t] && !is.forget[t] {
				is.live[t] = false
				n++
			}
		}
	}
	during := is.during
	is.mu.Unlock()
	if during != nil {
		during()
	}
	return n, nil
}

func (is *issuer) liveCount() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	n := 0
	for _, l := range is.live {
		if l {
			n++
		}
	}
	return n
}

// ledgerStatsCore is the part of LedgerStats the tests compare.
type ledgerStatsCore struct {
	Recorded, Released, Freed, Unknown, Outstanding, Pending uint64
	Calls, Ranges, Shorts, Retries, CallErrors               uint64
}

func core(st pagepool.LedgerStats) ledgerStatsCore {
	return ledgerStatsCore{
		Recorded: st.Recorded, Released: st.Released, Freed: st.Freed, Unknown: st.UnknownTokens,
		Outstanding: st.OutstandingFrags, Pending: st.PendingFrags,
		Calls: st.Calls, Ranges: st.Ranges, Shorts: st.ShortCalls, Retries: st.Retries, CallErrors: st.CallErrors,
	}
}

func TestLedgerFunc(t *testing.T) {
	errBusy := errors.New("busy")
	tests := []struct {
		name    string
		policy  pagepool.ReleasePolicy
		forget  []uint32
		fail    error
		release []int // indexes of the 8 issued frags, in release order
		wantErr error
		calls   [][]pagepool.TokenRange
		stats   ledgerStatsCore
		live    int // tokens the issuer still holds
	}{
		{
			name:    "immediate, coalesced",
			release: []int{4, 0, 1, 2, 3, 6, 7},
			calls:   [][]pagepool.TokenRange{{{1, 5}, {7, 2}}},
			stats:   ledgerStatsCore{Recorded: 8, Released: 7, Freed: 7, Outstanding: 1, Calls: 1, Ranges: 2},
			live:    1,
		},
		{
			name:    "batched",
			policy:  pagepool.ReleasePolicy{BatchFrags: 4},
			release: []int{7, 6, 5, 3},
			calls:   [][]pagepool.TokenRange{{{4, 1}, {6, 3}}},
			stats:   ledgerStatsCore{Recorded: 8, Released: 4, Freed: 4, Outstanding: 4, Calls: 1, Ranges: 2},
			live:    4,
		},
		{
			name:    "unknown token: resubmitted, then reported",
			forget:  []uint32{2},
			release: []int{0, 1, 2, 3},
			wantErr: pagepool.ErrUnknownTokens,
			calls:   [][]pagepool.TokenRange{{{1, 4}}, {{4, 1}}},
			stats:   ledgerStatsCore{Recorded: 8, Released: 4, Freed: 3, Unknown: 1, Outstanding: 4, Calls: 2, Ranges: 2, Shorts: 2, Retries: 1},
			live:    5,
		},
		{
			name:    "failed call: tokens stay queued",
			fail:    errBusy,
			release: []int{0, 1},
			wantErr: errBusy,
			calls:   [][]pagepool.TokenRange{{{1, 2}}},
			stats:   ledgerStatsCore{Recorded: 8, Released: 2, Outstanding: 8, Pending: 2, Calls: 1, Ranges: 1, CallErrors: 1},
			live:    8,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := &issuer{err: tt.fail, forget: make(map[uint32]bool)}
			for _, tok := range tt.forget {
				is.forget[tok] = true
			}
			l, err := pagepool.NewLedgerFunc(is.release, &pagepool.LedgerOptions{Label: tt.name, Policy: tt.policy})
			if err != nil {
				t.Fatal(err)
			}
			fs := is.issue(8, 1000)
			if err := l.Record(fs); err != nil {
				t.Fatal(err)
			}
			var rel []cmsg.Frag
			for _, i := range tt.release {
				rel = append(rel, fs[i])
			}
			if err := l.Release(rel); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Release: %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.calls, is.calls); diff != "" {
				t.Errorf("release calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.stats, core(l.Stats())); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if got := is.liveCount(); got != tt.live {
				t.Errorf("issuer holds %d tokens, want %d", got, tt.live)
			}
			// Close flushes what is queued (a failed call's tokens now go
			// through) and reports the frags never released.
			rep, err := l.Close()
			if err != nil && !errors.Is(err, pagepool.ErrUnknownTokens) {
				t.Fatalf("Close: %v", err)
			}
			if got, want := len(rep.Frags), 8-len(tt.release); got != want {
				t.Errorf("leak report: %d frags, want %d:\n%v", got, want, rep)
			}
			if got, want := is.liveCount(), 8-len(tt.release)+len(tt.forget); got != want {
				t.Errorf("after Close the issuer holds %d tokens, want %d", got, want)
			}
		})
	}
}

// A token release frees may be issued and recorded again before the flush
// that freed it returns, as with the kernel.
func TestLedgerFuncReissueDuringFlush(t *testing.T) {
	is := &issuer{}
	lim := pagepool.NewLimiter(0, 0)
	l, err := pagepool.NewLedgerFunc(is.release, &pagepool.LedgerOptions{Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	fs := is.issue(2, 100)
	if err := l.Record(fs); err != nil {
		t.Fatal(err)
	}
	var again []cmsg.Frag
	recorded := make(chan error)
	is.during = func() {
		is.during = nil
		again = is.issue(1, 200) // token 1, freed just now
		go func() { recorded <- l.Record(again) }()
		if err := <-recorded; err != nil {
			t.Errorf("Record of a token reissued during the flush: %v", err)
		}
	}
	if err := l.Release(fs[:1]); err != nil {
		t.Fatal(err)
	}
	if again[0].Token != fs[0].Token {
		t.Fatalf("reissued token %d, want %d", again[0].Token, fs[0].Token)
	}
	if st := l.Stats(); st.OutstandingFrags != 2 || st.OutstandingBytes != 300 || st.Freed != 1 {
		t.Fatalf("stats after the reissue: %d frags, %d bytes outstanding, %d freed; want 2, 300, 1", st.OutstandingFrags, st.OutstandingBytes, st.Freed)
	}
	// The shared bound counts what the ledger counts (the reissued frag
	// replaced one of another size, one for one).
	if f, b := lim.Outstanding(); f != 2 || b != 300 {
		t.Fatalf("Limiter after the reissue: %d frags, %d bytes; want 2, 300", f, b)
	}
	if err := l.Release(again); err != nil {
		t.Fatalf("Release of the reissued frag: %v", err)
	}
	rep, err := l.Close()
	if err != nil || len(rep.Frags) != 1 || rep.Frags[0].Frag != fs[1] {
		t.Fatalf("Close: %v, %v; want fs[1] leaked", rep, err)
	}
	if f, b := lim.Outstanding(); f != 0 || b != 0 {
		t.Fatalf("Limiter after Close: %d frags, %d bytes; want 0, 0", f, b)
	}
}

func TestLedgerFuncErrors(t *testing.T) {
	if _, err := pagepool.NewLedgerFunc(nil, nil); !errors.Is(err, os.ErrInvalid) {
		t.Fatalf("NewLedgerFunc(nil) = %v, want os.ErrInvalid", err)
	}
	is := &issuer{}
	if _, err := pagepool.NewLedgerFunc(is.release, &pagepool.LedgerOptions{InitialTokens: -1}); !errors.Is(err, os.ErrInvalid) {
		t.Fatalf("negative InitialTokens: %v, want os.ErrInvalid", err)
	}
	l, err := pagepool.NewLedgerFunc(is.release, &pagepool.LedgerOptions{InitialTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	frag := func(tok uint32) []cmsg.Frag {
		return []cmsg.Frag{{Offset: 4096, Size: 100, Token: tok, Kind: cmsg.DMABuf}}
	}
	tests := []struct {
		name string
		tok  uint32
		want error
	}{
		{"token 0", 0, pagepool.ErrInvalidToken},
		{"above MaxToken", pagepool.MaxToken + 1, pagepool.ErrInvalidToken},
		{"largest uint32", ^uint32(0), pagepool.ErrInvalidToken},
		{"grows the table", 5000, nil},
	}
	for _, tt := range tests {
		if err := l.Record(frag(tt.tok)); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("%s: Record(token %d) = %v, want %v", tt.name, tt.tok, err, tt.want)
		}
	}
	if st := l.Stats(); st.OutstandingFrags != 1 || st.Rejected != 3 {
		t.Errorf("stats: %d outstanding, %d rejected; want 1 and 3", st.OutstandingFrags, st.Rejected)
	}
	if err := l.Release(frag(pagepool.MaxToken + 1)); !errors.Is(err, pagepool.ErrNotOutstanding) {
		t.Errorf("Release above MaxToken: %v, want ErrNotOutstanding", err)
	}
}

func ExampleNewLedgerFunc() {
	// A copy-mode receiver hands out regions of its own buffer as frags,
	// with tokens it issues itself; the ledger does the accounting and calls
	// back to free them.
	var freed []uint32
	release := func(ranges []pagepool.TokenRange) (int, error) {
		n := 0
		for _, r := range ranges {
			for t := r.Start; t < r.Start+r.Count; t++ {
				freed = append(freed, t) // give the token's region back
				n++
			}
		}
		return n, nil
	}
	l, err := pagepool.NewLedgerFunc(release, &pagepool.LedgerOptions{Label: "copy conn", MaxFrags: 64})
	if err != nil {
		log.Fatal(err)
	}
	frags := []cmsg.Frag{
		{Offset: 0, Size: 4096, Token: 1, Kind: cmsg.DMABuf},
		{Offset: 4096, Size: 4096, Token: 2, Kind: cmsg.DMABuf},
		{Offset: 8192, Size: 1000, Token: 3, Kind: cmsg.DMABuf},
	}
	if err := l.Record(frags); err != nil {
		log.Fatal(err)
	}
	if err := l.Release(frags[:2]); err != nil {
		log.Fatal(err)
	}
	fmt.Println("freed", freed)
	rep, _ := l.Close()
	fmt.Println(rep)
	// Output:
	// freed [1 2]
	// ledger "copy conn": 1 frag(s), 1000 bytes never released
	//   token 3: binding 0 [0x2000,+1000) recorded
}

// TestLedgerFailFastFlushesQueued: with FailFast, frags released but
// queued by the batch policy still count; Wait returns them instead of
// reporting back-pressure that a flush lifts.
func TestLedgerFailFastFlushesQueued(t *testing.T) {
	is := &issuer{}
	l, err := pagepool.NewLedgerFunc(is.release, &pagepool.LedgerOptions{
		MaxFrags: 4, FailFast: true, Policy: pagepool.ReleasePolicy{BatchFrags: 1024},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fs := is.issue(4, 4096)
	if err := l.Record(fs); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(t.Context()); !errors.Is(err, pagepool.ErrBackpressure) {
		t.Fatalf("Wait at the bound, nothing released: %v, want ErrBackpressure", err)
	}
	if err := l.Release(fs[:3]); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.PendingFrags != 3 || st.Calls != 0 {
		t.Fatalf("after Release: %d queued, %d calls; want 3 queued, no call", st.PendingFrags, st.Calls)
	}
	if err := l.Wait(t.Context()); err != nil {
		t.Fatalf("Wait with 3 released frags queued: %v, want room", err)
	}
	if st := l.Stats(); st.PendingFrags != 0 || st.Calls != 1 || st.OutstandingFrags != 1 {
		t.Fatalf("after Wait: %d queued, %d calls, %d outstanding; want 0, 1, 1", st.PendingFrags, st.Calls, st.OutstandingFrags)
	}
}
