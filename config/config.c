// SPDX-License-Identifier: Apache-2.0
/* The VM configuration as data: defaults, the rules between resources
 * (unique ids, one root drive), the config file (--config-file: kebab-case
 * keys holding the API bodies) and its JSON form for GET /vm/config. */
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

/* A static template named in machine-config replaces a custom one; a body
 * without cpu_template keeps the one configured (Firecracker's). */
void config_put_machine(struct vm_config *cfg, const struct machine_cfg *m)
{
	unsigned kept = cfg->machine.cpu_template;
	bool kept_given = cfg->machine.cpu_template_given;

	cfg->machine = *m;
	if (m->cpu_template_given) {
		cfg->cpu_config.kind = CPU_TEMPLATE_NONE;
		return;
	}
	cfg->machine.cpu_template = kept;
	cfg->machine.cpu_template_given = kept_given;
}

void config_put_cpu_config(struct vm_config *cfg, const struct cpu_template *t)
{
	cfg->cpu_config = *t;
	cfg->machine.cpu_template = CPU_TEMPLATE_NONE;
	cfg->machine.cpu_template_given = false;
}

const struct cpu_template *config_cpu_template(const struct vm_config *cfg,
					       struct cpu_template *buf)
{
	if (cfg->cpu_config.kind == CPU_TEMPLATE_CUSTOM)
		return &cfg->cpu_config;
	if (cpu_template_get_static(cfg->machine.cpu_template, buf))
		return NULL; /* None */
	return buf;
}

int config_patch_machine(struct vm_config *cfg, const struct machine_patch *p,
			 struct config_err *e)
{
	struct machine_cfg m = cfg->machine;

	config_apply_patch(&machine_schema, &m, p);
	if (machine_check(&m, e))
		return -EINVAL;
	if (p->has_cpu_template) {
		m.cpu_template_given = true;
		cfg->cpu_config.kind = CPU_TEMPLATE_NONE;
	}
	cfg->machine = m;
	return 0;
}

/* Rules between the entries of a list: a new or replaced `item` against
 * each `other` one. */
static int drive_conflict(const void *item, const void *other,
			  struct config_err *e)
{
	const struct drive_cfg *d = item, *o = other;

	if (d->is_root && o->is_root)
		return config_fail(
			e,
			"drive '%s': a root device is already configured ('%s')",
			d->id, o->id);
	return 0;
}

static int net_conflict(const void *item, const void *other,
			struct config_err *e)
{
	const struct net_cfg *n = item, *o = other;

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
	return 0;
}

/* The resources of a VM: the config file's keys, in the order GET
 * /vm/config writes them. */
struct config_key {
	const char *name; /* the config file's key */
	const char *noun; /* in messages: "network interface" */
	const struct schema *schema;
	size_t off; /* the resource in struct vm_config */
	size_t count; /* a list (an array by id): offset + 1 of its count */
	bool device; /* each is a virtio device (CONFIG_MAX_DEVICES in all) */
	bool nullable; /* null: not configured (and written so) */
	bool quiet; /* read, never written */
	bool late; /* read after every other key of a file: it names them */
	int (*conflict)(const void *item, const void *other,
			struct config_err *e);
	/* Rules against the rest of the configuration (optional). */
	int (*fits)(const struct vm_config *cfg, const void *item,
		    struct config_err *e);
};

/* Every interface the MMDS config names is configured. */
static int mmds_fits(const struct vm_config *cfg, const void *item,
		     struct config_err *e)
{
	const struct mmds_cfg *c = item;
	unsigned i, k;

	for (i = 0; i < c->nr_ifaces; i++) {
		for (k = 0;
		     k < cfg->nr_nets && strcmp(cfg->nets[k].id, c->ifaces[i]);
		     k++)
			;
		if (k == cfg->nr_nets)
			return config_fail(
				e, MMDS_CONFIG_ERR
				"The list of network interface IDs provided contains at least one ID that does not correspond to any existing network interface.");
	}
	return 0;
}

