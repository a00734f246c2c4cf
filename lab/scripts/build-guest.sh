#!/usr/bin/env bash
# Build the lab guest for one kernel: the test driver module(s), the static agent and the
# initramfs, all in the lab cache (never in the git tree). Idempotent: a second run with
# unchanged sources only checks hashes.
#
# usage: lab/scripts/build-guest.sh <kver> <kbuild-dir> <cache-dir> [<chroot-dir>]
#   kbuild-dir  the kernel's module build dir (e.g. /usr/src/linux-headers-<kver>); with a
#               chroot, the path inside the chroot
#   chroot-dir  build the module inside this chroot (its toolchain matches the kernel)
# The initramfs also carries the kernel's virtio-console modules when they can be found
# (<cache>/kernels/<kver>/modules, /lib/modules/<kver>, /usr/lib/modules/<kver>, or the chroot's
# /usr/lib/modules/<kver>, each a modules tree with modules.dep): the fast data channel.
# Products (see lab/PROTOCOL.md): <cache>/guest/agent, <cache>/guest/<kver>/{dslab.ko,
# dslab_fb.ko?,initramfs.cpio.gz,build.json}. <cache>/guest/fbtest, if present, goes in as
# /bin/fbtest.
#
# build.json's srcHash: sha256 of the concatenation, over every regular file under
# lab/agent, lab/guest and lab/module whose name does not end in .md, plus
# lab/scripts/build-guest.sh, sorted by repo-relative path (bytewise), of
# "<repo-relative path>\n<sha256 hex of the file>\n".
set -euo pipefail

say() { echo "build-guest: $*"; }
die() {
	echo "build-guest: $*" >&2
	exit 2
}

[ $# -ge 3 ] && [ $# -le 4 ] || die "usage: build-guest.sh <kver> <kbuild-dir> <cache-dir> [<chroot-dir>]"
kver=$1
kbuild=$2
cache=$3
chroot_dir=${4:-}

lab=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo=$(cd "$lab/.." && pwd)
case $kver in *[!A-Za-z0-9._+-]* | "") die "bad kernel version: $kver" ;; esac
if [ -n "$chroot_dir" ]; then
	[ -d "$chroot_dir" ] || die "chroot dir not found: $chroot_dir"
	chroot_dir=$(cd "$chroot_dir" && pwd)
	[ -f "$chroot_dir$kbuild/Makefile" ] || die "no kernel build dir in the chroot: $chroot_dir$kbuild"
else
	[ -f "$kbuild/Makefile" ] || die "no kernel build dir: $kbuild"
fi
for tool in gcc make cpio gzip sha256sum; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found (install busybox-static)"
busybox=$(readlink -f "$busybox")
if command -v file >/dev/null && ! file "$busybox" | grep -q 'statically linked'; then
	die "$busybox is not static (install busybox-static)"
fi

mkdir -p "$cache/guest/$kver"
cache=$(cd "$cache" && pwd)
gdir=$cache/guest/$kver

src_hash() {
	(
		cd "$repo"
		{
			find lab/agent lab/guest lab/module -type f ! -name '*.md' 2>/dev/null
			echo lab/scripts/build-guest.sh
		} | LC_ALL=C sort | while IFS= read -r f; do
			printf '%s\n%s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
		done | sha256sum | cut -d' ' -f1
	)
}
file_hash() { if [ -f "$1" ]; then sha256sum <"$1" | cut -d' ' -f1; else echo none; fi; }

srchash=$(src_hash)
fbtest_hash=$(file_hash "$cache/guest/fbtest")

# ---- agent (kernel-independent) ----
agent_hash=$(cat "$lab/agent/agent.c" "$lab/module/dslab_uapi.h" | sha256sum | cut -d' ' -f1)
if [ -x "$cache/guest/agent" ] && [ "$(cat "$cache/guest/agent.sha256" 2>/dev/null)" = "$agent_hash" ]; then
	say "agent: up to date"
