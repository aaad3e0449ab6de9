// SPDX-License-Identifier: Apache-2.0
/* The VMM thread's state machine: Not started -> Running <-> Paused ->
 * exited. Before InstanceStart it owns the configuration; after, the VM.
 * Every API request arrives here (through the api_channel) as a typed
 * api_request; this file applies the phase rules and answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "microvm/microvm.h"
#include "virtio/virtio.h"

#define METRICS_PERIOD_S 60
#define MSG_PRE_BOOT \
	"The requested operation is not supported after starting the microVM."
#define MSG_POST_BOOT \
	"The requested operation is not supported before starting the microVM."

static const char *const state_names[] = {
	[VMM_NOT_STARTED] = "Not started",
	[VMM_RUNNING] = "Running",
	[VMM_PAUSED] = "Paused",
};

static char *info_json(const struct vmm *m)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "id", m->id);
	cJSON_AddStringToObject(o, "state", state_names[m->state]);
	cJSON_AddStringToObject(o, "vmm_version", MICROVM_VERSION);
	cJSON_AddStringToObject(o, "app_name", "microvm");
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static char *version_json(void)
{
	return strdup("{\"firecracker_version\":\"" MICROVM_VERSION "\"}");
}

static void on_vm_exit(void *opaque, uint32_t events)
{
	struct vmm *m = opaque;
	uint64_t n;

	if (read(m->vm.exit_efd, &n, sizeof(n)) < 0)
		return;
	m->exit_code = m->vm.exit_code;
	evl_stop(&m->loop);
}

static int run_built_vm(struct vmm *m, int ret, bool paused, char *err,
			size_t err_size);

/* A VM whose build or load failed goes, unless it is warm and the load
 * was refused before it changed anything. */
static void drop_failed_vm(struct vmm *m)
{
	if (m->vm.warm && !m->vm.warm_used)
		return;
	if (m->vm.exit_efd >= 0)
		evl_remove(&m->loop, m->vm.exit_efd);
	vm_destroy(&m->vm);
}

/* The version and format of the MMDS configuration (the data store and
 * its tokens stay: a loaded snapshot has none, its tokens are foreign). */
static void apply_mmds_cfg(struct vmm *m)
{
	m->mmds.version = m->cfg.mmds.v2 ? MMDS_V2 : MMDS_V1;
	m->mmds.imds_compat = m->cfg.mmds.imds_compat;
}

int vmm_instance_start(struct vmm *m, char *err, size_t err_size)
{
	int ret;

	if (m->warm) {
		snprintf(
			err, err_size,
			"this microvm was started with --warm: it only loads snapshots (PUT /snapshot/load); boot kernels in a microvm started without --warm");
		return -EINVAL;
	}
	if (!m->cfg.boot.set) {
		snprintf(
			err, err_size,
			"InstanceStart needs a boot source: PUT /boot-source first");
		return -EINVAL;
	}
	apply_mmds_cfg(m);
	ret = vm_build(&m->vm, &m->cfg, m->boot_timer, &m->mmds, &m->loop);
	return run_built_vm(m, ret, false, err, err_size);
}

/* After vm_build/snapshot_load (`ret` is theirs): watch the VM's exit, start
 * the vCPUs (parked at once when `paused`), filter the VMM thread. */
static int run_built_vm(struct vmm *m, int ret, bool paused, char *err,
			size_t err_size)
{
	if (!ret && !m->warm) /* a warm VM's is watched already */
		ret = evl_add(&m->loop, m->vm.exit_efd, on_vm_exit, m);
	if (!ret)
		ret = vm_start(&m->vm, paused);
	if (!ret && seccomp_enabled && seccomp_install(SECCOMP_THREAD_VMM)) {
		snprintf(m->vm.err, sizeof(m->vm.err),
			 "cannot install the VMM thread's seccomp filter");
		ret = -EPERM;
	}
	if (ret) {
		snprintf(err, err_size, "%s",
			 m->vm.err[0] ? m->vm.err : strerror(-ret));
		drop_failed_vm(m);
		return ret;
	}
	m->state = paused ? VMM_PAUSED : VMM_RUNNING;
	seccomp_test_hook("vmm");
	return 0;
}

static void handle_snapshot_create(struct vmm *m,
				   const struct snapshot_create_cfg *c,
				   struct api_response *r)
{
	char err[512];

