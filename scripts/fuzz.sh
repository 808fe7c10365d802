#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzXxx in a *_test.go file) of the
# module, one after the other, and prints a table of executions per target.
#
#   scripts/fuzz.sh                   every target for FUZZTIME (default 10s)
#   FUZZTIME=30s scripts/fuzz.sh      CI-style bounded run
#   scripts/fuzz.sh --long            long campaign: FUZZEXECS executions
#                                     (default 10000000) per target
#   scripts/fuzz.sh ./cmsg ./netdev   only these packages
#   FUZZ_RUN='Parse|Ledger' scripts/fuzz.sh
#                                     only targets whose name matches (grep -E)
#
# Knobs: FUZZTIME (a go test -fuzztime value: 10s, 2m, 500000x), FUZZEXECS
# (--long), FUZZPARALLEL (fuzz workers per target, default 1: the targets run
# one at a time), FUZZMINIMIZETIME (-fuzzminimizetime, default 1s: with Go's
# default of 60s a worker spends most of a short run minimizing each new
# input and executes nothing meanwhile), FUZZ_RUN, FUZZLOG (directory for the
# per-target logs, default a temporary one), GO (default go).
#
# A target that finds a failure makes the script exit 1 at the end (the
# others still run). A run that Go's coordinator ends with a bare "context
# deadline exceeded" and no failing input (a known race of -fuzztime on
# loaded machines) is retried once, then reported as "flake". Go writes the failing input to
# <package>/testdata/fuzz/<FuzzXxx>/<hash>: commit it, it becomes a seed that
# every plain `go test` runs from then on (a regression test), and fix the
# bug. Inputs that only widened coverage stay in $(go env GOCACHE)/fuzz.
set -u -o pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
FUZZEXECS=${FUZZEXECS:-10000000}
FUZZPARALLEL=${FUZZPARALLEL:-1}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-1s}
FUZZ_RUN=${FUZZ_RUN:-.}

long=0
pkgs=()
for a in "$@"; do
	case $a in
	--long) long=1 ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) pkgs+=("$a") ;;
	esac
done
if [ "$long" = 1 ]; then
	FUZZTIME=${FUZZEXECS}x
fi
# -fuzztime bounds each run; go test's default -timeout (10m) would cut a
# long campaign short.
timeout=0

cd "$(dirname "$0")/.." || exit 1
if [ ${#pkgs[@]} -eq 0 ]; then
	# Packages with a fuzz target: directories of test files declaring one.
	mapfile -t pkgs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]\w*\(f \*testing\.F\)' . |
		xargs -r -n1 dirname | sort -u | sed 's|^\./||; s|^|./|')
fi
logdir=${FUZZLOG:-$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")}
mkdir -p "$logdir"

# elapsed_rate EXECS ELAPSED prints EXECS per second of ELAPSED ("1h2m3s").
elapsed_rate() {
	local secs
	secs=$(echo "$2" | sed -E 's/([0-9]+)h/\1*3600+/; s/([0-9]+)m/\1*60+/; s/([0-9]+)s/\1/; s/\+$//')
	secs=$(( ${secs:-0} ))
	[ "$secs" -gt 0 ] && echo $(( $1 / secs )) || echo "?"
}

declare -a rows
fail=0
total=0
start_all=$(date +%s)
for pkg in "${pkgs[@]}"; do
	# The compiler's view, so build tags are respected.
	targets=$($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep -E '^Fuzz' | grep -E "$FUZZ_RUN")
	for t in $targets; do
		log="$logdir/$(echo "$pkg" | tr '/.' '__')_$t.log"
		echo "=== fuzz $pkg $t ($FUZZTIME, $FUZZPARALLEL worker(s)) -> $log"
		s=$(date +%s)
		seeds="$pkg/testdata/fuzz/$t"
		before=$(ls "$seeds" 2>/dev/null | wc -l)
		status=ok
		for try in 1 2; do
			$GO test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -timeout "$timeout" \
				-fuzzminimizetime "$FUZZMINIMIZETIME" -parallel "$FUZZPARALLEL" "$pkg" >"$log" 2>&1
			rc=$?
			[ $rc -eq 0 ] && break
			# Go's coordinator can fail a duration-bounded run with a bare
			# "context deadline exceeded" when -fuzztime ends while a worker
			# is busy (a race in internal/fuzz, frequent on loaded machines):
			# no input was written and nothing failed. Run such a target once
			# more; if it happens again, report it as "flake", not a failure.
			after=$(ls "$seeds" 2>/dev/null | wc -l)
			if [ "$after" -eq "$before" ] && grep -q '^    context deadline exceeded$' "$log" &&
				! grep -qE 'Failing input written|panic:' "$log"; then
				status=flake
				cp "$log" "$log.flake$try"
				continue
			fi
			status=FAIL
			break
		done
		[ $rc -eq 0 ] && status=ok
		secs=$(( $(date +%s) - s ))
		# The last progress line: "fuzz: elapsed: 10s, execs: 123456 (12345/sec), new interesting: 3 (total: 40)".
		last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -n 1)
		execs=$(echo "$last" | sed -nE 's/.*execs: ([0-9]+).*/\1/p')
		elapsed=$(echo "$last" | sed -nE 's/^fuzz: elapsed: ([0-9hms.]+),.*/\1/p')
		rate=$(elapsed_rate "${execs:-0}" "$elapsed")
		corpus=$(echo "$last" | sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p')
		if [ "$status" = FAIL ]; then
			fail=1
			grep -E 'Failing input written to|--- FAIL|panic:' "$log" | head -n 5
		fi
		total=$(( total + ${execs:-0} ))
		rows+=("$(printf '%-24s %-26s %12s %9s %7s %6ss %s' "$pkg" "$t" "${execs:-?}" "${rate:-?}" "${corpus:-?}" "$secs" "$status")")
	done
done

echo
printf '%-24s %-26s %12s %9s %7s %7s %s\n' package target execs execs/s corpus wall result
for r in "${rows[@]}"; do echo "$r"; done
echo "total executions: $total in $(( $(date +%s) - start_all ))s; logs in $logdir"
if [ $fail -ne 0 ]; then
	echo "FAIL: see the logs; failing inputs are in <package>/testdata/fuzz/<target>/ (commit them as regression seeds)"
fi
exit $fail
