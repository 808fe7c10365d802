#!/usr/bin/env bash
# build.sh: builds the devmem-7.2 test kernel.
#
# A minimal Linux 7.2.12 (Debian's linux-source-7.2, 7.2.12-1) built from
# tinyconfig plus devmem.config, with netdevsim-devmem/*.patch applied, all
# built in (no modules). The result is
#
#   $DEVMEM_CACHE/kernels/devmem-7.2/bzImage
#
# with DEVMEM_CACHE defaulting to $HOME/.cache/devmem-go. The build is
# cached: the key is the sha256 of the source version, the config fragment,
# the patches and this script. A second run with the same inputs does
# nothing. A changed patch or fragment reuses the build tree in
# $DEVMEM_CACHE/build, so only what changed is recompiled.
#
# Needs dpkg-deb, tar, flock, and: gcc make flex bison bc libelf-dev patch
# xz-utils, which are installed with apt-get from the machine's default
# sources when missing (root only). The first build takes about 5 minutes
# on 2 idle cores; a rebuild after a patch change about 15-80 seconds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts=$(cd "$here/../scripts" && pwd)
cache=${DEVMEM_CACHE:-$HOME/.cache/devmem-go}
export DEVMEM_CACHE=$cache

srcpkg=linux-source-7.2
srcver=7.2.12-1
kver=7.2.12
name=devmem-7.2
fragment=$here/devmem.config
patches=("$here"/netdevsim-devmem/*.patch)

out=$cache/kernels/$name
tree=$cache/build/linux-$kver
jobs=${JOBS:-$(nproc)}

start=$(date +%s)
log() { printf 'build.sh [%3ds] %s\n' "$(($(date +%s) - start))" "$*" >&2; }

key=$( {
	echo "$srcpkg=$srcver"
	cat "$fragment" "${patches[@]}" "${BASH_SOURCE[0]}"
} | sha256sum | cut -d' ' -f1)

if [ -f "$out/bzImage" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
	log "up to date: $out/bzImage (key ${key:0:12})"
	exit 0
fi

mkdir -p "$cache/build" "$out"
exec 9>"$cache/build/.lock"
flock 9

# Build dependencies, only when missing.
need=()
for t in gcc:gcc make:make flex:flex bison:bison bc:bc patch:patch xz:xz-utils; do
	command -v "${t%%:*}" >/dev/null || need+=("${t##*:}")
done
[ -e /usr/include/gelf.h ] || need+=(libelf-dev)
if [ ${#need[@]} -gt 0 ]; then
	log "installing build dependencies: ${need[*]}"
	apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
		{ apt-get update -qq && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi

# Source tarball, from the Debian package.
tarball=$cache/src/usr/src/$srcpkg.tar.xz
if [ ! -f "$tarball" ]; then
	deb=$cache/debs/${srcpkg}_${srcver}_all.deb
	if [ ! -f "$deb" ]; then
		log "downloading $srcpkg=$srcver"
		"$scripts/apt-download.sh" forky "$cache/debs" "$srcpkg=$srcver"
	fi
	log "unpacking $deb"
	mkdir -p "$cache/src"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$cache/src" "./usr/src/$srcpkg.tar.xz"
fi

# Build tree: extracted once, then patched in place. The patches applied
# last are remembered so that they can be reverted before new ones go on.
applied=$tree/.devmem-applied.patch
if [ ! -f "$tree/.devmem-extracted" ]; then
	log "extracting $tarball"
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp"
	tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
	touch "$tree.tmp/.devmem-extracted"
	mv "$tree.tmp" "$tree"
fi
version=$(make -s -C "$tree" kernelversion)
[ "$version" = "$kver" ] || { log "source is $version, want $kver"; exit 1; }

cat "${patches[@]}" >"$cache/build/want.patch"
if ! cmp -s "$cache/build/want.patch" "$applied" 2>/dev/null; then
	if [ -s "$applied" ]; then
		log "reverting the previous patch"
		if ! patch -d "$tree" -p1 -R -s -f <"$applied"; then
			log "revert failed; extracting the source again"
			rm -f "$tree/.devmem-extracted"
			exec "${BASH_SOURCE[0]}" "$@"
		fi
		rm -f "$applied"
	fi
	log "applying ${patches[*]##*/}"
	patch -d "$tree" -p1 -s -N <"$cache/build/want.patch"
	cp "$cache/build/want.patch" "$applied"
fi

# Configuration: tinyconfig + fragment. Rewritten only when it changes, so
# that make sees an unchanged .config on an incremental build.
if ! cmp -s "$fragment" "$tree/.devmem-fragment"; then
	log "configuring"
	make -s -C "$tree" tinyconfig >/dev/null
	(cd "$tree" && KCONFIG_CONFIG=.config scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null)
	make -s -C "$tree" olddefconfig >/dev/null
	missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y' "$fragment" | while read -r l; do
		grep -qx "$l" "$tree/.config" || echo "${l%=y}"
	done)
	if [ -n "$missing" ]; then
		log "config symbols not =y after merge: $(echo $missing)"
		exit 1
	fi
	cp "$fragment" "$tree/.devmem-fragment"
fi

log "make -j$jobs bzImage"
make -C "$tree" -j"$jobs" bzImage >"$cache/build/make.log" 2>&1 || {
	grep -E 'error|Error' "$cache/build/make.log" | head -40 >&2
	log "build failed, log: $cache/build/make.log"
	exit 1
}

cp "$tree/arch/x86/boot/bzImage" "$out/bzImage.tmp"
cp "$tree/.config" "$out/config"
mv "$out/bzImage.tmp" "$out/bzImage"
echo "$key" >"$out/key"
log "built $out/bzImage ($(stat -c %s "$out/bzImage") bytes, key ${key:0:12})"
