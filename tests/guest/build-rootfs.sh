#!/usr/bin/env bash
# Builds the test guest's userland: busybox-static, our static /init, as
# OUT_DIR/initrd.cpio and OUT_DIR/rootfs.ext4 (same content; mke2fs -d,
# no root mounts needed). Usage: build-rootfs.sh OUT_DIR
# With ROOTFS_ARCH=arm64: the arm64 guest's (issue 18), its programs
# cross-built with aarch64-linux-gnu-gcc and Debian's arm64 busybox-static
# (apt-get download, unpacked; cached in ${MICROVM_CACHE:-~/.cache/microvm}).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build-rootfs.sh OUT_DIR}")
cache=${MICROVM_CACHE:-$HOME/.cache/microvm}

# The arm64 busybox-static from Debian's archive: its path on stdout.
arm64_busybox() {
	local dir work
	dir=$cache/busybox-arm64-$(apt-cache show --no-all-versions \
		busybox-static:arm64 | sed -n 's/^Version: //p' | tr : _)
	if [ ! -x "$dir/bin/busybox" ]; then
		work=$(mktemp -d "$cache/busybox-arm64.XXXX")
		chmod 755 "$work" # apt-get download runs as _apt where it can
		(cd "$work" && apt-get download -q busybox-static:arm64) >&2
		dpkg-deb -x "$work"/busybox-static_*.deb "$work/x"
		rm -rf "$dir" && mv "$work/x" "$dir" && rm -rf "$work"
	fi
	echo "$dir/bin/busybox"
}

case ${ROOTFS_ARCH:-x86_64} in
x86_64)
	busybox=/bin/busybox cc=gcc strip=strip run=""
	dpkg -s busybox-static >/dev/null 2>&1 && [ -x "$busybox" ] ||
		{ echo "build-rootfs: busybox-static missing; run 'make deps'" >&2; exit 1; } ;;
arm64)
	mkdir -p "$cache"
	busybox=$(arm64_busybox)
	cc=aarch64-linux-gnu-gcc strip=aarch64-linux-gnu-strip
	run=qemu-aarch64-static ;; # for its applet list
*) echo "build-rootfs: ROOTFS_ARCH is x86_64 or arm64" >&2; exit 2 ;;
esac

stage="$out/rootfs"
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,mnt}
cp "$busybox" "$stage/bin/busybox"
ln -s ../init "$stage/sbin/init" # the kernel's default init on a disk root
for app in $($run "$busybox" --list); do
	[ -e "$stage/bin/$app" ] || ln -s busybox "$stage/bin/$app"
done
$cc -static -Os -Wall -Wextra -Werror -o "$stage/init" "$here/init.c"
for tool in blkbench vsock-echo vsock-cat http-time microvm-agent; do
	$cc -static -O2 -Wall -Wextra -Werror -o "$stage/bin/$tool" "$here/$tool.c"
	$strip "$stage/bin/$tool"
done
$strip "$stage/init"
mkdir -p "$out"
# Uncompressed on purpose: here the guest kernel runs under the nested
# hypervisor's instruction emulator and gunzipping this 1.3 MB initrd takes
# it ~31 s of a 39 s boot (docs/kvm-here.md).
(cd "$stage" && find . -print0 | sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) > "$out/initrd.cpio.tmp"
mv "$out/initrd.cpio.tmp" "$out/initrd.cpio"
rm -f "$out/rootfs.ext4"
mke2fs -q -t ext4 -d "$stage" -L microvm-root "$out/rootfs.ext4" 64M
echo "build-rootfs: $out/initrd.cpio $out/rootfs.ext4"
