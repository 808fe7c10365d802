// Package uapicheck compares every value in internal/uapi with the Linux
// user-space headers it was written from, through cgo.
//
// It builds only with the uapicheck tag and a header tree on the include path;
// run.sh fetches Debian's linux-libc-dev 7.2.12-1 into a cache folder and runs
//
//	CGO_CFLAGS="-isystem $HDR/usr/include -isystem $HDR/usr/include/x86_64-linux-gnu" \
//		go test -tags uapicheck ./internal/uapi/uapicheck
//
// Each area has a <area>_cgo.go file (build tag uapicheck) whose preamble
// includes only the Linux headers it needs (linux/uio.h clashes with glibc's
// socket headers) and registers a table of checks in init. check_test.go
// compares them all.
package uapicheck
