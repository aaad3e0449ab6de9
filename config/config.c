// SPDX-License-Identifier: Apache-2.0
/* The VM configuration as data: defaults, the rules between resources
 * (unique ids, one root drive), the config file (--config-file: kebab-case
 * keys holding the API bodies) and its JSON form for GET /vm/config. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

void vm_config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->machine.vcpu_count = 1;
	cfg->machine.mem_size_mib = 128;
}

int config_patch_machine(struct vm_config *cfg, const struct machine_patch *p,
			 struct config_err *e)
{
	struct machine_cfg m = cfg->machine;

	if (p->has_vcpu_count)
		m.vcpu_count = p->v.vcpu_count;
	if (p->has_mem_size_mib)
		m.mem_size_mib = p->v.mem_size_mib;
	if (p->has_smt)
		m.smt = p->v.smt;
	if (p->has_track_dirty_pages)
		m.track_dirty_pages = p->v.track_dirty_pages;
	if (p->has_huge_pages)
		m.huge_pages_2m = p->v.huge_pages_2m;
	if (machine_check(&m, e))
		return -EINVAL;
	cfg->machine = m;
	return 0;
}

static unsigned nr_devices(const struct vm_config *cfg)
{
	return cfg->nr_drives + cfg->nr_nets + cfg->vsock.set +
	       cfg->entropy.set;
}

/* Whether one more virtio device fits. */
static int check_room(const struct vm_config *cfg, const char *what,
		      struct config_err *e)
{
	if (nr_devices(cfg) < CONFIG_MAX_DEVICES)
		return 0;
	return config_fail(
		e,
		"%s: no room for another device: microvm has %d virtio devices (one per interrupt line, as Firecracker on x86) and all are configured",
		what, CONFIG_MAX_DEVICES);
}

int config_put_drive(struct vm_config *cfg, const struct drive_cfg *d,
		     struct config_err *e)
{
	unsigned i, slot = cfg->nr_drives;

	for (i = 0; i < cfg->nr_drives; i++) {
		if (!strcmp(cfg->drives[i].id, d->id))
			slot = i;
		else if (d->is_root && cfg->drives[i].is_root)
			return config_fail(
				e,
				"drive '%s': a root device is already configured ('%s')",
				d->id, cfg->drives[i].id);
	}
	if (slot == cfg->nr_drives && check_room(cfg, "drive", e))
		return -EINVAL;
	cfg->drives[slot] = *d;
	if (slot == cfg->nr_drives)
		cfg->nr_drives++;
	return 0;
}

void config_patch_rate_limiter(struct rate_limiter_cfg *cfg,
			       const struct rate_limiter_cfg *p)
{
	if (p->bandwidth.present)
		cfg->bandwidth = p->bandwidth;
	if (p->ops.present)
		cfg->ops = p->ops;
}

int config_put_net(struct vm_config *cfg, const struct net_cfg *n,
		   struct config_err *e)
{
	unsigned i, slot = cfg->nr_nets;

	for (i = 0; i < cfg->nr_nets; i++) {
		const struct net_cfg *o = &cfg->nets[i];

		if (!strcmp(o->id, n->id)) {
			slot = i;
			continue;
		}
		if (!strcmp(o->host_dev, n->host_dev))
			return config_fail(
				e,
				"network interface '%s': host device '%s' is already used by '%s'",
				n->id, n->host_dev, o->id);
		if (n->has_mac && o->has_mac && !memcmp(o->mac, n->mac, 6))
			return config_fail(
				e,
				"network interface '%s': guest MAC already used by '%s'",
				n->id, o->id);
	}
	if (slot == cfg->nr_nets && check_room(cfg, "network interface", e))
		return -EINVAL;
	cfg->nets[slot] = *n;
	if (slot == cfg->nr_nets)
		cfg->nr_nets++;
	return 0;
}

int config_put_vsock(struct vm_config *cfg, const struct vsock_cfg *v,
		     struct config_err *e)
{
	if (!cfg->vsock.set && check_room(cfg, "vsock", e))
		return -EINVAL;
	cfg->vsock = *v;
	return 0;
}

int config_put_entropy(struct vm_config *cfg, const struct entropy_cfg *en,
		       struct config_err *e)
{
	if (!cfg->entropy.set && check_room(cfg, "entropy", e))
		return -EINVAL;
	cfg->entropy = *en;
	return 0;
}

int config_put_mmds(struct vm_config *cfg, const struct mmds_cfg *c,
		    struct config_err *e)
{
	unsigned i, k;

