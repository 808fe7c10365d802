//go:build !linux

package udmabuf

import (
	"fmt"
	"runtime"
)

var errOS = fmt.Errorf("udmabuf: udmabuf needs Linux, not %s: %w", runtime.GOOS, ErrNotSupported)

func sysAvailable() error { return errOS }

func sysLimits() (Params, error) { return Params{}, errOS }

func create([]Range, *Options, bool) (*Buffer, error) { return nil, errOS }
