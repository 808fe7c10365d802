#!/usr/bin/env bash
# apt-download.sh SUITE DEST PKG[=VERSION]...
#
# Downloads Debian packages from SUITE (e.g. forky, trixie) into DEST using a
# private apt configuration. The machine's own apt sources are never read or
# changed: sourcelist, sourceparts, lists and cache all point into the cache.
set -euo pipefail
suite=$1; dest=$2; shift 2
cache=${DEVMEM_CACHE:-$HOME/.cache/devmem-go}
aptdir=$cache/apt-$suite
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$dest"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$aptdir/sources.list"
opts=(-o "Dir::Etc::sourcelist=$aptdir/sources.list" -o "Dir::Etc::sourceparts=-"
      -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
      -o "APT::Get::List-Cleanup=0" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
# Refresh the package lists at most once a day.
if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
  apt-get "${opts[@]}" -qq update
fi
cd "$dest"
apt-get "${opts[@]}" -qq download "$@"
