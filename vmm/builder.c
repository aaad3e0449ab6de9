// SPDX-License-Identifier: Apache-2.0
/* The builder: assembles a VM from its configuration in one readable
 * order, then runs it. Each step logs what failed and what to fix; the
 * caller unwinds everything with vm_destroy(). */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "api/api.h"
#include "vmm/vmm.h"

static struct termios saved_termios;
static bool termios_saved;

static void restore_terminal(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

/* Console input: raw bytes from a terminal go to the guest's UART. */
static void on_stdin(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint8_t buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	(void)events;
	if (n <= 0) {
		evl_remove(&vm->loop, STDIN_FILENO);
		return;
	}
	serial_feed(vm->serial, buf, (size_t)n);
}

static void on_exit_request(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t count;

	(void)events;
	if (read(vm->exit_efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("exit eventfd: %s", strerror(errno));
	evl_stop(&vm->loop);
}

static void on_guest_reset(void *opaque)
{
	vm_request_exit(opaque, EXIT_OK);
}

static int setup_stdin(struct vm *vm)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_termios))
		return 0;
	termios_saved = true;
	atexit(restore_terminal);
	raw = saved_termios;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST | ONLCR; /* keep our own log lines readable */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw))
		return -errno;
	return evl_add(&vm->loop, STDIN_FILENO, on_stdin, vm);
}

static int load_kernel_file(struct vm *vm, const char *path,
			    struct kernel_image *k)
{
	uint8_t *img;
	size_t size;
	int ret = read_file_capped(path, vm->mem.size, &img, &size);

