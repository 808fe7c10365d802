package cmsg

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// allFrags collects what All yields: the reference for Parse, since All
// walks every message with nextFrag and never takes Parse's fast path.
func allFrags(oob []byte) ([]Frag, error) {
	var fs []Frag
	for f, err := range All(oob) {
		if err != nil {
			return fs, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// FuzzParseFastPath checks that Parse's fast path (taken while dst has spare
// capacity) returns what the careful path returns, for every capacity:
// the same frags, in order, and the same error at the same offset.
func FuzzParseFastPath(f *testing.F) {
	for _, b := range seedBuffers() {
		f.Add(b, uint8(0))
		f.Add(b, uint8(1))
		f.Add(b, uint8(255))
	}
	f.Fuzz(func(t *testing.T, oob []byte, room uint8) {
		want, werr := allFrags(oob)
		pre := []Frag{{Kind: Linear, Size: 7}} // must survive untouched
		dst := append(make([]Frag, 0, 1+int(room)), pre...)
		got, gerr := Parse(dst, oob)
		if diff := cmp.Diff(append(pre, want...), got); diff != "" {
			t.Fatalf("Parse with room for %d (-want +got):\n%s", room, diff)
		}
		var wp, gp *ParseError
		if errors.As(werr, &wp) != errors.As(gerr, &gp) || (wp != nil && wp.Offset != gp.Offset) {
			t.Fatalf("Parse error %v, All error %v", gerr, werr)
		}
	})
}

func TestParseFastPathCapacity(t *testing.T) {
	oob := devmemBuffer(64)
	want, err := allFrags(oob)
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range []int{0, 1, 2, 63, 64, 65, 1000} {
		got, err := Parse(make([]Frag, 0, room), oob)
		if err != nil {
			t.Fatalf("room %d: %v", room, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("room %d (-want +got):\n%s", room, diff)
		}
		if room >= 64 && cap(got) != room {
			t.Errorf("room %d: Parse reallocated dst (cap %d)", room, cap(got))
		}
	}
}
