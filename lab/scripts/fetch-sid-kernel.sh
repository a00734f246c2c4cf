#!/usr/bin/env bash
# fetch-sid-kernel.sh <cache-dir> [--refresh]
#
# Fetches Debian unstable's newest amd64 kernel image WITHOUT installing it into this system and
# without touching the system's apt sources: a private apt configuration under
# <cache-dir>/apt-sid (its own sources.list for unstable, state, cache and an empty dpkg status)
# downloads the package that carries usr/lib/modules/<KV>/vmlinuz*, `dpkg-deb -x` unpacks it, and
# the ELF vmlinux is decompressed out of the zstd bzImage so QEMU can boot it via PVH.
# A `debootstrap --variant=minbase sid` chroot with linux-headers-<KV> builds modules for it
# (its build tools need a newer glibc and gcc than the host may have).
#
# Writes <cache>/kernels/<KV>/kernel (ELF vmlinux), <cache>/kernels/<KV>/bzImage,
# <cache>/kernels/<KV>/config, <cache>/kernels/<KV>/meta.json and prints KVER=<KV> last.
# Idempotent: a second run finds everything in place and only checks it. The package lists are
# fetched once; pass --refresh to fetch them again (and move to a newer kernel if sid has one).
# Needs root (debootstrap, chroot), apt-get, dpkg-deb, debootstrap, zstd.
set -euo pipefail

die() { echo "fetch-sid-kernel: $*" >&2; exit 2; }
say() { echo "fetch-sid-kernel: $*"; }

