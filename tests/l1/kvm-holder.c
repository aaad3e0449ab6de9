// SPDX-License-Identifier: Apache-2.0
// L1's KVM holder (started by tests/l1/init, never stopped): one VM with
// an in-kernel irqchip and one vCPU that never runs, so its local APIC
// stays software-disabled for L1's whole life. KVM counts such APICs in
// the static key apic_sw_disabled and patches L1's kernel text (with
// text_poke_bp, a second after the count changes between zero and
// non-zero) whenever it does; under QEMU's MTTCG that patching
// occasionally livelocked both of L1's CPUs in the int3 handler
// (docs/kvm-here.md). Held above zero, the key never flips while tests
// create and destroy their VMs.
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("kvm-holder: /dev/kvm");
		return 1;
	}
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    ioctl(vm, KVM_CREATE_VCPU, 0) < 0) {
		perror("kvm-holder: VM with an irqchip and a vCPU");
		return 1;
	}
	for (;;)
		pause();
}
