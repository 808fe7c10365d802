#!/usr/bin/env bash
# Fetches the Linux 7.2.12 user-space headers (Debian linux-libc-dev 7.2.12-1)
# into the cache through a private apt config, then compiles and runs the
# uapicheck test against them. Exits non-zero on any mismatch.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${DEVMEM_CACHE:-$HOME/.cache/devmem-go}
ver=7.2.12-1
hdr=$cache/linux-libc-dev-$ver
if [ ! -f "$hdr/usr/include/linux/netdev.h" ]; then
  tmp=$(mktemp -d)
  "$root/internal/vmtest/scripts/apt-download.sh" forky "$tmp" "linux-libc-dev=$ver"
  rm -rf "$hdr.tmp" && mkdir -p "$hdr.tmp"
  dpkg-deb -x "$tmp"/linux-libc-dev_*.deb "$hdr.tmp"
  rm -rf "$hdr" "$tmp" && mv "$hdr.tmp" "$hdr"
fi
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
cd "$root"
CGO_ENABLED=1 CGO_CFLAGS="-isystem $hdr/usr/include -isystem $hdr/usr/include/$multiarch" \
  go test -count=1 -tags uapicheck "$@" ./internal/uapi/uapicheck/
