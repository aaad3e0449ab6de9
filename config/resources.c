// SPDX-License-Identifier: Apache-2.0
/* The resources of the API and the config file, one table each: every
 * JSON field, its type, where it lives, its bounds, whether a PUT needs it
 * and a PATCH may change it. schema.c reads and writes bodies with them;
 * CONTRIBUTING.md says how to add one. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"

#define JSON_MAX_SAFE_INT 9007199254740992.0 /* 2^53 */
#define NONE_ROW     \
	{            \
		NULL \
	}

static bool named(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	return v && !cJSON_IsNull(v);
}

/* ---- rate limiters: nested in drives, interfaces and entropy ---- */

/* A bucket limits only when both its size and refill time are set. */
static int bucket_check(void *obj, const cJSON *j, const char *where,
			struct config_err *e)
{
	struct token_bucket *b = obj;

	b->set = b->size && b->refill_time_ms;
	return 0;
}

static const struct field bucket_fields[] = {
	FIELD("size", T_INT, struct token_bucket, size, .flags = F_REQUIRED,
	      .max = JSON_MAX_SAFE_INT),
	FIELD("one_time_burst", T_INT, struct token_bucket, one_time_burst,
	      .max = JSON_MAX_SAFE_INT),
	FIELD("refill_time", T_INT, struct token_bucket, refill_time_ms,
	      .flags = F_REQUIRED, .max = (double)RL_MAX_REFILL_TIME_MS),
	{ .name = NULL },
};
static const struct schema bucket_schema = {
	.fields = bucket_fields,
	.size = sizeof(struct token_bucket),
	CONFIGURED(struct token_bucket, set),
	.check = bucket_check,
};

/* null, {} and a missing bucket all mean "unlimited"; a PATCH changes
 * only the buckets it names (Firecracker's BucketUpdate). */
static const struct field rate_limiter_fields[] = {
	FIELD("bandwidth", T_OBJECT, struct rate_limiter_cfg, bandwidth,
	      .sub = &bucket_schema,
	      GIVEN(struct rate_limiter_cfg, bandwidth.present)),
	FIELD("ops", T_OBJECT, struct rate_limiter_cfg, ops,
	      .sub = &bucket_schema,
	      GIVEN(struct rate_limiter_cfg, ops.present)),
	{ .name = NULL },
};
const struct schema rate_limiter_schema = {
	.fields = rate_limiter_fields,
	.size = sizeof(struct rate_limiter_cfg),
};

/* ---- boot source, machine ---- */

static const struct field boot_source_fields[] = {
	FIELD("kernel_image_path", T_STRING, struct boot_source_cfg,
	      kernel_path, .flags = F_REQUIRED | F_READABLE),
	FIELD("initrd_path", T_STRING, struct boot_source_cfg, initrd_path,
	      .flags = F_READABLE | F_OMIT_EMPTY),
	FIELD("boot_args", T_STRING, struct boot_source_cfg, boot_args,
	      .dflt = DEFAULT_BOOT_ARGS),
	{ .name = NULL },
};
const struct schema boot_source_schema = {
	.fields = boot_source_fields,
	.size = sizeof(struct boot_source_cfg),
	CONFIGURED(struct boot_source_cfg, set),
};

int machine_check(const struct machine_cfg *m, struct config_err *e)
{
	if (m->smt && m->vcpu_count > 1 && m->vcpu_count % 2)
		return config_fail(
			e,
			"machine-config: with smt, vcpu_count must be 1 or even");
	if (m->huge_pages_2m && m->mem_size_mib % 2)
		return config_fail(
			e,
			"machine-config: with 2M huge pages, mem_size_mib must be even");
	if (m->cpu_template != CPU_TEMPLATE_NONE &&
	    cpu_template_arch_check("machine-config: cpu_template", e))
		return -EINVAL;
	return 0;
}

static int machine_check_put(void *obj, const cJSON *j, const char *where,
			     struct config_err *e)
{
	return machine_check(obj, e);
}

static const char *const huge_pages[] = { "None", "2M", NULL };
/* by enum cpu_template_kind */
static const char *const cpu_templates[] = { "None", "C3",  "T2", "T2S",
					     "T2CL", "T2A", NULL };

