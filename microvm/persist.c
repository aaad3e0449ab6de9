// SPDX-License-Identifier: Apache-2.0
/* Snapshots from end to end, on the VMM thread. PUT /snapshot/create: the
 * devices quiesced and saved, the KVM state, the memory file, then the
 * state file. PUT /snapshot/load: the untrusted state file and its
 * configuration with the request's overrides, then the VM from it (with
 * the builder's steps, or into the VM --warm made ahead): memory from the
 * File or Uffd backend, the devices in their slots, the KVM and device
 * state; the state is kept for PUT /snapshot/rewind, which puts devices,
 * memory and KVM state back to it in place. snapshot/ holds the mechanisms
 * (format, KVM state, memory file, uffd); this file the order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "microvm/microvm.h"
#include "snapshot/snapshot.h"

static int save_devices(struct vm *vm, struct snap_state *s)
{
	unsigned i;

	serial_save(vm->serial, &s->serial);
	for (i = 0; i < vm->nr_vdevs; i++)
		vdev_save(vm->vdevs[i], &s->vdevs[i]);
	s->nr_vdevs = vm->nr_vdevs;
	return snap_save_hotplug(&vm->mem, &s->hotplug) ?: snap_save_kvm(vm, s);
}

/* The template applied at boot goes into the state file. */
static int keep_cpu_template(const struct vm_config *cfg, struct snap_state *s)
{
	struct cpu_template *t = malloc(sizeof(*t));
	const struct cpu_template *used;

	if (!t)
		return -ENOMEM;
	used = config_cpu_template(cfg, t);
	if (!used) {
		free(t);
		return 0;
	}
	if (used != t)
		*t = *used;
	s->cpu_template = t;
	return 0;
}

int snapshot_create(struct vm *vm, const struct vm_config *cfg,
		    const struct snapshot_create_cfg *c, char *err,
		    size_t err_size)
{
	struct snap_state s = { 0 };
	struct timespec t0;
	uint64_t pages = 0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	s.config_json = config_to_json(cfg);
	ret = s.config_json ? keep_cpu_template(cfg, &s) : -ENOMEM;
	if (ret) {
		snap_state_free(&s);
		return ret;
	}
	ret = save_devices(vm, &s);
	if (ret)
		snprintf(err, err_size, "cannot read the VM's state: %s",
			 strerror(-ret));
	if (!ret &&
	    (ret = snap_write_memory(vm, c->mem_file_path, c->diff, &pages)))
		snprintf(err, err_size, "memory file %s: %s", c->mem_file_path,
			 ret == -ENOTSUP ?
				 "a Diff snapshot needs track_dirty_pages" :
			 ret == -ERANGE ?
				 "not this VM's memory file (size differs)" :
				 strerror(-ret));
	if (!ret && (ret = snap_write_file(c->snapshot_path, &s)))
		snprintf(err, err_size, "state file %s: %s", c->snapshot_path,
			 strerror(-ret));
	if (!ret)
		log_info("snapshot: %s of %llu pages to %s, state %s, %.1f ms",
			 c->diff ? "diff" : "full", (unsigned long long)pages,
			 c->mem_file_path, c->snapshot_path,
			 elapsed_us(&t0, CLOCK_MONOTONIC) / 1e3);
	snap_state_free(&s);
	return ret;
}

static int apply_overrides(const struct snapshot_load_cfg *l,
			   struct vm_config *cfg, char *err, size_t err_size)
{
	unsigned i, k;

	for (i = 0; i < l->nr_net_overrides; i++) {
		for (k = 0; k < cfg->nr_nets; k++)
			if (!strcmp(cfg->nets[k].id,
				    l->net_overrides[i].iface_id))
				break;
		if (k == cfg->nr_nets) {
			snprintf(
				err, err_size,
				"network_overrides: the snapshot has no interface '%s'",
				l->net_overrides[i].iface_id);
			return -EINVAL;
		}
		snprintf(cfg->nets[k].host_dev, sizeof(cfg->nets[k].host_dev),
			 "%s", l->net_overrides[i].host_dev);
	}
	if (l->has_vsock_override && !cfg->vsock.set) {
		snprintf(err, err_size,
			 "vsock_override: the snapshot has no vsock device");
		return -EINVAL;
	}
	if (l->has_vsock_override)
		snprintf(cfg->vsock.uds_path, sizeof(cfg->vsock.uds_path), "%s",
			 l->vsock_uds);
	cfg->machine.track_dirty_pages = l->track_dirty_pages;
	return 0;
}

/* Whether the snapshot's clock can advance by the wall time since it was
 * taken (clock_realtime). */
