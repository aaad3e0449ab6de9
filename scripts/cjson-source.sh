#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Prints the folder holding cJSON's source (cJSON.c), for `make static`.
#
# Why: Debian ships libcjson as a shared library only (libcjson-dev has no
# libcjson.a), and a statically linked microvm is what runs under
# Firecracker's own jailer, which copies only the exec file into the jail.
# So the static build compiles cJSON.c itself, from Debian's own source
# package of the libcjson-dev installed here: the same version as the
# header microvm compiles against, with Debian's (security) patches
# applied, fetched through apt from Debian's archive (its Sources index is
# signed by the archive key, and apt checks the files' hashes against it).
# No deb-src line is needed in the system's sources: a private one under
# the cache is used. Fetched once into ~/.cache/microvm; offline after.
set -eu
version=$(dpkg-query -W -f='${Version}\n' libcjson-dev | head -n 1)
cache=${MICROVM_CACHE:-$HOME/.cache/microvm}/cjson-$version
if [ -f "$cache/src/cJSON.c" ]; then
	echo "$cache/src"
	exit 0
fi
work=$cache.tmp
rm -rf "$work"
mkdir -p "$work/lists/partial"
. /etc/os-release
cat > "$work/sources.list" <<LIST
deb-src http://deb.debian.org/debian $VERSION_CODENAME main
deb-src http://deb.debian.org/debian $VERSION_CODENAME-updates main
deb-src http://deb.debian.org/debian-security $VERSION_CODENAME-security main
LIST
apt() {
	apt-get -q -o Dir::Etc::SourceList="$work/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$work/lists" \
		-o APT::Sandbox::User=root "$@" >&2
}
apt update
(cd "$work" && apt source --download-only "cjson=$version")
(cd "$work" && dpkg-source --no-check -x cjson_*.dsc src >&2)
mkdir -p "$cache"
mv "$work/src" "$cache/src"
rm -rf "$work"
echo "$cache/src"
