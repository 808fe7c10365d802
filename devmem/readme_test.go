package devmem_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEExample type-checks the program of the README's "Receive into
// a dma-buf" section against this module, so that the first code a user
// copies keeps compiling.
func TestREADMEExample(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command (the VM runs test binaries only); the host run checks the README")
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n```go\n")
	if !ok {
		t.Fatal("README.md has no Go code block")
	}
	prog, _, ok := strings.Cut(rest, "\n```\n")
	if !ok || !strings.HasPrefix(prog, "package main") {
		t.Fatalf("README.md's first Go block is no program:\n%s", prog)
	}
	file := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(file, []byte(prog+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// From this directory the go command resolves the imports in this module.
	if out, err := exec.Command(gobin, "vet", file).CombinedOutput(); err != nil {
		t.Fatalf("go vet of the README's example: %v\n%s", err, out)
	}
}
