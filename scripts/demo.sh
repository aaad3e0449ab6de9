#!/usr/bin/env bash
# Boots the test guest once and shows its console and the boot time.
# Run through `make demo` (which first installs deps and builds everything).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
guest="$root/build/guest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

args="$(cat "$root/tests/guest/cmdline") -- sh -c \"echo; echo hello from a microVM; uname -sr; echo vCPUs: \$(nproc); free -m\""
cat > "$work/vm.json" <<JSON
{
  "boot-source": {
    "kernel_image_path": "$guest/vmlinux",
    "initrd_path": "$guest/initrd.cpio",
    "boot_args": $(printf '%s' "$args" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
  },
  "machine-config": { "vcpu_count": 2, "mem_size_mib": 128 }
}
JSON
echo "== config ($work/vm.json):"
cat "$work/vm.json"
echo "== booting: build/microvm --config-file vm.json --no-api --boot-timer"
echo "   (this machine's KVM is nested and emulates guest kernel code:"
echo "    expect ~12 s here, tens of ms on bare-metal KVM)"
start=$(date +%s.%N)
rc=0
"$root/build/microvm" --config-file "$work/vm.json" --no-api --boot-timer \
	2> >(tee "$work/stderr" >&2) || rc=$?
end=$(date +%s.%N)
sleep 0.1
echo
echo "== microvm exited with $rc after $(python3 -c "print(f'{$end - $start:.2f}')") s"
grep -o 'Guest-boot-time = .*' "$work/stderr" | sed 's/^/== /' || true
exit "$rc"
