package reliability_test

import (
	"fmt"
	"testing"
)

// figure logs a measured figure, "FIGURE name: value", so that the numbers
// RELIABILITY.md reports can be read off `go test -v` output.
func figure(t testing.TB, name string, format string, args ...any) {
	t.Helper()
	t.Logf("FIGURE %s: %s", name, fmt.Sprintf(format, args...))
}
