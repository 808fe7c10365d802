#!/usr/bin/env bash
# run.sh [cparse flags...]: builds bench/cparse/cparse.c with gcc -O2 against
# the Linux 7.2.12 UAPI headers (fetched into the cache by
# internal/uapi/uapicheck/run.sh's fetch step when missing) and runs it. The
# flags go to cparse: -count N -benchtime SECONDS -walker ncdevmem|checked
# -frags 1,16,64,1024. Output: Go benchmark lines (benchstat reads them).
# run.sh --path only builds, and prints the binary's path.
#
# The binary is $DEVMEM_CACHE/bench/cparse (DEVMEM_CACHE defaults to
# $HOME/.cache/devmem-go), rebuilt when cparse.c or this script change.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${DEVMEM_CACHE:-$HOME/.cache/devmem-go}
ver=7.2.12-1
hdr=$cache/linux-libc-dev-$ver/usr/include
if [ ! -f "$hdr/linux/uio.h" ] || ! grep -q dmabuf_cmsg "$hdr/linux/uio.h"; then
	# The same fetch as internal/uapi/uapicheck/run.sh.
	tmp=$(mktemp -d)
	"$root/internal/vmtest/scripts/apt-download.sh" forky "$tmp" "linux-libc-dev=$ver" >&2
	rm -rf "$cache/linux-libc-dev-$ver.tmp" && mkdir -p "$cache/linux-libc-dev-$ver.tmp"
	dpkg-deb -x "$tmp"/linux-libc-dev_*.deb "$cache/linux-libc-dev-$ver.tmp"
	rm -rf "$cache/linux-libc-dev-$ver" "$tmp"
	mv "$cache/linux-libc-dev-$ver.tmp" "$cache/linux-libc-dev-$ver"
fi
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
bin=$cache/bench/cparse
key=$(cat "$here/cparse.c" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
if [ ! -x "$bin" ] || [ "$(cat "$bin.key" 2>/dev/null)" != "$key" ]; then
	mkdir -p "$cache/bench"
	# -isystem: the 7.2.12 headers come before the host's linux-libc-dev.
	gcc -O2 -std=gnu11 -Wall -Wextra -Werror \
		-isystem "$hdr" -isystem "$hdr/$multiarch" \
		-o "$bin.tmp" "$here/cparse.c"
	mv "$bin.tmp" "$bin"
	echo "$key" >"$bin.key"
fi
if [ "${1:-}" = --path ]; then
	echo "$bin"
	exit 0
fi
exec "$bin" "$@"