	if (m->state != VMM_PAUSED) {
		api_error(
			r, 400,
			"a snapshot needs a paused VM: PATCH /vm {\"state\": \"Paused\"} first");
		return;
	}
	if (snapshot_create(&m->vm, &m->cfg, c, err, sizeof(err)))
		api_error(r, 400, "snapshot/create failed: %s", err);
}

/* PUT and PATCH /mmds answer 413 when the store would exceed its limit,
 * 400 otherwise, in Firecracker's words; GET /mmds an empty store as {}. */
static void handle_mmds(struct vmm *m, const struct api_request *req,
			struct api_response *r)
{
	const char *err = "";
	int ret;

	if (req->op == OP_GET_MMDS) {
		r->status = 200;
		r->body = mmds_store_json(&m->mmds.store);
		if (!r->body)
			api_error(r, 400, "MMDS error: out of memory.");
		return;
	}
	if (req->op == OP_PUT_MMDS)
		ret = mmds_store_put(&m->mmds.store, req->u.mmds_data, &err);
	else
		ret = mmds_store_patch(&m->mmds.store, req->u.mmds_data, &err);
	if (ret)
		api_error(r, ret == -E2BIG ? 413 : 400, "%s", err);
}

/* Loads into this fresh process: nothing but the logger and metrics may
 * have been configured. Logs how long the load took on this thread (from
 * the request to the vCPUs released). */
static void handle_snapshot_load(struct vmm *m,
				 const struct snapshot_load_cfg *l,
				 struct api_response *r)
{
	struct vm_config cfg = m->cfg;
	struct restore_opts o = { m->boot_timer, m->prefetch, &m->mmds };
	struct timespec start;
	bool warm = m->vm.warm;
	char err[512];
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (m->cfg.boot.set || m->cfg.nr_drives || m->cfg.nr_nets ||
	    m->cfg.vsock.set || m->cfg.entropy.set || m->cfg.balloon.set ||
	    m->cfg.hotplug.set) {
		api_error(
			r, 400,
			"snapshot/load needs a fresh microvm: this one already has a configuration");
		return;
	}
	if (m->warm && !m->vm.warm) {
		api_error(
			r, 400,
			"this warm microvm's VM was released by a failed snapshot/load; start a new microvm --warm");
		return;
	}
	ret = snapshot_load(&m->vm, l, &cfg, &o, &m->loop, &m->loaded);
	ret = run_built_vm(m, ret, !l->resume_vm, err, sizeof(err));
	if (ret) {
		snapshot_forget(m->loaded);
		m->loaded = NULL;
		api_error(r, 400, "snapshot/load failed: %s", err);
		return;
	}
	vm_serve_restored(&m->vm);
	m->cfg = cfg;
	apply_mmds_cfg(m);
	log_info("snapshot %s loaded (%s backend%s) in %llu us, VM %s",
		 l->snapshot_path, l->uffd ? "Uffd" : "File",
		 warm ? ", warm" : "",
		 (unsigned long long)elapsed_us(&start, CLOCK_MONOTONIC),
		 l->resume_vm ? "running" : "paused");
}

/* microvm's own: memory, vCPUs and devices back to the loaded snapshot,
 * in this process and KVM VM; logs how long it took on this thread (from
 * the request to the vCPUs released). */
static void handle_snapshot_rewind(struct vmm *m, bool resume,
				   struct api_response *r)
{
	struct timespec start;
	uint64_t pages = 0;
	char err[512];

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (snapshot_rewind_check(&m->vm, m->loaded, err, sizeof(err))) {
		api_error(r, 400, "snapshot/rewind: %s", err);
		return;
	}
	if (m->state == VMM_RUNNING)
		vm_pause(&m->vm);
	m->state = VMM_PAUSED;
	if (snapshot_rewind(&m->vm, m->loaded, &pages, err, sizeof(err))) {
		api_error(r, 400,
			  "snapshot/rewind failed: %s (the VM is paused)", err);
		return;
	}
	if (resume) {
		vm_resume(&m->vm);
		m->state = VMM_RUNNING;
	}
	vm_serve_restored(&m->vm);
	log_info(
		"snapshot rewound: %llu pages written since the load dropped, in %llu us, VM %s",
		(unsigned long long)pages,
		(unsigned long long)elapsed_us(&start, CLOCK_MONOTONIC),
		resume ? "running" : "paused");
}

