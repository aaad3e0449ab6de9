// SPDX-License-Identifier: Apache-2.0
/* The builder: assembles a VM from its configuration in one readable order
 * (vm_build), starts, pauses, resumes and stops its vCPUs. A failed step
 * leaves a message in vm->err naming what to fix; vm_destroy() unwinds
 * whatever was built. VMM thread. */
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
#include "snapshot/snapshot.h"
#include "virtio/virtio.h"

static struct termios saved_termios;
static bool termios_saved;

static void restore_terminal(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

/* Records why the build failed (for the log and the API) and returns ret. */
static int build_fail(struct vm *vm, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int build_fail(struct vm *vm, int ret, const char *fmt, ...)
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
	return evl_add(vm->loop, STDIN_FILENO, on_stdin, vm);
}

static int load_kernel_file(struct vm *vm, const char *path,
			    struct kernel_image *k)
{
	uint8_t *img;
	size_t size;
	int ret = read_file_capped(path, vm->mem.size, &img, &size);

	if (ret == -EFBIG)
		return build_fail(
			vm, ret,
			"kernel %s is larger than guest memory; raise mem_size_mib",
			path);
	if (ret)
		return build_fail(vm, ret, "cannot read kernel %s: %s", path,
				  strerror(-ret));
	ret = load_kernel(&vm->mem, img, size, k);
	free(img);
	if (ret == -ENOEXEC)
		return build_fail(
			vm, ret,
			"kernel %s is not an x86_64 ELF vmlinux or a bzImage (boot protocol >= 2.12), or is malformed",
			path);
	if (ret)
		return build_fail(
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
		return build_fail(vm, ret, "cannot read initrd %s: %s", path,
				  ret == -EFBIG ? "larger than guest memory" :
						  strerror(-ret));
	ret = initrd_place(&vm->mem, k->end, max, size, &b->initrd_addr);
	if (!ret)
		ret = gmem_write(&vm->mem, b->initrd_addr, img, size);
	b->initrd_size = size;
	free(img);
	if (ret)
		return build_fail(
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
		return build_fail(vm, ret,
				  "kernel command line longer than %d bytes",
				  BOOT_CMDLINE_MAX - 1);
	b->cmdline = vm->cmdline;
	ret = k->pvh ? pvh_write_start_info(&vm->mem, b) :
		       zero_page_write(&vm->mem, k, b);
	if (!ret)
		ret = mptable_write(&vm->mem, vm->nr_vcpus);
	if (ret)
		return build_fail(vm, ret, "cannot write boot structures: %s",
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
		return build_fail(vm, -ENOMEM, "out of memory");
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
		return build_fail(vm, ret, "cannot place legacy devices: %s",
				  strerror(-ret));
	return 0;
}

static int add_drive(struct vm *vm, const struct drive_cfg *d)
{
	int ret = vblk_create(vm, d, &vm->blks[vm->nr_blks], vm->cmdline_extra,
			      sizeof(vm->cmdline_extra));

	vm->nr_blks++;
	if (ret)
		return build_fail(vm, ret, "drive '%s' (%s): %s", d->id,
				  d->path, strerror(-ret));
	if (!d->is_root)
		return 0;
	/* the root drive is attached first, so it is /dev/vda */
	snprintf(vm->cmdline_extra + strlen(vm->cmdline_extra),
		 sizeof(vm->cmdline_extra) - strlen(vm->cmdline_extra),
		 d->partuuid[0] ? " root=PARTUUID=%s %s" :
				  "%.0s root=/dev/vda %s",
		 d->partuuid, d->read_only ? "ro" : "rw");
	return 0;
}

/* Drives: the root device first, then the others in configuration order. */
static int add_drives(struct vm *vm, const struct vm_config *cfg)
{
	unsigned i, pass;
	int ret = 0;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < cfg->nr_drives && !ret; i++)
			if (cfg->drives[i].is_root == (pass == 0))
				ret = add_drive(vm, &cfg->drives[i]);
	return ret;
}

static int add_nets(struct vm *vm, const struct vm_config *cfg)
{
	unsigned i;
	int ret;

	for (i = 0; i < cfg->nr_nets; i++) {
		ret = vnet_create(vm, &cfg->nets[i], &vm->nets[vm->nr_nets++],
				  vm->cmdline_extra, sizeof(vm->cmdline_extra));
		if (!ret && config_mmds_iface(&cfg->mmds, cfg->nets[i].id))
			ret = vnet_enable_mmds(vm->nets[vm->nr_nets - 1],
					       vm->mmds, cfg->mmds.ipv4);
		if (ret)
			return build_fail(vm, ret,
					  "network interface '%s' (tap %s): %s",
					  cfg->nets[i].id,
					  cfg->nets[i].host_dev,
					  strerror(-ret));
	}
	return 0;
}

static int add_entropy(struct vm *vm, const struct vm_config *cfg)
{
	int ret;

	if (!cfg->entropy.set)
		return 0;
	ret = vrng_create(vm, &cfg->entropy, &vm->rng, vm->cmdline_extra,
			  sizeof(vm->cmdline_extra));
	if (ret)
		return build_fail(vm, ret, "entropy device: %s",
				  strerror(-ret));
	return 0;
}

static int add_vsock(struct vm *vm, const struct vm_config *cfg)
{
	int ret;

	if (!cfg->vsock.set)
		return 0;
	ret = vvsock_create(vm, &cfg->vsock, &vm->vsock, vm->cmdline_extra,
			    sizeof(vm->cmdline_extra));
	if (ret)
		return build_fail(vm, ret, "vsock device (uds_path %s): %s",
				  cfg->vsock.uds_path, strerror(-ret));
	return 0;
}

static int create_vcpus(struct vm *vm, bool smt, const struct kernel_image *k)
{
	struct kvm_cpuid2 *cpuid = cpuid_get_supported(vm->kvm_fd);
	unsigned i;
	int ret = 0;

	if (!cpuid)
		return build_fail(vm, -EIO, "KVM_GET_SUPPORTED_CPUID failed");
	vm->smt = smt;
	for (i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = vcpu_create(vm, i, cpuid, smt);
	free(cpuid);
	if (ret)
		return build_fail(vm, ret, "cannot create vCPU %u: %s", i - 1,
				  strerror(-ret));
	ret = k ? vcpu_setup_boot_regs(&vm->vcpus[0], k) : 0;
	if (ret)
		return build_fail(vm, ret, "cannot set boot registers: %s",
				  strerror(-ret));
	return 0;
}

static int register_memory(struct vm *vm, bool track_dirty)
{
	int ret = track_dirty ? gmem_track_dirty(&vm->mem) : 0;

	if (!ret)
		ret = kvm_set_memory(vm);
	if (ret)
		return build_fail(vm, ret, "KVM_SET_USER_MEMORY_REGION: %s",
				  strerror(-ret));
	return 0;
}

static int create_memory(struct vm *vm, const struct machine_cfg *m)
{
	int ret = gmem_create(&vm->mem, (uint64_t)m->mem_size_mib << 20,
			      m->huge_pages_2m);

	if (ret)
		return build_fail(
			vm, ret, "cannot allocate %u MiB of guest memory%s: %s",
			m->mem_size_mib,
			m->huge_pages_2m ?
				" in 2 MiB huge pages (reserve them in /proc/sys/vm/nr_hugepages)" :
				"",
			strerror(-ret));
	return register_memory(vm, m->track_dirty_pages);
}

static void vm_init_empty(struct vm *vm, struct event_loop *loop)
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

static int open_vm(struct vm *vm, unsigned nr_vcpus, struct event_loop *loop)
{
	int ret;

	vm_init_empty(vm, loop);
	boot_timer_start(&vm->boot_timer); /* InstanceStart or LoadSnapshot */
	vm->nr_vcpus = nr_vcpus;
	ret = kvm_open_vm(vm);
	if (ret)
		return build_fail(vm, ret,
				  "cannot create a KVM VM (/dev/kvm): %s",
				  strerror(-ret));
	return 0;
}

/* Every device of the config, in the order that fixes their MMIO slots. */
static int add_devices(struct vm *vm, const struct vm_config *cfg,
		       bool boot_timer)
{
	int ret = add_legacy_devices(vm, boot_timer);

	if (!ret)
		ret = add_drives(vm, cfg);
	if (!ret)
		ret = add_nets(vm, cfg);
	if (!ret)
		ret = add_entropy(vm, cfg);
	if (!ret)
		ret = add_vsock(vm, cfg);
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
	int ret = open_vm(vm, cfg->machine.vcpu_count, loop);

	vm->mmds = mmds;
	if (!ret)
		ret = create_memory(vm, &cfg->machine);
	if (!ret && !cfg->machine.huge_pages_2m)
		advise_huge_pages(vm);
	if (!ret)
		ret = load_kernel_file(vm, cfg->boot.kernel_path, &k);
	if (!ret && cfg->boot.initrd_path[0])
		ret = load_initrd_file(vm, cfg->boot.initrd_path, &k, &b);
	if (!ret)
		ret = add_devices(vm, cfg, boot_timer);
	if (!ret)
		ret = write_boot_info(vm, cfg->boot.boot_args, &k, &b);
	if (!ret)
		ret = create_vcpus(vm, cfg->machine.smt, &k);
	if (!ret)
		ret = setup_stdin(vm);
	return ret;
}

static void prefetch_memory(struct vm *vm, const char *path)
{
	uint64_t pages;
	int ret = snap_prefetch(&vm->mem, path, &pages);

	if (ret)
		log_warn("--prefetch %s: %s (restoring without)", path,
			 strerror(-ret));
	else
		log_info("prefetched %llu pages of %s",
			 (unsigned long long)pages, path);
}

/* The memory file, mapped MAP_PRIVATE; -ERANGE when its size is not the
 * VM's memory size. */
static int map_memory_file(struct vm *vm, const char *path, uint64_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;
	struct stat st;

	if (fd < 0)
		return -errno;
	ret = fstat(fd, &st) < 0	   ? -errno :
	      (uint64_t)st.st_size != size ? -ERANGE :
	      vm->warm			   ? gmem_remap_file(&vm->mem, fd) :
					     gmem_map_file(&vm->mem, size, fd);
	close(fd);
	return ret;
}

/* File: the memory file (pages read on first touch, or prefetched).
 * Uffd: anonymous memory whose pages the handler on backend_path gives.
 * A warm VM keeps its memory's addresses, hence its KVM slots: the file
 * replaces the placeholder, or the handler serves the placeholder. */
static int map_snapshot_memory(struct vm *vm, const struct vm_config *cfg,
			       const struct snapshot_load_cfg *l,
			       const struct restore_opts *o)
{
	uint64_t size = (uint64_t)cfg->machine.mem_size_mib << 20;
	int ret;

	if (l->uffd) {
		ret = vm->warm ? 0 : gmem_create(&vm->mem, size, false);
		if (!ret)
			ret = snap_uffd_attach(&vm->mem, l->backend_path,
					       &vm->uffd_sock);
	} else {
		ret = map_memory_file(vm, l->backend_path, size);
		if (!ret && o->prefetch)
			prefetch_memory(vm, o->prefetch);
	}
	if (ret)
		return build_fail(
			vm, ret, "%s backend %s: %s", l->uffd ? "Uffd" : "File",
			l->backend_path,
			ret == -ERANGE ?
				"the memory file's size is not the VM's memory size" :
				strerror(-ret));
	if (vm->warm && !l->track_dirty_pages)
		return 0; /* the slots are in place, without dirty logging */
	return register_memory(vm, l->track_dirty_pages);
}

static int restore_devices(struct vm *vm, const struct snap_state *s)
{
	unsigned i;

	if (s->nr_vdevs != vm->nr_vdevs)
		return build_fail(
			vm, -EINVAL,
			"the snapshot has %u virtio devices, its config %u",
			s->nr_vdevs, vm->nr_vdevs);
	serial_restore(vm->serial, &s->serial);
	for (i = 0; i < s->nr_vdevs; i++)
		if (s->vdevs[i].index != i ||
		    vdev_restore(vm->vdevs[i], &s->vdevs[i]))
			return build_fail(
				vm, -EINVAL,
				"virtio slot %u: the saved state does not fit the device",
				i);
	return 0;
}

void vm_serve_restored(struct vm *vm)
{
	unsigned i;

	seccomp_test_hook("restored");
	for (i = 0; i < vm->nr_vdevs; i++)
		vdev_serve_restored(vm->vdevs[i]);
	if (vm->vsock) /* the guest drops its connections */
		vvsock_transport_reset(vm->vsock);
}

/* Each vCPU's CPUID as this host made it (a warm VM reads them ahead). */
static int read_vcpu_cpuids(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->cpuid && !(v->cpuid = cpuid_get_vcpu(v->fd)))
			return build_fail(vm, -EIO,
					  "KVM_GET_CPUID2 of vCPU %u failed",
					  i);
	}
	return 0;
}

static int check_snapshot_cpu(struct vm *vm, const struct snap_state *s)
{
	char why[sizeof(vm->err)];
	int ret = read_vcpu_cpuids(vm);

	if (!ret && snap_check_cpuid(vm, s, why, sizeof(why)))
		ret = build_fail(vm, -ENOTSUP, "%s", why);
	return ret;
}

/* A warm VM takes a snapshot of its own shape only. */
static int take_warm_vm(struct vm *vm, const struct machine_cfg *m)
{
	vm->err[0] = '\0'; /* from a refused load before */
	if (m->vcpu_count != vm->nr_vcpus ||
	    (uint64_t)m->mem_size_mib << 20 != vm->mem.size ||
	    m->smt != vm->smt)
		return build_fail(
			vm, -EINVAL,
			"this microvm was warmed (--warm) for %u vCPUs, %llu MiB, smt %s; the snapshot has %u vCPUs, %u MiB, smt %s",
			vm->nr_vcpus, (unsigned long long)(vm->mem.size >> 20),
			vm->smt ? "on" : "off", m->vcpu_count, m->mem_size_mib,
			m->smt ? "on" : "off");
	if (m->huge_pages_2m)
		return build_fail(vm, -EINVAL,
				  "a warm VM cannot take huge-page memory");
	boot_timer_start(&vm->boot_timer);
	return 0;
}

int vm_warm(struct vm *vm, const struct machine_cfg *m, struct event_loop *loop)
{
	int ret = open_vm(vm, m->vcpu_count, loop);

	if (!ret)
		ret = create_memory(vm, m);
	if (!ret)
		ret = create_vcpus(vm, m->smt, NULL);
	if (!ret)
		ret = read_vcpu_cpuids(vm);
	if (!ret)
		ret = vm_start(vm, true);
	vm->warm = !ret;
	return ret;
}

int vm_restore(struct vm *vm, const struct vm_config *cfg,
	       const struct snap_state *s, const struct snapshot_load_cfg *l,
	       const struct restore_opts *o, struct event_loop *loop)
{
	int ret = vm->warm ? take_warm_vm(vm, &cfg->machine) :
			     open_vm(vm, cfg->machine.vcpu_count, loop);

	if (!ret && !vm->warm)
		ret = create_vcpus(vm, cfg->machine.smt, NULL);
	if (!ret)
		ret = check_snapshot_cpu(vm, s);
	if (!ret)
		ret = map_snapshot_memory(vm, cfg, l, o);
	vm->warm_used = vm->warm && !ret;
	vm->mmds = o->mmds;
	if (!ret)
		ret = add_devices(vm, cfg, o->boot_timer);
	if (!ret && (ret = snap_restore_kvm(vm, s, l->clock_realtime, vm->err,
					    sizeof(vm->err))))
		return ret;
	if (!ret)
		ret = restore_devices(vm, s);
	if (!ret)
		ret = setup_stdin(vm);
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
		return build_fail(vm, ret, "cannot start vCPU thread: %s",
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
	for (i = 0; i < vm->nr_blks; i++)
		vblk_destroy(vm->blks[i]);
	for (i = 0; i < vm->nr_nets; i++)
		vnet_destroy(vm->nets[i]);
	vm->nr_nets = 0;
	vrng_destroy(vm->rng);
	vm->rng = NULL;
	vvsock_destroy(vm->vsock);
	vm->vsock = NULL;
	vm->nr_blks = vm->nr_vdevs = 0;
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
