#!/usr/bin/env bash
# run.sh RESULTS_DIR: the end-to-end benchmark of bench/README.md section 3,
# in the devmem-7.2 test VM (see doc.go). Writes, in RESULTS_DIR:
#
#   e2e.txt           BenchmarkE2E/recv=NAME lines (cpu-s/GiB, ...)
#                     and BenchmarkE2EStartup/recv=NAME (an empty stream)
#   e2e-syscalls.txt  BenchmarkSyscalls/recv=NAME lines (traced runs: calls
#                     per GiB, peak-rss-bytes)
#   e2e.log           the whole console output of the VM run
#
# Steps: builds the kernel's ncdevmem (bench/ncdevmem-c/build.sh, cached) and
# the Go ncdevmem (CGO_ENABLED=0) into bench/e2e/testdata/, the VM runner
# (bin/vmrun) and the devmem-7.2 kernel (cached), then runs TestE2E in the VM.
#
# Knobs (environment): E2E_SIZE_MIB (MiB per timed run, default 128),
# E2E_COUNT_MIB (MiB per traced run, default 64), BENCH_COUNT (rounds,
# default 3 here), E2E_RECEIVERS (default: all), E2E_MEM (guest MiB, 2048),
# E2E_CPUS (guest CPUs, default 2: receivers on CPU 0, the sender on CPU 1),
# E2E_TIMEOUT (go test -timeout, default 60m), E2E_LOG=1 (receivers' stderr
# to the console: for debugging, not for numbers).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
GO=${GO:-go}
res=${1:?usage: bench/e2e/run.sh RESULTS_DIR}
mkdir -p "$res"
res=$(cd "$res" && pwd)
export DEVMEM_CACHE=${DEVMEM_CACHE:-$HOME/.cache/devmem-go}
log() { printf 'bench/e2e/run.sh: %s\n' "$*" >&2; }

mkdir -p "$here/testdata"
cbin=$(bench/ncdevmem-c/build.sh | tail -n1)
install -m 0755 "$cbin" "$here/testdata/ncdevmem-c"
CGO_ENABLED=0 "$GO" build -trimpath -o "$here/testdata/ncdevmem-go" ./examples/ncdevmem
CGO_ENABLED=0 "$GO" build -o bin/ ./internal/vmtest/cmd/vmrun ./internal/vmtest/cmd/vminit
internal/vmtest/scripts/kernels.sh devmem-7.2 >&2

args=(-e2e.size "${E2E_SIZE_MIB:-128}" -e2e.countsize "${E2E_COUNT_MIB:-64}" -e2e.rounds "${BENCH_COUNT:-3}")
[ -n "${E2E_RECEIVERS:-}" ] && args+=(-e2e.receivers "$E2E_RECEIVERS")
[ -n "${E2E_LOG:-}" ] && args+=(-e2e.log)
timeout=${E2E_TIMEOUT:-60m}
log "devmem-7.2 VM: ${args[*]}"
set +e
DEVMEM_BENCH_E2E=1 VMTEST_KERNEL=devmem-7.2 VMTEST_MEM=${E2E_MEM:-2048} VMTEST_CPUS=${E2E_CPUS:-2} CGO_ENABLED=0 \
	"$GO" test -exec "$root/bin/vmrun" -count=1 -timeout "$timeout" -run '^TestE2E$' -v ./bench/e2e \
	-args "${args[@]}" 2>&1 | sed -u 's/\r$//' | tee "$res/e2e.log" >&2
rc=${PIPESTATUS[0]}
set -e
host="host-cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
cfg='^(goos|goarch|pkg|cpu|kernel|guest-cpus|pinning):'
{ grep -E "$cfg" "$res/e2e.log"; echo "$host"; grep -E '^BenchmarkE2E(Startup|Ratio)?/' "$res/e2e.log"; } >"$res/e2e.txt" || true
{ grep -E "$cfg" "$res/e2e.log"; echo "$host"; grep -E '^BenchmarkSyscalls/' "$res/e2e.log"; } >"$res/e2e-syscalls.txt" || true
if [ "$rc" -ne 0 ]; then
	log "the VM run failed (exit $rc); see $res/e2e.log"
	exit "$rc"
fi
log "wrote $res/e2e.txt, $res/e2e-syscalls.txt"
