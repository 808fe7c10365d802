//go:build !linux || !(amd64 || arm64)

package syscount

import (
	"errors"
	"os"
)

// names is empty where Run is not supported.
var names = map[uint64]string{}

// Run is supported on Linux on amd64 and arm64 only; here it returns an
// error.
func Run(argv []string, env []string, stdin, stdout, stderr *os.File) (*Counts, error) {
	return nil, errors.New("syscount: ptrace system-call counting needs Linux on amd64 or arm64")
}
