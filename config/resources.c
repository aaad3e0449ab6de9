// SPDX-License-Identifier: Apache-2.0
/* One JSON body -> one typed struct, for every resource of the API and the
 * config file. Untrusted input: unknown fields, wrong types and values out
 * of range are rejected with a message that names the field. */
#include <cjson/cJSON.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/config.h"

#define JSON_MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

int config_fail(struct config_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool config_valid_id(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < CONFIG_ID_MAX &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* Rejects a non-object, or a member whose name is not in the list. */
static int check_keys(const cJSON *obj, const char *where,
		      const char *const *allowed, struct config_err *e)
{
	const cJSON *it;

	if (!cJSON_IsObject(obj))
		return config_fail(e, "%s: expected a JSON object", where);
	cJSON_ArrayForEach(it, obj) {
		const char *const *a;

		for (a = allowed; *a && strcmp(*a, it->string); a++)
			;
		if (!*a)
			return config_fail(e, "%s: unknown field '%s'", where,
					   it->string);
	}
	return 0;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNull(v) ? NULL : v;
}

static int get_string(const cJSON *obj, const char *where, const char *key,
		      bool required, char *out, size_t size,
		      struct config_err *e)
{
	const cJSON *v = member(obj, key);

	if (!v)
		return required ?
			       config_fail(e, "%s: missing '%s'", where, key) :
			       0;
	if (!cJSON_IsString(v))
		return config_fail(e, "%s.%s: expected a string", where, key);
	if (strlen(v->valuestring) >= size)
		return config_fail(e, "%s.%s: longer than %zu bytes", where,
				   key, size - 1);
	strcpy(out, v->valuestring);
	return 0;
}

/* A required string that must not be empty either. */
static int get_nonempty(const cJSON *obj, const char *where, const char *key,
			char *out, size_t size, struct config_err *e)
{
	int ret = get_string(obj, where, key, true, out, size, e);

	if (!ret && !out[0])
		return config_fail(e, "%s.%s: must not be empty", where, key);
	return ret;
}

/* An integer in [min, max]; absent is an error only when required. */
static int get_u64(const cJSON *obj, const char *where, const char *key,
		   bool required, double min, double max, uint64_t *out,
		   bool *present, struct config_err *e)
{
	const cJSON *v = member(obj, key);

	if (present)
		*present = v != NULL;
	if (!v)
		return required ?
			       config_fail(e, "%s: missing '%s'", where, key) :
			       0;
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
		return config_fail(e, "%s.%s: expected an integer", where, key);
	if (v->valuedouble < min || v->valuedouble > max)
		return config_fail(e,
				   "%s.%s: %.0f is out of range [%.0f, %.0f]",
				   where, key, v->valuedouble, min, max);
	*out = (uint64_t)v->valuedouble;
	return 0;
}

static int get_uint(const cJSON *obj, const char *where, const char *key,
		    bool required, unsigned min, unsigned max, unsigned *out,
		    bool *present, struct config_err *e)
{
	uint64_t v = *out;
	int ret = get_u64(obj, where, key, required, min, max, &v, present, e);

	*out = (unsigned)v;
	return ret;
}

static int get_bool(const cJSON *obj, const char *where, const char *key,
		    bool required, bool *out, bool *present,
		    struct config_err *e)
{
	const cJSON *v = member(obj, key);

	if (present)
		*present = v != NULL;
	if (!v)
		return required ?
			       config_fail(e, "%s: missing '%s'", where, key) :
			       0;
	if (!cJSON_IsBool(v))
		return config_fail(e, "%s.%s: expected true or false", where,
				   key);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* A string that must be one of names[]; *out gets its index. */
static int get_enum(const cJSON *obj, const char *where, const char *key,
		    const char *const *names, unsigned *out, bool *present,
		    struct config_err *e)
{
	char s[32] = "";
	char list[128] = "";
	unsigned i;
	int ret = get_string(obj, where, key, false, s, sizeof(s), e);

	if (present)
		*present = member(obj, key) != NULL;
	if (ret || !member(obj, key))
		return ret;
	for (i = 0; names[i]; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i ? ", " : "", names[i]);
	}
	return config_fail(e, "%s.%s: '%s' is not one of %s", where, key, s,
			   list);
}

static int check_readable(const char *where, const char *key, const char *path,
			  struct config_err *e)
{
	if (access(path, R_OK))
		return config_fail(e, "%s.%s: cannot read '%s': %s", where, key,
				   path, strerror(errno));
	return 0;
}

static int get_id(const cJSON *obj, const char *where, const char *key,
		  char *out, struct config_err *e)
{
	int ret = get_string(obj, where, key, true, out, CONFIG_ID_MAX, e);

	if (!ret && !config_valid_id(out))
		return config_fail(e,
				   "%s.%s: '%s' must be 1-63 of [A-Za-z0-9_]",
				   where, key, out);
	return ret;
}

int parse_boot_source(const cJSON *j, const char *where,
		      struct boot_source_cfg *out, struct config_err *e)
{
	static const char *const keys[] = { "kernel_image_path", "boot_args",
					    "initrd_path", NULL };
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	strcpy(out->boot_args, DEFAULT_BOOT_ARGS);
	if (!ret)
		ret = get_string(j, where, "kernel_image_path", true,
				 out->kernel_path, sizeof(out->kernel_path), e);
	if (!ret)
		ret = get_string(j, where, "boot_args", false, out->boot_args,
				 sizeof(out->boot_args), e);
	if (!ret)
		ret = get_string(j, where, "initrd_path", false,
				 out->initrd_path, sizeof(out->initrd_path), e);
	if (!ret)
		ret = check_readable(where, "kernel_image_path",
				     out->kernel_path, e);
	if (!ret && out->initrd_path[0])
		ret = check_readable(where, "initrd_path", out->initrd_path, e);
	out->set = !ret;
	return ret;
}

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
	return 0;
}

static int parse_machine_enums(const cJSON *j, const char *where,
			       struct machine_patch *out, struct config_err *e)
{
	static const char *const huge[] = { "None", "2M", NULL };
	static const char *const tmpl[] = { "None", NULL };
	unsigned h = 0, t = 0;
	int ret = get_enum(j, where, "huge_pages", huge, &h,
			   &out->has_huge_pages, e);

	if (!ret)
		ret = get_enum(j, where, "cpu_template", tmpl, &t, NULL, e);
	out->v.huge_pages_2m = h == 1;
	return ret;
}

int parse_machine(const cJSON *j, const char *where, struct machine_patch *out,
		  bool patch, struct config_err *e)
{
	static const char *const keys[] = { "vcpu_count", "mem_size_mib",
					    "smt",	  "track_dirty_pages",
					    "huge_pages", "cpu_template",
					    NULL };
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_uint(j, where, "vcpu_count", !patch, 1,
			       CONFIG_MAX_VCPUS, &out->v.vcpu_count,
			       &out->has_vcpu_count, e);
	if (!ret)
		ret = get_uint(j, where, "mem_size_mib", !patch, 1,
			       CONFIG_MAX_MEM_MIB, &out->v.mem_size_mib,
			       &out->has_mem_size_mib, e);
	if (!ret)
		ret = get_bool(j, where, "smt", false, &out->v.smt,
			       &out->has_smt, e);
	if (!ret)
		ret = get_bool(j, where, "track_dirty_pages", false,
			       &out->v.track_dirty_pages,
			       &out->has_track_dirty_pages, e);
	if (!ret)
		ret = parse_machine_enums(j, where, out, e);
	if (!ret && !patch)
		ret = machine_check(&out->v, e);
	return ret;
}

static int parse_bucket(const cJSON *j, const char *where,
			struct token_bucket *b, struct config_err *e)
{
	static const char *const keys[] = { "size", "one_time_burst",
					    "refill_time", NULL };
	int ret;

	memset(b, 0, sizeof(*b));
	if (!j)
		return 0;
	ret = check_keys(j, where, keys, e);
	if (!ret)
		ret = get_u64(j, where, "size", true, 0, JSON_MAX_SAFE_INT,
			      &b->size, NULL, e);
	if (!ret)
		ret = get_u64(j, where, "one_time_burst", false, 0,
			      JSON_MAX_SAFE_INT, &b->one_time_burst, NULL, e);
	if (!ret)
		ret = get_u64(j, where, "refill_time", true, 0,
			      (double)RL_MAX_REFILL_TIME_MS, &b->refill_time_ms,
			      NULL, e);
	b->set = !ret && b->size && b->refill_time_ms;
	b->present = true;
	return ret;
}

/* A rate limiter: null, {} and missing buckets all mean "unlimited". */
static int parse_rate_limiter(const cJSON *obj, const char *where,
			      const char *key, struct rate_limiter_cfg *rl,
			      struct config_err *e)
{
	static const char *const keys[] = { "bandwidth", "ops", NULL };
	const cJSON *j = member(obj, key);
	char w[96];
	int ret;

	memset(rl, 0, sizeof(*rl));
	if (!j)
		return 0;
	snprintf(w, sizeof(w), "%s.%s", where, key);
	ret = check_keys(j, w, keys, e);
	snprintf(w, sizeof(w), "%s.%s.bandwidth", where, key);
	if (!ret)
		ret = parse_bucket(member(j, "bandwidth"), w, &rl->bandwidth,
				   e);
	snprintf(w, sizeof(w), "%s.%s.ops", where, key);
	if (!ret)
		ret = parse_bucket(member(j, "ops"), w, &rl->ops, e);
	return ret;
}

static int parse_drive_options(const cJSON *j, const char *where,
			       struct drive_cfg *out, struct config_err *e)
{
	static const char *const caches[] = { "Unsafe", "Writeback", NULL };
	static const char *const engines[] = { "Sync", "Async", NULL };
	unsigned cache = 0, engine = 0;
	int ret = get_enum(j, where, "cache_type", caches, &cache, NULL, e);

	if (!ret)
		ret = get_enum(j, where, "io_engine", engines, &engine, NULL,
			       e);
	if (!ret)
		ret = get_string(j, where, "partuuid", false, out->partuuid,
				 sizeof(out->partuuid), e);
	if (!ret)
		ret = parse_rate_limiter(j, where, "rate_limiter", &out->rl, e);
	out->cache = cache;
	out->engine = engine;
	return ret;
}

int parse_drive(const cJSON *j, const char *where, struct drive_cfg *out,
		struct config_err *e)
{
	static const char *const keys[] = {
		"drive_id", "path_on_host", "is_root_device", "is_read_only",
		"partuuid", "cache_type",   "io_engine",      "rate_limiter",
		"socket",   NULL,
	};
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret && member(j, "socket"))
		ret = config_fail(
			e, "%s.socket: vhost-user drives are not supported",
			where);
	if (!ret)
		ret = get_id(j, where, "drive_id", out->id, e);
	if (!ret)
		ret = get_bool(j, where, "is_root_device", true, &out->is_root,
			       NULL, e);
	if (!ret)
		ret = get_bool(j, where, "is_read_only", false, &out->read_only,
			       NULL, e);
	if (!ret)
		ret = get_string(j, where, "path_on_host", true, out->path,
				 sizeof(out->path), e);
	if (!ret)
		ret = parse_drive_options(j, where, out, e);
	if (!ret)
		ret = check_readable(where, "path_on_host", out->path, e);
	return ret;
}

