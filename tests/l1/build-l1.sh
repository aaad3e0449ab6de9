#!/usr/bin/env bash
# Builds the L1 of the faithful-KVM test run: Debian's amd64 kernel (from
# Debian's archive, unpacked with apt-get download + dpkg-deb) and a small
# initramfs (busybox-static, the kernel modules L1 needs, tests/l1/init).
# L1 runs under qemu-system-x86_64 -accel tcg with SVM emulated, so its
# kvm_amd is a KVM that behaves like the one on real hardware.
# Cached under ${MICROVM_CACHE:-~/.cache/microvm}/l1-<key>, keyed by this
# recipe, tests/l1/init and the kernel package's name.
# Usage: build-l1.sh OUT_DIR   (writes OUT_DIR/vmlinuz, OUT_DIR/l1.cpio)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RECIPE=1
out=$(realpath -m "${1:?usage: build-l1.sh OUT_DIR}")
cache=${MICROVM_CACHE:-$HOME/.cache/microvm}
# What L1 loads: KVM for AMD, 9p over virtio-pci for the host's root,
# overlayfs to write on it, tun for the tests' taps.
MODULES="kvm-amd 9p 9pnet_virtio virtio_pci overlay tun"

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
kernel_package() { # the package linux-image-amd64 stands for today
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1
}
pkg=$(kernel_package)
if [ -z "$pkg" ]; then # apt's lists are missing or stale
	$sudo apt-get update -qq
	pkg=$(kernel_package)
fi
[ -n "$pkg" ] || { echo "build-l1: Debian's archive has no linux-image-amd64" >&2; exit 1; }
kver=${pkg#linux-image-}
key=$( (echo "$RECIPE $pkg $MODULES"; cat "$here/init" "$here/kvm-holder.c") |
	sha256sum | cut -c1-16)
cached="$cache/l1-$key"
mkdir -p "$out"
if [ -s "$cached/vmlinuz" ] && [ -s "$cached/l1.cpio" ]; then
	cp "$cached/vmlinuz" "$cached/l1.cpio" "$out/"
	echo "build-l1: cached $cached"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/l1-build-$key.XXXX")
trap 'rm -rf "$work"' EXIT
echo "build-l1: $pkg from Debian's archive"
(cd "$work" && apt-get download -q "$pkg" 2>/dev/null) ||
	(cd "$work" && $sudo apt-get update -qq && apt-get download -q "$pkg")
deb=$(ls "$work"/"$pkg"_*.deb)
dpkg-deb -x "$deb" "$work/pkg"
moddir=lib/modules/$kver
busybox depmod -b "$work/pkg" "$kver"

# The initramfs: busybox, the modules with everything they depend on.
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,lower,upper,newroot} "$root/$moddir"
cp /bin/busybox "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 755 "$root/init"
gcc -static -O2 -Wall -o "$root/bin/kvm-holder" "$here/kvm-holder.c"
declare -A seen
add_module() { # name or path relative to $moddir, with its dependencies
	local rel=$1 dep
	case "$rel" in
	*.ko) ;;
	*) rel=$(grep -E "/${1//-/[-_]}\.ko:" "$work/pkg/$moddir/modules.dep" | cut -d: -f1)
	   [ -n "$rel" ] || { echo "build-l1: no module $1 in $pkg" >&2; exit 1; } ;;
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
cp "$work/pkg/boot/vmlinuz-$kver" "$cached.tmp/vmlinuz"
cp "$work/l1.cpio" "$cached.tmp/"
rm -rf "$cached" && mv "$cached.tmp" "$cached"
cp "$cached/vmlinuz" "$cached/l1.cpio" "$out/"
echo "build-l1: built $cached ($(du -sh "$cached/l1.cpio" | cut -f1) initramfs)"
