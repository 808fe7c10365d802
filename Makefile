# devmem-go. `make test` is the whole test suite (what .ci/run calls);
# `make demo` runs the self-test demo. Both work on a fresh Debian machine:
# `make deps` installs what is missing (QEMU and the kernel build tools, from
# the machine's default apt sources; nothing else is changed).

GO ?= go
STATICCHECK_VERSION ?= v0.7.0
export DEVMEM_CACHE ?= $(HOME)/.cache/devmem-go

.PHONY: test check fmt vet staticcheck unit race crossbuild uapicheck deps demo

test: deps check fuzz vmtest

# Host-side checks: everything except the VM run.
check: fmt vet staticcheck crossbuild uapicheck race

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	GOARCH=arm64 $(GO) vet ./...

staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

crossbuild:
	GOOS=darwin $(GO) build ./...
	GOOS=darwin $(GO) vet ./...
	GOARCH=arm64 $(GO) build ./...
	GOARCH=mips64 $(GO) build ./...

uapicheck:
	internal/uapi/uapicheck/run.sh

race:
	$(GO) test -race -count=1 ./...

deps:
	@need=""; \
	command -v qemu-system-x86_64 >/dev/null || need="$$need qemu-system-x86"; \
	for t in gcc make flex bison bc; do command -v $$t >/dev/null || need="$$need $$t"; done; \
	[ -e /usr/include/libelf.h ] || need="$$need libelf-dev"; \
	for t in zstd xz patch python3; do command -v $$t >/dev/null || need="$$need $$( [ $$t = xz ] && echo xz-utils || echo $$t)"; done; \
	dpkg -s debian-archive-keyring >/dev/null 2>&1 || need="$$need debian-archive-keyring"; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need; \
	fi

-include internal/vmtest/vmtest.mk

.PHONY: bench ncdevmem-c fuzz
# Every native fuzz target for a bounded time (RELIABILITY.md has the long campaign).
FUZZTIME ?= 20s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh
# Side-by-side benchmarks -> BENCHMARKS.md (bench/README.md). BENCH_COUNT=6.
bench:
	bench/run.sh
ncdevmem-c:
	bench/ncdevmem-c/build.sh
