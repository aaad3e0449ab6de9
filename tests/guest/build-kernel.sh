#!/usr/bin/env bash
# Builds the guest kernel: Linux 6.1 from Debian's linux-source-6.1,
# allnoconfig + kernel.fragment + the patches in patches/, as an ELF vmlinux
# and a bzImage. The results are cached under ${MICROVM_CACHE:-~/.cache/microvm}
# keyed by the hash of the fragment and the patches (bump RECIPE when the
# steps below change), so a rebuild on the same machine is a copy.
# Usage: build-kernel.sh OUT_DIR   (writes OUT_DIR/vmlinux, OUT_DIR/bzImage)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RECIPE=2
out=$(realpath -m "${1:?usage: build-kernel.sh OUT_DIR}")
src_tar=/usr/src/linux-source-6.1.tar.xz
cache=${MICROVM_CACHE:-$HOME/.cache/microvm}

[ -r "$src_tar" ] || { echo "build-kernel: $src_tar missing; run 'make deps'" >&2; exit 1; }
key=$( (echo "$RECIPE"; cat "$here/kernel.fragment" "$here"/patches/*.patch) |
	sha256sum | cut -c1-16)
cached="$cache/kernel-$key"
mkdir -p "$out"
if [ -s "$cached/vmlinux" ] && [ -s "$cached/bzImage" ]; then
	cp "$cached/vmlinux" "$cached/bzImage" "$out/"
	echo "build-kernel: cached $cached"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build-$key.XXXX")
trap 'rm -rf "$work"' EXIT
echo "build-kernel: building in $work (a few minutes)"
tar -xJf "$src_tar" -C "$work"
cd "$work"/linux-source-6.1
for p in "$here"/patches/*.patch; do
	patch -p1 --quiet --forward < "$p"
done
make -s allnoconfig
scripts/kconfig/merge_config.sh -m .config "$here/kernel.fragment" >/dev/null
make -s olddefconfig
# Every line of the fragment must have survived Kconfig's dependency rules.
missing=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*) grep -qx "$line" .config || { echo "build-kernel: not applied: $line" >&2; missing=1; } ;;
	"# CONFIG_"*) sym=${line#\# }; sym=${sym%% *}
		! grep -q "^$sym=" .config || { echo "build-kernel: still set: $sym" >&2; missing=1; } ;;
	esac
done < "$here/kernel.fragment"
[ "$missing" = 0 ] || exit 1
make -s -j"$(nproc)" vmlinux bzImage
mkdir -p "$cached.tmp"
cp vmlinux arch/x86/boot/bzImage .config "$cached.tmp/"
rm -rf "$cached" && mv "$cached.tmp" "$cached"
cp "$cached/vmlinux" "$cached/bzImage" "$out/"
echo "build-kernel: built $cached"