int vmm_warm(struct vmm *m, const struct machine_cfg *shape)
{
	int ret = vm_warm(&m->vm, shape, &m->loop);

	if (!ret)
		ret = evl_add(&m->loop, m->vm.exit_efd, on_vm_exit, m);
	if (ret) {
		log_err("--warm: %s",
			m->vm.err[0] ? m->vm.err : strerror(-ret));
		vm_destroy(&m->vm);
		return ret == -ENOMEM ? EXIT_BAD_CONFIG : EXIT_INTERNAL;
	}
	m->warm = true;
	log_info(
		"warm: KVM VM with %u vCPUs and %u MiB waits for /snapshot/load",
		shape->vcpu_count, shape->mem_size_mib);
	return 0;
}

int vmm_seal_warm(struct vmm *m)
{
	if (!m->warm || !seccomp_enabled ||
	    !seccomp_install(SECCOMP_THREAD_VMM | SECCOMP_THREAD_LOAD))
		return 0;
	log_err("cannot install the warm VMM thread's seccomp filter");
	return EXIT_INTERNAL;
}

/* Requests allowed only before InstanceStart / only after it. */
static bool is_pre_boot_op(enum api_op op)
{
	switch (op) {
	case OP_PUT_BOOT_SOURCE:
	case OP_PUT_MACHINE:
	case OP_PATCH_MACHINE:
	case OP_PUT_CPU_CONFIG:
	case OP_PUT_DRIVE:
	case OP_PUT_NET:
	case OP_PUT_VSOCK:
	case OP_PUT_ENTROPY:
	case OP_PUT_BALLOON:
	case OP_PUT_HOTPLUG:
	case OP_INSTANCE_START:
	case OP_SNAPSHOT_LOAD:
	case OP_PUT_MMDS_CONFIG:
		return true;
	default:
		return false;
	}
}

static bool is_hinting_op(enum api_op op)
{
	return op == OP_BALLOON_HINT_START || op == OP_BALLOON_HINT_STOP ||
	       op == OP_GET_BALLOON_HINTING;
}

static bool is_post_boot_op(enum api_op op)
{
	return op == OP_PATCH_DRIVE || op == OP_PATCH_NET ||
	       op == OP_PATCH_VM || op == OP_SEND_CTRL_ALT_DEL ||
	       op == OP_SNAPSHOT_CREATE || op == OP_SNAPSHOT_REWIND ||
	       op == OP_PATCH_BALLOON || op == OP_PATCH_BALLOON_STATS ||
	       op == OP_GET_BALLOON_STATS || is_hinting_op(op) ||
	       op == OP_PATCH_HOTPLUG;
}

static void handle_get(struct vmm *m, enum api_op op, struct api_response *r)
{
	r->status = 200;
	if (op == OP_GET_INFO)
		r->body = info_json(m);
	else if (op == OP_GET_VERSION)
		r->body = version_json();
	else if (op == OP_GET_MACHINE)
		r->body = machine_to_json(&m->cfg.machine);
	else
		r->body = config_to_json(&m->cfg);
}

static void handle_pause(struct vmm *m, bool pause, struct api_response *r)
{
	if (pause && m->state == VMM_RUNNING) {
		vm_pause(&m->vm);
		m->state = VMM_PAUSED;
	} else if (!pause && m->state == VMM_PAUSED) {
		vm_resume(&m->vm);
		m->state = VMM_RUNNING;
	}
	log_info("VM %s", pause ? "paused" : "resumed");
}

static void handle_logger(const struct logger_cfg *l, struct api_response *r)
{
	int ret = log_configure(l);

	if (ret)
		api_error(r, 400, "logger.log_path: cannot open '%s': %s",
			  l->path, strerror(-ret));
}

static void handle_metrics(struct vmm *m, const struct metrics_cfg *c,
			   struct api_response *r)
{
	int ret = metrics_open(c->path);

	if (ret == -EALREADY)
		api_error(
			r, 400,
			"metrics are already configured; they cannot be reconfigured");
	else if (ret)
		api_error(r, 400, "metrics.metrics_path: cannot open '%s': %s",
			  c->path, strerror(-ret));
	else
		m->cfg.metrics = *c;
}

/* With no metrics configured there is nothing to flush: 204, as
 * Firecracker answers. */
static void handle_flush(struct api_response *r)
{
	int ret = metrics_flush();

	if (ret && ret != -ENODEV)
		api_error(r, 400, "FlushMetrics: %s", strerror(-ret));
}