[ $# -ge 1 ] || die "usage: fetch-sid-kernel.sh <cache-dir> [--refresh]"
CACHE=$1
REFRESH=0
[ "${2:-}" = "--refresh" ] && REFRESH=1
[ "$(id -u)" = 0 ] || { echo "fetch-sid-kernel: SKIP: needs root (debootstrap/chroot)" >&2; exit 3; }
for t in apt-get apt-cache dpkg-deb debootstrap zstd chroot; do
  command -v "$t" >/dev/null || { echo "fetch-sid-kernel: SKIP: missing tool $t" >&2; exit 3; }
done
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

MIRROR=${DIRTYSCOPE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || { echo "fetch-sid-kernel: SKIP: no $KEYRING (debian-archive-keyring)" >&2; exit 3; }
T0=$(date +%s)

# ---- private apt configuration ---------------------------------------------------------------
A=$CACHE/apt-sid
mkdir -p "$A/etc/apt.conf.d" "$A/etc/preferences.d" "$A/etc/sources.list.d" \
  "$A/state/lists/partial" "$A/cache/archives/partial" "$A/debs"
echo "deb [signed-by=$KEYRING] $MIRROR sid main" >"$A/etc/sources.list"
[ -e "$A/state/status" ] || : >"$A/state/status"
APTOPTS=(
  -o "Dir::Etc=$A/etc" -o "Dir::Etc::sourcelist=$A/etc/sources.list"
  -o "Dir::Etc::sourceparts=$A/etc/sources.list.d" -o "Dir::Etc::preferencesparts=$A/etc/preferences.d"
  -o "Dir::State=$A/state" -o "Dir::State::status=$A/state/status" -o "Dir::Cache=$A/cache"
  -o "Dir::Cache::pkgcache=pkgcache.bin" -o "Dir::Cache::srcpkgcache=srcpkgcache.bin"
  -o "APT::Architecture=amd64" -o "APT::Architectures::=amd64"
  -o "Acquire::Languages=none" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root"
  -o "Acquire::Check-Valid-Until=false" -o "Acquire::Check-Date=false"
)
xapt_get() { apt-get "${APTOPTS[@]}" "$@"; }
xapt_cache() { apt-cache "${APTOPTS[@]}" "$@"; }

if [ $REFRESH = 1 ] || ! ls "$A/state/lists/"*_sid_InRelease >/dev/null 2>&1; then
  say "updating private sid package lists ($MIRROR)"
  xapt_get -q update >"$A/update.log" 2>&1 || { cat "$A/update.log" >&2; die "apt-get update failed"; }
else
  say "sid package lists present (pass --refresh to update)"
fi

# ---- which kernel ------------------------------------------------------------------------------
# linux-image-amd64 -> linux-image-<KV> (on 7.x a metapackage) -> the package with the image.
dep_of() { # first dependency named like $2 in package $1
  xapt_cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^\(Pre-\)\?Depends: //p' | tr ',|' '\n\n' |
    sed 's/^ *//; s/ .*//' | grep -E "$2" | head -n1 || true
}
# Resolved once per fetch of the lists (apt-cache is slow on a loaded machine).
REL=$(ls -t "$A/state/lists/"*_sid_InRelease | head -n1)
if [ -s "$A/image-package" ] && [ "$A/image-package" -nt "$REL" ]; then
  IMG=$(cat "$A/image-package")
else
  IMG=$(dep_of linux-image-amd64 '^linux-image-[0-9]')
  [ -n "$IMG" ] || die "linux-image-amd64 in sid has no linux-image-<KV> dependency"
  echo "$IMG" >"$A/image-package"
fi
KV=${IMG#linux-image-}
say "sid kernel: $KV ($IMG)"
K=$CACHE/kernels/$KV
mkdir -p "$K"
X=$A/x/$KV
if [ ! -s "$K/bzImage" ]; then
  # The package that ships usr/lib/modules/<KV>/vmlinuz*: the image package itself on older
  # kernels; on 7.x linux-image-<KV> is a metapackage depending on linux-binary-<KV> (signed
  # image) and there is linux-binary-unsigned-<KV>; either image boots under QEMU.
  CANDS="$IMG $(dep_of "$IMG" '^linux-binary') linux-binary-unsigned-$KV linux-image-$KV-unsigned"
  rm -rf "$X"; mkdir -p "$X"
  found=
  for p in $CANDS; do
    xapt_cache show --no-all-versions "$p" >/dev/null 2>&1 || continue
    say "downloading $p"
    (cd "$A/debs" && xapt_get -q download "$p" >"$A/download.log" 2>&1) ||
      { cat "$A/download.log" >&2; die "apt-get download $p failed"; }
    deb=$(ls -t "$A/debs/${p}_"*.deb | head -n1)
    dpkg-deb -x "$deb" "$X"
    z=$(ls "$X/usr/lib/modules/$KV/vmlinuz"* "$X/boot/vmlinuz-$KV" 2>/dev/null | head -n1 || true)
    if [ -n "$z" ]; then found=$z; break; fi
    say "$p does not carry the image, trying the next candidate"
  done
  [ -n "$found" ] || die "no package among ($CANDS) carries vmlinuz for $KV"
  cfg=$(ls "$X/usr/lib/modules/$KV/config" "$X/boot/config-$KV" 2>/dev/null | head -n1 || true)
  [ -n "$cfg" ] && cp "$cfg" "$K/config.tmp" && mv "$K/config.tmp" "$K/config"
  cp "$found" "$K/bzImage.tmp" && mv "$K/bzImage.tmp" "$K/bzImage"
  say "image: $(basename "$found") ($(stat -c %s "$K/bzImage") bytes)"
  rm -rf "$X"
else
  say "image present: $K/bzImage"
fi

# ---- ELF vmlinux out of the zstd bzImage --------------------------------------------------------
is_elf() { [ "$(head -c4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }
if ! is_elf "$K/kernel" 2>/dev/null; then
  say "extracting ELF vmlinux (zstd payload of the bzImage)"
  ok=
  # every offset of the zstd frame magic 28 b5 2f fd; the first that decompresses to an ELF wins
  for off in $(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$K/bzImage" | cut -d: -f1); do
    tail -c +$((off + 1)) "$K/bzImage" | zstd -dcq >"$K/kernel.tmp" 2>/dev/null || true
    if is_elf "$K/kernel.tmp"; then ok=$off; break; fi
  done
  [ -n "$ok" ] || { rm -f "$K/kernel.tmp"; die "no zstd-compressed ELF found in $K/bzImage"; }
  mv "$K/kernel.tmp" "$K/kernel"
  say "vmlinux at offset $ok: $(stat -c %s "$K/kernel") bytes"
else
  say "vmlinux present: $K/kernel"
fi

# ---- sid chroot with the headers ----------------------------------------------------------------
R=$CACHE/chroots/sid
KB=/usr/src/linux-headers-$KV
in_chroot() { # /proc is mounted for the command (objtool, dpkg need it) and unmounted after,
  local rc=0 mounted=0 # unless someone else had it mounted
  if ! mountpoint -q "$R/proc"; then mount -t proc proc "$R/proc" && mounted=1; fi
  chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C \
    DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
  if [ $mounted = 1 ]; then umount "$R/proc" 2>/dev/null || umount -l "$R/proc" 2>/dev/null || true; fi
  return $rc
}
if [ ! -x "$R/usr/bin/apt-get" ] || [ ! -e "$R/.dslab-debootstrap-done" ]; then
  say "debootstrap --variant=minbase sid $R (a few minutes)"
  if mountpoint -q "$R/proc" 2>/dev/null; then umount "$R/proc" || umount -l "$R/proc"; fi
  rm -rf "$R"; mkdir -p "$R"
  debootstrap --variant=minbase --keyring="$KEYRING" sid "$R" "$MIRROR" >"$CACHE/chroots/debootstrap.log" 2>&1 ||
    { tail -n 30 "$CACHE/chroots/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/chroots/debootstrap.log)"; }
  touch "$R/.dslab-debootstrap-done"
else
  say "sid chroot present: $R"
fi
if [ ! -e "$R$KB/Makefile" ] || ! in_chroot sh -c 'command -v make >/dev/null'; then
  say "installing linux-headers-$KV, make and the compiler into the chroot"
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  echo "deb $MIRROR sid main" >"$R/etc/apt/sources.list"
  # the mirror may serve a dated snapshot whose Release has expired; the host's apt says the same
  printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\nAcquire::Languages "none";\n' \
    >"$R/etc/apt/apt.conf.d/99dslab"
  in_chroot apt-get -q update >"$CACHE/chroots/apt.log" 2>&1 ||
    { tail -n 30 "$CACHE/chroots/apt.log" >&2; die "apt-get update in the chroot failed"; }
  in_chroot apt-get -q -y --no-install-recommends install "linux-headers-$KV" make >>"$CACHE/chroots/apt.log" 2>&1 ||
    { tail -n 30 "$CACHE/chroots/apt.log" >&2; die "installing linux-headers-$KV in the chroot failed"; }
  in_chroot apt-get clean >/dev/null 2>&1 || true
else
  say "linux-headers-$KV present in the chroot"
fi
[ -e "$R$KB/Makefile" ] || die "no $KB/Makefile in the chroot after install"
# The compiler the headers were built with (CONFIG_CC_VERSION_TEXT, e.g. "x86_64-linux-gnu-gcc-16 ...").
ccv=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$R$KB/.config" 2>/dev/null | head -n1 || true)
if [ -n "$ccv" ] && ! in_chroot sh -c "command -v $ccv >/dev/null"; then
  say "installing the headers' compiler ($ccv) into the chroot"
  in_chroot apt-get -q -y --no-install-recommends install "${ccv#x86_64-linux-gnu-}" >>"$CACHE/chroots/apt.log" 2>&1 ||
    say "warning: the chroot has no $ccv (the headers' compiler)"
fi
[ -s "$K/config" ] || { cp "$R$KB/.config" "$K/config.tmp" && mv "$K/config.tmp" "$K/config"; }

# ---- meta.json --------------------------------------------------------------------------------
printf '{"kver":"%s","kbuild":"%s","chroot":"%s","source":"debian-sid"}\n' "$KV" "$KB" "$R" >"$K/meta.json.tmp"
mv "$K/meta.json.tmp" "$K/meta.json"
say "done in $(($(date +%s) - T0)) s: $K/kernel, $K/meta.json"
echo "KVER=$KV"