	for (i = 0; i < c->nr_ifaces; i++) {
		for (k = 0;
		     k < cfg->nr_nets && strcmp(cfg->nets[k].id, c->ifaces[i]);
		     k++)
			;
		if (k == cfg->nr_nets)
			return config_fail(e, MMDS_CONFIG_ERR_NO_IFACE);
	}
	cfg->mmds = *c;
	return 0;
}

bool config_mmds_iface(const struct mmds_cfg *c, const char *id)
{
	unsigned i;

	for (i = 0; i < c->nr_ifaces; i++)
		if (!strcmp(c->ifaces[i], id))
			return true;
	return false;
}

/* Applies each element of a JSON array through parse + put. */
static int parse_drives(const cJSON *arr, struct vm_config *cfg,
			struct config_err *e)
{
	const cJSON *it;
	struct drive_cfg d;

	if (!cJSON_IsArray(arr))
		return config_fail(e, "drives: expected an array");
	cJSON_ArrayForEach(it, arr) {
		if (parse_drive(it, "drives[]", &d, e) ||
		    config_put_drive(cfg, &d, e))
			return -EINVAL;
	}
	return 0;
}

static int parse_nets(const cJSON *arr, struct vm_config *cfg,
		      struct config_err *e)
{
	const cJSON *it;
	struct net_cfg n;

	if (!cJSON_IsArray(arr))
		return config_fail(e, "network-interfaces: expected an array");
	cJSON_ArrayForEach(it, arr) {
		if (parse_net(it, "network-interfaces[]", &n, e) ||
		    config_put_net(cfg, &n, e))
			return -EINVAL;
	}
	return 0;
}

static int parse_machine_key(const cJSON *j, struct vm_config *cfg,
			     struct config_err *e)
{
	struct machine_patch p;

	if (parse_machine(j, "machine-config", &p, false, e))
		return -EINVAL;
	return config_patch_machine(cfg, &p, e);
}

static int parse_vsock_key(const cJSON *j, struct vm_config *cfg,
			   struct config_err *e)
{
	struct vsock_cfg v;
	bool deprecated;

	if (parse_vsock(j, "vsock", &v, &deprecated, e))
		return -EINVAL;
	return config_put_vsock(cfg, &v, e);
}

static int parse_entropy_key(const cJSON *j, struct vm_config *cfg,
			     struct config_err *e)
{
	struct entropy_cfg en;

	if (parse_entropy(j, "entropy", &en, e))
		return -EINVAL;
	return config_put_entropy(cfg, &en, e);
}

/* Keys of Firecracker's GET /vm/config for what microvm does not have yet:
 * accepted empty (null, or [] for pmem), refused otherwise. Any other key
 * is warned about and ignored, as Firecracker does. */
static int parse_other_key(const cJSON *it, struct config_err *e)
{
	static const char *const later[] = { "balloon", "cpu-config", "pmem",
					     "memory-hotplug", NULL };
	const char *const *k;

	for (k = later; *k && strcmp(*k, it->string); k++)
		;
	if (!*k) {
		log_warn("config: unknown top-level key '%s' ignored",
			 it->string);
		return 0;
	}
	if (cJSON_IsNull(it) || (cJSON_IsArray(it) && !cJSON_GetArraySize(it)))
		return 0;
	return config_fail(e, "'%s' is not supported by this microvm version",
			   it->string);
}

static int parse_key(const cJSON *it, struct vm_config *cfg,
		     struct config_err *e)
{
	const char *k = it->string;

	if (!strcmp(k, "boot-source"))
		return parse_boot_source(it, k, &cfg->boot, e);
	if (!strcmp(k, "machine-config"))
		return parse_machine_key(it, cfg, e);
	if (!strcmp(k, "drives"))
		return parse_drives(it, cfg, e);
	if (!strcmp(k, "network-interfaces"))
		return parse_nets(it, cfg, e);
	if (!strcmp(k, "vsock"))
		return cJSON_IsNull(it) ? 0 : parse_vsock_key(it, cfg, e);
	if (!strcmp(k, "entropy"))
		return cJSON_IsNull(it) ? 0 : parse_entropy_key(it, cfg, e);
	if (!strcmp(k, "logger"))
		return cJSON_IsNull(it) ? 0 :
					  parse_logger(it, k, &cfg->logger, e);
	if (!strcmp(k, "metrics"))
		return cJSON_IsNull(it) ?
			       0 :
			       parse_metrics(it, k, &cfg->metrics, e);
	return parse_other_key(it, e);
}

