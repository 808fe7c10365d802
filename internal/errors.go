// Package internal holds pieces shared by the module's packages that are not
// part of its public API.
package internal

import "errors"

// ErrNotSupported is returned when the operating system, the kernel, the
// driver or the device lacks a feature. Every public package re-exports it, so
// errors.Is(err, netdev.ErrNotSupported) and errors.Is(err,
// dmabuf.ErrNotSupported) test for the same value.
var ErrNotSupported = errors.New("devmem: not supported")
