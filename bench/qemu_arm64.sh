#!/usr/bin/env bash
# Debian's arm64 QEMU (qemu-system-aarch64) for bench/boot_arm64.py, which
# runs it inside the arm64 KVM machine (tests/l1-arm64). qemu-system-arm
# is not co-installable across architectures, and installing its arm64
# libraries with apt would upgrade their amd64 twins (Multi-Arch: same
# wants one version of both), so nothing is installed: the package and
# the arm64 libraries it needs that the host does not have are fetched
# with `apt-get download` and unpacked with `dpkg-deb -x` into
#   ${MICROVM_CACHE:-~/.cache/microvm}/qemu-arm64-<version>/
# The arm64 loader and libc (libc6:arm64, scripts/deps-arm64.sh) and the
# other arm64 libraries already installed come from the host's root, which
# the arm64 machine shares. Idempotent: a complete cached copy is reused.
# Prints the folder; run QEMU as
#   LD_LIBRARY_PATH=$dir/lib $dir/usr/bin/qemu-system-aarch64 ...
# Usage: bench/qemu_arm64.sh
set -euo pipefail
cache=${MICROVM_CACHE:-$HOME/.cache/microvm}
version() {
	apt-cache show --no-all-versions qemu-system-arm:arm64 2>/dev/null |
		sed -n 's/^Version: //p' | head -1
}
ver=$(version)
if [ -z "$ver" ]; then # apt's lists are missing or stale
	apt-get update -qq
	ver=$(version)
fi
[ -n "$ver" ] || { echo "qemu-arm64: no qemu-system-arm:arm64 (arm64 multiarch: scripts/deps-arm64.sh)" >&2; exit 1; }
dir=$cache/qemu-arm64-${ver//[:+~]/_}
if [ -x "$dir/usr/bin/qemu-system-aarch64" ] && [ -f "$dir/complete" ]; then
	echo "$dir"
	exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/qemu-arm64-build.XXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # apt-get download runs as _apt where it can
cd "$work"
echo "qemu-arm64: qemu-system-arm:arm64 $ver from Debian's archive" >&2
apt-get download -q "qemu-system-arm:arm64=$ver" >&2
deb=$(ls qemu-system-arm_*_arm64.deb)
# Its library dependencies (qemu-system-common holds helpers and
# qemu-system-data is arch-all and installed: neither is needed here),
# and what apt would have to add for them on arm64.
libs=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' |
	sed 's/([^)]*)//; s/|.*//; s/ //g' | grep -v '^qemu-system-' |
	sed 's/$/:arm64/')
missing=$(apt-get install -s --no-install-recommends $libs 2>/dev/null |
	sed -n 's/^Inst \([^ ]*:arm64\) (\([^ ]*\) .*/\1=\2/p')
echo "qemu-arm64: arm64 libraries not on this host:" $missing >&2
[ -z "$missing" ] || apt-get download -q $missing >&2
mkdir -p root
for d in *.deb; do dpkg-deb -x "$d" root; done
# One folder for the loader's search path: the unpacked arm64 libraries.
mkdir -p root/lib
for l in root/usr/lib/aarch64-linux-gnu root/lib/aarch64-linux-gnu; do
	[ ! -d "$l" ] || cp -a "$l"/. root/lib/
done
ls *.deb > root/complete
rm -rf "$dir"
mv root "$dir"
echo "$dir"