/* The balloon cannot hold more than the guest's memory (machine-config is
 * read first: the key is late). */
static int balloon_fits(const struct vm_config *cfg, const void *item,
			struct config_err *e)
{
	const struct balloon_cfg *b = item;

	if (b->amount_mib > cfg->machine.mem_size_mib)
		return config_fail(
			e,
			"balloon.amount_mib: %u MiB is more than the guest's memory (%u MiB)",
			b->amount_mib, cfg->machine.mem_size_mib);
	return 0;
}

#define AT_CFG(member) .off = offsetof(struct vm_config, member)
#define COUNT(member) .count = offsetof(struct vm_config, member) + 1

static const struct config_key config_keys[] = {
	{ "boot-source", "boot-source", &boot_source_schema, AT_CFG(boot) },
	{ "machine-config", "machine-config", &machine_schema,
	  AT_CFG(machine) },
	{ "drives", "drive", &drive_schema, AT_CFG(drives), COUNT(nr_drives),
	  .device = true, .conflict = drive_conflict },
	{ "network-interfaces", "network interface", &net_schema, AT_CFG(nets),
	  COUNT(nr_nets), .device = true, .conflict = net_conflict },
	{ "vsock", "vsock", &vsock_schema, AT_CFG(vsock), .device = true,
	  .nullable = true },
	{ "entropy", "entropy", &entropy_schema, AT_CFG(entropy),
	  .device = true, .nullable = true },
	{ "balloon", "balloon", &balloon_schema, AT_CFG(balloon),
	  .device = true, .nullable = true, .late = true,
	  .fits = balloon_fits },
	{ "memory-hotplug", "memory-hotplug", &hotplug_schema, AT_CFG(hotplug),
	  .device = true, .nullable = true },
	{ "logger", "logger", &logger_schema, AT_CFG(logger), .nullable = true,
	  .quiet = true },
	{ "metrics", "metrics", &metrics_schema, AT_CFG(metrics),
	  .nullable = true },
	{ "mmds-config", "mmds-config", &mmds_schema, AT_CFG(mmds),
	  .nullable = true, .late = true, .fits = mmds_fits },
};
#define NR_KEYS ARRAY_SIZE(config_keys)

static void *key_at(const struct config_key *k, struct vm_config *cfg)
{
	return (char *)cfg + k->off;
}

static unsigned *key_count(const struct config_key *k, struct vm_config *cfg)
{
	return (unsigned *)((char *)cfg + k->count - 1);
}

/* How many a key holds (a list's count; else 1 when it is set). */
static unsigned nr_held(const struct config_key *k, const struct vm_config *cfg)
{
	const char *p = (const char *)cfg;

	if (k->count)
		return *(const unsigned *)(p + k->count - 1);
	return config_is_set(k->schema, p + k->off);
}

