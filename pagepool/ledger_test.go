package pagepool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/internal/uapi"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// modelKernel models a socket's token table as net/core/sock.c and
// net/ipv4/tcp.c keep it: tokens are handed out lowest free first from 1,
// SO_DEVMEM_DONTNEED frees the tokens it holds and skips the others, in
// order, stops after limit token slots, and returns the number freed.
type modelKernel struct {
	t       testing.TB
	live    []bool // held for the application
	zombie  []bool // forgotten: neither live nor reusable
	relsd   []bool // released by the application (the kernel may free it)
	freed   []int  // times freed by DONTNEED since last handed out
	seq     uint64 // issues so far: frags get distinct offsets
	total   int    // tokens freed by DONTNEED
	limit   int    // token slots examined per call (the kernel: 1024)
	limits  []int  // per-call limits to use first
	errs    []error
	calls   [][]uapi.DmabufToken
	log     bool
	nCalls  int
	partial bool // some call examined fewer slots than it was given
}

func newModelKernel(t testing.TB) *modelKernel {
	return &modelKernel{t: t, limit: uapi.MAX_DONTNEED_FRAGS, live: []bool{false}, zombie: []bool{false}, relsd: []bool{false}, freed: []int{0}}
}

// issue hands out n tokens, lowest free first, as frags of 4 KiB; the n-th
// frag handed out is at page n.
func (k *modelKernel) issue(dst []cmsg.Frag, n int) []cmsg.Frag {
	t := uint32(1)
	for range n {
		for int(t) < len(k.live) && (k.live[t] || k.zombie[t]) {
			t++
		}
		if int(t) == len(k.live) {
			k.live = append(k.live, false)
			k.zombie = append(k.zombie, false)
			k.relsd = append(k.relsd, false)
			k.freed = append(k.freed, 0)
		}
		k.live[t], k.relsd[t], k.freed[t] = true, false, 0
		k.seq++
		f := frag(t)
		f.Offset = k.seq * 4096
		dst = append(dst, f)
	}
	return dst
}

func frag(t uint32) cmsg.Frag {
	return cmsg.Frag{Kind: cmsg.DMABuf, Token: t, Offset: uint64(t) * 4096, Size: 4096, DMABufID: 7}
}

func (k *modelKernel) dontneed(toks []uapi.DmabufToken) (int, error) {
	k.nCalls++
	if k.log {
		k.calls = append(k.calls, append([]uapi.DmabufToken(nil), toks...))
	}
	if len(k.errs) > 0 {
		err := k.errs[0]
		k.errs = k.errs[1:]
		if err != nil {
			return 0, err
		}
	}
	if len(toks) == 0 || len(toks) > uapi.MAX_DONTNEED_TOKENS {
		k.t.Errorf("DONTNEED with %d ranges", len(toks))
		return 0, syscall.EINVAL
	}
	limit := k.limit
	if len(k.limits) > 0 {
		limit = k.limits[0]
		k.limits = k.limits[1:]
	}
	n, slots := 0, 0
	for _, r := range toks {
		slots += int(r.TokenCount)
	}
	if slots > uapi.MAX_DONTNEED_FRAGS {
		k.t.Errorf("DONTNEED with %d token slots", slots)
	}
	if limit < slots {
		k.partial = true
	}
	slots = 0
	for _, r := range toks {
		for j := range r.TokenCount {
			if slots++; slots > limit {
				return n, nil
			}
			t := r.TokenStart + j
			if int(t) >= len(k.live) || !k.live[t] {
				continue
			}
			if !k.relsd[t] {
				k.t.Errorf("DONTNEED freed token %d, which the application did not release", t)
			}
			k.live[t] = false
			k.freed[t]++
			k.total++
			n++
		}
	}
	return n, nil
}

// forget drops a live token as the kernel would on socket destruction; it
// is never handed out again.
func (k *modelKernel) forget(t uint32) {
	k.live[t], k.zombie[t] = false, true
}

func (k *modelKernel) released(frags []cmsg.Frag) {
	for _, f := range frags {
		k.relsd[f.Token] = true
	}
}

