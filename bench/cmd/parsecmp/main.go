// Command parsecmp measures cmsg.Parse side by side with the C baseline
// (bench/cparse: the kernel's CMSG_FIRSTHDR/CMSG_NXTHDR walk, compiled with
// gcc -O2) on the same control buffers, and prints the Go/C ratio of the
// medians of ns/frag.
//
// It builds the cmsg test binary and the C program once, then runs them
// alternately, -count rounds, each round in a rotated order, so that a
// noisy machine slows all of them alike. Each round runs BenchmarkParse
// once per size (-test.count 1) and cparse once per size and walker:
//
//   - c-checked: the C walk with every check cmsg.Parse makes (cmsg_len,
//     zero size, token or binding id): the like-for-like comparison;
//   - c-ncdevmem: only ncdevmem's level/type check.
//
// The raw outputs are written to -o as parse-go.txt, parse-c-checked.txt
// and parse-c-ncdevmem.txt, in the Go benchmark format, so that
//
//	benchstat go=parse-go.txt c=parse-c-checked.txt
//
// compares them too (the C lines carry the Go benchmark's names).
//
// Usage, from the repository root:
//
//	go run ./bench/cmd/parsecmp [-count 6] [-benchtime 1s] [-o bench/results]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/devmem-go/devmem/bench/internal/benchfmt"
	"github.com/devmem-go/devmem/bench/internal/report"
)

func main() {
	count := flag.Int("count", 6, "rounds; each runs every implementation once per size")
	benchtime := flag.Duration("benchtime", time.Second, "time per benchmark run")
	frags := flag.String("frags", "1,16,64,1024", "control-buffer sizes, in frags (must be sizes BenchmarkParse has)")
	out := flag.String("o", "bench/results", "directory for the raw outputs")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("parsecmp: ")
	if *count < 1 || *benchtime <= 0 {
		log.Fatal("-count and -benchtime must be positive")
	}
	if err := run(*count, *benchtime, strings.Split(*frags, ","), *out); err != nil {
		log.Fatal(err)
	}
}

type impl struct {
	name string                   // file suffix and column title
	cmd  func(n string) *exec.Cmd // the benchmark process for n frags
	raw  bytes.Buffer
}

func run(count int, benchtime time.Duration, sizes []string, out string) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	tmp, err := os.MkdirTemp("", "parsecmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	gobin := os.Getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	testbin := filepath.Join(tmp, "cmsg.test")
	if err := command(gobin, "test", "-c", "-o", testbin, "./cmsg").Run(); err != nil {
		return fmt.Errorf("building the cmsg test binary: %w", err)
	}
	p, err := command("bench/cparse/run.sh", "--path").Output()
	if err != nil {
		return fmt.Errorf("building cparse: %w", err)
	}
	cparse := strings.TrimSpace(string(p))
	cmsgDir, err := filepath.Abs("cmsg")
	if err != nil {
		return err
	}

	secs := fmt.Sprintf("%g", benchtime.Seconds())
	impls := []*impl{
		{name: "go", cmd: func(n string) *exec.Cmd {
			c := command(testbin, "-test.run", "^$", "-test.bench", "^BenchmarkParse$/^frags="+n+"$",
				"-test.benchtime", benchtime.String(), "-test.count", "1")
			c.Dir = cmsgDir // where go test would run it
			return c
		}},
		{name: "c-checked", cmd: func(n string) *exec.Cmd {
			return command(cparse, "-walker", "checked", "-benchtime", secs, "-frags", n)
		}},
		{name: "c-ncdevmem", cmd: func(n string) *exec.Cmd {
			return command(cparse, "-walker", "ncdevmem", "-benchtime", secs, "-frags", n)
		}},
	}
	for round := range count {
		for si, n := range sizes {
			for k := range impls {
				im := impls[(round+si+k)%len(impls)]
				if err := im.run(n); err != nil {
					return fmt.Errorf("round %d, %s, frags=%s: %w", round+1, im.name, n, err)
				}
			}
		}
		fmt.Fprintf(os.Stderr, "parsecmp: round %d of %d done\n", round+1, count)
	}

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files := map[string]*benchfmt.File{}
	for _, im := range impls {
		name := filepath.Join(out, "parse-"+im.name+".txt")
		if err := os.WriteFile(name, im.raw.Bytes(), 0o644); err != nil {
			return err
		}
		f, err := benchfmt.Parse(bytes.NewReader(im.raw.Bytes()))
		if err != nil {
			return err
		}
		files[im.name] = f
	}
	for _, unit := range []string{"cpu-ns/frag", "ns/frag"} {
		fmt.Printf("\n%s, median of %d runs:\n\n", unit, count)
		fmt.Print(report.ParseTable(files["go"], files["c-checked"], files["c-ncdevmem"], sizes, unit))
	}
	fmt.Printf("\nraw outputs in %s/parse-{go,c-checked,c-ncdevmem}.txt\n", out)
	return nil
}

// run runs one benchmark process for n frags and appends its output to
// im.raw, with the process's CPU time (user+system) per frag added to the
// result line as cpu-ns/frag. The benchmark loop is the whole process's
// work: Go's b.Loop and cparse time one loop, without separate
// calibration runs.
func (im *impl) run(n string) error {
	c := im.cmd(n)
	var out bytes.Buffer
	c.Stdout = &out
	if err := c.Run(); err != nil {
		return err
	}
	cpu := c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	frags, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return err
	}
	found := false
	for line := range strings.Lines(out.String()) {
		f, _ := benchfmt.Parse(strings.NewReader(line))
		if len(f.Results) == 1 {
			r := f.Results[0]
			line = strings.TrimRight(line, "\n") + fmt.Sprintf("\t%.4f cpu-ns/frag\n",
				float64(cpu.Nanoseconds())/(float64(r.Iters)*frags))
			found = true
		}
		im.raw.WriteString(line)
	}
	if !found {
		return fmt.Errorf("no result line in the output:\n%s", out.String())
	}
	return nil
}

func command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Stderr = os.Stderr
	return c
}