static unsigned nr_devices(const struct vm_config *cfg)
{
	const struct config_key *k;
	unsigned n = 0;

	for (k = config_keys; k < config_keys + NR_KEYS; k++)
		if (k->device)
			n += nr_held(k, cfg);
	return n;
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

/* A list's entry: replaces the one of the same id, or is added. */
static int put_entry(struct vm_config *cfg, const struct config_key *k,
		     const void *item, struct config_err *e)
{
	const char *id = config_key(k->schema, false, item);
	size_t size = k->schema->size;
	unsigned *n = key_count(k, cfg), i, slot = *n;
	char *arr = key_at(k, cfg);
	int ret = 0;

	for (i = 0; i < *n && !ret; i++) {
		if (!strcmp(config_key(k->schema, false, arr + i * size), id))
			slot = i;
		else if (k->conflict)
			ret = k->conflict(item, arr + i * size, e);
	}
	if (!ret && slot == *n && check_room(cfg, k->noun, e))
		ret = -EINVAL;
	if (ret)
		return ret;
	memcpy(arr + slot * size, item, size);
	if (slot == *n)
		(*n)++;
	return 0;
}

/* A resource read by config_read() into the configuration. */
static int put(struct vm_config *cfg, const struct config_key *k,
	       const void *item, struct config_err *e)
{
	void *dst = key_at(k, cfg);

	if (k->fits && k->fits(cfg, item, e))
		return -EINVAL;
	if (k->count)
		return put_entry(cfg, k, item, e);
	if (k->device && !config_is_set(k->schema, dst) &&
	    check_room(cfg, k->noun, e))
		return -EINVAL;
	memcpy(dst, item, k->schema->size);
	return 0;
}

static const struct config_key *key_of(const struct schema *s)
{
	const struct config_key *k = config_keys;

	while (k->schema != s)
		k++;
	return k;
}

int config_put_drive(struct vm_config *cfg, const struct drive_cfg *d,
		     struct config_err *e)
{
	return put(cfg, key_of(&drive_schema), d, e);
}

int config_put_net(struct vm_config *cfg, const struct net_cfg *n,
		   struct config_err *e)
{
	return put(cfg, key_of(&net_schema), n, e);
}

int config_put_vsock(struct vm_config *cfg, const struct vsock_cfg *v,
		     struct config_err *e)
{
	return put(cfg, key_of(&vsock_schema), v, e);
}

int config_put_entropy(struct vm_config *cfg, const struct entropy_cfg *en,
		       struct config_err *e)
{
	return put(cfg, key_of(&entropy_schema), en, e);
}

int config_put_balloon(struct vm_config *cfg, const struct balloon_cfg *b,
		       struct config_err *e)
{
	return put(cfg, key_of(&balloon_schema), b, e);
}

int config_put_hotplug(struct vm_config *cfg, const struct hotplug_cfg *h,
		       struct config_err *e)
{
	return put(cfg, key_of(&hotplug_schema), h, e);
}

int config_put_mmds(struct vm_config *cfg, const struct mmds_cfg *c,
		    struct config_err *e)
{
	return put(cfg, key_of(&mmds_schema), c, e);
}

bool config_mmds_iface(const struct mmds_cfg *c, const char *id)
{
	unsigned i;

	for (i = 0; i < c->nr_ifaces; i++)
		if (!strcmp(c->ifaces[i], id))
			return true;
	return false;
}

/* ---- the config file ---- */

/* One object of the file: read, then put. */
static int read_item(const struct config_key *k, const cJSON *j,
		     const char *where, struct vm_config *cfg,
		     struct config_err *e)
{
	void *item = malloc(k->schema->size);
	int ret;

	if (!item)
		return config_fail(e, "out of memory");
	ret = config_read(k->schema, j, where, false, item, NULL, e);
	if (!ret)
		ret = put(cfg, k, item, e);
	free(item);
	return ret;
}

static int read_key(const struct config_key *k, const cJSON *j,
		    struct vm_config *cfg, struct config_err *e)
{
	char where[64];
	const cJSON *it;
	int ret = 0;

	if (k->nullable && cJSON_IsNull(j))
		return 0;
	if (!k->count)
		return read_item(k, j, k->name, cfg, e);
	if (!cJSON_IsArray(j))
		return config_fail(e, "%s: expected an array", k->name);
	snprintf(where, sizeof(where), "%s[]", k->name);
	cJSON_ArrayForEach(it, j) {
		ret = read_item(k, it, where, cfg, e);
		if (ret)
			break;
	}
	return ret;
}

/* Keys of Firecracker's GET /vm/config for what microvm does not have yet:
 * accepted empty (null, or [] for pmem), refused otherwise. Any other key
 * is warned about and ignored, as Firecracker does. */
static int read_other_key(const cJSON *it, struct config_err *e)
{
	static const char *const later[] = { "pmem", NULL };
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

/* A file's text, read whole (at most CONFIG_MAX_FILE_SIZE + 1 bytes, so
 * a bigger one shows) into *text (malloc'd); -errno with e set. */
static int read_text_file(const char *what, const char *path, char **text,
			  size_t *len, struct config_err *e)
{
	FILE *f = fopen(path, "re");
	int ret = -errno;

	if (!f) {
		config_fail(e, "cannot open %s %s: %s", what, path,
			    strerror(-ret));
		return ret;
	}
	*text = malloc(CONFIG_MAX_FILE_SIZE + 1);
	*len = *text ? fread(*text, 1, CONFIG_MAX_FILE_SIZE + 1, f) : 0;
	fclose(f);
	if (!*text) {
		config_fail(e, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* "cpu-config": as in Firecracker, the path of a JSON file holding a PUT
 * /cpu-config body (or null). It wins over machine-config's cpu_template,
 * wherever it stands. */
static int read_cpu_config(const cJSON *it, struct vm_config *cfg,
			   struct config_err *e)
{
	size_t n;
	char *text;
	cJSON *j;
	int ret;

	if (cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it))
		return config_fail(e, "cpu-config: expected a file path");
	if (read_text_file("cpu-config", it->valuestring, &text, &n, e))
		return -EINVAL;
	j = n <= CONFIG_MAX_FILE_SIZE ? cJSON_ParseWithLength(text, n) : NULL;
	free(text);
	if (!j)
		return config_fail(e, "cpu-config %s: not a JSON CPU template",
				   it->valuestring);
	ret = cpu_template_parse(j, &cfg->cpu_config, e);
	cJSON_Delete(j);
	return ret;
}

/* A member of the file, unless its key is read late (read_late). */
static int read_member(const cJSON *it, struct vm_config *cfg,
		       struct config_err *e)
{
	const struct config_key *k;

	if (!strcmp(it->string, "cpu-config"))
		return read_cpu_config(it, cfg, e);

	for (k = config_keys; k < config_keys + NR_KEYS; k++)
		if (!strcmp(k->name, it->string))
			return k->late ? 0 : read_key(k, it, cfg, e);
	return read_other_key(it, e);
}

static int read_late(const cJSON *root, struct vm_config *cfg,
		     struct config_err *e)
{
	const struct config_key *k;
	const cJSON *j;
	int ret = 0;

	for (k = config_keys; k < config_keys + NR_KEYS && !ret; k++)
		if (k->late &&
		    (j = cJSON_GetObjectItemCaseSensitive(root, k->name)))
			ret = read_key(k, j, cfg, e);
	return ret;
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
		if (saved && !strcmp(it->string, "boot-source"))
			continue; /* the kernel is in the snapshot's memory */
		ret = read_member(it, cfg, e);
		if (ret)
			break;
	}
	if (!ret)
		ret = read_late(root, cfg, e);
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
	size_t n;
	char *buf;
	int ret = read_text_file("config file", path, &buf, &n, e);

	if (ret)
		return ret;
	ret = config_parse(buf, n, cfg, e);
	free(buf);
	return ret;
}

/* ---- GET /vm/config, GET /machine-config ---- */

static void write_key(cJSON *root, const struct config_key *k,
		      const struct vm_config *cfg)
{
	const char *obj = (const char *)cfg + k->off;
	unsigned i, n = nr_held(k, cfg);
	cJSON *arr;

	if (k->count) {
		arr = cJSON_AddArrayToObject(root, k->name);
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(
				arr, config_write(k->schema,
						  obj + i * k->schema->size));
	} else if (n) {
		cJSON_AddItemToObject(root, k->name,
				      config_write(k->schema, obj));
	} else if (k->nullable) {
		cJSON_AddNullToObject(root, k->name);
	}
}

static char *print_and_delete(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	return s;
}

char *config_to_json(const struct vm_config *cfg)
{
	cJSON *root = cJSON_CreateObject();
	const struct config_key *k;

	for (k = config_keys; k < config_keys + NR_KEYS; k++)
		if (!k->quiet)
			write_key(root, k, cfg);
	/* a path in Firecracker's, which writes null whatever is set */
	cJSON_AddNullToObject(root, "cpu-config");
	return print_and_delete(root);
}

char *machine_to_json(const struct machine_cfg *m)
{
	return print_and_delete(config_write(&machine_schema, m));
}