int parse_drive_patch(const cJSON *j, const char *where,
		      struct drive_patch *out, struct config_err *e)
{
	static const char *const keys[] = { "drive_id", "path_on_host",
					    "rate_limiter", NULL };
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_id(j, where, "drive_id", out->id, e);
	if (!ret)
		ret = get_string(j, where, "path_on_host", false, out->path,
				 sizeof(out->path), e);
	out->has_path = out->path[0] != '\0';
	out->has_rl = member(j, "rate_limiter") != NULL;
	if (!ret)
		ret = parse_rate_limiter(j, where, "rate_limiter", &out->rl, e);
	if (!ret && out->has_path)
		ret = check_readable(where, "path_on_host", out->path, e);
	return ret;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
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

int parse_net(const cJSON *j, const char *where, struct net_cfg *out,
	      struct config_err *e)
{
	static const char *const keys[] = { "iface_id",
					    "host_dev_name",
					    "guest_mac",
					    "rx_rate_limiter",
					    "tx_rate_limiter",
					    "mtu",
					    NULL };
	char mac[32] = "";
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_id(j, where, "iface_id", out->id, e);
	if (!ret)
		ret = get_nonempty(j, where, "host_dev_name", out->host_dev,
				   sizeof(out->host_dev), e);
	if (!ret)
		ret = get_string(j, where, "guest_mac", false, mac, sizeof(mac),
				 e);
	out->has_mac = mac[0] != '\0';
	if (!ret && out->has_mac && parse_mac(mac, out->mac))
		ret = config_fail(
			e,
			"%s.guest_mac: '%s' is not a unicast MAC like 06:00:ac:10:00:02",
			where, mac);
	if (!ret)
		ret = get_uint(j, where, "mtu", false, NET_MTU_MIN, NET_MTU_MAX,
			       &out->mtu, NULL, e);
	if (!ret)
		ret = parse_rate_limiter(j, where, "rx_rate_limiter", &out->rx,
					 e);
	if (!ret)
		ret = parse_rate_limiter(j, where, "tx_rate_limiter", &out->tx,
					 e);
	return ret;
}

int parse_net_patch(const cJSON *j, const char *where, struct net_patch *out,
		    struct config_err *e)
{
	static const char *const keys[] = { "iface_id", "rx_rate_limiter",
					    "tx_rate_limiter", NULL };
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_id(j, where, "iface_id", out->id, e);
	if (!ret)
		ret = parse_rate_limiter(j, where, "rx_rate_limiter", &out->rx,
					 e);
	if (!ret)
		ret = parse_rate_limiter(j, where, "tx_rate_limiter", &out->tx,
					 e);
	return ret;
}

int parse_vsock(const cJSON *j, const char *where, struct vsock_cfg *out,
		bool *deprecated, struct config_err *e)
{
	static const char *const keys[] = { "guest_cid", "uds_path", "vsock_id",
					    NULL };
	char id[CONFIG_ID_MAX];
	uint64_t cid = 0;
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	*deprecated = member(j, "vsock_id") != NULL;
	if (!ret && *deprecated)
		ret = get_id(j, where, "vsock_id", id, e);
	if (!ret)
		ret = get_u64(j, where, "guest_cid", true, 3, UINT32_MAX - 1,
			      &cid, NULL, e);
	if (!ret)
		ret = get_nonempty(j, where, "uds_path", out->uds_path,
				   sizeof(out->uds_path), e);
	out->guest_cid = (uint32_t)cid;
	out->set = !ret;
	return ret;
}

int parse_entropy(const cJSON *j, const char *where, struct entropy_cfg *out,
		  struct config_err *e)
{
	static const char *const keys[] = { "rate_limiter", NULL };
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = parse_rate_limiter(j, where, "rate_limiter", &out->rl, e);
	out->set = !ret;
	return ret;
}

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

static int get_log_level(const cJSON *j, const char *where,
			 struct logger_cfg *out, struct config_err *e)
{
	char name[16] = "";
	int level;
	int ret = get_string(j, where, "level", false, name, sizeof(name), e);

