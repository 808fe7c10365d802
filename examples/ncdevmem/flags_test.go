//go:build linux

package main

import (
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseArgs(t *testing.T) {
	def := func(f func(o *options)) *options {
		o := &options{startQueue: -1, numQueues: -1, conns: -1, mode: "auto", bufSize: defaultBufSize}
		f(o)
		return o
	}
	tests := []struct {
		name string
		args []string
		want *options
	}{
		{
			// devmem_lib.py's ncdevmem_rx.
			name: "kernel selftest rx",
			args: []string{"-l", "-f", "eth0", "-s", "2001:db8::1", "-p", "5201", "-c", "2001:db8::2", "-v", "7", "-L"},
			want: def(func(o *options) {
				o.listen, o.iface, o.server, o.port, o.client, o.validate, o.failOnLinear = true, "eth0", "2001:db8::1", "5201", "2001:db8::2", 7, true
			}),
		},
		{
			// devmem_lib.py's ncdevmem_tx in a netns.
			name: "kernel selftest tx",
			args: []string{"-f", "nk0", "-s", "2001:db8::2", "-p", "5201", "-t", "0", "-q", "1", "-n", "-z", "3"},
			want: def(func(o *options) {
				o.iface, o.server, o.port, o.startQueue, o.numQueues, o.skipConfig, o.chunk = "nk0", "2001:db8::2", "5201", 0, 1, true, 3
			}),
		},
		{
			name: "getopt clusters and attached values",
			args: []string{"-lLn", "-p5201", "-lv", "8", "-feth1", "-t3", "-q", "2", "-b16K"},
			want: def(func(o *options) {
				o.listen, o.failOnLinear, o.skipConfig, o.port, o.validate, o.iface = true, true, true, "5201", 8, "eth1"
				o.startQueue, o.numQueues, o.rxBufLen = 3, 2, 16<<10
			}),
		},
		{
			name: "own flags",
			args: []string{"-selftest", "--json", "-conns", "4", "-concurrent", "-size=64M", "-batch", "1024", "-mode", "copy", "-bufsize", "8M", "-verbose"},
			want: def(func(o *options) {
				o.selftest, o.jsonOut, o.conns, o.concurrent, o.size, o.batch, o.mode, o.bufSize, o.verbose = true, true, 4, true, 64<<20, 1024, "copy", 8<<20, true
			}),
		},
		{
			name: "extra arguments kept, value that looks like a flag",
			args: []string{"stray", "-s", "-1", "--", "-l"},
			want: def(func(o *options) { o.server, o.extra = "-1", []string{"stray", "-l"} }),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("parseArgs(%q) (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-x"},
		{"-lx"},
		{"-p"},
		{"--bogus"},
		{"-v", "seven"},
		{"-t", "-1"},
		{"-mode", "fast"},
		{"-size", "lots"},
		{"-b", "0"},
		{"-z", "-3"},
		{"-conns", "-2"},
	} {
		if _, err := parseArgs(args, io.Discard); err == nil {
			t.Errorf("parseArgs(%q): no error", args)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "16K": 16 << 10, "64m": 64 << 20, "1G": 1 << 30} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "K", "1T", "99999999999G"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("-l", "-p5201", "-v7")
	f.Add("-lLn", "--json", "-size=1M")
	f.Add("-conns", "3", "x")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		o, err := parseArgs([]string{a, b, c}, io.Discard)
		if err != nil {
			return
		}
		if o.mode != "auto" && o.mode != "devmem" && o.mode != "copy" {
			t.Fatalf("mode %q accepted", o.mode)
		}
		if o.chunk < 0 || o.batch < 0 || o.size < 0 || o.bufSize <= 0 {
			t.Fatalf("negative value accepted: %+v", o)
		}
	})
}