static bool has_realtime(const struct snap_state *s)
{
#ifdef __aarch64__
	return false; /* no KVM clock: the counter goes on from its value */
#else
	return s->vm.clock.flags & KVM_CLOCK_REALTIME;
#endif
}

static int check_fits(const struct snap_state *s, const struct vm_config *cfg,
		      const struct snapshot_load_cfg *l, char *err,
		      size_t err_size)
{
	if (l->clock_realtime && !has_realtime(s)) {
		snprintf(
			err, err_size,
			"clock_realtime: the snapshot's KVM clock carries no real time (%s)",
			SNAP_ARCH == SNAP_ARCH_X86_64 ?
				"its host's KVM did not give KVM_CLOCK_REALTIME" :
				"arm64 has no KVM clock: the guest's counter goes on from the snapshot's value");
		return -EINVAL;
	}
	if (s->nr_vcpus != cfg->machine.vcpu_count) {
		snprintf(err, err_size,
			 "the state file has %u vCPUs, its config %u",
			 s->nr_vcpus, cfg->machine.vcpu_count);
		return -EINVAL;
	}
	if (cfg->machine.huge_pages_2m) {
		snprintf(err, err_size,
			 "snapshots of VMs on huge pages cannot be loaded");
		return -ENOTSUP;
	}
	return 0;
}

/* The state file and its configuration, with the request's overrides,
 * into *cfg (logger and metrics kept). */
static int prepare_load(const struct snapshot_load_cfg *l, struct snap_state *s,
			struct vm_config *cfg, char *err, size_t err_size)
{
	struct vm_config saved;
	struct config_err e = { "" };
	int ret = snap_read_file(l->snapshot_path, s, err, err_size);

	if (ret)
		return ret;
	ret = config_parse_saved(s->config_json, strlen(s->config_json), &saved,
				 &e);
	if (ret)
		snprintf(err, err_size, "the snapshot's configuration: %s",
			 e.msg);
	if (!ret && s->cpu_template &&
	    s->cpu_template->kind == CPU_TEMPLATE_CUSTOM)
		config_put_cpu_config(&saved, s->cpu_template);
	if (!ret)
		ret = apply_overrides(l, &saved, err, err_size);
	if (!ret)
		ret = check_fits(s, &saved, l, err, err_size);
	if (ret) {
		snap_state_free(s);
		return ret;
	}
	saved.logger = cfg->logger;
	saved.metrics = cfg->metrics;
	*cfg = saved;
	return 0;
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

/* The memory file's RAM, mapped MAP_PRIVATE; -ERANGE when its size is not
 * the VM's memory size (RAM and hot-plug region). */
static int map_memory_file(struct vm *vm, const char *path, uint64_t size,
			   uint64_t hotplug_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;
	struct stat st;

	if (fd < 0)
		return -errno;
	ret = fstat(fd, &st) < 0			  ? -errno :
	      (uint64_t)st.st_size != size + hotplug_size ? -ERANGE :
	      vm->warm ? gmem_remap_file(&vm->mem, fd) :
			 gmem_map_file(&vm->mem, size, fd);
	close(fd);
	return ret;
}

/* File: the memory file (pages read on first touch, or prefetched).
 * Uffd: anonymous memory whose pages the handler on backend_path gives
 * (attach_page_server, once the hot-plug region is there too).
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
	} else {
		ret = map_memory_file(
			vm, l->backend_path, size,
			cfg->hotplug.set ?
				(uint64_t)cfg->hotplug.total_size_mib << 20 :
				0);
		if (!ret && o->prefetch)
			prefetch_memory(vm, o->prefetch);
	}
	if (ret)
		return vm_fail(
			vm, ret, "%s backend %s: %s", l->uffd ? "Uffd" : "File",
			l->backend_path,
			ret == -ERANGE ?
				"the memory file's size is not the VM's memory size" :
				strerror(-ret));
	if (vm->warm && !l->track_dirty_pages)
		return 0; /* the slots are in place, without dirty logging */
	return vm_register_memory(vm, l->track_dirty_pages);
}

