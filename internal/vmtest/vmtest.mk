# VM test targets, included by the top-level Makefile. See
# internal/vmtest/README.md.
#
#   make vmtest                  every package's tests in a QEMU VM, once per
#                                kernel in VMTEST_KERNELS
#   make vmtest-one KERNEL=stock-6.12 PKG=./netdev
#   make kernels                 fetch/build the kernels into the cache
#   make vmtest-tools            build bin/vmrun and bin/vminit
#
# Knobs: VMTEST_KERNELS, VMTEST_PKGS (default ./...), VMTEST_FLAGS (extra
# go test flags, e.g. -run or -v), VMTEST_GOTEST_TIMEOUT (go test -timeout per
# package, default 5m), and the VMTEST_* environment variables
# vmrun reads (VMTEST_TIMEOUT, VMTEST_ACCEL, VMTEST_MEM, VMTEST_VERBOSE, ...).

GO ?= go
VMTEST_KERNELS ?= stock-6.12 stock-7.2 devmem-7.2
VMTEST_PKGS ?= ./...
VMTEST_FLAGS ?=
# Per test binary, inside the VM (vmrun allows one more minute for booting).
VMTEST_GOTEST_TIMEOUT ?= 5m
VMRUN := $(CURDIR)/bin/vmrun
KERNEL ?= stock-7.2
PKG ?= ./...

.PHONY: vmtest vmtest-tools vmtest-runner vmtest-one kernels

vmtest-tools:
	CGO_ENABLED=0 $(GO) build -o bin/ ./internal/vmtest/cmd/vmrun ./internal/vmtest/cmd/vminit

kernels:
	internal/vmtest/scripts/kernels.sh $(VMTEST_KERNELS)

# The runner's own host-side tests (a failing, hanging, crashing payload
# must fail the run), against the first kernel.
# A stock kernel: its panic case needs CONFIG_MAGIC_SYSRQ, which the
# minimal devmem-7.2 config leaves out.
VMTEST_RUNNER_KERNEL ?= stock-7.2
vmtest-runner: vmtest-tools kernels
	internal/vmtest/scripts/kernels.sh $(VMTEST_RUNNER_KERNEL)
	VMTEST_KERNEL=$(VMTEST_RUNNER_KERNEL) $(GO) test -count=1 ./internal/vmtest/

vmtest: vmtest-runner
	@fail=""; all=$$(date +%s); \
	for k in $(VMTEST_KERNELS); do \
		start=$$(date +%s); echo "=== vmtest: kernel $$k"; \
		if VMTEST_KERNEL=$$k CGO_ENABLED=0 $(GO) test -exec "$(VMRUN)" -count=1 -timeout $(VMTEST_GOTEST_TIMEOUT) $(VMTEST_FLAGS) $(VMTEST_PKGS); \
		then r=ok; else r=FAIL; fail="$$fail $$k"; fi; \
		echo "=== vmtest: kernel $$k: $$r in $$(( $$(date +%s) - start ))s"; \
	done; \
	echo "=== vmtest: $(words $(VMTEST_KERNELS)) kernel(s) in $$(( $$(date +%s) - all ))s"; \
	if [ -n "$$fail" ]; then echo "=== vmtest: FAILED on:$$fail"; exit 1; fi

vmtest-one: vmtest-tools
	internal/vmtest/scripts/kernels.sh $(KERNEL)
	VMTEST_KERNEL=$(KERNEL) CGO_ENABLED=0 $(GO) test -exec "$(VMRUN)" -count=1 -timeout $(VMTEST_GOTEST_TIMEOUT) $(VMTEST_FLAGS) $(PKG)