/* A PATCH is checked by config_patch_machine(), on the merged result. */
static const struct field machine_fields[] = {
	FIELD("vcpu_count", T_INT, struct machine_cfg, vcpu_count,
	      .flags = F_REQUIRED, .min = 1, .max = CONFIG_MAX_VCPUS,
	      PATCH(struct machine_patch, v.vcpu_count),
	      PATCH_GIVEN(struct machine_patch, has_vcpu_count)),
	FIELD("mem_size_mib", T_INT, struct machine_cfg, mem_size_mib,
	      .flags = F_REQUIRED, .min = 1, .max = CONFIG_MAX_MEM_MIB,
	      PATCH(struct machine_patch, v.mem_size_mib),
	      PATCH_GIVEN(struct machine_patch, has_mem_size_mib)),
	FIELD("smt", T_BOOL, struct machine_cfg, smt,
	      PATCH(struct machine_patch, v.smt),
	      PATCH_GIVEN(struct machine_patch, has_smt)),
	FIELD("track_dirty_pages", T_BOOL, struct machine_cfg,
	      track_dirty_pages,
	      PATCH(struct machine_patch, v.track_dirty_pages),
	      PATCH_GIVEN(struct machine_patch, has_track_dirty_pages)),
	FIELD("huge_pages", T_ENUM, struct machine_cfg, huge_pages_2m,
	      .names = huge_pages, PATCH(struct machine_patch, v.huge_pages_2m),
	      PATCH_GIVEN(struct machine_patch, has_huge_pages)),
	/* deprecated in Firecracker (Deprecation: true even for "None");
	 * GET shows a static one only */
	FIELD("cpu_template", T_ENUM, struct machine_cfg, cpu_template,
	      .names = cpu_templates, .flags = F_DEPRECATED | F_OMIT_EMPTY,
	      GIVEN(struct machine_cfg, cpu_template_given),
	      PATCH(struct machine_patch, v.cpu_template),
	      PATCH_GIVEN(struct machine_patch, has_cpu_template)),
	{ .name = NULL },
};
const struct schema machine_schema = {
	.fields = machine_fields,
	.size = sizeof(struct machine_cfg),
	.patch_size = sizeof(struct machine_patch),
	.check = machine_check_put,
};

/* ---- drives, network interfaces ---- */

static const char *const cache_types[] = { "Unsafe", "Writeback", NULL };
static const char *const io_engines[] = { "Sync", "Async", NULL };

static const struct field drive_fields[] = {
	{ .name = "socket",
	  .type = T_REFUSED,
	  .why = "vhost-user drives are not supported" },
	FIELD("drive_id", T_ID, struct drive_cfg, id, .flags = F_KEY,
	      PATCH(struct drive_patch, id)),
	FIELD("path_on_host", T_STRING, struct drive_cfg, path,
	      .flags = F_REQUIRED | F_READABLE, PATCH(struct drive_patch, path),
	      PATCH_GIVEN(struct drive_patch, has_path)),
	FIELD("is_root_device", T_BOOL, struct drive_cfg, is_root,
	      .flags = F_REQUIRED),
	FIELD("is_read_only", T_BOOL, struct drive_cfg, read_only),
	FIELD("partuuid", T_STRING, struct drive_cfg, partuuid,
	      .flags = F_OMIT_EMPTY),
	FIELD("cache_type", T_ENUM, struct drive_cfg, cache,
	      .names = cache_types),
	FIELD("io_engine", T_ENUM, struct drive_cfg, engine,
	      .names = io_engines),
	FIELD("rate_limiter", T_OBJECT, struct drive_cfg, rl,
	      .sub = &rate_limiter_schema, PATCH(struct drive_patch, rl),
	      PATCH_GIVEN(struct drive_patch, has_rl)),
	{ .name = NULL },
};
const struct schema drive_schema = {
	.fields = drive_fields,
	.size = sizeof(struct drive_cfg),
	.patch_size = sizeof(struct drive_patch),
};

static int parse_mac(const char *s, void *out)
{
	uint8_t *mac = out;
	unsigned b[6], i;
	char end;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return (mac[0] & 1) ? -EINVAL : 0; /* no multicast MACs */
}

