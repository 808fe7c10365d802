// Command vminit is the /init of the VM test runner's initramfs (see package
// github.com/devmem-go/devmem/internal/vmtest). It is built static
// (CGO_ENABLED=0) and runs as PID 1 in the guest:
//
//  1. mounts proc, sysfs, devtmpfs, devpts, tmpfs (/tmp, /run, /dev/shm),
//     debugfs, and hugetlbfs where the kernel has it;
//  2. brings lo up, writes /etc/hosts, /etc/passwd, /etc/group;
//  3. loads the listed kernel modules (finit_module, compressed ones with
//     MODULE_INIT_COMPRESSED_FILE), in the order given;
//  4. runs the payload (a go test binary) with its arguments, environment and
//     working directory from /vmtest/config.json;
//  5. prints the exit marker with the payload's exit code on the console,
//     syncs and powers the machine off.
//
// It refuses to run unless it is PID 1.
package main
