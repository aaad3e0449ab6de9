#!/usr/bin/env bash
# Builds the test guest's userland: busybox-static, our static /init, as
# OUT_DIR/initrd.cpio and OUT_DIR/rootfs.ext4 (same content; mke2fs -d,
# no root mounts needed). Usage: build-rootfs.sh OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build-rootfs.sh OUT_DIR}")
busybox=/bin/busybox
dpkg -s busybox-static >/dev/null 2>&1 && [ -x "$busybox" ] ||
	{ echo "build-rootfs: busybox-static missing; run 'make deps'" >&2; exit 1; }

stage="$out/rootfs"
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root,mnt}
cp "$busybox" "$stage/bin/busybox"
ln -s ../init "$stage/sbin/init" # the kernel's default init on a disk root
for app in $("$busybox" --list); do
	[ -e "$stage/bin/$app" ] || ln -s busybox "$stage/bin/$app"
done
gcc -static -Os -Wall -Wextra -Werror -o "$stage/init" "$here/init.c"
for tool in blkbench vsock-echo vsock-cat http-time microvm-agent; do
	gcc -static -O2 -Wall -Wextra -Werror -o "$stage/bin/$tool" "$here/$tool.c"
	strip "$stage/bin/$tool"
done
strip "$stage/init"
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