func frags(ts ...uint32) []cmsg.Frag {
	var fs []cmsg.Frag
	for _, t := range ts {
		fs = append(fs, frag(t))
	}
	return fs
}

func span(from, to uint32) []uint32 {
	var ts []uint32
	for t := from; t <= to; t++ {
		ts = append(ts, t)
	}
	return ts
}

func rng(pairs ...uint32) []uapi.DmabufToken {
	var r []uapi.DmabufToken
	for i := 0; i < len(pairs); i += 2 {
		r = append(r, uapi.DmabufToken{TokenStart: pairs[i], TokenCount: pairs[i+1]})
	}
	return r
}

var cmpTokens = cmpopts.IgnoreUnexported(uapi.DmabufToken{})

func TestLedgerCoalesce(t *testing.T) {
	odd := func(n int) []uint32 {
		var ts []uint32
		for i := range n {
			ts = append(ts, uint32(2*i+1))
		}
		return ts
	}
	oddRanges := func(from, n int) []uapi.DmabufToken {
		var r []uapi.DmabufToken
		for i := from; i < from+n; i++ {
			r = append(r, uapi.DmabufToken{TokenStart: uint32(2*i + 1), TokenCount: 1})
		}
		return r
	}
	tests := []struct {
		name    string
		release []uint32 // in this order, in one Release
		want    [][]uapi.DmabufToken
	}{
		{"one", []uint32{5}, [][]uapi.DmabufToken{rng(5, 1)}},
		{"run", span(1, 10), [][]uapi.DmabufToken{rng(1, 10)}},
		{"unsorted", []uint32{5, 3, 4, 1, 2, 9}, [][]uapi.DmabufToken{rng(1, 5, 9, 1)}},
		{"gaps", []uint32{1, 2, 3, 7, 8, 100}, [][]uapi.DmabufToken{rng(1, 3, 7, 2, 100, 1)}},
		{"across words", span(60, 200), [][]uapi.DmabufToken{rng(60, 141)}},
		{"word ends", []uint32{63, 64, 127, 128, 191}, [][]uapi.DmabufToken{rng(63, 2, 127, 2, 191, 1)}},
		{"1024 slots per call", span(1, 2500), [][]uapi.DmabufToken{rng(1, 1024), rng(1025, 1024), rng(2049, 452)}},
		{"128 ranges per call", odd(300), [][]uapi.DmabufToken{oddRanges(0, 128), oddRanges(128, 128), oddRanges(256, 44)}},
		{"slot limit inside a run", append(odd(100), span(1000, 2100)...), [][]uapi.DmabufToken{
			append(oddRanges(0, 100), rng(1000, 924)...), rng(1924, 177)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newModelKernel(t)
			k.log = true
			l := newLedger(k, &LedgerOptions{})
			var max uint32
			for _, tok := range tt.release {
				max = maxU(max, tok)
			}
			all := k.issue(nil, int(max))
			if err := l.Record(all); err != nil {
				t.Fatal(err)
			}
			rel := frags(tt.release...)
			k.released(rel)
			if err := l.Release(rel); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, k.calls, cmpTokens); diff != "" {
				t.Fatalf("DONTNEED calls (-want +got):\n%s", diff)
			}
			st := l.Stats()
			n := uint64(len(tt.release))
			if st.Freed != n || st.Released != n || st.OutstandingFrags != uint64(max)-n || st.Calls != uint64(len(tt.want)) || st.PendingFrags != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func maxU(a, b uint32) uint32 { return max(a, b) }

func TestLedgerShortCount(t *testing.T) {
	tests := []struct {
		name        string
		forget      []uint32
		limits      []int
		errs        []error
		wantCalls   [][]uapi.DmabufToken
		wantUnknown int
		wantErr     error
		wantPending uint64
	}{
		{
			name:      "all known",
			wantCalls: [][]uapi.DmabufToken{rng(1, 10)},
		},
		{
			// Token 3 unknown: 9 freed, the tail after 9 slots is
			// resubmitted and frees nothing.
			name: "one unknown", forget: []uint32{3},
			wantCalls:   [][]uapi.DmabufToken{rng(1, 10), rng(10, 1)},
			wantUnknown: 1, wantErr: ErrUnknownTokens,
		},
		{
			name: "all unknown", forget: span(1, 10),
			wantCalls:   [][]uapi.DmabufToken{rng(1, 10)},
			wantUnknown: 10, wantErr: ErrUnknownTokens,
		},
		{
			// A kernel that stops early: the rest is resubmitted.
			name: "kernel stops early", limits: []int{4, 3},
			wantCalls: [][]uapi.DmabufToken{rng(1, 10), rng(5, 6), rng(8, 3)},
		},
		{
			name: "stops early and one unknown", forget: []uint32{2}, limits: []int{4},
			// 3 freed of the first 4 slots; slots 3.. resubmitted: 4 (freed
			// already) is skipped, 5..10 freed; then slot 9.. (token 10) again.
			wantCalls:   [][]uapi.DmabufToken{rng(1, 10), rng(4, 7), rng(10, 1)},
			wantUnknown: 1, wantErr: ErrUnknownTokens,
		},
		{
			name: "call fails", errs: []error{syscall.ENOMEM},
			wantCalls: [][]uapi.DmabufToken{rng(1, 10)},
			wantErr:   syscall.ENOMEM, wantPending: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newModelKernel(t)
			k.log = true
			k.limits, k.errs = tt.limits, tt.errs
			l := newLedger(k, &LedgerOptions{})
			fs := k.issue(nil, 10)
			if err := l.Record(fs); err != nil {
				t.Fatal(err)
			}
			for _, tok := range tt.forget {
				k.forget(tok)
			}
			k.released(fs)
			err := l.Release(fs)
			if diff := cmp.Diff(tt.wantErr, err, cmpopts.EquateErrors()); diff != "" {
				t.Fatalf("Release error (-want +got):\n%s\n(%v)", diff, err)
			}
			if diff := cmp.Diff(tt.wantCalls, k.calls, cmpTokens); diff != "" {
				t.Fatalf("DONTNEED calls (-want +got):\n%s", diff)
			}
			var ue *UnknownTokensError
			if errors.As(err, &ue) {
				want := &UnknownTokensError{Count: tt.wantUnknown, Candidates: []TokenRange{{1, 10}}}
				if diff := cmp.Diff(want, ue); diff != "" {
					t.Fatalf("UnknownTokensError (-want +got):\n%s", diff)
				}
			}
			st := l.Stats()
			if st.UnknownTokens != uint64(tt.wantUnknown) || st.PendingFrags != tt.wantPending ||
				st.Freed+st.UnknownTokens+st.PendingFrags != 10 || st.OutstandingFrags != tt.wantPending {
				t.Fatalf("stats %+v", st)
			}
			for tok := uint32(1); tok <= 10; tok++ {
				if k.live[tok] != (tt.wantPending > 0) {
					t.Errorf("token %d live = %v after release", tok, k.live[tok])
				}
			}
			if tt.wantPending > 0 {
				// The queued frags go out with the next flush.
				if err := l.Flush(); err != nil {
					t.Fatalf("second Flush: %v", err)
				}
				if st := l.Stats(); st.Freed != 10 || st.OutstandingFrags != 0 || st.CallErrors != 1 {
					t.Fatalf("stats after second flush %+v", st)
				}
			}
		})
	}
}

func TestLedgerBatchedPolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy ReleasePolicy
		// frags released one at a time; calls made after each
		wantCalls []int
	}{
		{"immediate", ReleasePolicy{}, []int{1, 2, 3, 4, 5, 6}},
		{"by frags", ReleasePolicy{BatchFrags: 3}, []int{0, 0, 1, 1, 1, 2}},
		{"by bytes", ReleasePolicy{BatchBytes: 8192}, []int{0, 1, 1, 2, 2, 3}},
		{"either", ReleasePolicy{BatchFrags: 4, BatchBytes: 12288}, []int{0, 0, 1, 1, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newModelKernel(t)
			l := newLedger(k, &LedgerOptions{Policy: tt.policy})
			fs := k.issue(nil, 6)
			if err := l.Record(fs); err != nil {
				t.Fatal(err)
			}
			k.released(fs)
			var got []int
			for i := range fs {
				if err := l.Release(fs[i : i+1]); err != nil {
					t.Fatal(err)
				}
				got = append(got, k.nCalls)
			}
			if diff := cmp.Diff(tt.wantCalls, got); diff != "" {
				t.Fatalf("calls after each release (-want +got):\n%s", diff)
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if st := l.Stats(); st.Freed != 6 || st.OutstandingFrags != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestLedgerBatchWholeCalls checks that a flush the batch threshold starts
// sends only full SO_DEVMEM_DONTNEED calls once it has more than one call's
// worth, keeping the rest queued if it is below the thresholds, so that a
// stream released in reads of any size makes ceil(frags/1024) calls; and
// that Flush sends the rest.
func TestLedgerBatchWholeCalls(t *testing.T) {
	odd := func(from, n int) []uint32 {
		var ts []uint32
		for i := from; i < from+n; i++ {
			ts = append(ts, uint32(2*i+1))
		}
		return ts
	}
	oddRanges := func(from, n int) []uapi.DmabufToken {
		var r []uapi.DmabufToken
		for _, t := range odd(from, n) {
			r = append(r, uapi.DmabufToken{TokenStart: t, TokenCount: 1})
		}
		return r
	}
	tests := []struct {
		name     string
		policy   ReleasePolicy
		releases [][]uint32 // one Release each, in order
		want     [][]uapi.DmabufToken
		pending  uint64 // queued after the releases
	}{
		{"reads of 100 frags", ReleasePolicy{BatchFrags: 1024},
			func() [][]uint32 {
				var r [][]uint32
				for i := range 30 {
					r = append(r, span(uint32(100*i+1), uint32(100*i+100)))
				}
				return r
			}(),
			[][]uapi.DmabufToken{rng(1, 1024), rng(1025, 1024)}, 952},
		{"one call's worth is sent whole", ReleasePolicy{BatchFrags: 1024}, [][]uint32{span(1, 1000), span(1001, 1024)},
			[][]uapi.DmabufToken{rng(1, 1024)}, 0},
		{"small batches are sent whole", ReleasePolicy{BatchFrags: 3}, [][]uint32{{1, 2}, {3, 4}, {5, 6}},
			[][]uapi.DmabufToken{rng(1, 4)}, 2},
		{"a remainder of a batch or more is sent", ReleasePolicy{BatchFrags: 200}, [][]uint32{span(1, 1500)},
			[][]uapi.DmabufToken{rng(1, 1024), rng(1025, 476)}, 0},
		{"by bytes", ReleasePolicy{BatchBytes: 1100 * 4096}, [][]uint32{span(1, 1099), span(1100, 1200)},
			[][]uapi.DmabufToken{rng(1, 1024)}, 176},
		{"a remainder of a batch's bytes or more is sent", ReleasePolicy{BatchBytes: 100 * 4096}, [][]uint32{span(1, 1200)},
			[][]uapi.DmabufToken{rng(1, 1024), rng(1025, 176)}, 0},
		{"128 ranges make a full call", ReleasePolicy{BatchFrags: 200}, [][]uint32{odd(0, 300)},
			[][]uapi.DmabufToken{oddRanges(0, 128), oddRanges(128, 128)}, 44},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newModelKernel(t)
			k.log = true
			l := newLedger(k, &LedgerOptions{Policy: tt.policy})
			var n, top uint32
			for _, r := range tt.releases {
				for _, tok := range r {
					top = max(top, tok)
					n++
				}
			}
			if err := l.Record(k.issue(nil, int(top))); err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.releases {
				fs := frags(r...)
				k.released(fs)
				if err := l.Release(fs); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.want, k.calls, cmpTokens); diff != "" {
				t.Fatalf("DONTNEED calls after the releases (-want +got):\n%s", diff)
			}
			if st := l.Stats(); st.PendingFrags != tt.pending || st.Freed+st.PendingFrags != uint64(n) {
				t.Fatalf("after the releases: stats %+v, want %d frags pending", st, tt.pending)
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if got, want := len(k.calls), len(tt.want)+min(int(tt.pending), 1); got != want {
				t.Fatalf("%d calls after Flush, want %d", got, want)
			}
			if st := l.Stats(); st.Freed != uint64(n) || st.PendingFrags != 0 {
				t.Fatalf("after Flush: stats %+v", st)
			}
		})
	}
}

func TestLedgerErrors(t *testing.T) {
	k := newModelKernel(t)
	l := newLedger(k, &LedgerOptions{Label: "conn"})
	fs := k.issue(nil, 4)
	if err := l.Record(fs); err != nil {
		t.Fatal(err)
	}
	k.released(fs)
	foreign := fs[1]
	foreign.Offset += 4096
	otherBinding := fs[1]
	otherBinding.DMABufID = 8
	linear := cmsg.Frag{Kind: cmsg.Linear, Size: 100}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"record token 0", func() error { return l.Record([]cmsg.Frag{{Kind: cmsg.DMABuf, Size: 1}}) }, ErrInvalidToken},
		{"record token too large", func() error { return l.Record(frags(MaxToken + 1)) }, ErrInvalidToken},
		{"record twice", func() error { return l.Record(fs[:1]) }, ErrDuplicateToken},
		{"record linear only", func() error { return l.Record([]cmsg.Frag{linear}) }, nil},
		{"release foreign offset", func() error { return l.Release([]cmsg.Frag{foreign}) }, ErrForeignFrag},
		{"release other binding", func() error { return l.Release([]cmsg.Frag{otherBinding}) }, ErrForeignFrag},
		{"release never recorded", func() error { return l.Release(frags(99)) }, ErrNotOutstanding},
		{"release token 0", func() error { return l.Release([]cmsg.Frag{{Kind: cmsg.DMABuf}}) }, ErrNotOutstanding},
		{"release linear", func() error { return l.Release([]cmsg.Frag{linear}) }, nil},
		{"release", func() error { return l.Release(fs[:1]) }, nil},
		{"double release", func() error { return l.Release(fs[:1]) }, ErrNotOutstanding},
		{"release same frag twice in a call", func() error { return l.Release([]cmsg.Frag{fs[1], fs[1]}) }, ErrNotOutstanding},
		{"hold released", func() error { _, err := l.Hold("x", fs[1:2]); return err }, ErrNotOutstanding},
		{"hold duplicate in call", func() error { _, err := l.Hold("x", []cmsg.Frag{fs[2], fs[2]}); return err }, ErrHeld},
		{"zero batch done", func() error { return Batch{}.Done() }, ErrBatchDone},
	}
	for _, tt := range tests {
		err := tt.op()
		if diff := cmp.Diff(tt.want, err, cmpopts.EquateErrors()); diff != "" {
			t.Errorf("%s: error (-want +got):\n%s\n(%v)", tt.name, diff, err)
		}
	}
	// Partial release: the good frags are released, the bad reported.
	if err := l.Release([]cmsg.Frag{fs[2], frags(77)[0], foreign}); !errors.Is(err, ErrNotOutstanding) {
		t.Fatalf("mixed release err = %v", err)
	}
	b, err := l.Hold("gpu", fs[3:4])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(fs[3:4]); !errors.Is(err, ErrHeld) {
		t.Fatalf("release of held frag err = %v", err)
	}
	if _, err := l.Hold("again", fs[3:4]); !errors.Is(err, ErrHeld) {
		t.Fatalf("second hold err = %v", err)
	}
	if err := b.Done(); err != nil {
		t.Fatal(err)
	}
	if err := b.Done(); !errors.Is(err, ErrBatchDone) {
		t.Fatalf("second Done err = %v", err)
	}
	st := l.Stats()
	want := LedgerStats{
		Recorded: 4, RecordedBytes: 4 * 4096, Released: 4, ReleasedBytes: 4 * 4096, Freed: 4,
		PeakFrags: 4, PeakBytes: 4 * 4096, Calls: 4, Ranges: 4,
		Rejected: 15,
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}
	if rep, err := l.Close(); err != nil || len(rep.Frags) != 0 {
		t.Fatalf("Close = %v, %v", rep, err)
	}
	for name, op := range map[string]func() error{
		"Record":  func() error { return l.Record(fs) },
		"Release": func() error { return l.Release(fs) },
		"Hold":    func() error { _, err := l.Hold("", fs); return err },
		"Flush":   l.Flush,
		"Wait":    func() error { return l.Wait(context.Background()) },
	} {
		if err := op(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if rep, err := l.Close(); err != nil || len(rep.Frags) != 0 || rep.Label != "" {
		t.Fatalf("second Close = %v, %v", rep, err)
	}
	var nilL *Ledger
	if _, err := nilL.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerLeakReport(t *testing.T) {
	k := newModelKernel(t)
	lim := NewLimiter(0, 0)
	l := newLedger(k, &LedgerOptions{Label: "10.0.0.1:5201", Limiter: lim})
	fs := k.issue(nil, 6)
	if err := l.Record(fs); err != nil {
		t.Fatal(err)
	}
	k.released(fs)
	if err := l.Release(fs[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Hold("gpu stream 3", fs[2:4]); err != nil {
		t.Fatal(err)
	}
	k.errs = []error{syscall.ENOMEM}
	if err := l.Release(fs[4:5]); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("Release with failing kernel: %v", err)
	}
	if f, b := lim.Outstanding(); f != 4 || b != 4*4096 {
		t.Fatalf("limiter outstanding %d/%d", f, b)
	}
	k.errs = []error{syscall.EBADF} // the socket is gone
	rep, err := l.Close()
	if !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Close err = %v", err)
	}
	want := LeakReport{
		Label: "10.0.0.1:5201",
		Frags: []LeakedFrag{
			{Frag: fs[2], State: StateHeld, Owner: "gpu stream 3"},
			{Frag: fs[3], State: StateHeld, Owner: "gpu stream 3"},
			{Frag: fs[4], State: StatePending},
			{Frag: fs[5], State: StateRecorded},
		},
		Bytes: 4 * 4096,
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Fatalf("leak report (-want +got):\n%s", diff)
	}
	if f, b := lim.Outstanding(); f != 0 || b != 0 {
		t.Fatalf("limiter outstanding after Close %d/%d", f, b)
	}
	const wantStr = `ledger "10.0.0.1:5201": 4 frag(s), 16384 bytes never released
  token 3: binding 7 [0x3000,+4096) held by "gpu stream 3"
  token 4: binding 7 [0x4000,+4096) held by "gpu stream 3"
  token 5: binding 7 [0x5000,+4096) pending
  token 6: binding 7 [0x6000,+4096) recorded`
	if diff := cmp.Diff(wantStr, rep.String()); diff != "" {
		t.Fatalf("String (-want +got):\n%s", diff)
	}
}

// TestLedgerReissue: the kernel frees a token during a flush and hands it
// out again before the flush's bookkeeping: the new frag must stay
// outstanding.
func TestLedgerReissue(t *testing.T) {
	k := newModelKernel(t)
	var l *Ledger
	hook := kernelFunc(func(toks []uapi.DmabufToken) (int, error) {
		n, err := k.dontneed(toks)
		// A reader records the reissued token while the flush runs.
		re := k.issue(nil, 1)
		if err := l.Record(re); err != nil {
			t.Errorf("Record(reissued %d): %v", re[0].Token, err)
		}
		return n, err
	})
	l = newLedger(hook, &LedgerOptions{})
	fs := k.issue(nil, 3)
	if err := l.Record(fs); err != nil {
		t.Fatal(err)
	}
	k.released(fs[1:2])
	if err := l.Release(fs[1:2]); err != nil {
		t.Fatal(err)
	}
	out := l.Outstanding(nil)
	reissued := frag(2)
	reissued.Offset = 4 * 4096
	want := []LeakedFrag{{Frag: fs[0], State: StateRecorded}, {Frag: reissued, State: StateRecorded}, {Frag: fs[2], State: StateRecorded}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Fatalf("outstanding (-want +got):\n%s", diff)
	}
	if st := l.Stats(); st.OutstandingFrags != 3 || st.Freed != 1 || st.Recorded != 4 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Release(fs[1:2]); !errors.Is(err, ErrForeignFrag) {
		t.Fatalf("release of the old frag: %v, want ErrForeignFrag", err)
	}
	// The reissued frag releases normally.
	l.k = k
	re := out[1].Frag
	k.released([]cmsg.Frag{re})
	if err := l.Release([]cmsg.Frag{re}); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.OutstandingFrags != 2 || st.Freed != 2 {
		t.Fatalf("stats %+v", st)
	}
}

type kernelFunc func([]uapi.DmabufToken) (int, error)

func (f kernelFunc) dontneed(t []uapi.DmabufToken) (int, error) { return f(t) }

// waitBlocked spins until n goroutines wait on the notifier: Wait has
// checked its condition and is parked (or about to park) on the channel.
func waitBlocked(t *testing.T, n *notifier, want int32) {
	t.Helper()
	for n.waiters.Load() < want {
		runtime.Gosched()
	}
}

func TestLedgerBackpressure(t *testing.T) {
	t.Run("wait until released elsewhere", func(t *testing.T) {
		k := newModelKernel(t)
		l := newLedger(k, &LedgerOptions{MaxFrags: 4, Policy: ReleasePolicy{BatchFrags: 1024}})
		fs := k.issue(nil, 4)
		k.released(fs)
		done := make(chan error, 1)
		go func() { done <- l.RecordContext(context.Background(), fs) }()
		waitBlocked(t, &l.note, 1)
		select {
		case err := <-done:
			t.Fatalf("RecordContext returned %v at the bound", err)
		default:
		}
		// A batched release flushes at once while a reader waits.
		if err := l.Release(fs[:1]); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Waits != 1 || st.OutstandingFrags != 3 || st.PendingFrags != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("waiting flushes queued releases", func(t *testing.T) {
		k := newModelKernel(t)
		l := newLedger(k, &LedgerOptions{MaxBytes: 4 * 4096, Policy: ReleasePolicy{BatchFrags: 1024}})
		fs := k.issue(nil, 4)
		k.released(fs)
		if err := l.Record(fs); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(fs[:2]); err != nil {
			t.Fatal(err)
		}
		if k.nCalls != 0 {
			t.Fatal("batched release flushed")
		}
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if k.nCalls != 1 {
			t.Fatalf("%d calls", k.nCalls)
		}
	})
	t.Run("fail fast", func(t *testing.T) {
		k := newModelKernel(t)
		l := newLedger(k, &LedgerOptions{MaxFrags: 2, FailFast: true})
		fs := k.issue(nil, 2)
		err := l.RecordContext(context.Background(), fs)
		if !errors.Is(err, ErrBackpressure) {
			t.Fatalf("err = %v, want ErrBackpressure", err)
		}
		if st := l.Stats(); st.Recorded != 2 || st.Backpressured != 1 {
			t.Fatalf("frags must be recorded anyway: %+v", st)
		}
		k.released(fs[:1])
		if err := l.Release(fs[:1]); err != nil {
			t.Fatal(err)
		}
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("context", func(t *testing.T) {
		k := newModelKernel(t)
		l := newLedger(k, &LedgerOptions{MaxFrags: 1})
		if err := l.Record(k.issue(nil, 1)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancelCause(context.Background())
		cause := errors.New("reader stopped")
		done := make(chan error, 1)
		go func() { done <- l.Wait(ctx) }()
		waitBlocked(t, &l.note, 1)
		cancel(cause)
		if err := <-done; !errors.Is(err, cause) {
			t.Fatalf("err = %v, want the cause", err)
		}
	})
	t.Run("close wakes", func(t *testing.T) {
		k := newModelKernel(t)
		l := newLedger(k, &LedgerOptions{MaxFrags: 1})
		if err := l.Record(k.issue(nil, 1)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Wait(context.Background()) }()
		waitBlocked(t, &l.note, 1)
		rep, err := l.Close()
		if err != nil || len(rep.Frags) != 1 {
			t.Fatalf("Close = %v, %v", rep, err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	})
	t.Run("binding limiter", func(t *testing.T) {
		// Two sockets share a binding bound of 4 frags. A's reader waits;
		// B's queued (batched) releases are flushed for it.
		lim := NewLimiter(4, 0)
		ka, kb := newModelKernel(t), newModelKernel(t)
		a := newLedger(ka, &LedgerOptions{Label: "a", Limiter: lim, Policy: ReleasePolicy{BatchFrags: 1024}})
		b := newLedger(kb, &LedgerOptions{Label: "b", Limiter: lim, Policy: ReleasePolicy{BatchFrags: 1024}})
		fa, fb := ka.issue(nil, 2), kb.issue(nil, 2)
		kb.released(fb)
		if err := a.Record(fa); err != nil {
			t.Fatal(err)
		}
		if err := b.Record(fb); err != nil {
			t.Fatal(err)
		}
		if err := b.Release(fb); err != nil {
			t.Fatal(err)
		}
		if f, _ := lim.Outstanding(); f != 4 || kb.nCalls != 0 {
			t.Fatalf("limiter %d frags, %d calls", f, kb.nCalls)
		}
		if err := a.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if f, _ := lim.Outstanding(); f != 2 || kb.nCalls != 1 {
			t.Fatalf("limiter %d frags, %d calls", f, kb.nCalls)
		}
		// Now B is at the bound with A's frags; A releases from another
		// goroutine while B waits.
		fb2 := kb.issue(nil, 2)
		if err := b.Record(fb2); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- b.Wait(context.Background()) }()
		waitBlocked(t, &lim.note, 1)
		ka.released(fa)
		if err := a.Release(fa[:1]); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if f, _ := lim.Outstanding(); f != 2 {
			t.Fatalf("limiter %d frags after A closed", f)
		}
		if _, err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if f, b := lim.Outstanding(); f != 0 || b != 0 || len(lim.ledgers) != 0 {
			t.Fatalf("limiter %d frags %d bytes %d ledgers after both closed", f, b, len(lim.ledgers))
		}
	})
}

// TestLedgerConcurrent records on one goroutine and releases and holds on
// others; the model kernel checks that only released tokens are freed.
func TestLedgerConcurrent(t *testing.T) {
	k := newModelKernel(t)
	var kmu chanMutex = make(chan struct{}, 1)
	l := newLedger(kernelFunc(func(toks []uapi.DmabufToken) (int, error) {
		kmu.lock()
		defer kmu.unlock()
		return k.dontneed(toks)
	}), &LedgerOptions{MaxFrags: 512, Policy: ReleasePolicy{BatchFrags: 64}})
	work := make(chan []cmsg.Frag, 16)
	errc := make(chan error, 4)
	for w := range 3 {
		go func() {
			var err error
			for fs := range work {
				kmu.lock()
				k.released(fs)
				kmu.unlock()
				if w == 0 {
					var b Batch
					if b, err = l.Hold(fmt.Sprint("worker ", w), fs); err == nil {
						err = b.Done()
					}
				} else {
					err = l.Release(fs)
				}
				if err != nil {
					break
				}
			}
			errc <- err
		}()
	}
	var total int
	for i := range 2000 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		kmu.lock()
		fs := k.issue(nil, 1+i%17)
		kmu.unlock()
		if err := l.Record(fs); err != nil {
			t.Fatal(err)
		}
		total += len(fs)
		work <- fs
	}
	close(work)
	for range 3 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Recorded != uint64(total) || st.Freed != uint64(total) || st.OutstandingFrags != 0 || st.PeakFrags > 512+16 {
		t.Fatalf("stats %+v (total %d)", st, total)
	}
	for tok, n := range k.freed {
		if n > 1 {
			t.Errorf("token %d freed %d times", tok, n)
		}
	}
}

type chanMutex chan struct{}

func (m chanMutex) lock()   { m <- struct{}{} }
func (m chanMutex) unlock() { <-m }
