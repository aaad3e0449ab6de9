#!/usr/bin/env bash
# Installs what `make ARCH=arm64` and the arm64 machine (tests/l1-arm64)
# need, side by side with the amd64 packages of scripts/deps.sh:
# Debian's cross compiler, QEMU for arm64 (user mode for the unit tests,
# system mode for the KVM machine), dtc, and the arm64 -dev packages
# through multiarch (dpkg --add-architecture arm64).
# libfdt-dev is not multiarch-safe in Debian 12 (libfdt-dev:arm64 replaces
# libfdt-dev:amd64), so its arm64 .debs are unpacked into a private
# sysroot instead: SYSROOT (default build/arm64-sysroot), which the
# Makefile adds to the include and library paths. So is clang's arm64
# runtime (compiler-rt: libFuzzer, ASan, UBSan), into SYSROOT/clang with
# the host clang's headers, a resource dir for clang --target=aarch64
# (tests/fuzz's _arm64 targets; libFuzzer is C++, hence libstdc++6:arm64).
# Idempotent: does nothing when everything is present.
# Usage: scripts/deps-arm64.sh [SYSROOT]
set -euo pipefail
sysroot=$(realpath -m "${1:-build/arm64-sysroot}")
host_pkgs=(gcc-aarch64-linux-gnu qemu-user-static qemu-system-arm
	device-tree-compiler)
arm64_pkgs=(libcmocka-dev:arm64 libcjson-dev:arm64 liburing-dev:arm64
	libseccomp-dev:arm64 libstdc++6:arm64)

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() {
	[ $updated = 1 ] || $sudo apt-get update -qq
	updated=1
}
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "deps-arm64: adding the arm64 architecture (multiarch)"
	$sudo dpkg --add-architecture arm64
	apt_update
fi
missing=()
for p in "${host_pkgs[@]}" "${arm64_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps-arm64: installing ${missing[*]}"
	apt_update
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# unpack DIR PKG...: the packages' .debs downloaded and unpacked into DIR
# (made anew), nothing installed.
unpack() {
	local dir=$1 deb # work: global, for the EXIT trap
	shift
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT # also when a download fails
	(cd "$work" && apt-get download -q "$@" 2>/dev/null) ||
		(apt_update && cd "$work" && apt-get download -q "$@")
	rm -rf "$dir"
	mkdir -p "$dir"
	for deb in "$work"/*.deb; do
		dpkg-deb -x "$deb" "$dir"
	done
	rm -rf "$work"
}

# libfdt for arm64, unpacked privately.
if [ ! -f "$sysroot/usr/include/libfdt.h" ] ||
	[ ! -f "$sysroot/usr/lib/aarch64-linux-gnu/libfdt.a" ]; then
	echo "deps-arm64: libfdt-dev:arm64 into $sysroot"
	unpack "$sysroot.tmp" libfdt-dev:arm64 libfdt1:arm64
	rm -rf "$sysroot" && mv "$sysroot.tmp" "$sysroot"
fi

# clang's arm64 runtime, of the host clang's version (scripts/deps.sh
# installs clang 14's), beside that clang's own headers.
rt=$sysroot/clang
if [ ! -f "$rt/lib/linux/libclang_rt.fuzzer-aarch64.a" ]; then
	echo "deps-arm64: libclang-rt-14-dev:arm64 into $rt"
	version=$(dpkg-query -W -f='${Version}' libclang-rt-14-dev:amd64)
	unpack "$rt.tmp" "libclang-rt-14-dev:arm64=$version"
	mkdir "$rt.tmp/dir"
	mv "$rt.tmp"/usr/lib/llvm-14/lib/clang/*/lib "$rt.tmp/dir/lib"
	cp -r "$(clang -print-resource-dir)/include" "$rt.tmp/dir/include"
	ln -s /usr/lib/aarch64-linux-gnu/libstdc++.so.6 \
		"$rt.tmp/dir/lib/libstdc++.so"
	rm -rf "$rt" && mv "$rt.tmp/dir" "$rt" && rm -rf "$rt.tmp"
fi
echo "deps-arm64: ready (libfdt in $sysroot, clang's arm64 runtime in $rt)"