	out->has_level = member(j, "level") != NULL;
	if (ret || !out->has_level)
		return ret;
	level = config_parse_log_level(name);
	if (level < 0)
		return config_fail(
			e,
			"%s.level: '%s' is not one of Off, Error, Warning, Info, Debug, Trace",
			where, name);
	out->level = (enum log_level)level;
	return 0;
}

int parse_logger(const cJSON *j, const char *where, struct logger_cfg *out,
		 struct config_err *e)
{
	static const char *const keys[] = { "log_path",	  "level",
					    "show_level", "show_log_origin",
					    "module",	  NULL };
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_string(j, where, "log_path", false, out->path,
				 sizeof(out->path), e);
	if (!ret)
		ret = get_log_level(j, where, out, e);
	if (!ret)
		ret = get_bool(j, where, "show_level", false, &out->show_level,
			       &out->has_show_level, e);
	if (!ret)
		ret = get_bool(j, where, "show_log_origin", false,
			       &out->show_origin, &out->has_show_origin, e);
	if (!ret)
		ret = get_string(j, where, "module", false, out->module,
				 sizeof(out->module), e);
	out->has_module = member(j, "module") != NULL;
	out->set = !ret;
	return ret;
}

/* 169.254.0.0/16 without its first and last /24, as Firecracker's. */
static bool mmds_link_local(uint32_t a)
{
	return (a >> 16) == 0xa9fe && ((a >> 8) & 0xff) != 0 &&
	       ((a >> 8) & 0xff) != 0xff;
}

static int get_mmds_ipv4(const cJSON *j, const char *where, uint32_t *out,
			 struct config_err *e)
{
	char s[INET_ADDRSTRLEN] = "";
	struct in_addr a;
	int ret = get_string(j, where, "ipv4_address", false, s, sizeof(s), e);

