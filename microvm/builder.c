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

int vm_read_boot_file(struct vm *vm, const char *what, const char *path,
		      uint8_t **buf, size_t *size)
{
	int ret = read_file_capped(path, vm->mem.size, buf, size);

	if (ret == -EFBIG)
		return vm_fail(
			vm, ret,
			"%s %s is larger than guest memory; raise mem_size_mib",
			what, path);
	if (ret)
		return vm_fail(vm, ret, "cannot read %s %s: %s", what, path,
			       strerror(-ret));
	return 0;
}

int vm_kernel_loaded(struct vm *vm, int ret, const char *path,
		     const char *format)
{
	if (ret == -ENOEXEC)
		return vm_fail(vm, ret, "kernel %s is not %s, or is malformed",
			       path, format);
	if (ret)
		return vm_fail(
			vm, ret,
			"kernel %s does not fit in %llu MiB of guest memory; raise mem_size_mib",
			path, (unsigned long long)(vm->mem.size >> 20));
	return 0;
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

/* A console pipe nobody drains must not block a vCPU (and with it pause
 * and the API): make it non-blocking; full pipes then drop console bytes.
 * A terminal is left as it is. */
static void console_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (!isatty(fd) && flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
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
	vm->irqchip_fd = -1;
	vm->mem.memfd = -1;
	vm->loop = loop;
	pthread_mutex_init(&vm->exit_lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	pthread_cond_init(&vm->tasks_cond, NULL);
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

/* The console (serial on stdout) and the boot timer, then the
 * architecture's own devices. */
static int add_legacy_devices(struct vm *vm, bool boot_timer)
{
	int ret;

	console_nonblocking(STDOUT_FILENO);
	vm->serial = serial_create(STDOUT_FILENO, vm_irq_pulse, vm);
	if (!vm->serial)
		return vm_fail(vm, -ENOMEM, "out of memory");
	ret = boot_timer ? bus_add(&vm->mmio, BOOT_TIMER_ADDR, 1,
				   boot_timer_access, &vm->boot_timer) :
			   0;
	if (ret)
		return vm_fail(vm, ret, "cannot place the boot timer: %s",
			       strerror(-ret));
	return vm_add_arch_devices(vm);
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
	int ret = vm_open(vm, cfg->machine.vcpu_count, loop);

	vm->mmds = mmds;
	if (!ret)
		ret = vm_create_memory(vm, &cfg->machine);
	if (!ret && !cfg->machine.huge_pages_2m)
		advise_huge_pages(vm);
	if (!ret)
		ret = vm_boot_setup(vm, cfg, boot_timer);
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
	/* before InstanceStart answers, as Firecracker's: Kata looks for the
	 * threads by name right after */
	for (i = 0; i < vm->nr_vcpus; i++)
		vcpu_wait_named(&vm->vcpus[i]);
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
	if (vm->irqchip_fd >= 0)
		close(vm->irqchip_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->exit_efd = vm->vm_fd = vm->kvm_fd = vm->irqchip_fd = -1;
	vm->nr_vcpus = 0;
	vm->warm = vm->warm_used = false;
}
