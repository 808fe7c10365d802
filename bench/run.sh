#!/usr/bin/env bash
# run.sh: runs the measurements of bench/README.md that this machine can make
# and renders BENCHMARKS.md from their results (what `make bench` runs).
#
#   BENCH_COUNT    runs of each benchmark (default 6)
#   BENCH_RESULTS  directory of the raw results (default bench/results)
#   BENCH_OUT      the rendered file (default BENCHMARKS.md)
#   BENCH_SKIP     space-separated steps to skip: parse pagepool devmem
#                  floor e2e
#
# Steps, each writing one or more files in $BENCH_RESULTS:
#   parse     Go cmsg.Parse vs the C walk (bench/cmd/parsecmp)
#   pagepool  token release, allocator scaling (go test -bench ./pagepool)
#   devmem    copy fallback vs io.Copy (go test -bench ./devmem)
#   floor     memmove bandwidth, syscall cost (go test -bench ./bench/floor)
#   e2e       the end-to-end runs in the devmem VM (bench/e2e/run.sh, when
#             it exists; needs QEMU and the devmem-7.2 kernel)
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

if step parse; then
	log "parse: Go vs C, $count rounds"
	"$GO" run ./bench/cmd/parsecmp -count "$count" -o "$res"
fi
if step pagepool; then
	log "pagepool: ledger and allocator"
	"$GO" test -run '^$' -bench . -count "$count" ./pagepool >"$res/pagepool.txt"
fi
if step devmem; then
	log "devmem: copy fallback vs io.Copy"
	"$GO" test -run '^$' -bench 'CopyModeVsIOCopy' -count "$count" ./devmem >"$res/devmem.txt"
fi
if step floor; then
	log "floor: memmove, syscall"
	"$GO" test -run '^$' -bench . -count "$count" ./bench/floor >"$res/floor.txt"
fi
if step e2e; then
	if [ -x bench/e2e/run.sh ]; then
		log "e2e: devmem VM"
		BENCH_COUNT=$count bench/e2e/run.sh "$res"
	else
		log "e2e: skipped (bench/e2e/run.sh does not exist yet; see bench/README.md)"
	fi
fi
"$GO" run ./bench/cmd/benchmd -results "$res" -o "$out"
log "wrote $out"
