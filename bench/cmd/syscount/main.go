// Command syscount runs a program under ptrace and counts its system calls
// by name, across all its threads and children: "strace -c -f" for the test
// VMs, which have neither strace nor perf. It is how bench/ measures
// system calls per GiB, for the Go receiver and for the kernel's ncdevmem
// alike (static binaries included: nothing is preloaded).
//
// Usage:
//
//	syscount [-o FILE] [-name NAME] [-bytes N] -- PROGRAM [ARG...]
//
// The program inherits stdin, stdout and stderr. The table of counts goes
// to stderr. With -name, syscount also writes a Go benchmark line to -o
// (default stdout), which bench/cmd/benchmd reads:
//
//	BenchmarkSyscalls/NAME 1 262912 syscalls 256 recvmsg 262144 setsockopt ...
//
// and with -bytes N (the bytes the program moved) the same counts per GiB:
// units "syscalls/GiB", "recvmsg/GiB", ...
//
// Tracing costs two stops per system call: never time a traced run. syscount
// exits with the program's exit status.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/devmem-go/devmem/bench/internal/syscount"
)

func main() {
	out := flag.String("o", "", "file for the benchmark line (default stdout)")
	name := flag.String("name", "", "benchmark name: write BenchmarkSyscalls/NAME with the counts")
	bytes := flag.Int64("bytes", 0, "bytes the program moves: report counts per GiB too")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: syscount [-o FILE] [-name NAME] [-bytes N] -- PROGRAM [ARG...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("syscount: ")
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	c, err := syscount.Run(flag.Args(), nil, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprint(os.Stderr, c)
	if *name != "" {
		w := io.Writer(os.Stdout)
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				log.Fatal(err)
			}
			defer f.Close()
			w = f
		}
		if _, err := fmt.Fprint(w, Line(*name, c, *bytes)); err != nil {
			log.Fatal(err)
		}
	}
	os.Exit(c.ExitCode)
}

// Line formats c as a Go benchmark line named BenchmarkSyscalls/name
// (syscount.Counts.BenchLine).
func Line(name string, c *syscount.Counts, bytes int64) string { return c.BenchLine(name, bytes) }
