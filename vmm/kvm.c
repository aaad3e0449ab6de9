// SPDX-License-Identifier: Apache-2.0
/* The KVM VM: /dev/kvm, the VM fd (with the architecture's set-up,
 * arch_vm_init), guest memory slots, interrupt lines and the exit
 * request. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/arch.h"
#include "vmm/vmm.h"

int kvm_open_vm(struct vm *vm)
{
	int ret;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return -errno;
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return -ENOTSUP;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return -errno;
	ret = arch_vm_init(vm);
	if (ret)
		return ret;
	vm->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return vm->exit_efd < 0 ? -errno : 0;
}

int kvm_set_memory(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < gmem_regions(&vm->mem); i++) {
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.flags = vm->mem.dev_dirty ? KVM_MEM_LOG_DIRTY_PAGES :
						     0,
		};
		uint64_t gpa, size, off;

		gmem_region(&vm->mem, i, &gpa, &size, &off);
		r.guest_phys_addr = gpa;
		r.memory_size = size;
		r.userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + off);
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
	}
	return 0;
}

void vm_irq_pulse(void *opaque, unsigned irq)
{
	struct vm *vm = opaque;
	struct kvm_irq_level level = { .irq = arch_irq_line(irq), .level = 1 };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &level) < 0)
		log_warn("KVM_IRQ_LINE %u: %s", irq, strerror(errno));
	level.level = 0;
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &level) < 0)
		log_warn("KVM_IRQ_LINE %u: %s", irq, strerror(errno));
}

void vm_request_exit(struct vm *vm, int code)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->exit_lock);
	if (!vm->exit_requested) {
		vm->exit_requested = true;
		vm->exit_code = code;
	}
	pthread_mutex_unlock(&vm->exit_lock);
	if (write(vm->exit_efd, &one, sizeof(one)) < 0)
		log_err("cannot signal the VMM thread: %s", strerror(errno));
}
