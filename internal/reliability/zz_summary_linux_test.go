package reliability_test

import (
	"slices"
	"testing"
)

// TestZZFaultSummary runs after the other tests of the package (it is in
// the last file) and reports how many faults of each kind they injected
// and survived, for RELIABILITY.md. It fails if a test that ran counted a
// fault kind without injecting anything.
func TestZZFaultSummary(t *testing.T) {
	faults.mu.Lock()
	defer faults.mu.Unlock()
	if len(faults.m) == 0 {
		t.Skip("no fault-injecting test ran (filtered with -run)")
	}
	var kinds []string
	var total uint64
	for k, n := range faults.m {
		kinds = append(kinds, k)
		total += n
		if n == 0 {
			t.Errorf("fault kind %q counted with 0 injections", k)
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		figure(t, "faults "+k, "%d", faults.m[k])
	}
	figure(t, "faults total", "%d faults injected and survived, in %d kinds", total, len(kinds))
}
