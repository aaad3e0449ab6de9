#!/usr/bin/env bash
# Installs every Debian package microvm's build, tests, guest recipe and
# benchmarks need. Idempotent: does nothing when all are present.
set -euo pipefail
pkgs=(
	build-essential libc6-dev pkg-config patch perl clang libclang-rt-14-dev clang-format
	libseccomp-dev liburing-dev libfdt-dev device-tree-compiler libcjson-dev libcmocka-dev
	linux-source-6.1 flex bison bc libelf-dev libssl-dev cpio gzip xz-utils
	busybox-static e2fsprogs python3 curl qemu-system-x86 iproute2 procps
	gnuplot-nox
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "deps: all ${#pkgs[@]} packages present"; exit 0; }
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