else
	say "agent: compiling"
	gcc -static -O2 -Wall -Wextra -Werror -pthread -I "$lab/module" -o "$cache/guest/agent.tmp" "$lab/agent/agent.c"
	mv -f "$cache/guest/agent.tmp" "$cache/guest/agent"
	echo "$agent_hash" >"$cache/guest/agent.sha256.tmp"
	mv -f "$cache/guest/agent.sha256.tmp" "$cache/guest/agent.sha256"
fi

if [ -f "$gdir/build.json" ] && [ -f "$gdir/initramfs.cpio.gz" ] && [ -f "$gdir/dslab.ko" ] &&
	grep -q "\"srcHash\": \"$srchash\"" "$gdir/build.json" &&
	grep -q "\"fbtestHash\": \"$fbtest_hash\"" "$gdir/build.json" &&
	grep -q "\"agentHash\": \"$agent_hash\"" "$gdir/build.json"; then
	say "$kver: up to date"
	exit 0
fi

# ---- module(s) ----
if [ -n "$chroot_dir" ]; then
	# one work dir per cache, so two caches sharing a chroot never build in the same place
	inside=/var/tmp/dslab-build/$(printf '%s' "$cache" | cksum | cut -d' ' -f1)/$kver/module
	work=$chroot_dir$inside
else
	inside=$gdir/build/module
	work=$inside
