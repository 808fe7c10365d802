#!/usr/bin/env bash
# run.sh: runs the measurements of bench/README.md that this machine can make
# and renders BENCHMARKS.md from their results (what `make bench` runs).
#
#   BENCH_COUNT    runs of each benchmark (default 6)
#   BENCH_RESULTS  directory of the raw results (default bench/results)
#   BENCH_OUT      the rendered file (default BENCHMARKS.md)
#   BENCH_SKIP     space-separated steps to skip: parse pagepool ledger
#                  copy floor e2e
#
# Steps, each writing one or more files in $BENCH_RESULTS:
#   (always)  machine.txt: CPU model, CPUs, kernel, load at start and end
#   parse     Go cmsg.Parse vs the C walk (bench/cmd/parsecmp)
#   pagepool  the pagepool package's benchmarks: ledger (stub kernel and
#             loopback), DONTNEED syscall, allocator scaling
#   ledger    record+release on the public API, kernel-like tokens
#             (bench/ledger)
#   copy      the copy fallback vs io.Copy, alternating in one process
#             (bench/cmd/copycmp)
#   floor     memmove bandwidth, syscall cost (go test -bench ./bench/floor)
#   e2e       the end-to-end runs in the devmem VM (bench/e2e/run.sh; needs
#             QEMU, builds the devmem-7.2 kernel and ncdevmem-c when missing;
#             BENCH_COUNT rounds) on QEMU's instruction-driven clock
#             (icount); with BENCH_E2E_REALTIME=1 also on the host's clock
#             (about 25 minutes more on a loaded 2-CPU machine)
# A step that fails stops the run; its partial results stay in place.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
GO=${GO:-go}
count=${BENCH_COUNT:-6}
res=${BENCH_RESULTS:-bench/results}
out=${BENCH_OUT:-BENCHMARKS.md}
skip=" ${BENCH_SKIP:-} "
mkdir -p "$res"

step() { [[ "$skip" != *" $1 "* ]]; }
log() { printf 'bench/run.sh: %s\n' "$*" >&2; }

machine() {
	printf 'host-cpu: %s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
	printf 'host-cpus: %s\n' "$(nproc)"
	printf 'host-kernel: %s\n' "$(uname -r)"
	printf 'go: %s\n' "$("$GO" env GOVERSION)"
}
{ machine; printf 'load-start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"; } >"$res/machine.txt"

if step parse; then
	log "parse: Go vs C, $count rounds"
	"$GO" run ./bench/cmd/parsecmp -count "$count" -o "$res"
fi
# rounds PKG OUT: the package's benchmarks, $count rounds of one run of
# each (go test -count N would run each sub-benchmark N times back to back,
# so that a slow minute of the host lands on one of them).
rounds() {
	local bin
	bin=$(mktemp -d)/b.test
	"$GO" test -c -o "$bin" "$1"
	: >"$2"
	for ((i = 1; i <= count; i++)); do
		(cd "$1" && "$bin" -test.run '^$' -test.bench . -test.count 1) >>"$2"
	done
	rm -rf "$(dirname "$bin")"
}
if step pagepool; then
	log "pagepool: ledger and allocator, $count rounds"
	rounds ./pagepool "$res/pagepool.txt"
fi
if step ledger; then
	log "ledger: record+release, public API, $count rounds"
	rounds ./bench/ledger "$res/ledger.txt"
fi
if step copy; then
	log "copy: copy fallback vs io.Copy, $count rounds"
	"$GO" run ./bench/cmd/copycmp -count "$count" -o "$res" 2>/dev/null
fi
if step floor; then
	log "floor: memmove, syscall, $count rounds"
	rounds ./bench/floor "$res/floor.txt"
fi
if step e2e; then
	if command -v qemu-system-x86_64 >/dev/null; then
		log "e2e: devmem VM, $count rounds"
		BENCH_COUNT=$count bench/e2e/run.sh "$res"
		if [ -n "${BENCH_E2E_REALTIME:-}" ]; then
			log "e2e: devmem VM, host clock, $count rounds"
			E2E_MODE=realtime BENCH_COUNT=$count bench/e2e/run.sh "$res"
		fi
	else
		log "e2e: skipped (no qemu-system-x86_64; make deps installs it)"
	fi
fi
printf 'load-end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$res/machine.txt"
"$GO" run ./bench/cmd/benchmd -results "$res" -o "$out"
log "wrote $out"
