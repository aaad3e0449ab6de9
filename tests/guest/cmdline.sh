#!/bin/sh
# Prints the test guest's kernel command line for this machine's KVM:
# tests/guest/cmdline everywhere, plus tests/guest/cmdline-kvm-pvm where
# /dev/kvm is the nested kvm_pvm (its instruction emulator needs those
# words; on a KVM like the one on real hardware the guest needs none).
here=$(dirname "$0")
if [ -d /sys/module/kvm_pvm ]; then
	echo "$(cat "$here/cmdline") $(cat "$here/cmdline-kvm-pvm")"
else
	cat "$here/cmdline"
fi
