package reliability_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// libraryDirs are the packages a program links: the public ones and the
// internal ones they import. Test helpers (internal/testutil, fdtest), the
// VM runner and the examples are not part of the library.
var libraryDirs = []string{"cmsg", "devmem", "dmabuf", "udmabuf", "netdev", "pagepool", "internal", "internal/uapi", "internal/fd"}

// forbidden are calls through which a library would raise privileges or
// run other programs.
var forbidden = map[string]map[string]bool{
	"os":                    {"StartProcess": true},
	"os/exec":               {"Command": true, "CommandContext": true},
	"syscall":               {"Setuid": true, "Setgid": true, "Setreuid": true, "Setregid": true, "Setresuid": true, "Setresgid": true, "Setgroups": true, "Exec": true, "ForkExec": true, "StartProcess": true},
	"golang.org/x/sys/unix": {"Setuid": true, "Setgid": true, "Setreuid": true, "Setregid": true, "Setresuid": true, "Setresgid": true, "Setgroups": true, "Capset": true, "Exec": true, "Setfsuid": true, "Setfsgid": true},
}

// moduleRoot finds the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test's directory (the sources are not here, e.g. in the VM)")
		}
		dir = parent
	}
}

// TestNoPrivilegeRaising checks the library's own source: no package
// imports os/exec (it never shells out, not even to ethtool or ip), and
// none calls setuid, setgid, setgroups, capset, exec or fork. Privileged
// operations fail with os.ErrPermission instead.
func TestNoPrivilegeRaising(t *testing.T) {
	root := moduleRoot(t)
	files := 0
	for _, d := range libraryDirs {
		ents, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			path := filepath.Join(root, d, name)
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files++
			// Names the file gives the packages of interest.
			local := map[string]string{}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if p == "os/exec" {
					t.Errorf("%s imports os/exec", path)
				}
				if _, ok := forbidden[p]; ok {
					n := filepath.Base(p)
					if imp.Name != nil {
						n = imp.Name.Name
					}
					local[n] = p
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				x, ok := sel.X.(*ast.Ident)
				if !ok {
					return true
				}
				if p, ok := local[x.Name]; ok && forbidden[p][sel.Sel.Name] {
					t.Errorf("%s: %s.%s", fset.Position(sel.Pos()), p, sel.Sel.Name)
				}
				return true
			})
		}
	}
	if files < 20 {
		t.Fatalf("only %d library files found under %s", files, root)
	}
	figure(t, "no privilege raising", "%d library source files: no os/exec, no setuid/setgid/setgroups/capset/exec", files)

	// Nor through a dependency.
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Logf("go not in PATH: dependency check skipped")
		return
	}
	pkgs := make([]string, len(libraryDirs))
	for i, d := range libraryDirs {
		pkgs[i] = "./" + d
	}
	cmd := exec.Command(goCmd, append([]string{"list", "-deps"}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for p := range strings.FieldsSeq(string(out)) {
		if p == "os/exec" {
			t.Errorf("os/exec is linked into the library through a dependency")
		}
	}
}
