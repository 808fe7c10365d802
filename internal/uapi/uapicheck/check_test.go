//go:build uapicheck

package uapicheck

import "testing"

func TestUAPIMatchesHeaders(t *testing.T) {
	if len(checks) == 0 {
		t.Fatal("no checks registered")
	}
	seen := make(map[string]bool)
	for _, c := range checks {
		if seen[c.Name] {
			t.Errorf("%s: checked twice", c.Name)
		}
		seen[c.Name] = true
		if c.C != c.Go {
			t.Errorf("%s: C headers say %d (%#x), internal/uapi says %d (%#x)", c.Name, c.C, c.C, c.Go, c.Go)
		}
	}
	t.Logf("%d values match the headers", len(checks))
}
