package dmabuf

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// udmabufFdinfo is /proc/self/fdinfo/N of a named 16 KiB udmabuf on Linux
// 7.2 (format from drivers/dma-buf/dma-buf.c dma_buf_show_fdinfo).
const udmabufFdinfo = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1037\nsize:\t16384\ncount:\t1\nexp_name:\tudmabuf\nname:\tdevmem rx\n"

func TestParseFdinfo(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Info
		err  string
	}{
		{"udmabuf named", udmabufFdinfo, Info{Size: 16384, Count: 1, ExpName: "udmabuf", Name: "devmem rx", Inode: 1037}, ""},
		{"heap unnamed", "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t7\nsize:\t1048576\ncount:\t3\nexp_name:\tsystem\n",
			Info{Size: 1 << 20, Count: 3, ExpName: "system", Inode: 7}, ""},
		{"no ino (older kernel)", "pos:\t0\nflags:\t02\nmnt_id:\t9\nsize:\t4096\ncount:\t2\nexp_name:\tudmabuf\n",
			Info{Size: 4096, Count: 2, ExpName: "udmabuf"}, ""},
		{"name with spaces kept", "size:\t1\nexp_name:\tx\nname:\t  a b \n", Info{Size: 1, ExpName: "x", Name: "  a b "}, ""},
		{"no trailing newline", "size:\t8192\nexp_name:\tudmabuf", Info{Size: 8192, ExpName: "udmabuf"}, ""},
		{"not a dma-buf", "pos:\t0\nflags:\t02\nmnt_id:\t9\nino:\t5\n", Info{}, "no size or exp_name line"},
		{"empty", "", Info{}, "no size or exp_name line"},
		{"bad size", "size:\tbig\nexp_name:\tx\n", Info{}, `fdinfo line "size:\tbig"`},
		{"negative count", "size:\t1\ncount:\t-1\nexp_name:\tx\n", Info{}, `fdinfo line "count:\t-1"`},
		{"bad ino", "ino:\t-3\nsize:\t1\nexp_name:\tx\n", Info{}, "not an inode number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFdinfo([]byte(tt.text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// formatFdinfo writes info the way the kernel does.
func formatFdinfo(info Info) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t%d\n", info.Inode)
	fmt.Fprintf(&b, "size:\t%d\ncount:\t%d\nexp_name:\t%s\n", info.Size, info.Count, info.ExpName)
	if info.Name != "" {
		fmt.Fprintf(&b, "name:\t%s\n", info.Name)
	}
	return b.String()
}

func FuzzParseFdinfo(f *testing.F) {
	f.Add([]byte(udmabufFdinfo))
	f.Add([]byte("size:\t1\nexp_name:\tx"))
	f.Add([]byte("size:\t\ncount:\t\nexp_name:\t\nname:\t\n"))
	f.Add([]byte("ino:\t18446744073709551615\nsize:\t9223372036854775807\nexp_name:\t:\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		info, err := parseFdinfo(text)
		if err != nil {
			return
		}
		if info.Size < 0 || info.Count < 0 {
			t.Fatalf("negative size or count: %+v", info)
		}
		if strings.ContainsRune(info.Name, '\n') || strings.ContainsRune(info.ExpName, '\n') {
			t.Fatalf("string value spans lines: %+v", info)
		}
		// What the kernel would print for info parses back to info.
		again, err := parseFdinfo([]byte(formatFdinfo(info)))
		if err != nil {
			t.Fatalf("reparse of %q: %v", formatFdinfo(info), err)
		}
		if diff := cmp.Diff(info, again); diff != "" {
			t.Fatalf("round trip (-first +second)\n%s", diff)
		}
	})
}