static int restore_devices(struct vm *vm, const struct snap_state *s)
{
	unsigned i;

	if (s->nr_vdevs != vm->nr_vdevs)
		return vm_fail(
			vm, -EINVAL,
			"the snapshot has %u virtio devices, its config %u",
			s->nr_vdevs, vm->nr_vdevs);
	serial_restore(vm->serial, &s->serial);
	for (i = 0; i < s->nr_vdevs; i++)
		if (s->vdevs[i].index != i ||
		    vdev_restore(vm->vdevs[i], &s->vdevs[i]))
			return vm_fail(
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
}

#ifdef __aarch64__
/* arm64 has no CPUID: each saved register must be one this host's KVM
 * has (the GIC's size too). */
static int check_snapshot_cpu(struct vm *vm, const struct snap_state *s)
{
	char why[sizeof(vm->err)];

	if (snap_check_regs(vm, s, why, sizeof(why)))
		return vm_fail(vm, -ENOTSUP, "%s", why);
	return 0;
}

/* What a warm VM reads of its vCPUs ahead: nothing on arm64 (the load
 * reads each vCPU's register list to check the snapshot's). */
static int read_ahead_cpu(struct vm *vm)
{
	return 0;
}
#else
/* Each vCPU's CPUID as this host made it (a warm VM reads them ahead). */
static int read_ahead_cpu(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->cpuid && !(v->cpuid = cpuid_get_vcpu(v->fd)))
			return vm_fail(vm, -EIO,
				       "KVM_GET_CPUID2 of vCPU %u failed", i);
	}
	return 0;
}

static int check_snapshot_cpu(struct vm *vm, const struct snap_state *s)
{
	char why[sizeof(vm->err)];
	int ret = read_ahead_cpu(vm);

	if (!ret && snap_check_cpuid(vm, s, why, sizeof(why)))
		ret = vm_fail(vm, -ENOTSUP, "%s", why);
	return ret;
}
#endif

/* The VM's and the vCPUs' KVM state, timed: the part of a load or a
 * rewind that grows with the vCPUs (bench/vcpu_state.py reads the line). */
static int restore_kvm_timed(struct vm *vm, const struct snap_state *s,
			     bool clock_realtime, bool set_cpuid)
{
	struct timespec t0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = snap_restore_kvm(vm, s, clock_realtime, set_cpuid, vm->err,
			       sizeof(vm->err));
	if (!ret)
		log_info("KVM state of the VM and its %u vCPUs set in %llu us",
			 vm->nr_vcpus,
			 (unsigned long long)elapsed_us(&t0, CLOCK_MONOTONIC));
	return ret;
}

/* A warm VM takes a snapshot of its own shape only. */
static int take_warm_vm(struct vm *vm, const struct machine_cfg *m)
{
	if (m->vcpu_count != vm->nr_vcpus ||
	    (uint64_t)m->mem_size_mib << 20 != vm->mem.size ||
	    m->smt != vm->smt)
		return vm_fail(
			vm, -EINVAL,
			"this microvm was warmed (--warm) for %u vCPUs, %llu MiB, smt %s; the snapshot has %u vCPUs, %u MiB, smt %s",
			vm->nr_vcpus, (unsigned long long)(vm->mem.size >> 20),
			vm->smt ? "on" : "off", m->vcpu_count, m->mem_size_mib,
			m->smt ? "on" : "off");
	if (m->huge_pages_2m)
		return vm_fail(vm, -EINVAL,
			       "a warm VM cannot take huge-page memory");
	boot_timer_start(&vm->boot_timer);
	return 0;
}

int vm_warm(struct vm *vm, const struct machine_cfg *m, struct event_loop *loop)
{
	int ret = vm_open(vm, m->vcpu_count, loop);

	if (!ret)
		ret = vm_create_memory(vm, m);
	if (!ret)
		ret = vm_create_vcpus(vm, m->smt, NULL);
	if (!ret)
		ret = read_ahead_cpu(vm);
	if (!ret)
		ret = vm_start(vm, true);
	vm->warm = !ret;
	return ret;
}

/* Uffd: RAM and the hot-plug region to the handler, before anything
 * touches them (a page touched first would be a zero page the handler
 * cannot fill). */
static int attach_page_server(struct vm *vm, const struct vm_config *cfg,
			      const struct snapshot_load_cfg *l)
{
	int ret;

	if (!l->uffd)
		return 0;
	ret = snap_uffd_attach(&vm->mem, l->backend_path,
			       cfg->balloon.set || cfg->hotplug.set,
			       &vm->uffd_sock);
	return ret ? vm_fail(vm, ret, "Uffd backend %s: %s", l->backend_path,
			     strerror(-ret)) :
		     0;
}

/* The VM from a checked state: memory from the backend, the devices of
 * cfg in the same slots, then every saved state. */
