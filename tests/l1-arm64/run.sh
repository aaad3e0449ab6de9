#!/usr/bin/env bash
# Runs a command inside the arm64 KVM machine (tests/l1-arm64/build.sh):
# Debian's arm64 kernel under qemu-system-aarch64 -accel tcg with EL2
# emulated, so /dev/kvm there is real arm64 KVM (GICv3, or GICv2 with
# L1_GIC=2; PSCI, the arch timer). Everything else is tests/l1/run.sh's: the host's root shared
# read-only, the command's exit status returned, and the same lock file,
# so only one emulated machine (x86 or arm64) runs at a time.
# Env: L1_MEM_MIB (default 2048), L1_CPUS (default 2),
#      L1_GIC (3 or 2; default 3), L1_TIMEOUT, L1_LOCK as for
#      tests/l1/run.sh.
# Usage: tests/l1-arm64/run.sh COMMAND [ARG...]
L1_ARCH=arm64 exec "$(dirname "$0")/../l1/run.sh" "$@"