/* What a drive PATCH changed, into the config (GET /vm/config, snapshots). */
static void update_drive_cfg(struct vm_config *cfg, const struct drive_patch *p)
{
	unsigned i;

	for (i = 0; i < cfg->nr_drives; i++) {
		if (strcmp(cfg->drives[i].id, p->id))
			continue;
		if (p->has_path)
			strcpy(cfg->drives[i].path, p->path);
		config_patch_rate_limiter(&cfg->drives[i].rl, &p->rl);
	}
}

static void handle_config(struct vmm *m, const struct api_request *req,
			  struct api_response *r)
{
	struct config_err e = { "" };
	int ret = 0;

	switch (req->op) {
	case OP_PUT_BOOT_SOURCE:
		m->cfg.boot = req->u.boot;
		break;
	case OP_PUT_MACHINE:
		config_put_machine(&m->cfg, &req->u.machine.v);
		break;
	case OP_PUT_CPU_CONFIG:
		config_put_cpu_config(&m->cfg, &req->u.cpu_config);
		break;
	case OP_PATCH_MACHINE:
		ret = config_patch_machine(&m->cfg, &req->u.machine, &e);
		break;
	case OP_PUT_DRIVE:
		ret = config_put_drive(&m->cfg, &req->u.drive, &e);
		break;
	case OP_PUT_NET:
		ret = config_put_net(&m->cfg, &req->u.net, &e);
		break;
	case OP_PUT_VSOCK:
		ret = config_put_vsock(&m->cfg, &req->u.vsock, &e);
		break;
	case OP_PUT_MMDS_CONFIG:
		ret = config_put_mmds(&m->cfg, &req->u.mmds_cfg, &e);
		break;
	case OP_PUT_BALLOON:
		ret = config_put_balloon(&m->cfg, &req->u.balloon, &e);
		break;
	case OP_PUT_HOTPLUG:
		ret = config_put_hotplug(&m->cfg, &req->u.hotplug, &e);
		break;
	default: /* OP_PUT_ENTROPY */
		ret = config_put_entropy(&m->cfg, &req->u.entropy, &e);
		break;
	}
	if (ret)
		api_error(r, 400, "%s", e.msg);
}

#define MSG_NO_LIMITER                                                          \
	"%s '%s': a rate limiter can only be changed after boot if the %s was " \
	"created with one"

static void patch_drive(struct vmm *m, const struct drive_patch *p,
			struct api_response *r)
{
	struct vdev *d = vdev_find(&m->vm, VIRTIO_ID_BLOCK, p->id);
	int ret;

	if (!d) {
		api_error(r, 400, "drive '%s' does not exist", p->id);
		return;
	}
	ret = vblk_update(d, p);
	if (ret == -ENOTSUP)
		api_error(r, 400, MSG_NO_LIMITER, "drive", p->id, "drive");
	else if (ret)
		api_error(r, 400, "drive '%s': cannot use '%s': %s", p->id,
			  p->path, strerror(-ret));
	else
		update_drive_cfg(&m->cfg, p);
}

static void patch_net(struct vmm *m, const struct net_patch *p,
		      struct api_response *r)
{
	struct vdev *d = vdev_find(&m->vm, VIRTIO_ID_NET, p->id);
	unsigned i;

	if (!d) {
		api_error(r, 400, "network interface '%s' does not exist",
			  p->id);
		return;
	}
	if (vnet_update(d, p)) {
		api_error(r, 400, MSG_NO_LIMITER, "network interface", p->id,
			  "direction");
		return;
	}
	for (i = 0; i < m->cfg.nr_nets; i++) {
		if (strcmp(m->cfg.nets[i].id, p->id))
			continue;
		config_patch_rate_limiter(&m->cfg.nets[i].rx, &p->rx);
		config_patch_rate_limiter(&m->cfg.nets[i].tx, &p->tx);
	}
}

#define MSG_NO_BALLOON "No balloon device found." /* Firecracker's */

/* GET /balloon: its configuration, with the target PATCHed last. */
static void get_balloon(struct vmm *m, struct api_response *r)
{
	cJSON *o;

	if (!m->cfg.balloon.set) {
		api_error(r, 400, MSG_NO_BALLOON);
		return;
	}
	o = config_write(&balloon_schema, &m->cfg.balloon);
	r->status = 200;
	r->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
}