	*out = 0xa9fea9feu; /* 169.254.169.254 */
	if (ret || !s[0])
		return ret;
	if (inet_pton(AF_INET, s, &a) != 1)
		return config_fail(
			e, "%s.ipv4_address: '%s' is not an IPv4 address",
			where, s);
	*out = ntohl(a.s_addr);
	if (!mmds_link_local(*out))
		return config_fail(e, MMDS_CONFIG_ERR
				   "The MMDS IPv4 address is not link local.");
	return 0;
}

/* network_interfaces: ids, each once (config_put_mmds checks that they
 * exist). */
static int get_mmds_ifaces(const cJSON *j, const char *where,
			   struct mmds_cfg *out, struct config_err *e)
{
	const cJSON *arr = member(j, "network_interfaces"), *it;

	if (!arr)
		return config_fail(e, "%s: missing 'network_interfaces'",
				   where);
	if (!cJSON_IsArray(arr))
		return config_fail(
			e, "%s.network_interfaces: expected an array", where);
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			return config_fail(
				e, "%s.network_interfaces: expected strings",
				where);
		if (config_mmds_iface(out, it->valuestring))
			continue;
		if (out->nr_ifaces == CONFIG_MAX_NETS ||
		    strlen(it->valuestring) >= CONFIG_ID_MAX)
			return config_fail(e, MMDS_CONFIG_ERR_NO_IFACE);
		strcpy(out->ifaces[out->nr_ifaces++], it->valuestring);
	}
	if (!out->nr_ifaces)
		return config_fail(
			e, MMDS_CONFIG_ERR
			"The list of network interface IDs that allow forwarding MMDS requests is empty.");
	return 0;
}