static int restore_vm(struct vm *vm, const struct vm_config *cfg,
		      const struct snap_state *s,
		      const struct snapshot_load_cfg *l,
		      const struct restore_opts *o, struct event_loop *loop)
{
	int ret = vm->warm ? take_warm_vm(vm, &cfg->machine) :
			     vm_open(vm, cfg->machine.vcpu_count, loop);

	if (!ret && !vm->warm)
		ret = vm_create_vcpus(vm, cfg->machine.smt, NULL);
	if (!ret && s->cpu_template)
		ret = vm_use_cpu_template(vm, s->cpu_template, NULL);
	if (!ret)
		ret = check_snapshot_cpu(vm, s);
	if (!ret)
		ret = map_snapshot_memory(vm, cfg, l, o);
	vm->warm_used = vm->warm && !ret;
	vm->mmds = o->mmds;
	if (!ret)
		ret = vm_add_devices(vm, cfg, o->boot_timer);
	if (!ret && snap_restore_hotplug(&vm->mem, s->hotplug,
					 l->uffd ? NULL : l->backend_path,
					 vm->err, sizeof(vm->err)))
		ret = -EINVAL;
	if (!ret)
		ret = attach_page_server(vm, cfg, l);
	if (!ret && !vm->warm) /* parked: each vCPU thread sets its state */
		ret = vm_start(vm, true);
	if (!ret && (ret = restore_kvm_timed(vm, s, l->clock_realtime, true)))
		return ret;
	if (!ret)
		ret = restore_devices(vm, s);
	if (!ret)
		ret = vm_setup_stdin(vm);
	return ret;
}

struct loaded_snapshot {
	struct snap_state s;
	bool clock_realtime;
};

int snapshot_load(struct vm *vm, const struct snapshot_load_cfg *l,
		  struct vm_config *cfg, const struct restore_opts *o,
		  struct event_loop *loop, struct loaded_snapshot **kept)
{
	struct loaded_snapshot *k = calloc(1, sizeof(*k));
	int ret;

	vm->err[0] = '\0'; /* from a refused load before */
	*kept = NULL;
	if (!k)
		return vm_fail(vm, -ENOMEM, "out of memory");
	ret = prepare_load(l, &k->s, cfg, vm->err, sizeof(vm->err));
	if (ret) {
		free(k);
		return ret;
	}
	k->clock_realtime = l->clock_realtime;
	ret = restore_vm(vm, cfg, &k->s, l, o, loop);
	if (ret)
		snapshot_forget(k);
	else
		*kept = k;
	return ret;
}

void snapshot_forget(struct loaded_snapshot *k)
{
	if (!k)
		return;
	snap_state_free(&k->s);
	free(k);
}

int snapshot_rewind_check(const struct vm *vm, const struct loaded_snapshot *k,
			  char *err, size_t err_size)
{
	if (!k) {
		snprintf(
			err, err_size,
			"this VM was booted, not loaded: a rewind goes back to the snapshot a PUT /snapshot/load loaded");
		return -EINVAL;
	}
	if (vdev_find(vm, VIRTIO_ID_BALLOON, NULL)) {
		snprintf(
			err, err_size,
			"a rewind is not supported with a balloon device (the pages it gave back are no longer the snapshot's; a Uffd page server has noted them removed)");
		return -ENOTSUP;
	}
	if (vdev_find(vm, VIRTIO_ID_MEM, NULL) && !vm->mem.hp.file_private) {
		snprintf(
			err, err_size,
			"a rewind of hot-pluggable memory needs the snapshot loaded from its memory file (\"File\"): a Uffd page server takes the pages a rewind drops as removed");
		return -ENOTSUP;
	}
	if (!vm->mem.logged) {
		snprintf(
			err, err_size,
			"a rewind needs the snapshot loaded with \"track_dirty_pages\": true (KVM's dirty log names the pages written since the load)");
		return -ENOTSUP;
	}
	return 0;
}

/* The hot-plug region first (virtio-mem's restore gives KVM the slots
 * its blocks need), then devices (reset: nothing in flight writes guest
 * RAM any more), then the RAM pages written since the load, then the KVM
 * state from the vCPU threads. */
int snapshot_rewind(struct vm *vm, const struct loaded_snapshot *k,
		    uint64_t *pages_dropped, char *err, size_t err_size)
{
	int ret = snapshot_rewind_check(vm, k, err, err_size);

	vm->err[0] = '\0';
	if (!ret && k->s.hotplug &&
	    (ret = gmem_hotplug_rewind(&vm->mem, k->s.hotplug->plugged)))
		vm_fail(vm, ret, "the hot-plug region: %s", strerror(-ret));
	if (!ret)
		ret = restore_devices(vm, &k->s);
	if (!ret && (ret = snap_rewind_memory(vm, pages_dropped)))
		vm_fail(vm, ret,
			"dropping the pages written since the load: %s",
			strerror(-ret));
	if (!ret)
		ret = restore_kvm_timed(vm, &k->s, k->clock_realtime, false);
	if (ret && vm->err[0])
		snprintf(err, err_size, "%s", vm->err);
	return ret;
}

int snapshot_describe(const char *path, uint32_t *version, char *err,
		      size_t err_size)
{
	return snap_describe(path, version, err, err_size);
}
