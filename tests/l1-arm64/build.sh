#!/usr/bin/env bash
# Builds the arm64 KVM machine ("L1 arm64"): Debian's arm64 kernel (from
# Debian's archive: apt-get download + dpkg-deb; its Image is uncompressed
# and has KVM, GICv3, PL011 and the 8250 built in) and a small initramfs
# with Debian's arm64 busybox-static, the modules below and tests/l1/init
# (the same init as the x86 L1). It runs under qemu-system-aarch64 -accel
# tcg with EL2 emulated (virtualization=on), so its KVM is real arm64 KVM.
# Cached under ${MICROVM_CACHE:-~/.cache/microvm}/l1-arm64-<key>, keyed by
# this recipe, the init and the kernel package's name.
# Usage: build.sh OUT_DIR   (writes OUT_DIR/Image, OUT_DIR/l1.cpio)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RECIPE=1
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
cache=${MICROVM_CACHE:-$HOME/.cache/microvm}
init=$here/../l1/init
# 9p over virtio-pci for the host's root, overlayfs to write on it, tun
# for taps (KVM itself is built in).
MODULES="9p 9pnet_virtio virtio_pci overlay tun"

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
kernel_package() { # the package linux-image-arm64 stands for today
	apt-cache depends linux-image-arm64:arm64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-arm64\)\(:arm64\)\?$/\1/p' | head -1
}
pkg=$(kernel_package)
if [ -z "$pkg" ]; then # apt's lists are missing or stale
	$sudo apt-get update -qq
	pkg=$(kernel_package)
fi
[ -n "$pkg" ] || { echo "l1-arm64: no linux-image-arm64 (run scripts/deps-arm64.sh: multiarch)" >&2; exit 1; }
kver=${pkg#linux-image-}
key=$( (echo "$RECIPE $pkg $MODULES"; cat "$0" "$init") | sha256sum | cut -c1-16)
cached="$cache/l1-arm64-$key"
mkdir -p "$out"
if [ -s "$cached/Image" ] && [ -s "$cached/l1.cpio" ]; then
	cp "$cached/Image" "$cached/l1.cpio" "$out/"
	echo "l1-arm64: cached $cached"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/l1-arm64-build-$key.XXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt-get download runs as _apt where it can
echo "l1-arm64: $pkg and busybox-static from Debian's arm64 archive"
download() { (cd "$work" && apt-get download -q "$pkg:arm64" busybox-static:arm64); }
download 2>/dev/null || { $sudo apt-get update -qq && download; }
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/pkg"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/bb"
moddir=lib/modules/$kver
busybox depmod -b "$work/pkg" "$kver"

# The initramfs: arm64 busybox, the modules with what they depend on.
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,lower,upper,newroot} "$root/$moddir"
cp "$work/bb/bin/busybox" "$root/bin/busybox"
cp "$init" "$root/init"
chmod 755 "$root/init"
declare -A seen
add_module() { # name or path relative to $moddir, with its dependencies
	local rel=$1 dep
	case "$rel" in
	*.ko) ;;
	*) rel=$(grep -E "/${1//-/[-_]}\.ko:" "$work/pkg/$moddir/modules.dep" | cut -d: -f1)
	   [ -n "$rel" ] || { echo "l1-arm64: no module $1 in $pkg" >&2; exit 1; } ;;
	esac
	[ -z "${seen[$rel]:-}" ] || return 0
	seen[$rel]=1
	for dep in $(grep "^$rel:" "$work/pkg/$moddir/modules.dep" | cut -d: -f2); do
		add_module "$dep"
	done
	mkdir -p "$root/$moddir/$(dirname "$rel")"
	cp "$work/pkg/$moddir/$rel" "$root/$moddir/$rel"
}
for m in $MODULES; do add_module "$m"; done
busybox depmod -b "$root" "$kver"
echo "$MODULES" > "$root/modules"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/l1.cpio"

mkdir -p "$cached.tmp"
cp "$work/pkg/boot/vmlinuz-$kver" "$cached.tmp/Image"
cp "$work/l1.cpio" "$cached.tmp/"
rm -rf "$cached" && mv "$cached.tmp" "$cached"
cp "$cached/Image" "$cached/l1.cpio" "$out/"
echo "l1-arm64: built $cached ($(du -sh "$cached/l1.cpio" | cut -f1) initramfs)"
