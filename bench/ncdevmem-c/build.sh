#!/usr/bin/env bash
# build.sh: builds the kernel's own devmem reference program, ncdevmem
# (tools/testing/selftests/drivers/net/hw/ncdevmem.c), as a static binary for
# the VM, from Debian's linux-source-7.2 7.2.12-1, the source of the devmem
# test kernel. The result is
#
#   $DEVMEM_CACHE/bin/ncdevmem-c
#
# with DEVMEM_CACHE defaulting to $HOME/.cache/devmem-go. It is cached: the
# key is the sha256 of the source version and this script; a second run with
# the same inputs only prints the path. Prints the binary's path on stdout.
#
# What it does, as the selftests' Makefile does (net/ynl.mk):
#   1. takes tools/net/ynl, Documentation/netlink, include/uapi and
#      ncdevmem.c from the source (the unpacked tree in
#      $DEVMEM_CACHE/src/usr/src/linux-source-7.2 when it is there, else the
#      tarball, which is downloaded like internal/vmtest/kernel/build.sh
#      does) into a private build directory;
#   2. make -C tools/net/ynl GENS="ethtool netdev" RSTS="" libynl.a: runs
#      the YNL C code generator (python3 with PyYAML; jsonschema only
#      validates the kernel's own specs and is stubbed out when missing) and
#      builds libynl.a;
#   3. gcc -O2 -static ncdevmem.c libynl.a against the Linux 7.2.12 UAPI
#      headers (linux-libc-dev 7.2.12-1, fetched like
#      internal/uapi/uapicheck/run.sh does).
# ncdevmem.c is compiled unmodified. It links only glibc (no libmnl, no
# liburing), so -static is enough.
#
# Needs: gcc make python3 python3-yaml dpkg-deb tar xz; python3-yaml is
# installed with apt-get from the machine's default sources when missing
# (root only).
#
# Running it in the VM: see bench/README.md ("The reference program").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
scripts=$root/internal/vmtest/scripts
cache=${DEVMEM_CACHE:-$HOME/.cache/devmem-go}
export DEVMEM_CACHE=$cache

srcpkg=linux-source-7.2
srcver=7.2.12-1
kver=7.2.12
hdrver=7.2.12-1
out=$cache/bin/ncdevmem-c
work=$cache/build/ncdevmem-c
hdr=$cache/linux-libc-dev-$hdrver/usr/include
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

start=$(date +%s)
log() { printf 'ncdevmem-c/build.sh [%3ds] %s\n' "$(($(date +%s) - start))" "$*" >&2; }

key=$( {
	echo "$srcpkg=$srcver linux-libc-dev=$hdrver $multiarch"
	cat "${BASH_SOURCE[0]}"
} | sha256sum | cut -d' ' -f1)

