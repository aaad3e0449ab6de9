// SPDX-License-Identifier: Apache-2.0
/* PUT /snapshot/create: devices quiesced and saved, the KVM state, the
 * memory file, then the state file (written last and atomically, so a
 * state file always names a complete memory file). PUT /snapshot/load's
 * first half: the untrusted state file and its configuration, with the
 * request's overrides; microvm/builder.c's vm_restore() does the rest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot/snapshot.h"

static int save_devices(struct vm *vm, struct snap_state *s)
{
	unsigned i;

	serial_save(vm->serial, &s->serial);
	for (i = 0; i < vm->nr_vdevs; i++)
		vdev_save(vm->vdevs[i], &s->vdevs[i]);
	s->nr_vdevs = vm->nr_vdevs;
	return snap_save_kvm(vm, s);
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
	if (!s.config_json)
		return -ENOMEM;
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

static int check_fits(const struct snap_state *s, const struct vm_config *cfg,
		      const struct snapshot_load_cfg *l, char *err,
		      size_t err_size)
{
	if (l->clock_realtime && !(s->vm.clock.flags & KVM_CLOCK_REALTIME)) {
		snprintf(
			err, err_size,
			"clock_realtime: the snapshot's KVM clock carries no real time (its host's KVM did not give KVM_CLOCK_REALTIME)");
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

int snapshot_prepare_load(const struct snapshot_load_cfg *l,
			  struct snap_state *s, struct vm_config *cfg,
			  char *err, size_t err_size)
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