int parse_mmds_config(const cJSON *j, const char *where, struct mmds_cfg *out,
		      struct config_err *e)
{
	static const char *const keys[] = { "version", "network_interfaces",
					    "ipv4_address", "imds_compat",
					    NULL };
	static const char *const versions[] = { "V1", "V2", NULL };
	unsigned version = 0;
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_enum(j, where, "version", versions, &version, NULL,
			       e);
	if (!ret)
		ret = get_bool(j, where, "imds_compat", false,
			       &out->imds_compat, NULL, e);
	if (!ret)
		ret = get_mmds_ipv4(j, where, &out->ipv4, e);
	if (!ret)
		ret = get_mmds_ifaces(j, where, out, e);
	out->v2 = version == 1;
	out->set = !ret;
	return ret;
}

/* As Firecracker's, the metrics object takes fields it does not know
 * (emit_id, properties...) and ignores them. */
int parse_metrics(const cJSON *j, const char *where, struct metrics_cfg *out,
		  struct config_err *e)
{
	int ret = cJSON_IsObject(j) ?
			  0 :
			  config_fail(e, "%s: expected a JSON object", where);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_nonempty(j, where, "metrics_path", out->path,
				   sizeof(out->path), e);
	out->set = !ret;
	return ret;
}

int parse_snapshot_create(const cJSON *j, struct snapshot_create_cfg *out,
			  struct config_err *e)
{
	static const char *const keys[] = { "snapshot_path", "mem_file_path",
					    "snapshot_type", "version", NULL };
	static const char *const types[] = { "Full", "Diff", NULL };
	const char *where = "snapshot/create";
	unsigned type = 0;
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_nonempty(j, where, "snapshot_path",
				   out->snapshot_path,
				   sizeof(out->snapshot_path), e);
	if (!ret)
		ret = get_nonempty(j, where, "mem_file_path",
				   out->mem_file_path,
				   sizeof(out->mem_file_path), e);
	if (!ret)
		ret = get_enum(j, where, "snapshot_type", types, &type, NULL,
			       e);
	out->diff = type == 1;
	return ret;
}

static int parse_mem_backend(const cJSON *j, struct snapshot_load_cfg *out,
			     struct config_err *e)
{
	static const char *const keys[] = { "backend_type", "backend_path",
					    NULL };
	static const char *const types[] = { "File", "Uffd", NULL };
	const char *where = "snapshot/load.mem_backend";
	unsigned type = 0;
	bool present;
	int ret = check_keys(j, where, keys, e);