/* GET /balloon/statistics: Firecracker's names, the sizes always, each
 * statistic once the guest has sent it. */
static void get_balloon_stats(struct vdev *d, struct api_response *r)
{
	static const char *const names[BALLOON_NR_STATS] = {
		"swap_in",	    "swap_out",	   "major_faults",
		"minor_faults",	    "free_memory", "total_memory",
		"available_memory", "disk_caches", "hugetlb_allocations",
		"hugetlb_failures", "oom_kill",	   "alloc_stall",
		"async_scan",	    "direct_scan", "async_reclaim",
		"direct_reclaim",
	};
	struct balloon_stats st;
	cJSON *o = cJSON_CreateObject();
	unsigned i;

	vballoon_stats(d, &st);
	cJSON_AddNumberToObject(o, "target_pages", st.target_pages);
	cJSON_AddNumberToObject(o, "actual_pages", st.actual_pages);
	cJSON_AddNumberToObject(o, "target_mib",
				st.target_pages / BALLOON_PAGES_PER_MIB);
	cJSON_AddNumberToObject(o, "actual_mib",
				st.actual_pages / BALLOON_PAGES_PER_MIB);
	for (i = 0; i < BALLOON_NR_STATS; i++)
		if (st.present & (1U << i))
			cJSON_AddNumberToObject(o, names[i],
						(double)st.value[i]);
	r->status = 200;
	r->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
}

static void handle_balloon(struct vmm *m, const struct api_request *req,
			   struct api_response *r)
{
	struct vdev *d = vdev_find(&m->vm, VIRTIO_ID_BALLOON, NULL);
	struct balloon_cfg *cfg = &m->cfg.balloon;
	unsigned mib = req->u.balloon_patch.amount_mib;

	if (!d) {
		api_error(r, 400, MSG_NO_BALLOON);
	} else if (req->op == OP_GET_BALLOON_STATS) {
		if (cfg->stats_interval_s)
			get_balloon_stats(d, r);
		else
			api_error(
				r, 400,
				"Statistics for the balloon device are not enabled: set stats_polling_interval_s in PUT /balloon before boot");
	} else if (req->op == OP_PATCH_BALLOON_STATS) {
		if (!req->u.balloon_stats.has_stats_interval_s)
			api_error(
				r, 400,
				"balloon/statistics: stats_polling_interval_s is required");
		else if (vballoon_set_stats_interval(
				 d, req->u.balloon_stats.stats_interval_s))
			api_error(
				r, 400,
				"balloon/statistics: statistics cannot be turned on or off after boot (stats_polling_interval_s is %u)",
				cfg->stats_interval_s);
		else
			cfg->stats_interval_s =
				req->u.balloon_stats.stats_interval_s;
	} else if (!req->u.balloon_patch.has_amount_mib) {
		api_error(r, 400, "balloon: amount_mib is required");
	} else if (mib > m->cfg.machine.mem_size_mib) {
		api_error(
			r, 400,
			"balloon.amount_mib: %u MiB is more than the guest's memory (%u MiB)",
			mib, m->cfg.machine.mem_size_mib);
	} else {
		vballoon_set_target(d, mib);
		cfg->amount_mib = mib;
	}
}

/* /balloon/hinting/start, /stop, /status. */
static void handle_hinting(struct vmm *m, const struct api_request *req,
			   struct api_response *r)
{
	struct vdev *d = vdev_find(&m->vm, VIRTIO_ID_BALLOON, NULL);
	struct balloon_hint_status st;
	cJSON *o;
	int ret;

	if (!d) {
		api_error(r, 400, MSG_NO_BALLOON);
		return;
	}
	if (req->op == OP_BALLOON_HINT_START)
		ret = vballoon_hint_start(d, req->u.hint_ack_on_stop);
	else if (req->op == OP_BALLOON_HINT_STOP)
		ret = vballoon_hint_stop(d);
	else
		ret = vballoon_hint_status(d, &st);
	if (ret) {
		api_error(
			r, 400,
			"Free page hinting for the balloon device is not enabled: set free_page_hinting in PUT /balloon before boot");
		return;
	}
	if (req->op != OP_GET_BALLOON_HINTING)
		return;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "host_cmd", st.host_cmd);
	if (st.guest_cmd_set)
		cJSON_AddNumberToObject(o, "guest_cmd", st.guest_cmd);
	else
		cJSON_AddNullToObject(o, "guest_cmd");
	r->status = 200;
	r->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
}