/* mmds-config names interfaces: it is read after every other key, as
 * Firecracker does. */
static int parse_mmds_key(const cJSON *root, struct vm_config *cfg,
			  struct config_err *e)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "mmds-config");
	struct mmds_cfg c;

	if (!j || cJSON_IsNull(j))
		return 0;
	if (parse_mmds_config(j, "mmds-config", &c, e))
		return -EINVAL;
	return config_put_mmds(cfg, &c, e);
}

static int parse_root(const char *json, size_t len, struct vm_config *cfg,
		      bool saved, struct config_err *e)
{
	const cJSON *it;
	cJSON *root;
	int ret = 0;

	vm_config_init(cfg);
	e->msg[0] = '\0';
	if (len > CONFIG_MAX_FILE_SIZE)
		return config_fail(e, "config larger than %u bytes",
				   CONFIG_MAX_FILE_SIZE);
	root = cJSON_ParseWithLength(json, len);
	if (!root)
		return config_fail(e, "invalid JSON");
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return config_fail(e, "the config must be a JSON object");
	}
	cJSON_ArrayForEach(it, root) {
		/* a snapshot's kernel is in its memory; mmds-config last */
		if ((saved && !strcmp(it->string, "boot-source")) ||
		    !strcmp(it->string, "mmds-config"))
			continue;
		ret = parse_key(it, cfg, e);
		if (ret)
			break;
	}
	if (!ret)
		ret = parse_mmds_key(root, cfg, e);
	if (!ret && !saved && !cfg->boot.set)
		ret = config_fail(e, "missing 'boot-source'");
	cJSON_Delete(root);
	return ret;
}

int config_parse(const char *json, size_t len, struct vm_config *cfg,
		 struct config_err *e)
{
	return parse_root(json, len, cfg, false, e);
}

int config_parse_saved(const char *json, size_t len, struct vm_config *cfg,
		       struct config_err *e)
{
	return parse_root(json, len, cfg, true, e);
}

int config_load(const char *path, struct vm_config *cfg, struct config_err *e)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int ret;

	if (!f) {
		ret = -errno;
		config_fail(e, "cannot open config file %s: %s", path,
			    strerror(errno));
		return ret;
	}
	buf = malloc(CONFIG_MAX_FILE_SIZE + 1);
	n = buf ? fread(buf, 1, CONFIG_MAX_FILE_SIZE + 1, f) : 0;
	fclose(f);
	if (!buf) {
		config_fail(e, "out of memory");
		return -ENOMEM;
	}
	ret = config_parse(buf, n, cfg, e);
	free(buf);
	return ret;
}

/* ---- JSON output (GET /vm/config, GET /machine-config) ---- */

static cJSON *machine_json(const struct machine_cfg *m)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "vcpu_count", m->vcpu_count);
	cJSON_AddNumberToObject(o, "mem_size_mib", m->mem_size_mib);
	cJSON_AddBoolToObject(o, "smt", m->smt);
	cJSON_AddBoolToObject(o, "track_dirty_pages", m->track_dirty_pages);
	cJSON_AddStringToObject(o, "huge_pages",
				m->huge_pages_2m ? "2M" : "None");
	return o;
}

char *machine_to_json(const struct machine_cfg *m)
{
	cJSON *o = machine_json(m);
	char *s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return s;
}

static void add_bucket(cJSON *o, const char *key, const struct token_bucket *b)
{
	cJSON *j;

	if (!b->set)
		return;
	j = cJSON_AddObjectToObject(o, key);
	cJSON_AddNumberToObject(j, "size", (double)b->size);
	cJSON_AddNumberToObject(j, "one_time_burst", (double)b->one_time_burst);
	cJSON_AddNumberToObject(j, "refill_time", (double)b->refill_time_ms);
}

static void add_rate_limiter(cJSON *o, const char *key,
			     const struct rate_limiter_cfg *rl)
{
	cJSON *j;

	if (!rl->bandwidth.set && !rl->ops.set)
		return;
	j = cJSON_AddObjectToObject(o, key);
	add_bucket(j, "bandwidth", &rl->bandwidth);
	add_bucket(j, "ops", &rl->ops);
}

