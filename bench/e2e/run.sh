#!/usr/bin/env bash
# run.sh RESULTS_DIR: the end-to-end benchmark of bench/README.md section 3,
# in the devmem-7.2 test VM (see doc.go). Writes, in RESULTS_DIR:
#
#   e2e.txt           BenchmarkE2E/recv=NAME lines (cpu-s/GiB, ...),
#                     BenchmarkE2EStartup/recv=NAME (an empty stream) and
#                     BenchmarkE2ERatio/recv=NAME (per round, to ncdevmem-c)
#   e2e-syscalls.txt  BenchmarkSyscalls/recv=NAME lines (traced runs: calls
#                     per GiB, peak-rss-bytes)
#   e2e.log           the whole console output of the VM run
# (e2e-realtime.* with E2E_MODE=realtime).
#
# Steps: builds the kernel's ncdevmem (bench/ncdevmem-c/build.sh, cached) and
# the Go ncdevmem (CGO_ENABLED=0) into bench/e2e/testdata/, the VM runner
# (bin/vmrun) and the devmem-7.2 kernel (cached), then runs TestE2E in the VM.
#
# Knobs (environment): E2E_MODE (icount or realtime, below), E2E_SIZE_MIB
# (MiB per timed run, default 512 with icount, 128 realtime),
# E2E_COUNT_MIB (MiB per traced run, default 64), BENCH_COUNT (rounds,
# default 3 here), E2E_RECEIVERS (default: all), E2E_MEM (guest MiB, 2048),
# E2E_CPUS (guest CPUs; default 1 with icount, 2 realtime: receivers on CPU
# 0, the sender on CPU 1),
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

# Two clocks (E2E_MODE):
#   icount    (default) QEMU -icount shift=0,sleep=off, one guest CPU: the
#             guest's clock runs on executed instructions (1 ns each), so
#             its per-process CPU time is an instruction count (sampled
#             every 4 M instructions by the 250 Hz tick) that the host's
#             load cannot move: repeated runs agree within a few per cent.
#             -> e2e.txt, e2e-syscalls.txt
#   realtime  plain TCG on the host's clock, two guest CPUs, receivers
#             pinned to CPU 0 and the sender to CPU 1: CPU time is host
#             time spent emulating, which weights what is slow to emulate
#             (system calls, context switches, page tables) and swings
#             with the host's load. -> e2e-realtime.txt,
#             e2e-realtime-syscalls.txt
mode=${E2E_MODE:-icount}
case $mode in
icount)
	sfx="" cpus=${E2E_CPUS:-1} size=${E2E_SIZE_MIB:-512}
	qemu="-icount shift=0,sleep=off ${VMTEST_QEMU_ARGS:-}"
	;;
realtime)
	sfx="-realtime" cpus=${E2E_CPUS:-2} size=${E2E_SIZE_MIB:-128} qemu=${VMTEST_QEMU_ARGS:-}
	;;
*)
	log "E2E_MODE must be icount or realtime, not $mode"
	exit 2
	;;
esac
args=(-e2e.size "$size" -e2e.countsize "${E2E_COUNT_MIB:-64}" -e2e.rounds "${BENCH_COUNT:-3}")
[ -n "${E2E_RECEIVERS:-}" ] && args+=(-e2e.receivers "$E2E_RECEIVERS")
[ -n "${E2E_LOG:-}" ] && args+=(-e2e.log)
timeout=${E2E_TIMEOUT:-60m}
log "devmem-7.2 VM, $mode clock, $cpus CPU(s): ${args[*]}"
out=$res/e2e$sfx
set +e
DEVMEM_BENCH_E2E=1 VMTEST_KERNEL=devmem-7.2 VMTEST_MEM=${E2E_MEM:-2048} VMTEST_CPUS=$cpus VMTEST_QEMU_ARGS=$qemu CGO_ENABLED=0 \
	"$GO" test -exec "$root/bin/vmrun" -count=1 -timeout "$timeout" -run '^TestE2E$' -v ./bench/e2e \
	-args "${args[@]}" 2>&1 | sed -u 's/\r$//' | tee "$out.log" >&2
rc=${PIPESTATUS[0]}
set -e
host="host-cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1) ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
cfg='^(goos|goarch|pkg|cpu|kernel|guest-cpus|count-mib|pinning):'
{ grep -E "$cfg" "$out.log"; echo "$host"; echo "clock: $mode"; grep -E '^BenchmarkE2E(Startup|Ratio)?/' "$out.log"; } >"$out.txt" || true
{ grep -E "$cfg" "$out.log"; echo "$host"; echo "clock: $mode"; grep -E '^BenchmarkSyscalls/' "$out.log"; } >"$out-syscalls.txt" || true
if [ "$rc" -ne 0 ]; then
	log "the VM run failed (exit $rc); see $out.log"
	exit "$rc"
fi
log "wrote $out.txt, $out-syscalls.txt"