#define MSG_NO_HOTPLUG                                                    \
	"No hot-pluggable memory: configure it with PUT /hotplug/memory " \
	"before boot"

/* GET /hotplug/memory: the configuration, and the sizes once the VM runs
 * (before boot nothing is plugged or requested). */
static void get_hotplug(struct vmm *m, struct api_response *r)
{
	struct vdev *d = vdev_find(&m->vm, VIRTIO_ID_MEM, NULL);
	const struct hotplug_cfg *h = &m->cfg.hotplug;
	struct vmem_status st = { 0, 0 };
	cJSON *o;

	if (!h->set) {
		api_error(r, 400, MSG_NO_HOTPLUG);
		return;
	}
	if (d)
		vmem_status(d, &st);
	o = config_write(&hotplug_schema, h);
	cJSON_AddNumberToObject(o, "plugged_size_mib", st.plugged_mib);
	cJSON_AddNumberToObject(o, "requested_size_mib", st.requested_mib);
	r->status = 200;
	r->body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
}

/* PATCH /hotplug/memory: a multiple of the block, up to the total. */
static void patch_hotplug(struct vmm *m, const struct hotplug_patch *p,
			  struct api_response *r)
{
	struct vdev *d = vdev_find(&m->vm, VIRTIO_ID_MEM, NULL);
	const struct hotplug_cfg *h = &m->cfg.hotplug;

	if (!d)
		api_error(r, 400, MSG_NO_HOTPLUG);
	else if (!p->has_requested_size_mib)
		api_error(r, 400,
			  "hotplug/memory: requested_size_mib is required");
	else if (p->requested_size_mib % h->block_size_mib)
		api_error(
			r, 400,
			"hotplug/memory: requested_size_mib (%u) must be a multiple of block_size_mib (%u)",
			p->requested_size_mib, h->block_size_mib);
	else if (p->requested_size_mib > h->total_size_mib)
		api_error(
			r, 400,
			"hotplug/memory: requested_size_mib (%u) is more than total_size_mib (%u)",
			p->requested_size_mib, h->total_size_mib);
	else
		vmem_set_requested(d, p->requested_size_mib);
}

static void handle_post_boot(struct vmm *m, const struct api_request *req,
			     struct api_response *r)
{
	if (is_hinting_op(req->op)) {
		handle_hinting(m, req, r);
	} else if (req->op == OP_PATCH_HOTPLUG) {
		patch_hotplug(m, &req->u.hotplug_patch, r);
	} else if (req->op == OP_PATCH_BALLOON ||
		   req->op == OP_PATCH_BALLOON_STATS ||
		   req->op == OP_GET_BALLOON_STATS) {
		handle_balloon(m, req, r);
	} else if (req->op == OP_PATCH_VM) {
		handle_pause(m, req->u.pause, r);
	} else if (req->op == OP_SEND_CTRL_ALT_DEL) {
		if (vm_send_ctrl_alt_del(&m->vm))
			api_error(
				r, 400,
				"SendCtrlAltDel needs an i8042 keyboard: x86_64 only (as in Firecracker)");
	} else if (req->op == OP_SNAPSHOT_CREATE) {
		handle_snapshot_create(m, &req->u.snap_create, r);
	} else if (req->op == OP_SNAPSHOT_REWIND) {
		handle_snapshot_rewind(m, req->u.rewind_resume, r);
	} else if (req->op == OP_PATCH_DRIVE) {
		patch_drive(m, &req->u.drive_patch, r);
	} else {
		patch_net(m, &req->u.net_patch, r);
	}
}

static void dispatch(struct vmm *m, const struct api_request *req,
		     struct api_response *r)
{
	char err[512];

