// SPDX-License-Identifier: Apache-2.0
/* The builder: assembles a VM from its configuration in one readable order
 * (vm_build), starts, pauses, resumes and stops its vCPUs; its steps serve
 * a snapshot load too (persist.c). A failed step leaves a message in
 * vm->err naming what to fix; vm_destroy() unwinds whatever was built.
 * VMM thread. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "microvm/microvm.h"
#include "virtio/virtio.h"

static struct termios saved_termios;
static bool termios_saved;

static void restore_terminal(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

/* Records why the build failed (for the log and the API) and returns ret. */
int vm_fail(struct vm *vm, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	log_err("%s", vm->err);
	return ret;
}

/* Console input: raw bytes from a terminal go to the guest's UART. */
static void on_stdin(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint8_t buf[64];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n <= 0) {
		evl_remove(vm->loop, STDIN_FILENO);
		return;
	}
	serial_feed(vm->serial, buf, (size_t)n);
}

static void on_guest_reset(void *opaque)
{
	vm_request_exit(opaque, EXIT_OK);
}

int vm_setup_stdin(struct vm *vm)
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
	return evl_add(vm->loop, STDIN_FILENO, on_stdin, vm);
}

static int load_kernel_file(struct vm *vm, const char *path,
			    struct kernel_image *k)
{
	uint8_t *img;
	size_t size;
	int ret = read_file_capped(path, vm->mem.size, &img, &size);

	if (ret == -EFBIG)
		return vm_fail(
			vm, ret,
			"kernel %s is larger than guest memory; raise mem_size_mib",
			path);
	if (ret)
		return vm_fail(vm, ret, "cannot read kernel %s: %s", path,
			       strerror(-ret));
	ret = load_kernel(&vm->mem, img, size, k);
	free(img);
	if (ret == -ENOEXEC)
		return vm_fail(
			vm, ret,
			"kernel %s is not an x86_64 ELF vmlinux or a bzImage (boot protocol >= 2.12), or is malformed",
			path);
	if (ret)
		return vm_fail(
			vm, ret,
			"kernel %s does not fit in %llu MiB of guest memory; raise mem_size_mib",
			path, (unsigned long long)(vm->mem.size >> 20));
	return 0;
}

static int load_initrd_file(struct vm *vm, const char *path,
			    const struct kernel_image *k, struct boot_layout *b)
{
	uint64_t max = k->bzimage ? k->initrd_addr_max : UINT64_MAX;
	uint8_t *img;
	size_t size;
	int ret = read_file_capped(path, vm->mem.size, &img, &size);

	if (ret)
		return vm_fail(vm, ret, "cannot read initrd %s: %s", path,
			       ret == -EFBIG ? "larger than guest memory" :
					       strerror(-ret));
	ret = initrd_place(&vm->mem, k->end, max, size, &b->initrd_addr);
	if (!ret)
		ret = gmem_write(&vm->mem, b->initrd_addr, img, size);
	b->initrd_size = size;
	free(img);
	if (ret)
		return vm_fail(
			vm, ret,
			"initrd %s (%zu bytes) does not fit in guest memory above the kernel; raise mem_size_mib",
			path, size);
	return 0;
}

static int write_boot_info(struct vm *vm, const char *boot_args,
			   const struct kernel_image *k, struct boot_layout *b)
{
	int ret = cmdline_build(vm->cmdline, sizeof(vm->cmdline), boot_args,
				vm->cmdline_extra);

	if (ret)
		return vm_fail(vm, ret,
			       "kernel command line longer than %d bytes",
			       BOOT_CMDLINE_MAX - 1);
	b->cmdline = vm->cmdline;
	ret = k->pvh ? pvh_write_start_info(&vm->mem, b) :
		       zero_page_write(&vm->mem, k, b);
	if (!ret)
		ret = mptable_write(&vm->mem, vm->nr_vcpus);
	if (ret)
		return vm_fail(vm, ret, "cannot write boot structures: %s",
			       strerror(-ret));
	return 0;
}

/* A console pipe nobody drains must not block a vCPU (and with it pause
 * and the API): make it non-blocking; full pipes then drop console bytes.
 * A terminal is left as it is. */