static void print_mac(const void *in, char *buf, size_t size)
{
	const uint8_t *m = in;

	snprintf(buf, size, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

static const struct codec mac_codec = {
	parse_mac, print_mac, "a unicast MAC like 06:00:ac:10:00:02"
};

static const struct field net_fields[] = {
	FIELD("iface_id", T_ID, struct net_cfg, id, .flags = F_KEY,
	      PATCH(struct net_patch, id)),
	FIELD("host_dev_name", T_STRING, struct net_cfg, host_dev,
	      .flags = F_REQUIRED | F_NONEMPTY),
	FIELD("guest_mac", T_TEXT, struct net_cfg, mac, .codec = &mac_codec,
	      GIVEN(struct net_cfg, has_mac)),
	FIELD("mtu", T_INT, struct net_cfg, mtu, .flags = F_OMIT_EMPTY,
	      .min = NET_MTU_MIN, .max = NET_MTU_MAX),
	FIELD("rx_rate_limiter", T_OBJECT, struct net_cfg, rx,
	      .sub = &rate_limiter_schema, PATCH(struct net_patch, rx)),
	FIELD("tx_rate_limiter", T_OBJECT, struct net_cfg, tx,
	      .sub = &rate_limiter_schema, PATCH(struct net_patch, tx)),
	{ .name = NULL },
};
const struct schema net_schema = {
	.fields = net_fields,
	.size = sizeof(struct net_cfg),
	.patch_size = sizeof(struct net_patch),
};

/* ---- vsock, entropy ---- */

static const struct field vsock_fields[] = {
	/* any string, as Firecracker takes (flintlock sends "guest-agent");
	 * kept nowhere: there is one vsock */
	{ .name = "vsock_id", .type = T_STRING, .flags = F_DEPRECATED },
	/* any u32 but VMADDR_CID_ANY, as Firecracker takes (its API spec says
	 * >= 3 but it checks nothing): firecracker-containerd sends 0 */
	FIELD("guest_cid", T_INT, struct vsock_cfg, guest_cid,
	      .flags = F_REQUIRED, .min = 0, .max = UINT32_MAX - 1),
	FIELD("uds_path", T_STRING, struct vsock_cfg, uds_path,
	      .flags = F_REQUIRED | F_NONEMPTY),
	{ .name = NULL },
};
const struct schema vsock_schema = {
	.fields = vsock_fields,
	.size = sizeof(struct vsock_cfg),
	CONFIGURED(struct vsock_cfg, set),
};

static const struct field entropy_fields[] = {
	FIELD("rate_limiter", T_OBJECT, struct entropy_cfg, rl,
	      .sub = &rate_limiter_schema),
	{ .name = NULL },
};
const struct schema entropy_schema = {
	.fields = entropy_fields,
	.size = sizeof(struct entropy_cfg),
	CONFIGURED(struct entropy_cfg, set),
};

/* ---- logger, metrics ---- */

int config_parse_log_level(const char *name)
{
	static const char *const names[] = { "Off",  "Error", "Warning",
					     "Info", "Debug", "Trace" };
	unsigned i;

	if (!strcasecmp(name, "Warn"))
		return LOG_WARN;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(name, names[i]))
			return (int)i;
	return -1;
}

static int parse_level(const char *s, void *out)
{
	int level = config_parse_log_level(s);

	if (level < 0)
		return -EINVAL;
	*(enum log_level *)out = (enum log_level)level;
	return 0;
}

static const struct codec level_codec = {
	.parse = parse_level,
	.expect = "one of Off, Error, Warning, Info, Debug, Trace",
};

/* As Firecracker, a field left out keeps the logger's current setting. */
static const struct field logger_fields[] = {
	FIELD("log_path", T_STRING, struct logger_cfg, path),
	FIELD("level", T_TEXT, struct logger_cfg, level, .codec = &level_codec,
	      GIVEN(struct logger_cfg, has_level)),
	FIELD("show_level", T_BOOL, struct logger_cfg, show_level,
	      GIVEN(struct logger_cfg, has_show_level)),
	FIELD("show_log_origin", T_BOOL, struct logger_cfg, show_origin,
	      GIVEN(struct logger_cfg, has_show_origin)),
	FIELD("module", T_STRING, struct logger_cfg, module,
	      GIVEN(struct logger_cfg, has_module)),
	{ .name = NULL },
};
const struct schema logger_schema = {
	.fields = logger_fields,
	.size = sizeof(struct logger_cfg),
	CONFIGURED(struct logger_cfg, set),
};

static const struct field metrics_fields[] = {
	FIELD("metrics_path", T_STRING, struct metrics_cfg, path,
	      .flags = F_REQUIRED | F_NONEMPTY),
	{ .name = NULL },
};
/* As Firecracker's, it takes fields it does not know (emit_id...). */
const struct schema metrics_schema = {
	.fields = metrics_fields,
	.size = sizeof(struct metrics_cfg),
	CONFIGURED(struct metrics_cfg, set),
	.open = true,
};

/* ---- snapshots ---- */

static const char *const snapshot_types[] = { "Full", "Diff", NULL };

static const struct field snapshot_create_fields[] = {
	FIELD("snapshot_path", T_STRING, struct snapshot_create_cfg,
	      snapshot_path, .flags = F_REQUIRED | F_NONEMPTY),
	FIELD("mem_file_path", T_STRING, struct snapshot_create_cfg,
	      mem_file_path, .flags = F_REQUIRED | F_NONEMPTY),
	FIELD("snapshot_type", T_ENUM, struct snapshot_create_cfg, diff,
	      .names = snapshot_types),
	{ .name = "version", .type = T_IGNORED },
	{ .name = NULL },
};
const struct schema snapshot_create_schema = {
	.fields = snapshot_create_fields,
	.size = sizeof(struct snapshot_create_cfg),
};

static const char *const backend_types[] = { "File", "Uffd", NULL };

/* mem_backend's fields, kept in the snapshot_load_cfg itself. */
static const struct field mem_backend_fields[] = {
	FIELD("backend_type", T_ENUM, struct snapshot_load_cfg, uffd,
	      .flags = F_REQUIRED, .names = backend_types),
	FIELD("backend_path", T_STRING, struct snapshot_load_cfg, backend_path,
	      .flags = F_REQUIRED | F_NONEMPTY),
	{ .name = NULL },
};
static const struct schema mem_backend_schema = {
	.fields = mem_backend_fields,
};

static const struct field net_override_fields[] = {
	FIELD("iface_id", T_ID, struct net_override, iface_id,
	      .flags = F_REQUIRED),
	FIELD("host_dev_name", T_STRING, struct net_override, host_dev,
	      .flags = F_REQUIRED | F_NONEMPTY),
	{ .name = NULL },
};
static const struct schema net_override_schema = {
	.fields = net_override_fields,
	.size = sizeof(struct net_override),
};

static const struct field vsock_override_fields[] = {
	FIELD("uds_path", T_STRING, struct snapshot_load_cfg, vsock_uds,
	      .flags = F_REQUIRED | F_NONEMPTY),
	{ .name = NULL },
};
static const struct schema vsock_override_schema = {
	.fields = vsock_override_fields,
};

/* The memory comes from mem_backend, or the deprecated mem_file_path. */
static int snapshot_load_check(void *obj, const cJSON *j, const char *where,
			       struct config_err *e)
{
	bool backend = named(j, "mem_backend"),
	     file = named(j, "mem_file_path");

	if (backend && file)
		return config_fail(
			e, "%s: give mem_backend or mem_file_path, not both",
			where);
	if (!backend && !file)
		return config_fail(e, "%s: missing 'mem_backend'", where);
	return 0;
}

static const struct field snapshot_load_fields[] = {
	FIELD("snapshot_path", T_STRING, struct snapshot_load_cfg,
	      snapshot_path, .flags = F_REQUIRED | F_NONEMPTY),
	{ .name = "mem_backend", .type = T_OBJECT, .sub = &mem_backend_schema },
	FIELD("mem_file_path", T_STRING, struct snapshot_load_cfg, backend_path,
	      .flags = F_NONEMPTY | F_DEPRECATED),
	FIELD("track_dirty_pages", T_BOOL, struct snapshot_load_cfg,
	      track_dirty_pages),
	FIELD("enable_diff_snapshots", T_BOOL, struct snapshot_load_cfg,
	      track_dirty_pages, .flags = F_DEPRECATED),
	FIELD("resume_vm", T_BOOL, struct snapshot_load_cfg, resume_vm),
	FIELD("clock_realtime", T_BOOL, struct snapshot_load_cfg,
	      clock_realtime),
	FIELD("network_overrides", T_LIST, struct snapshot_load_cfg,
	      net_overrides, .sub = &net_override_schema,
	      .count = offsetof(struct snapshot_load_cfg, nr_net_overrides),
	      .max_items = CONFIG_MAX_NETS),
	{ .name = "vsock_override",
	  .type = T_OBJECT,
	  .sub = &vsock_override_schema,
	  GIVEN(struct snapshot_load_cfg, has_vsock_override) },
	{ .name = NULL },
};
const struct schema snapshot_load_schema = {
	.fields = snapshot_load_fields,
	.size = sizeof(struct snapshot_load_cfg),
	.check = snapshot_load_check,
};

/* ---- MMDS ---- */

static int parse_ipv4(const char *s, void *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*(uint32_t *)out = ntohl(a.s_addr);
	return 0;
}

static void print_ipv4(const void *in, char *buf, size_t size)
{
	struct in_addr a = { htonl(*(const uint32_t *)in) };

	inet_ntop(AF_INET, &a, buf, (socklen_t)size);
}

static const struct codec ipv4_codec = { parse_ipv4, print_ipv4,
					 "an IPv4 address" };

/* 169.254.0.0/16 without its first and last /24, as Firecracker's. */
static bool link_local(uint32_t a)
{
	return (a >> 16) == 0xa9fe && ((a >> 8) & 0xff) != 0 &&
	       ((a >> 8) & 0xff) != 0xff;
}

/* An interface named twice is listed once. */
static void mmds_unique_ifaces(struct mmds_cfg *c)
{
	unsigned i, n = 0, given = c->nr_ifaces;

	for (i = 0; i < given; i++) {
		c->nr_ifaces = n; /* the unique ones so far */
		if (!config_mmds_iface(c, c->ifaces[i]))
			memmove(c->ifaces[n++], c->ifaces[i], CONFIG_ID_MAX);
	}
	c->nr_ifaces = n;
}

/* In Firecracker's order and words; config_put_mmds checks that each
 * interface exists. */
static int mmds_check(void *obj, const cJSON *j, const char *where,
		      struct config_err *e)
{
	struct mmds_cfg *c = obj;

	mmds_unique_ifaces(c);
	if (!named(j, "ipv4_address"))
		c->ipv4 = 0xa9fea9feu; /* 169.254.169.254 */
	else if (!link_local(c->ipv4))
		return config_fail(e, MMDS_CONFIG_ERR
				   "The MMDS IPv4 address is not link local.");
	if (!c->nr_ifaces)
		return config_fail(
			e, MMDS_CONFIG_ERR
			"The list of network interface IDs that allow forwarding MMDS requests is empty.");
	return 0;
}

static const char *const mmds_versions[] = { "V1", "V2", NULL };

static const struct field mmds_fields[] = {
	FIELD("version", T_ENUM, struct mmds_cfg, v2, .names = mmds_versions),
	FIELD("network_interfaces", T_STRINGS, struct mmds_cfg, ifaces,
	      .flags = F_REQUIRED,
	      .count = offsetof(struct mmds_cfg, nr_ifaces),
	      .max_items = CONFIG_MAX_NETS),
	FIELD("ipv4_address", T_TEXT, struct mmds_cfg, ipv4,
	      .codec = &ipv4_codec),
	FIELD("imds_compat", T_BOOL, struct mmds_cfg, imds_compat),
	{ .name = NULL },
};
const struct schema mmds_schema = {
	.fields = mmds_fields,
	.size = sizeof(struct mmds_cfg),
	CONFIGURED(struct mmds_cfg, set),
	.check = mmds_check,
};

/* ---- the balloon ---- */

static const struct field balloon_fields[] = {
	FIELD("amount_mib", T_INT, struct balloon_cfg, amount_mib,
	      .flags = F_REQUIRED, .max = CONFIG_MAX_MEM_MIB,
	      PATCH(struct balloon_patch, amount_mib),
	      PATCH_GIVEN(struct balloon_patch, has_amount_mib)),
	FIELD("deflate_on_oom", T_BOOL, struct balloon_cfg, deflate_on_oom,
	      .flags = F_REQUIRED),
	FIELD("stats_polling_interval_s", T_INT, struct balloon_cfg,
	      stats_interval_s, .max = UINT16_MAX),
	FIELD("free_page_hinting", T_BOOL, struct balloon_cfg,
	      free_page_hinting),
	FIELD("free_page_reporting", T_BOOL, struct balloon_cfg,
	      free_page_reporting),
	{ .name = NULL },
};
const struct schema balloon_schema = {
	.fields = balloon_fields,
	.size = sizeof(struct balloon_cfg),
	.patch_size = sizeof(struct balloon_patch),
	CONFIGURED(struct balloon_cfg, set),
};

/* PATCH /balloon/statistics: the polling interval only. */
static const struct field balloon_stats_fields[] = {
	FIELD("stats_polling_interval_s", T_INT, struct balloon_cfg,
	      stats_interval_s, .max = UINT16_MAX,
	      PATCH(struct balloon_stats_patch, stats_interval_s),
	      PATCH_GIVEN(struct balloon_stats_patch, has_stats_interval_s)),
	{ .name = NULL },
};
const struct schema balloon_stats_schema = {
	.fields = balloon_stats_fields,
	.size = sizeof(struct balloon_cfg),
	.patch_size = sizeof(struct balloon_stats_patch),
};

/* ---- memory hot-plug (virtio-mem) ---- */

/* Firecracker's defaults and rules, in its order and words. */
static int hotplug_check(void *obj, const cJSON *j, const char *where,
			 struct config_err *e)
{
	struct hotplug_cfg *h = obj;

	if (!named(j, "block_size_mib"))
		h->block_size_mib = HOTPLUG_DEFAULT_BLOCK_MIB;
	if (!named(j, "slot_size_mib"))
		h->slot_size_mib = HOTPLUG_DEFAULT_SLOT_MIB;
	if (h->block_size_mib < HOTPLUG_DEFAULT_BLOCK_MIB)
		return config_fail(
			e, "%s: Block size must not be lower than %u MiB",
			where, HOTPLUG_DEFAULT_BLOCK_MIB);
	if (h->block_size_mib & (h->block_size_mib - 1))
		return config_fail(e, "%s: Block size must be a power of 2",
				   where);
	if (h->slot_size_mib < HOTPLUG_DEFAULT_SLOT_MIB)
		return config_fail(
			e, "%s: Slot size must not be lower than %u MiB", where,
			HOTPLUG_DEFAULT_SLOT_MIB);
	if (h->slot_size_mib % h->block_size_mib)
		return config_fail(
			e,
			"%s: Slot size must be a multiple of block size (%u MiB)",
			where, h->block_size_mib);
	if (h->total_size_mib < h->slot_size_mib)
		return config_fail(
			e,
			"%s: Total size must not be lower than slot size (%u MiB)",
			where, h->slot_size_mib);
	if (h->total_size_mib % h->slot_size_mib)
		return config_fail(
			e,
			"%s: Total size must be a multiple of slot size (%u MiB)",
			where, h->slot_size_mib);
	return 0;
}

static const struct field hotplug_fields[] = {
	FIELD("total_size_mib", T_INT, struct hotplug_cfg, total_size_mib,
	      .flags = F_REQUIRED, .max = CONFIG_MAX_MEM_MIB),
	FIELD("block_size_mib", T_INT, struct hotplug_cfg, block_size_mib,
	      .max = CONFIG_MAX_MEM_MIB),
	FIELD("slot_size_mib", T_INT, struct hotplug_cfg, slot_size_mib,
	      .max = CONFIG_MAX_MEM_MIB),
	{ .name = NULL },
};
const struct schema hotplug_schema = {
	.fields = hotplug_fields,
	.size = sizeof(struct hotplug_cfg),
	CONFIGURED(struct hotplug_cfg, set),
	.check = hotplug_check,
};

/* PATCH /hotplug/memory: the requested size only. */
static const struct field hotplug_patch_fields[] = {
	FIELD("requested_size_mib", T_INT, struct hotplug_cfg, total_size_mib,
	      .max = CONFIG_MAX_MEM_MIB,
	      PATCH(struct hotplug_patch, requested_size_mib),
	      PATCH_GIVEN(struct hotplug_patch, has_requested_size_mib)),
	{ .name = NULL },
};
const struct schema hotplug_patch_schema = {
	.fields = hotplug_patch_fields,
	.size = sizeof(struct hotplug_cfg),
	.patch_size = sizeof(struct hotplug_patch),
};
