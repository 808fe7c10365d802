package pagepool_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/devmem-go/devmem/cmsg"
	"github.com/devmem-go/devmem/pagepool"
	"github.com/google/go-cmp/cmp"
)

// TestLedgerReleaseDuringClose releases frags while Close flushes, and
// checks that each frag is accounted for exactly once: its Release returned
// nil and it is not in the leak report, or the other way round.
func TestLedgerReleaseDuringClose(t *testing.T) {
	tests := []struct {
		name string
		// release: the frags released during Close's flush (indexes of
		// the 4 issued); fs[0] is queued before Close.
		release []int
		// async: from another goroutine, whose own flush (the batch of
		// 2 is full) then runs after Close; else from inside Close's
		// flush, queued without a flush.
		async bool
	}{
		{name: "queued during Close's flush", release: []int{1}},
		{name: "flushing after Close", release: []int{1, 2}, async: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := &issuer{}
			l, err := pagepool.NewLedgerFunc(is.release, &pagepool.LedgerOptions{Policy: pagepool.ReleasePolicy{BatchFrags: 2}})
			if err != nil {
				t.Fatal(err)
			}
			fs := is.issue(4, 100)
			if err := l.Record(fs); err != nil {
				t.Fatal(err)
			}
			var rel []cmsg.Frag
			for _, i := range tt.release {
				rel = append(rel, fs[i])
			}
			var (
				once   sync.Once
				wg     sync.WaitGroup
				relErr error
			)
			is.mu.Lock()
			is.during = func() {
				once.Do(func() {
					if !tt.async {
						relErr = l.Release(rel)
						return
					}
					wg.Go(func() { relErr = l.Release(rel) })
					// Wait until the frags are queued; the release's
					// flush then waits for Close's.
					for l.Stats().PendingFrags == 0 {
						runtime.Gosched()
					}
				})
			}
			is.mu.Unlock()
			if err := l.Release(fs[0:1]); err != nil {
				t.Fatal(err)
			}
			rep, err := l.Close()
			wg.Wait()
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			if relErr != nil {
				t.Fatalf("Release during Close: %v, want nil", relErr)
			}
			var got []cmsg.Frag
			for _, lf := range rep.Frags {
				got = append(got, lf.Frag)
			}
			if diff := cmp.Diff(fs[len(tt.release)+1:], got); diff != "" {
				t.Errorf("leak report (-want +got):\n%s", diff)
			}
			if n := is.liveCount(); n != len(got) {
				t.Errorf("%d tokens still live after Close, want %d (the leaked ones)", n, len(got))
			}
		})
	}
}