static void console_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (!isatty(fd) && flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int add_legacy_devices(struct vm *vm, bool boot_timer)
{
	int ret;

	console_nonblocking(STDOUT_FILENO);
	vm->serial = serial_create(STDOUT_FILENO, vm_irq_pulse, vm);
	if (!vm->serial)
		return vm_fail(vm, -ENOMEM, "out of memory");
	i8042_init(&vm->i8042, on_guest_reset, vm_irq_pulse, vm);
	cmos_init(&vm->cmos, NULL);
	ret = bus_add(&vm->pio, SERIAL_PORT, 8, serial_access, vm->serial);
	if (!ret)
		ret = bus_add(&vm->pio, I8042_PORT, 5, i8042_access,
			      &vm->i8042);
	if (!ret)
		ret = bus_add(&vm->pio, CMOS_PORT, 2, cmos_access, &vm->cmos);
	if (!ret && boot_timer)
		ret = bus_add(&vm->mmio, BOOT_TIMER_ADDR, 1, boot_timer_access,
			      &vm->boot_timer);
	if (ret)
		return vm_fail(vm, ret, "cannot place legacy devices: %s",
			       strerror(-ret));
	return 0;
}

int vm_create_vcpus(struct vm *vm, bool smt, const struct kernel_image *k)
{
	struct kvm_cpuid2 *cpuid = cpuid_get_supported(vm->kvm_fd);
	unsigned i;
	int ret = 0;

	if (!cpuid)
		return vm_fail(vm, -EIO, "KVM_GET_SUPPORTED_CPUID failed");
	vm->smt = smt;
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_create(vm, i, cpuid, smt);
	free(cpuid);
	if (ret)
		return vm_fail(vm, ret, "cannot create vCPU %u: %s", i - 1,
			       strerror(-ret));
	ret = k ? vcpu_setup_boot_regs(&vm->vcpus[0], k) : 0;
	if (ret)
		return vm_fail(vm, ret, "cannot set boot registers: %s",
			       strerror(-ret));
	return 0;
}

int vm_register_memory(struct vm *vm, bool track_dirty)
{
	int ret = track_dirty ? gmem_track_dirty(&vm->mem) : 0;

	if (!ret)
		ret = kvm_set_memory(vm);
	if (ret)
		return vm_fail(vm, ret, "KVM_SET_USER_MEMORY_REGION: %s",
			       strerror(-ret));
	return 0;
}

int vm_create_memory(struct vm *vm, const struct machine_cfg *m)
{
	int ret = gmem_create(&vm->mem, (uint64_t)m->mem_size_mib << 20,
			      m->huge_pages_2m);

	if (ret)
		return vm_fail(
			vm, ret, "cannot allocate %u MiB of guest memory%s: %s",
			m->mem_size_mib,
			m->huge_pages_2m ?
				" in 2 MiB huge pages (reserve them in /proc/sys/vm/nr_hugepages)" :
				"",
			strerror(-ret));
	return vm_register_memory(vm, m->track_dirty_pages);
}

void vm_init_empty(struct vm *vm, struct event_loop *loop)
{
	unsigned i;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->exit_efd = vm->uffd_sock = -1;
	vm->mem.memfd = -1;
	vm->loop = loop;
	pthread_mutex_init(&vm->exit_lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	for (i = 0; i < VM_MAX_VCPUS; i++)
		vm->vcpus[i].fd = -1;
}

int vm_open(struct vm *vm, unsigned nr_vcpus, struct event_loop *loop)
{
	int ret;

	vm_init_empty(vm, loop);
	boot_timer_start(&vm->boot_timer); /* InstanceStart or LoadSnapshot */
	vm->nr_vcpus = nr_vcpus;
	ret = kvm_open_vm(vm);
	if (ret)
		return vm_fail(vm, ret, "cannot create a KVM VM (/dev/kvm): %s",
			       strerror(-ret));
	return 0;
}

/* Every device of the config, in the order that fixes their MMIO slots:
 * the legacy ones, then each virtio kind's. */
int vm_add_devices(struct vm *vm, const struct vm_config *cfg, bool boot_timer)
{
	int ret = add_legacy_devices(vm, boot_timer);
	unsigned i;

	for (i = 0; vdev_kinds[i] && !ret; i++)
		if ((ret = vdev_kinds[i]->add(vm, cfg)))
			log_err("%s", vm->err);
	return ret;
}

/* Anonymous RAM a kernel boots in gets transparent huge pages (not the
 * RAM of a warm VM or of a snapshot load); without, it still works. */
static void advise_huge_pages(struct vm *vm)
{
	int ret = gmem_advise_huge(&vm->mem);

	if (ret)
		log_debug("guest memory without transparent huge pages: %s",
			  strerror(-ret));
}

int vm_build(struct vm *vm, const struct vm_config *cfg, bool boot_timer,
	     struct mmds *mmds, struct event_loop *loop)
{
	struct kernel_image k;
	struct boot_layout b = { 0 };
	int ret = vm_open(vm, cfg->machine.vcpu_count, loop);

	vm->mmds = mmds;
	if (!ret)
		ret = vm_create_memory(vm, &cfg->machine);
	if (!ret && !cfg->machine.huge_pages_2m)
		advise_huge_pages(vm);
	if (!ret)
		ret = load_kernel_file(vm, cfg->boot.kernel_path, &k);
	if (!ret && cfg->boot.initrd_path[0])
		ret = load_initrd_file(vm, cfg->boot.initrd_path, &k, &b);
	if (!ret)
		ret = vm_add_devices(vm, cfg, boot_timer);
	if (!ret)
		ret = write_boot_info(vm, cfg->boot.boot_args, &k, &b);
	if (!ret)
		ret = vm_create_vcpus(vm, cfg->machine.smt, &k);
	if (!ret)
		ret = vm_setup_stdin(vm);
	return ret;
}

int vm_start(struct vm *vm, bool paused)
{
	unsigned i;
	int ret = 0;

	pthread_mutex_lock(&vm->run_lock);
	vm->pause_requested = paused;
	pthread_cond_broadcast(&vm->run_cond); /* a warm VM's parked threads */
	pthread_mutex_unlock(&vm->run_lock);
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		if (!vm->vcpus[i].started)
			ret = vcpu_start(&vm->vcpus[i]);
	if (ret)
		return vm_fail(vm, ret, "cannot start vCPU thread: %s",
			       strerror(-ret));
	return 0;
}

void vm_destroy(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		vcpu_stop(&vm->vcpus[i]);
		vcpu_destroy(&vm->vcpus[i]);
	}
	if (vm->loop && termios_saved)
		evl_remove(vm->loop, STDIN_FILENO);
	restore_terminal();
	vdev_destroy_all(vm);
	serial_destroy(vm->serial);
	vm->serial = NULL;
	gmem_destroy(&vm->mem);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	if (vm->uffd_sock >= 0)
		close(vm->uffd_sock);
	vm->uffd_sock = -1;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->exit_efd = vm->vm_fd = vm->kvm_fd = -1;
	vm->nr_vcpus = 0;
	vm->warm = vm->warm_used = false;
}
