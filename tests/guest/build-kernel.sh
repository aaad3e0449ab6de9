#!/usr/bin/env bash
# Builds the guest kernel: Linux 6.1 from Debian's linux-source-6.1,
# allnoconfig + kernel.fragment + the patches in patches/, as an ELF vmlinux
# and a bzImage. The results are cached under ${MICROVM_CACHE:-~/.cache/microvm}
# keyed by the hash of the fragment and the patches (bump RECIPE when the
# steps below change), so a rebuild on the same machine is a copy.
# Usage: build-kernel.sh OUT_DIR   (writes OUT_DIR/vmlinux, OUT_DIR/bzImage)
# With KERNEL_ARCH=arm64: the arm64 guest (issue 18), cross-built with
# aarch64-linux-gnu-gcc from kernel-arm64.fragment, no patches (they are
# for this host's x86 KVM); writes OUT_DIR/Image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
RECIPE=2
out=$(realpath -m "${1:?usage: build-kernel.sh OUT_DIR}")
src_tar=/usr/src/linux-source-6.1.tar.xz
cache=${MICROVM_CACHE:-$HOME/.cache/microvm}

case ${KERNEL_ARCH:-x86_64} in
x86_64)
	fragment=$here/kernel.fragment patches=("$here"/patches/*.patch)
	targets=(vmlinux bzImage)
	built=(vmlinux arch/x86/boot/bzImage) name=kernel ;;
arm64)
	fragment=$here/kernel-arm64.fragment patches=()
	export ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- # make and Kconfig
	targets=(Image)
	built=(arch/arm64/boot/Image) name=kernel-arm64 ;;
*) echo "build-kernel: KERNEL_ARCH is x86_64 or arm64" >&2; exit 2 ;;
esac
results=("${built[@]##*/}")
[ -r "$src_tar" ] || { echo "build-kernel: $src_tar missing; run 'make deps'" >&2; exit 1; }
key=$( (echo "$RECIPE"; cat "$fragment" "${patches[@]}") |
	sha256sum | cut -c1-16)
cached="$cache/$name-$key"
mkdir -p "$out"
have_all() { for f in "${results[@]}"; do [ -s "$cached/$f" ] || return 1; done; }
if have_all; then
	for f in "${results[@]}"; do cp "$cached/$f" "$out/"; done
	echo "build-kernel: cached $cached"
	exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build-$key.XXXX")
trap 'rm -rf "$work"' EXIT
echo "build-kernel: building in $work (a few minutes)"
tar -xJf "$src_tar" -C "$work"
cd "$work"/linux-source-6.1
for p in "${patches[@]}"; do
	patch -p1 --quiet --forward < "$p"
done
make -s allnoconfig
scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
make -s olddefconfig
# Every line of the fragment must have survived Kconfig's dependency rules.
missing=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*) grep -qx "$line" .config || { echo "build-kernel: not applied: $line" >&2; missing=1; } ;;
	"# CONFIG_"*) sym=${line#\# }; sym=${sym%% *}
		! grep -q "^$sym=" .config || { echo "build-kernel: still set: $sym" >&2; missing=1; } ;;
	esac
done < "$fragment"
[ "$missing" = 0 ] || exit 1
make -s -j"$(nproc)" "${targets[@]}"
mkdir -p "$cached.tmp"
cp "${built[@]}" .config "$cached.tmp/"
rm -rf "$cached" && mv "$cached.tmp" "$cached"
for f in "${results[@]}"; do cp "$cached/$f" "$out/"; done
echo "build-kernel: built $cached"