fi
rm -rf "$work"
mkdir -p "$work"
cp -p "$lab"/module/*.c "$lab"/module/*.h "$lab/module/Kbuild" "$lab/module/Makefile" "$work"/
log=$gdir/build.log
: >"$log"

proc_mounted=0
cleanup() {
	if [ "$proc_mounted" = 1 ]; then
		umount "$chroot_dir/proc" 2>/dev/null || umount -l "$chroot_dir/proc" 2>/dev/null || true
	fi
}
trap cleanup EXIT

kmake() {
	if [ -n "$chroot_dir" ]; then
		chroot "$chroot_dir" make -C "$kbuild" M="$inside" "$@" modules
	else
		make -C "$kbuild" M="$inside" "$@" modules
	fi
}
if [ -n "$chroot_dir" ] && ! mountpoint -q "$chroot_dir/proc"; then
	mkdir -p "$chroot_dir/proc"
	mount -t proc proc "$chroot_dir/proc"
	proc_mounted=1
fi

say "$kver: building dslab.ko${chroot_dir:+ (in chroot $chroot_dir)}"
if ! kmake >>"$log" 2>&1; then
	tail -n 30 "$log" >&2
	die "$kver: module build failed (log: $log)"
fi
if grep -q 'warning:' "$log"; then
	grep 'warning:' "$log" >&2
	die "$kver: module build produced warnings (log: $log)"
fi
cp -f "$work/dslab.ko" "$gdir/dslab.ko.tmp"
mv -f "$gdir/dslab.ko.tmp" "$gdir/dslab.ko"
rm -f "$gdir/dslab_fb.ko"
fb=false
if [ -f "$work/dslab_fb.c" ]; then
	say "$kver: building dslab_fb.ko"
	if kmake DSLAB_FB=1 >>"$log" 2>&1; then
		if [ -f "$work/dslab_fb.ko" ]; then
			cp -f "$work/dslab_fb.ko" "$gdir/dslab_fb.ko"
			fb=true
		else
			say "$kver: kernel has no CONFIG_FB_DEFERRED_IO: no dslab_fb.ko"
		fi
	else
		tail -n 20 "$log" >&2
		say "WARNING $kver: dslab_fb.ko failed to build (log: $log); the guest will say fb=0"
	fi
fi
cleanup
proc_mounted=0

# ---- initramfs ----
say "$kver: assembling initramfs"
root=$gdir/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp}
cp "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while IFS= read -r applet; do
	if [ -n "$applet" ] && [ ! -e "$root/$applet" ]; then
		ln -s /bin/busybox "$root/$applet"
	fi
done
cp "$lab/guest/init" "$root/init"
chmod 0755 "$root/init"
cp "$cache/guest/agent" "$root/agent"
cp "$gdir/dslab.ko" "$root/dslab.ko"
if [ "$fb" = true ]; then
	cp "$gdir/dslab_fb.ko" "$root/dslab_fb.ko"
fi
if [ -f "$cache/guest/fbtest" ]; then
	cp "$cache/guest/fbtest" "$root/bin/fbtest"
	chmod 0755 "$root/bin/fbtest"
fi
if [ "$(id -u)" = 0 ]; then
	mknod -m 0600 "$root/dev/console" c 5 1
fi
# virtio-console modules (the fast data channel; lab/PROTOCOL.md) from the kernel's modules tree
moddir=""
for cand in "$cache/kernels/$kver/modules" "/lib/modules/$kver" "/usr/lib/modules/$kver" \
	${chroot_dir:+"$chroot_dir/usr/lib/modules/$kver"}; do
	if [ -f "$cand/modules.dep" ]; then
		moddir=$cand
		break
	fi
done
virtio=none
if [ -n "$moddir" ]; then
	mkdir -p "$root/lib/dslab"
	: >"$root/lib/dslab/order"
	# modules.dep lists a module's dependencies so that the last one loads first
	add_mod() {
		local name=$1 line path deps d i
		line=$(grep -E "(^|/)$name\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -n1 || true)
		[ -n "$line" ] || return 0
		path=${line%%:*}
		grep -qx "$name.ko" "$root/lib/dslab/order" && return 0
		read -ra deps <<<"${line#*:}"
		for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
			d=${deps[i]##*/}
			add_mod "${d%%.ko*}"
		done
		grep -qx "$name.ko" "$root/lib/dslab/order" && return 0
		case $path in
		*.ko) cp "$moddir/$path" "$root/lib/dslab/$name.ko" ;;
		*.ko.xz) xz -dc "$moddir/$path" >"$root/lib/dslab/$name.ko" ;;
		*.ko.zst) zstd -qdc "$moddir/$path" >"$root/lib/dslab/$name.ko" ;;
		*.ko.gz) gzip -dc "$moddir/$path" >"$root/lib/dslab/$name.ko" ;;
		*) return 0 ;;
		esac
		echo "$name.ko" >>"$root/lib/dslab/order"
	}
	add_mod virtio_pci
	add_mod virtio_console
	if [ -s "$root/lib/dslab/order" ]; then
		virtio=modules
	elif grep -q 'virtio_console' "$moddir/modules.builtin" 2>/dev/null; then
		virtio=builtin
	fi
	[ -s "$root/lib/dslab/order" ] || rm -rf "$root/lib/dslab"
fi
if [ "$virtio" = none ]; then
	for cfg in "$cache/kernels/$kver/config" "/boot/config-$kver"; do
		if [ -f "$cfg" ] && grep -qx 'CONFIG_VIRTIO_CONSOLE=y' "$cfg" && grep -qx 'CONFIG_VIRTIO_PCI=y' "$cfg"; then
			virtio=builtin
			break
		fi
	done
fi
say "$kver: virtio-console: $virtio${moddir:+ ($moddir)}"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -6 >"$gdir/initramfs.cpio.gz.tmp"
mv -f "$gdir/initramfs.cpio.gz.tmp" "$gdir/initramfs.cpio.gz"
rm -rf "$root"

cat >"$gdir/build.json.tmp" <<EOF
{
  "kver": "$kver",
  "srcHash": "$srchash",
  "agentHash": "$agent_hash",
  "fbtestHash": "$fbtest_hash",
  "fb": $fb,
  "virtio": "$virtio",
  "chroot": $([ -n "$chroot_dir" ] && echo "\"$chroot_dir\"" || echo null),
  "builtAt": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
mv -f "$gdir/build.json.tmp" "$gdir/build.json"
say "$kver: ready ($gdir/initramfs.cpio.gz)"
