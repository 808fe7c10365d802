package vmtest

import (
	"fmt"
	"strconv"
	"strings"
)

// GuestConfig is what the host side (vmrun) tells the guest's /init (vminit).
// It travels as JSON in the initramfs at [ConfigPath].
type GuestConfig struct {
	// Nonce makes the start and exit markers unique to one run, so that no
	// payload output can fake them.
	Nonce string `json:"nonce"`
	// Kernel is the kernel's name (stock-7.2, ...). The payload sees it as
	// $DEVMEM_VMTEST ([EnvInVM]).
	Kernel string `json:"kernel"`
	// Path is the payload's path in the guest. Empty: /init only boots,
	// reports exit code 0 and powers off (used by the KVM probe).
	Path string `json:"path,omitempty"`
	// Args are the payload's arguments (without argv[0]).
	Args []string `json:"args,omitempty"`
	// Env is added to the payload's environment (KEY=VALUE).
	Env []string `json:"env,omitempty"`
	// Dir is the payload's working directory, created when missing.
	Dir string `json:"dir,omitempty"`
	// Verbose makes /init log its steps with the guest's uptime.
	Verbose bool `json:"verbose,omitempty"`
	// Modules are kernel modules (paths in the guest) loaded in this order
	// before the payload runs.
	Modules []string `json:"modules,omitempty"`
}

// Paths and names shared by vmrun and vminit.
const (
	// ConfigPath is where the initramfs holds the [GuestConfig].
	ConfigPath = "/vmtest/config.json"
	// ModulesDir is where the initramfs holds kernel modules.
	ModulesDir = "/vmtest/modules"
	// BinDir is where the initramfs holds the payload binary.
	BinDir = "/vmtest/bin"
	// EnvInVM is set in the payload's environment to the kernel's name; its
	// presence means "running inside the VM runner".
	EnvInVM = "DEVMEM_VMTEST"
)

const (
	startMarker = "VMTEST-START"
	exitMarker  = "VMTEST-EXIT"
)

// StartMarker is the line vminit prints right before it starts the payload.
func StartMarker(nonce string) string { return startMarker + " " + nonce }

// ExitMarker is the line vminit prints after the payload exited with code.
// A payload killed by a signal reports 128+signal, like a shell.
func ExitMarker(nonce string, code int) string {
	return fmt.Sprintf("%s %s %d", exitMarker, nonce, code)
}

// ParseExitMarker finds the exit marker for nonce in line and returns the
// exit code it carries. The marker may be preceded by other output on the
// same line (a payload that did not end its last line).
func ParseExitMarker(line, nonce string) (code int, ok bool) {
	prefix := exitMarker + " " + nonce + " "
	i := strings.Index(line, prefix)
	if i < 0 {
		return 0, false
	}
	rest := strings.TrimRight(line[i+len(prefix):], "\r\n ")
	code, err := strconv.Atoi(rest)
	if err != nil || code < 0 || code > 255 {
		return 0, false
	}
	return code, true
}

// ForwardEnv reports whether the host environment variable kv (KEY=VALUE)
// is passed on to the payload: VMTEST_*, DEVMEM_* and the Go runtime's
// GOTRACEBACK, GODEBUG, GOMAXPROCS and GOGC.
func ForwardEnv(kv string) bool {
	k, _, ok := strings.Cut(kv, "=")
	if !ok {
		return false
	}
	switch k {
	case "GOTRACEBACK", "GODEBUG", "GOMAXPROCS", "GOGC", "GOMEMLIMIT":
		return true
	case EnvInVM, "DEVMEM_CACHE":
		// Set by vminit / meaningless in the guest.
		return false
	}
	return strings.HasPrefix(k, "VMTEST_") || strings.HasPrefix(k, "DEVMEM_")
}
