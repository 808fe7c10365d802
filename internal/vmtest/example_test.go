package vmtest_test

import (
	"context"
	"fmt"
	"os"

	"github.com/devmem-go/devmem/internal/vmtest"
)

// Running a static test binary in a VM booting the cached stock-6.12 kernel,
// as vmrun does for `go test -exec`.
func ExampleRun() {
	k, err := vmtest.FindKernel(vmtest.CacheDir(), "stock-6.12")
	if err != nil {
		fmt.Println(err) // run `make kernels`
		return
	}
	res, err := vmtest.Run(context.Background(), &vmtest.Config{
		Kernel: k,
		Init:   "bin/vminit",
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}, &vmtest.Payload{
		Path: "/tmp/pkg.test", // CGO_ENABLED=0 go test -c -o /tmp/pkg.test ./pkg
		Args: []string{"-test.v"},
		Dir:  "/src/module/pkg",
	})
	if err != nil {
		fmt.Println("VM failed:", err) // panic, Oops, timeout, no exit report
		return
	}
	fmt.Println("exit code", res.ExitCode, "after", res.Total)
}
