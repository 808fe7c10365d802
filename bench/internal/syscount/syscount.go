package syscount

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Counts is what one traced run made.
type Counts struct {
	// ByName counts system calls by name ("recvmsg"); numbers without a
	// name are "sys_N".
	ByName map[string]uint64
	// Total is the sum of ByName.
	Total uint64
	// Tasks is the number of threads and processes traced.
	Tasks int
	// ExitCode is the traced program's exit status (128+N when killed by
	// signal N).
	ExitCode int
	// Elapsed is the wall time of the traced run (slowed by tracing).
	Elapsed time.Duration
	// PeakRSS is the program's peak resident set in bytes (VmHWM of its
	// first process as it exits; 0 when unknown). Unlike ru_maxrss from
	// wait4 it does not include the tracer's own, which exec carries over
	// from the parent's address space.
	PeakRSS uint64
}

// Sorted returns the names in ByName, most frequent first.
func (c *Counts) Sorted() []string {
	ns := make([]string, 0, len(c.ByName))
	for n := range c.ByName {
		ns = append(ns, n)
	}
	slices.SortFunc(ns, func(a, b string) int {
		if c.ByName[a] != c.ByName[b] {
			if c.ByName[a] > c.ByName[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return ns
}

// String formats c as a table, most frequent first.
func (c *Counts) String() string {
	var b strings.Builder
	for _, n := range c.Sorted() {
		fmt.Fprintf(&b, "%12d  %s\n", c.ByName[n], n)
	}
	fmt.Fprintf(&b, "%12d  total (%d tasks, exit %d, %v traced)\n", c.Total, c.Tasks, c.ExitCode, c.Elapsed.Round(time.Millisecond))
	return b.String()
}

func name(nr uint64) string {
	if n, ok := names[nr]; ok {
		return n
	}
	return fmt.Sprintf("sys_%d", nr)
}

// BenchLine formats c as a Go benchmark line named BenchmarkSyscalls/name
// (spaces become underscores): the total and each system call's count, and
// when bytes > 0 the same per GiB ("syscalls/GiB", "recvmsg/GiB", ...).
func (c *Counts) BenchLine(name string, bytes int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "BenchmarkSyscalls/%s 1", strings.ReplaceAll(name, " ", "_"))
	fmt.Fprintf(&b, " %d syscalls", c.Total)
	for _, n := range c.Sorted() {
		fmt.Fprintf(&b, " %d %s", c.ByName[n], n)
	}
	if c.PeakRSS > 0 {
		fmt.Fprintf(&b, " %d peak-rss-bytes", c.PeakRSS)
	}
	if bytes > 0 {
		gib := float64(bytes) / (1 << 30)
		fmt.Fprintf(&b, " %.1f syscalls/GiB", float64(c.Total)/gib)
		for _, n := range c.Sorted() {
			fmt.Fprintf(&b, " %.1f %s/GiB", float64(c.ByName[n])/gib, n)
		}
	}
	b.WriteString("\n")
	return b.String()
}