	if (!ret)
		ret = get_enum(j, where, "backend_type", types, &type, &present,
			       e);
	if (!ret && !present)
		ret = config_fail(e, "%s: missing 'backend_type'", where);
	if (!ret)
		ret = get_nonempty(j, where, "backend_path", out->backend_path,
				   sizeof(out->backend_path), e);
	out->uffd = type == 1;
	return ret;
}

static int parse_net_overrides(const cJSON *arr, struct snapshot_load_cfg *out,
			       struct config_err *e)
{
	static const char *const keys[] = { "iface_id", "host_dev_name", NULL };
	const char *where = "snapshot/load.network_overrides";
	const cJSON *it;
	int ret = 0;

	if (!cJSON_IsArray(arr))
		return config_fail(e, "%s: expected an array", where);
	cJSON_ArrayForEach(it, arr) {
		if (out->nr_net_overrides == CONFIG_MAX_NETS)
			return config_fail(e, "%s: more than %d entries", where,
					   CONFIG_MAX_NETS);
		ret = check_keys(it, where, keys, e);
		if (!ret)
			ret = get_id(it, where, "iface_id",
				     out->net_overrides[out->nr_net_overrides]
					     .iface_id,
				     e);
		if (!ret)
			ret = get_nonempty(
				it, where, "host_dev_name",
				out->net_overrides[out->nr_net_overrides]
					.host_dev,
				sizeof(out->net_overrides[0].host_dev), e);
		if (ret)
			return ret;
		out->nr_net_overrides++;
	}
	return 0;
}

static int parse_load_options(const cJSON *j, struct snapshot_load_cfg *out,
			      bool *deprecated, struct config_err *e)
{
	static const char *const keys[] = { "uds_path", NULL };
	const char *where = "snapshot/load";
	const cJSON *v;
	bool legacy_diff = false;
	int ret = get_bool(j, where, "track_dirty_pages", false,
			   &out->track_dirty_pages, NULL, e);

	if (!ret)
		ret = get_bool(j, where, "enable_diff_snapshots", false,
			       &legacy_diff, deprecated, e);
	out->track_dirty_pages |= legacy_diff;
	if (!ret)
		ret = get_bool(j, where, "resume_vm", false, &out->resume_vm,
			       NULL, e);
	if (!ret)
		ret = get_bool(j, where, "clock_realtime", false,
			       &out->clock_realtime, NULL, e);
	if (!ret && (v = member(j, "network_overrides")))
		ret = parse_net_overrides(v, out, e);
	if (!ret && (v = member(j, "vsock_override"))) {
		ret = check_keys(v, "snapshot/load.vsock_override", keys, e);
		if (!ret)
			ret = get_nonempty(v, "snapshot/load.vsock_override",
					   "uds_path", out->vsock_uds,
					   sizeof(out->vsock_uds), e);
		out->has_vsock_override = !ret;
	}
	return ret;
}

int parse_snapshot_load(const cJSON *j, struct snapshot_load_cfg *out,
			bool *deprecated, struct config_err *e)
{
	static const char *const keys[] = {
		"snapshot_path",	 "mem_backend",
		"mem_file_path",	 "track_dirty_pages",
		"enable_diff_snapshots", "resume_vm",
		"network_overrides",	 "vsock_override",
		"clock_realtime",	 NULL
	};
	const char *where = "snapshot/load";
	const cJSON *backend = member(j, "mem_backend");
	int ret = check_keys(j, where, keys, e);

	memset(out, 0, sizeof(*out));
	if (!ret)
		ret = get_nonempty(j, where, "snapshot_path",
				   out->snapshot_path,
				   sizeof(out->snapshot_path), e);
	if (!ret && backend && member(j, "mem_file_path"))
		ret = config_fail(
			e, "%s: give mem_backend or mem_file_path, not both",
			where);
	else if (!ret && backend)
		ret = parse_mem_backend(backend, out, e);
	else if (!ret) {
		ret = get_nonempty(j, where, "mem_file_path", out->backend_path,
				   sizeof(out->backend_path), e);
		*deprecated = true;
	}
	if (!ret)
		ret = parse_load_options(j, out, deprecated, e);
	return ret;
}