	if (ret == -EFBIG) {
		log_err("kernel %s is larger than guest memory; raise mem_size_mib",
			path);
		return ret;
	}
	if (ret) {
		log_err("cannot read kernel %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = load_kernel(&vm->mem, img, size, k);
	free(img);
	if (ret == -ENOEXEC)
		log_err("kernel %s is not an x86_64 ELF vmlinux or a bzImage (boot protocol >= 2.12), or is malformed",
			path);
	else if (ret)
		log_err("kernel %s does not fit in %llu MiB of guest memory; raise mem_size_mib",
			path, (unsigned long long)(vm->mem.size >> 20));
	return ret;
}

static int load_initrd_file(struct vm *vm, const char *path,
			    const struct kernel_image *k, struct boot_layout *b)
{
	uint64_t max = k->bzimage ? k->initrd_addr_max : UINT64_MAX;
	uint8_t *img;
	size_t size;
	int ret = read_file_capped(path, vm->mem.size, &img, &size);

	if (ret) {
		log_err("cannot read initrd %s: %s", path,
			ret == -EFBIG ? "larger than guest memory" :
					strerror(-ret));
		return ret;
	}
	ret = initrd_place(&vm->mem, k->end, max, size, &b->initrd_addr);
	if (!ret)
		ret = gmem_write(&vm->mem, b->initrd_addr, img, size);
	if (ret)
		log_err("initrd %s (%zu bytes) does not fit in guest memory above the kernel; raise mem_size_mib",
			path, size);
	b->initrd_size = size;
	free(img);
	return ret;
}

static int write_boot_info(struct vm *vm, const struct vm_boot_config *cfg,
			   const struct kernel_image *k, struct boot_layout *b)
{
	static char cmdline[BOOT_CMDLINE_MAX];
	int ret = cmdline_build(cmdline, sizeof(cmdline), cfg->boot_args, "");

	if (ret) {
		log_err("kernel command line longer than %d bytes",
			BOOT_CMDLINE_MAX - 1);
		return ret;
	}
	b->cmdline = cmdline;
	ret = k->pvh ? pvh_write_start_info(&vm->mem, b) :
		       zero_page_write(&vm->mem, k, b);
	if (!ret)
		ret = mptable_write(&vm->mem, vm->nr_vcpus);
	if (ret)
		log_err("cannot write boot structures: %s", strerror(-ret));
	return ret;
}

static int add_legacy_devices(struct vm *vm, bool boot_timer)
{
	int ret;

	vm->serial = serial_create(STDOUT_FILENO, vm_irq_pulse, vm);
	if (!vm->serial)
		return -ENOMEM;
	i8042_init(&vm->i8042, on_guest_reset, vm);
	ret = bus_add(&vm->pio, SERIAL_PORT, 8, serial_access, vm->serial);
	if (!ret)
		ret = bus_add(&vm->pio, I8042_PORT, 5, i8042_access,
			      &vm->i8042);
	if (!ret && boot_timer)
		ret = bus_add(&vm->mmio, BOOT_TIMER_ADDR, 1, boot_timer_access,
			      &vm->boot_timer);
	return ret;
}

static int create_vcpus(struct vm *vm, const struct vm_boot_config *cfg,
			const struct kernel_image *k)
{
	struct kvm_cpuid2 *cpuid = cpuid_get_supported(vm->kvm_fd);
	unsigned i;
	int ret = 0;

	if (!cpuid)
		return -EIO;
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_create(vm, i, cpuid, cfg->smt);
	free(cpuid);
	if (!ret)
		ret = vcpu_setup_boot_regs(&vm->vcpus[0], k);
	if (ret)
		log_err("cannot create vCPU %u: %s", i - 1, strerror(-ret));
	return ret;
}

static void vm_init_empty(struct vm *vm)
{
	unsigned i;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->exit_efd = -1;
	vm->mem.memfd = -1;
	vm->loop.epfd = -1;
	pthread_mutex_init(&vm->exit_lock, NULL);
	for (i = 0; i < VM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
}

static int create_memory(struct vm *vm, const struct vm_boot_config *cfg)
{
	int ret = gmem_create(&vm->mem, (uint64_t)cfg->mem_size_mib << 20,
			      cfg->huge_pages_2m);

	if (ret) {
		log_err("cannot allocate %u MiB of guest memory%s: %s",
			cfg->mem_size_mib,
			cfg->huge_pages_2m ?
				" in 2 MiB huge pages (are enough reserved in /proc/sys/vm/nr_hugepages?)" :
				"",
			strerror(-ret));
		return ret;
	}
	ret = kvm_set_memory(vm);
	if (ret)
		log_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret));
	return ret;
}

int vm_build(struct vm *vm, const struct vm_boot_config *cfg, bool boot_timer)
{
	struct kernel_image k;
	struct boot_layout b = { 0 };
	int ret;

	vm_init_empty(vm);
	boot_timer_start(&vm->boot_timer); /* InstanceStart */
	vm->nr_vcpus = cfg->vcpu_count;
	ret = kvm_open_vm(vm);
	if (ret) {
		log_err("cannot create a KVM VM (/dev/kvm): %s",
			strerror(-ret));
		return ret;
	}
	ret = create_memory(vm, cfg);
	if (!ret)
		ret = load_kernel_file(vm, cfg->kernel_path, &k);
	if (!ret && cfg->initrd_path[0])
		ret = load_initrd_file(vm, cfg->initrd_path, &k, &b);
	if (!ret)
		ret = write_boot_info(vm, cfg, &k, &b);
	if (!ret)
		ret = add_legacy_devices(vm, boot_timer);
	if (!ret)
		ret = create_vcpus(vm, cfg, &k);
	if (!ret)
		ret = evl_init(&vm->loop);
	if (!ret)
		ret = evl_add(&vm->loop, vm->exit_efd, on_exit_request, vm);
	if (!ret)
		ret = setup_stdin(vm);
	return ret;
}

int vm_run(struct vm *vm)
{
	unsigned i;
	int ret = 0;

	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_start(&vm->vcpus[i]);
	if (ret) {
		log_err("cannot start vCPU thread: %s", strerror(-ret));
		vm_request_exit(vm, EXIT_INTERNAL);
	}
	ret = evl_run(&vm->loop);
	if (ret) {
		log_err("event loop: %s", strerror(-ret));
		vm_request_exit(vm, EXIT_INTERNAL);
	}
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_stop(&vm->vcpus[i]);
	restore_terminal();
	return vm->exit_code;
}

void vm_destroy(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		vcpu_stop(&vm->vcpus[i]);
		vcpu_destroy(&vm->vcpus[i]);
	}
	evl_destroy(&vm->loop);
	serial_destroy(vm->serial);
	gmem_destroy(&vm->mem);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
}
