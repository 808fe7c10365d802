package pagepool

import (
	"errors"
	"syscall"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
)

// FuzzLedger drives a ledger with random token streams against the kernel
// model, which answers DONTNEED with random partial counts (a smaller slot
// limit, forgotten tokens, failed calls). Every token recorded must be freed
// by the kernel exactly once after the application released it, or be
// reported as unknown; never freed before its release; and the stats must
// agree with the model at every step.
func FuzzLedger(f *testing.F) {
	f.Add(uint8(0), []byte{0, 10, 1, 5, 1, 0, 4})
	f.Add(uint8(1), []byte{0, 39, 0, 39, 2, 3, 1, 7, 5, 2, 3, 0, 4, 6, 2, 1, 200, 4})
	f.Add(uint8(6), []byte{0, 20, 5, 3, 7, 0, 1, 20, 4, 0, 5, 2, 6, 1, 1, 30, 8, 0, 4})
	f.Add(uint8(11), []byte{0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 1, 255, 6, 50, 4, 2, 100, 3, 0})
	f.Fuzz(func(t *testing.T, policy uint8, ops []byte) {
		k := newModelKernel(t)
		var pol ReleasePolicy
		switch policy % 4 {
		case 1:
			pol.BatchFrags = 1 + int(policy/4)*37
		case 2:
			pol.BatchBytes = (1 + uint64(policy/4)) * 3 * 4096
		case 3:
			pol.BatchFrags, pol.BatchBytes = 1+int(policy/4)*5, (1+uint64(policy/4))*4*4096
		}
		l := newLedger(k, &LedgerOptions{Policy: pol, InitialTokens: 16})
		type held struct {
			b  Batch
			fs []cmsg.Frag
		}
		var (
			recorded  []cmsg.Frag // recorded, not released or held
			batches   []held
			done      []held
			released  []cmsg.Frag // released at least once: stale after that
			forgotten int
			exact     = true // every call examines all its slots, as the kernel does
			failed    bool   // some call failed
		)
		next := func() int {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return int(b)
		}
		// pick moves up to n frags chosen by the input out of *from.
		pick := func(from *[]cmsg.Frag, n int) []cmsg.Frag {
			var sel []cmsg.Frag
			for range min(n, len(*from)) {
				i := next() % len(*from)
				sel = append(sel, (*from)[i])
				(*from)[i] = (*from)[len(*from)-1]
				*from = (*from)[:len(*from)-1]
			}
			return sel
		}
		okErr := func(op string, err error) {
			t.Helper()
			var ue *UnknownTokensError
			for _, e := range []error{err} {
				if e == nil || errors.As(e, &ue) || errors.Is(e, syscall.ENOMEM) {
					continue
				}
				t.Fatalf("%s: %v", op, err)
			}
		}
		check := func() {
			t.Helper()
			st := l.Stats()
			if st.Recorded != st.OutstandingFrags+st.Freed+st.UnknownTokens {
				t.Fatalf("recorded %d != outstanding %d + freed %d + unknown %d", st.Recorded, st.OutstandingFrags, st.Freed, st.UnknownTokens)
			}
			if st.Freed != uint64(k.total) {
				t.Fatalf("stats freed %d, kernel freed %d", st.Freed, k.total)
			}
			var h uint64
			for _, b := range batches {
				h += uint64(len(b.fs))
			}
			if st.HeldFrags != h || st.PendingFrags+st.HeldFrags+uint64(len(recorded)) != st.OutstandingFrags ||
				st.OutstandingBytes != st.OutstandingFrags*4096 {
				t.Fatalf("stats %+v; model: %d held, %d recorded", st, h, len(recorded))
			}
		}
		for len(ops) > 0 {
			switch next() % 9 {
			case 0: // receive
				fs := k.issue(nil, 1+next()%64)
				if err := l.Record(fs); err != nil {
					t.Fatalf("Record: %v", err)
				}
				recorded = append(recorded, fs...)
			case 1: // release some
				sel := pick(&recorded, next()%80)
				k.released(sel)
				okErr("Release", l.Release(sel))
				released = append(released, sel...)
			case 2: // hold some
				sel := pick(&recorded, next()%20)
				b, err := l.Hold("fuzz", sel)
				if err != nil {
					t.Fatalf("Hold: %v", err)
				}
				batches = append(batches, held{b, sel})
			case 3: // a batch is done
				if len(batches) == 0 {
					continue
				}
				i := next() % len(batches)
				b := batches[i]
				batches = append(batches[:i], batches[i+1:]...)
				k.released(b.fs)
				okErr("Done", b.b.Done())
				released = append(released, b.fs...)
				done = append(done, b)
			case 4:
				okErr("Flush", l.Flush())
			case 5: // the kernel forgets a live token
				t := uint32(next()*7%len(k.live) + 1)
				if int(t) < len(k.live) && k.live[t] {
					k.forget(t)
					forgotten++
				}
			case 6: // the next call stops early
				k.limits = append(k.limits, 1+next()*4)
				exact = false
			case 7: // the next call fails
				k.errs = append(k.errs, syscall.ENOMEM)
				failed = true
			case 8: // misuse: stale release, stale Done
				if len(released) > 0 {
					f := released[next()%len(released)]
					if err := l.Release([]cmsg.Frag{f}); !errors.Is(err, ErrNotOutstanding) && !errors.Is(err, ErrForeignFrag) {
						t.Fatalf("stale Release(%+v) = %v", f, err)
					}
				}
				if len(done) > 0 {
					if err := done[next()%len(done)].b.Done(); !errors.Is(err, ErrBatchDone) {
						t.Fatalf("stale Done = %v", err)
					}
				}
			}
			check()
		}
		// The application finishes: everything is released.
		for _, b := range batches {
			k.released(b.fs)
			okErr("Done", b.b.Done())
		}
		batches = nil
		k.released(recorded)
		okErr("Release", l.Release(recorded))
		recorded = nil
		k.limits = nil
		for range 1 + len(k.errs) {
			okErr("Flush", l.Flush())
		}
		check()
		st := l.Stats()
		if st.OutstandingFrags != 0 || st.PendingFrags != 0 {
			t.Fatalf("outstanding after releasing everything: %+v", st)
		}
		// Each token freed at most once per issue; a released token still
		// live in the kernel was counted as unknown.
		var stillLive int
		for tok := range k.live {
			if k.freed[tok] > 1 {
				t.Fatalf("token %d freed %d times", tok, k.freed[tok])
			}
			if k.live[tok] {
				stillLive++
			}
		}
		if st.UnknownTokens != uint64(forgotten+stillLive) {
			t.Fatalf("unknown %d, want %d forgotten + %d left live", st.UnknownTokens, forgotten, stillLive)
		}
		// Resubmission finds every token a call did not reach, unless an
		// unknown token or a failed call hides where the kernel stopped.
		if (exact || (forgotten == 0 && !failed)) && stillLive != 0 {
			t.Fatalf("%d released tokens left in the kernel (exact %v)", stillLive, exact)
		}
		rep, err := l.Close()
		if err != nil || len(rep.Frags) != 0 {
			t.Fatalf("Close = %v, %v", rep, err)
		}
	})
}