static cJSON *drive_json(const struct drive_cfg *d)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "drive_id", d->id);
	cJSON_AddStringToObject(o, "path_on_host", d->path);
	cJSON_AddBoolToObject(o, "is_root_device", d->is_root);
	cJSON_AddBoolToObject(o, "is_read_only", d->read_only);
	if (d->partuuid[0])
		cJSON_AddStringToObject(o, "partuuid", d->partuuid);
	cJSON_AddStringToObject(o, "cache_type",
				d->cache == CACHE_WRITEBACK ? "Writeback" :
							      "Unsafe");
	cJSON_AddStringToObject(o, "io_engine",
				d->engine == IO_ENGINE_ASYNC ? "Async" :
							       "Sync");
	add_rate_limiter(o, "rate_limiter", &d->rl);
	return o;
}

static cJSON *net_json(const struct net_cfg *n)
{
	cJSON *o = cJSON_CreateObject();
	char mac[18];

	cJSON_AddStringToObject(o, "iface_id", n->id);
	cJSON_AddStringToObject(o, "host_dev_name", n->host_dev);
	if (n->has_mac) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
			 n->mac[5]);
		cJSON_AddStringToObject(o, "guest_mac", mac);
	}
	if (n->mtu)
		cJSON_AddNumberToObject(o, "mtu", n->mtu);
	add_rate_limiter(o, "rx_rate_limiter", &n->rx);
	add_rate_limiter(o, "tx_rate_limiter", &n->tx);
	return o;
}

/* As Firecracker's: the interfaces in the order they were configured. */
static void add_mmds(cJSON *root, const struct vm_config *cfg)
{
	const struct mmds_cfg *m = &cfg->mmds;
	struct in_addr a = { htonl(m->ipv4) };
	char ip[INET_ADDRSTRLEN];
	cJSON *o, *arr;
	unsigned i;

	if (!m->set) {
		cJSON_AddNullToObject(root, "mmds-config");
		return;
	}
	o = cJSON_AddObjectToObject(root, "mmds-config");
	cJSON_AddStringToObject(o, "version", m->v2 ? "V2" : "V1");
	arr = cJSON_AddArrayToObject(o, "network_interfaces");
	for (i = 0; i < cfg->nr_nets; i++)
		if (config_mmds_iface(m, cfg->nets[i].id))
			cJSON_AddItemToArray(
				arr, cJSON_CreateString(cfg->nets[i].id));
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	cJSON_AddStringToObject(o, "ipv4_address", ip);
	cJSON_AddBoolToObject(o, "imds_compat", m->imds_compat);
}

static void add_optional(cJSON *root, const struct vm_config *cfg)
{
	cJSON *o;

	if (cfg->vsock.set) {
		o = cJSON_AddObjectToObject(root, "vsock");
		cJSON_AddNumberToObject(o, "guest_cid", cfg->vsock.guest_cid);
		cJSON_AddStringToObject(o, "uds_path", cfg->vsock.uds_path);
	} else {
		cJSON_AddNullToObject(root, "vsock");
	}
	if (cfg->entropy.set)
		add_rate_limiter(cJSON_AddObjectToObject(root, "entropy"),
				 "rate_limiter", &cfg->entropy.rl);
	else
		cJSON_AddNullToObject(root, "entropy");
	if (cfg->metrics.set)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(root,
								"metrics"),
					"metrics_path", cfg->metrics.path);
	else
		cJSON_AddNullToObject(root, "metrics");
	add_mmds(root, cfg);
}

char *config_to_json(const struct vm_config *cfg)
{
	cJSON *root = cJSON_CreateObject(), *o, *arr;
	unsigned i;
	char *s;

	if (cfg->boot.set) {
		o = cJSON_AddObjectToObject(root, "boot-source");
		cJSON_AddStringToObject(o, "kernel_image_path",
					cfg->boot.kernel_path);
		if (cfg->boot.initrd_path[0])
			cJSON_AddStringToObject(o, "initrd_path",
						cfg->boot.initrd_path);
		cJSON_AddStringToObject(o, "boot_args", cfg->boot.boot_args);
	}
	cJSON_AddItemToObject(root, "machine-config",
			      machine_json(&cfg->machine));
	arr = cJSON_AddArrayToObject(root, "drives");
	for (i = 0; i < cfg->nr_drives; i++)
		cJSON_AddItemToArray(arr, drive_json(&cfg->drives[i]));
	arr = cJSON_AddArrayToObject(root, "network-interfaces");
	for (i = 0; i < cfg->nr_nets; i++)
		cJSON_AddItemToArray(arr, net_json(&cfg->nets[i]));
	add_optional(root, cfg);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}