if [ -x "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
	log "up to date: $out (key ${key:0:12})"
	echo "$out"
	exit 0
fi

mkdir -p "$cache/build" "$cache/bin"
exec 9>"$cache/build/.ncdevmem-c.lock"
flock 9

# Tools, only when missing.
need=()
for t in gcc:gcc make:make python3:python3 xz:xz-utils; do
	command -v "${t%%:*}" >/dev/null || need+=("${t##*:}")
done
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
[ -e "/usr/lib/$multiarch/libc.a" ] || need+=(libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
	log "installing: ${need[*]}"
	apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
		{ apt-get update -qq && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi
# A python3 first on PATH (pyenv, a venv) may not see Debian's python3-yaml.
if ! python3 -c 'import yaml' 2>/dev/null && /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
	mkdir -p "$work/pybin"
	ln -sf /usr/bin/python3 "$work/pybin/python3"
	export PATH=$work/pybin:$PATH
fi
python3 -c 'import yaml' || { log "python3 cannot import yaml (PyYAML)"; exit 1; }

# UAPI headers of 7.2.12, as internal/uapi/uapicheck/run.sh fetches them.
if [ ! -f "$hdr/linux/netdev.h" ]; then
	log "downloading linux-libc-dev=$hdrver"
	tmp=$(mktemp -d)
	"$scripts/apt-download.sh" forky "$tmp" "linux-libc-dev=$hdrver" >&2
	rm -rf "$cache/linux-libc-dev-$hdrver.tmp" && mkdir -p "$cache/linux-libc-dev-$hdrver.tmp"
	dpkg-deb -x "$tmp"/linux-libc-dev_*.deb "$cache/linux-libc-dev-$hdrver.tmp"
	rm -rf "$cache/linux-libc-dev-$hdrver" "$tmp"
	mv "$cache/linux-libc-dev-$hdrver.tmp" "$cache/linux-libc-dev-$hdrver"
fi

# kernelversion DIR: VERSION.PATCHLEVEL.SUBLEVEL from DIR/Makefile (make
# kernelversion needs the whole tree).
kernelversion() {
	awk -F' *= *' '$1=="VERSION"{v=$2} $1=="PATCHLEVEL"{p=$2} $1=="SUBLEVEL"{s=$2}
		v!="" && p!="" && s!="" {print v "." p "." s; exit}' "$1/Makefile" 2>/dev/null
}

# Source: the parts of the tree the build reads.
parts=(tools/net/ynl tools/scripts/Makefile.arch Documentation/netlink include/uapi
	tools/testing/selftests/drivers/net/hw/ncdevmem.c Makefile
	MAINTAINERS) # ynl_gen_c.py finds the tree root by its MAINTAINERS
rm -rf "$work/src"
mkdir -p "$work/src"
unpacked=$cache/src/usr/src/$srcpkg
if [ -f "$unpacked/Makefile" ] && [ -f "$unpacked/tools/testing/selftests/drivers/net/hw/ncdevmem.c" ] &&
	[ "$(kernelversion "$unpacked")" = "$kver" ]; then
	log "copying the sources from $unpacked"
	(cd "$unpacked" && cp -a --parents "${parts[@]}" "$work/src/")
else
	tarball=$cache/src/usr/src/$srcpkg.tar.xz
	if [ ! -f "$tarball" ]; then
		# The same fetch as internal/vmtest/kernel/build.sh.
		deb=$cache/debs/${srcpkg}_${srcver}_all.deb
		if [ ! -f "$deb" ]; then
			log "downloading $srcpkg=$srcver"
			"$scripts/apt-download.sh" forky "$cache/debs" "$srcpkg=$srcver" >&2
		fi
		log "unpacking $deb"
		mkdir -p "$cache/src"
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$cache/src" "./usr/src/$srcpkg.tar.xz"
	fi
	log "extracting ${parts[*]} from $tarball"
	tar -xJf "$tarball" -C "$work/src" --strip-components=1 --wildcards \
		$(printf "$srcpkg/%s " "${parts[@]}")
fi
version=$(kernelversion "$work/src")
[ "$version" = "$kver" ] || { log "source is $version, want $kver"; exit 1; }

# YNL code generator: jsonschema only validates the specs against the
# schema; stub it when missing (the specs are the kernel's own).
if ! python3 -c 'import jsonschema' 2>/dev/null; then
	log "python3 has no jsonschema: spec validation stubbed out"
	mkdir -p "$work/pyshim"
	printf 'def validate(*args, **kwargs):\n    pass\n' >"$work/pyshim/jsonschema.py"
	export PYTHONPATH=$work/pyshim${PYTHONPATH:+:$PYTHONPATH}
fi

# libynl.a, as the selftests' net/ynl.mk builds it; CFLAGS from the
# environment are appended to the Makefiles' own.
log "building libynl.a (ethtool, netdev)"
ynl=$work/src/tools/net/ynl
CFLAGS="-isystem $hdr -isystem $hdr/$multiarch" \
	make -s -C "$ynl" SHELL=/bin/bash GENS="ethtool netdev" RSTS="" libynl.a >&2

log "building ncdevmem (static)"
gcc -O2 -g0 -static -Wall -Wno-unused-function \
	-isystem "$hdr" -isystem "$hdr/$multiarch" \
	-I "$ynl/lib" -I "$ynl/generated" \
	-o "$out.tmp" "$work/src/tools/testing/selftests/drivers/net/hw/ncdevmem.c" "$ynl/libynl.a"

# Check: static, and it runs (no -f: prints the usage error, exits 1).
if readelf -l "$out.tmp" | grep -q 'Requesting program interpreter'; then
	log "$out.tmp is not static"
	exit 1
fi
rc=0
msg=$("$out.tmp" 2>&1) || rc=$?
if [ "$rc" != 1 ] || ! grep -q 'Missing -f argument' <<<"$msg"; then
	log "self-check failed: ncdevmem without arguments exited $rc: $msg"
	exit 1
fi
mv "$out.tmp" "$out"
echo "$key" >"$out.key"
sha256sum "$work/src/tools/testing/selftests/drivers/net/hw/ncdevmem.c" | cut -d' ' -f1 >"$out.source-sha256"
log "built $out ($(stat -c %s "$out") bytes)"
echo "$out"
