#!/usr/bin/env bash
# kernels.sh [NAME...]
#
# Puts the kernels the VM tests boot into the cache, once:
#
#   ${DEVMEM_CACHE:-$HOME/.cache/devmem-go}/kernels/NAME/bzImage
#   ${DEVMEM_CACHE:-$HOME/.cache/devmem-go}/kernels/NAME/vmlinux    (stock kernels,
#       uncompressed, booted through its PVH entry: faster under TCG)
#   ${DEVMEM_CACHE:-$HOME/.cache/devmem-go}/kernels/NAME/modules/   (stock kernels)
#       *.ko.xz and modules.load, the load order (dependencies first)
#
# NAME is one of:
#   stock-7.2   Debian forky  linux-binary/linux-modules 7.2.12+deb14-cloud-amd64
#   stock-6.12  Debian trixie linux-image 6.12.117+deb13-cloud-amd64
#   devmem-7.2  Linux 7.2.12 with the test-only netdevsim devmem patch, built by
#               internal/vmtest/kernel/build.sh
# Default: stock-6.12 stock-7.2 devmem-7.2.
#
# Packages come from deb.debian.org through a private apt configuration
# (scripts/apt-download.sh); the machine's apt sources are never read or changed.
# A kernel is fetched again only when its package versions or module list change
# (kernels/NAME/VERSION holds the key). The cloud-amd64 flavour is used: it is
# small and has everything the tests need built in (udmabuf, dma-heap system
# heap, NET_DEVMEM, page_pool, netdev genl); only the modules in
# VMTEST_MODULES (default: veth) and their dependencies are kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${DEVMEM_CACHE:-$HOME/.cache/devmem-go}
modules=${VMTEST_MODULES:-veth}

log() { echo "kernels.sh: $*" >&2; }

# extract_vmlinux BZIMAGE OUT: the uncompressed ELF kernel inside a
# zstd-compressed bzImage (Debian's). QEMU boots it through the PVH entry
# point, skipping the decompression that costs ~1 s per boot under TCG.
extract_vmlinux() {
  command -v zstd >/dev/null || { log "zstd not installed: booting the compressed bzImage (~1 s slower per VM)"; return 0; }
  local pos
  for pos in $(LC_ALL=C grep -aboP '\x28\xb5\x2f\xfd' "$1" | cut -d: -f1); do
    if tail -c +$((pos + 1)) "$1" | zstd -dcq >"$2" 2>/dev/null || [ -s "$2" ]; then
      if [ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        return 0
      fi
    fi
  done
  rm -f "$2"
  log "no zstd-compressed ELF kernel found in $1: booting the bzImage"
}

# module_deps FILE prints the depends= list of a .ko/.ko.xz, one per line.
module_deps() {
  case $1 in
    *.xz) xz -dc "$1" ;;
    *.zst) zstd -dc "$1" ;;
    *.gz) gzip -dc "$1" ;;
    *) cat "$1" ;;
  esac | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' '\n' | sed '/^$/d'
}

# stock NAME SUITE KVER DEBVER PKG... : fetch a Debian kernel.
stock() (
  local name=$1 suite=$2 kver=$3 debver=$4; shift 4
  local dir=$cache/kernels/$name
  local key="$suite $kver $debver modules=$modules vmlinux=$(command -v zstd >/dev/null && echo 1 || echo 0)"
  if [ -f "$dir/bzImage" ] && [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$key" ]; then
    log "$name: cached ($kver)"
    return 0
  fi
  log "$name: fetching $kver from Debian $suite"
  mkdir -p "$cache/kernels"
  local tmp
  tmp=$(mktemp -d "$cache/kernels/.$name.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  local pkgs=()
  for p in "$@"; do pkgs+=("$p=$debver"); done
  "$here/apt-download.sh" "$suite" "$tmp/debs" "${pkgs[@]}"
  mkdir -p "$tmp/x" "$tmp/out/modules"
  for deb in "$tmp"/debs/*.deb; do
    # tar fails on patterns a package lacks; what matters is checked below.
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards --no-anchored \
      'vmlinuz*' '*.ko' '*.ko.xz' '*.ko.zst' '*.ko.gz' 2>/dev/null || true
  done
  local vmlinuz
  vmlinuz=$(find "$tmp/x" -type f \( -name vmlinuz -o -name "vmlinuz-$kver" \) | head -1)
  [ -n "$vmlinuz" ] || { log "$name: no vmlinuz in $*"; return 1; }
  cp "$vmlinuz" "$tmp/out/bzImage"
  extract_vmlinux "$tmp/out/bzImage" "$tmp/out/vmlinux"

  # Resolve the wanted modules and their dependencies, dependencies first.
  declare -A path=() done=()
  local f m
  while IFS= read -r f; do
    m=$(basename "$f"); m=${m%%.ko*}; m=${m//-/_}
    path[$m]=$f
  done < <(find "$tmp/x" -type f -name '*.ko*')
  local order=()
  visit() {
    local m=${1//-/_} d
    [ -n "${done[$m]:-}" ] && return 0
    [ -n "${path[$m]:-}" ] || { log "$name: module $m not found"; return 1; }
    done[$m]=1
    for d in $(module_deps "${path[$m]}"); do visit "$d"; done
    order+=("$m")
  }
  for m in $modules; do visit "$m"; done
  : >"$tmp/out/modules/modules.load"
  for m in "${order[@]}"; do
    f=${path[$m]}
    cp "$f" "$tmp/out/modules/"
    basename "$f" >>"$tmp/out/modules/modules.load"
  done
  echo "$key" >"$tmp/out/VERSION"
  rm -rf "$dir"
  mv "$tmp/out" "$dir"
  log "$name: $(du -sh "$dir" | cut -f1) in $dir (modules: ${order[*]:-none})"
)

devmem() {
  local build=$here/../kernel/build.sh
  if [ ! -x "$build" ] && [ ! -f "$build" ]; then
    log "devmem-7.2: $build does not exist (yet); cannot build the devmem test kernel."
    log "devmem-7.2: run the other kernels with VMTEST_KERNELS='stock-6.12 stock-7.2'."
    return 2
  fi
  bash "$build"
  [ -f "$cache/kernels/devmem-7.2/bzImage" ] || {
    log "devmem-7.2: $build finished but $cache/kernels/devmem-7.2/bzImage is missing"
    return 1
  }
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(stock-6.12 stock-7.2 devmem-7.2)
for n in "${names[@]}"; do
  case $n in
    stock-7.2) stock "$n" forky 7.2.12+deb14-cloud-amd64 7.2.12-1 \
                 linux-binary-7.2.12+deb14-cloud-amd64 linux-modules-7.2.12+deb14-cloud-amd64 ;;
    stock-6.12) stock "$n" trixie 6.12.117+deb13-cloud-amd64 6.12.117-1 \
                 linux-image-6.12.117+deb13-cloud-amd64 ;;
    devmem-7.2) devmem ;;
    /*) [ -f "$n" ] || { log "$n: no such kernel image"; exit 1; } ;;
    *) log "unknown kernel '$n' (want stock-7.2, stock-6.12, devmem-7.2 or a path)"; exit 1 ;;
  esac
done