	if (is_pre_boot_op(req->op) && m->state != VMM_NOT_STARTED) {
		api_error(r, 400, MSG_PRE_BOOT);
	} else if (is_post_boot_op(req->op) && m->state == VMM_NOT_STARTED) {
		api_error(r, 400, MSG_POST_BOOT);
	} else if (req->op <= OP_GET_VM_CONFIG) {
		handle_get(m, req->op, r);
	} else if (req->op == OP_GET_BALLOON) {
		get_balloon(m, r);
	} else if (req->op == OP_GET_HOTPLUG) {
		get_hotplug(m, r);
	} else if (req->op == OP_SNAPSHOT_LOAD) {
		handle_snapshot_load(m, &req->u.snap_load, r);
	} else if (req->op == OP_INSTANCE_START) {
		if (vmm_instance_start(m, err, sizeof(err)))
			api_error(r, 400, "InstanceStart failed: %s", err);
	} else if (req->op == OP_PUT_LOGGER) {
		handle_logger(&req->u.logger, r);
	} else if (req->op == OP_PUT_METRICS) {
		handle_metrics(m, &req->u.metrics, r);
	} else if (req->op == OP_FLUSH_METRICS) {
		handle_flush(r);
	} else if (req->op == OP_GET_MMDS || req->op == OP_PUT_MMDS ||
		   req->op == OP_PATCH_MMDS) {
		handle_mmds(m, req, r);
	} else if (is_post_boot_op(req->op)) {
		handle_post_boot(m, req, r);
	} else {
		handle_config(m, req, r);
	}
}

/* The api_channel handler: runs on the VMM thread. */
static void vmm_handle(void *opaque, const struct api_request *req,
		       struct api_response *r)
{
	struct vmm *m = opaque;

	r->status = 204;
	dispatch(m, req, r);
	if (r->status >= 400)
		log_warn("API request failed: %s", r->body ? r->body : "");
}

static void on_api_request(void *opaque, uint32_t events)
{
	struct vmm *m = opaque;

	api_channel_serve(&m->ch, vmm_handle, m);
}

static void on_metrics_timer(void *opaque, uint32_t events)
{
	struct vmm *m = opaque;
	uint64_t n;

	if (read(m->metrics_timer_fd, &n, sizeof(n)) < 0)
		return;
	if (metrics_flush() == 0)
		log_debug("metrics flushed");
}

/* SIGINT, SIGTERM, SIGHUP: stop the VM and exit 128 + signal. */
static void on_signal(void *opaque, uint32_t events)
{
	struct vmm *m = opaque;
	struct signalfd_siginfo si;

	if (read(m->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("stopping on signal %u", si.ssi_signo);
	m->exit_code = 128 + (int)si.ssi_signo;
	evl_stop(&m->loop);
}

/* Blocks the stop signals in this thread (and every thread it creates
 * later) and receives them through a signalfd on the loop instead. */
static int watch_signals(struct vmm *m)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	m->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->signal_fd < 0)
		return -errno;
	return evl_add(&m->loop, m->signal_fd, on_signal, m);
}

static int start_metrics_timer(struct vmm *m)
{
	struct itimerspec period = { { METRICS_PERIOD_S, 0 },
				     { METRICS_PERIOD_S, 0 } };

	m->metrics_timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->metrics_timer_fd < 0 ||
	    timerfd_settime(m->metrics_timer_fd, 0, &period, NULL) < 0)
		return -errno;
	return evl_add(&m->loop, m->metrics_timer_fd, on_metrics_timer, m);
}

int vmm_init(struct vmm *m, const char *id, bool boot_timer, size_t mmds_limit)
{
	int ret;

	memset(m, 0, sizeof(*m));
	m->metrics_timer_fd = m->signal_fd = -1;
	vm_init_empty(&m->vm, &m->loop);
	vm_config_init(&m->cfg);
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->boot_timer = boot_timer;
	ret = mmds_init(&m->mmds, mmds_limit);
	if (!ret)
		ret = evl_init(&m->loop);
	if (!ret)
		ret = api_channel_init(&m->ch);
	if (!ret)
		ret = evl_add(&m->loop, m->ch.wake_fd, on_api_request, m);
	if (!ret)
		ret = start_metrics_timer(m);
	if (!ret)
		ret = watch_signals(m);
	return ret;
}

int vmm_run(struct vmm *m)
{
	int ret = evl_run(&m->loop);

	if (ret) {
		log_err("VMM event loop: %s", strerror(-ret));
		return EXIT_INTERNAL;
	}
	return m->exit_code;
}

void vmm_destroy(struct vmm *m)
{
	if (m->state != VMM_NOT_STARTED)
		vm_destroy(&m->vm);
	if (metrics_flush() == -EIO)
		log_warn("last metrics flush was short");
	if (m->metrics_timer_fd >= 0)
		close(m->metrics_timer_fd);
	if (m->signal_fd >= 0)
		close(m->signal_fd);
	evl_destroy(&m->loop);
	mmds_destroy(&m->mmds);
	snapshot_forget(m->loaded);
}
