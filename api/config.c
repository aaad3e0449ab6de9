// SPDX-License-Identifier: Apache-2.0
/* The config file (--config-file): kebab-case top-level keys holding the
 * same objects as the API bodies. Untrusted input: size-capped, every key
 * known, every type and range checked, each rejection names the key. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"

struct parse_ctx {
	char *err;
	size_t err_size;
};

static int fail(struct parse_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parse_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Rejects any member of obj whose name is not in the NULL-ended list. */
static int check_keys(struct parse_ctx *c, const cJSON *obj, const char *where,
		      const char *const *allowed)
{
	const cJSON *it;

	if (!cJSON_IsObject(obj))
		return fail(c, "%s: expected a JSON object", where);
	cJSON_ArrayForEach(it, obj) {
		const char *const *a;

		for (a = allowed; *a && strcmp(*a, it->string); a++)
			;
		if (!*a)
			return fail(c, "%s: unknown field '%s'", where,
				    it->string);
	}
	return 0;
}

static int get_string(struct parse_ctx *c, const cJSON *obj, const char *where,
		      const char *key, bool required, char *out, size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return required ? fail(c, "%s: missing '%s'", where, key) : 0;
	if (!cJSON_IsString(v))
		return fail(c, "%s.%s: expected a string", where, key);
	if (strlen(v->valuestring) >= size)
		return fail(c, "%s.%s: longer than %zu bytes", where, key,
			    size - 1);
	strcpy(out, v->valuestring);
	return 0;
}

static int get_uint(struct parse_ctx *c, const cJSON *obj, const char *where,
		    const char *key, unsigned min, unsigned max, unsigned *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v)
		return fail(c, "%s: missing '%s'", where, key);
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
		return fail(c, "%s.%s: expected an integer", where, key);
	if (v->valuedouble < min || v->valuedouble > max)
		return fail(c, "%s.%s: %.0f is out of range [%u, %u]", where,
			    key, v->valuedouble, min, max);
	*out = (unsigned)v->valuedouble;
	return 0;
}

static int get_bool(struct parse_ctx *c, const cJSON *obj, const char *where,
		    const char *key, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return fail(c, "%s.%s: expected true or false", where, key);
	*out = cJSON_IsTrue(v);
	return 0;
}

static int check_readable(struct parse_ctx *c, const char *where,
			  const char *key, const char *path)
{
	if (access(path, R_OK))
		return fail(c, "%s.%s: cannot read '%s': %s", where, key, path,
			    strerror(errno));
	return 0;
}

static int parse_boot_source(struct parse_ctx *c, const cJSON *obj,
			     struct vm_boot_config *cfg)
{
	static const char *const keys[] = { "kernel_image_path", "boot_args",
					    "initrd_path", NULL };
	const char *w = "boot-source";
	int ret = check_keys(c, obj, w, keys);

	if (!ret)
		ret = get_string(c, obj, w, "kernel_image_path", true,
				 cfg->kernel_path, sizeof(cfg->kernel_path));
	if (!ret)
		ret = get_string(c, obj, w, "boot_args", false, cfg->boot_args,
				 sizeof(cfg->boot_args));
	if (!ret)
		ret = get_string(c, obj, w, "initrd_path", false,
				 cfg->initrd_path, sizeof(cfg->initrd_path));
	if (!ret)
		ret = check_readable(c, w, "kernel_image_path",
				     cfg->kernel_path);
	if (!ret && cfg->initrd_path[0])
		ret = check_readable(c, w, "initrd_path", cfg->initrd_path);
	return ret;
}

static int parse_enum_fields(struct parse_ctx *c, const cJSON *obj,
			     struct vm_boot_config *cfg)
{
	const char *w = "machine-config";
	char huge[16] = "None", tmpl[16] = "None";
	int ret =
		get_string(c, obj, w, "huge_pages", false, huge, sizeof(huge));

	if (!ret)
		ret = get_string(c, obj, w, "cpu_template", false, tmpl,
				 sizeof(tmpl));
	if (ret)
		return ret;
	if (strcmp(huge, "None") && strcmp(huge, "2M"))
		return fail(c, "%s.huge_pages: '%s' is not one of None, 2M", w,
			    huge);
	if (strcmp(tmpl, "None"))
		return fail(
			c, "%s.cpu_template: '%s' is not supported (only None)",
			w, tmpl);
	cfg->huge_pages_2m = !strcmp(huge, "2M");
	return 0;
}

static int parse_machine_config(struct parse_ctx *c, const cJSON *obj,
				struct vm_boot_config *cfg)
{
	static const char *const keys[] = { "vcpu_count", "mem_size_mib",
					    "smt",	  "track_dirty_pages",
					    "huge_pages", "cpu_template",
					    NULL };
	const char *w = "machine-config";
	int ret = check_keys(c, obj, w, keys);

	if (!ret)
		ret = get_uint(c, obj, w, "vcpu_count", 1, CONFIG_MAX_VCPUS,
			       &cfg->vcpu_count);
	if (!ret)
		ret = get_uint(c, obj, w, "mem_size_mib", 1, CONFIG_MAX_MEM_MIB,
			       &cfg->mem_size_mib);
	if (!ret)
		ret = get_bool(c, obj, w, "smt", &cfg->smt);
	if (!ret)
		ret = get_bool(c, obj, w, "track_dirty_pages",
			       &cfg->track_dirty_pages);
	if (!ret)
		ret = parse_enum_fields(c, obj, cfg);
	if (ret)
		return ret;
	if (cfg->smt && cfg->vcpu_count > 1 && cfg->vcpu_count % 2)
		return fail(c, "%s: with smt, vcpu_count must be 1 or even", w);
	if (cfg->huge_pages_2m && cfg->mem_size_mib % 2)
		return fail(c,
			    "%s: with 2M huge pages, mem_size_mib must be even",
			    w);
	return 0;
}

/* Keys of resources whose devices are not built yet: accepted when empty. */
static int check_unsupported(struct parse_ctx *c, const cJSON *it)
{
	static const char *const later[] = { "drives",	"network-interfaces",
					     "vsock",	"logger",
					     "metrics", "entropy",
					     "balloon", "mmds-config",
					     NULL };
	const char *const *k;

	for (k = later; *k && strcmp(*k, it->string); k++)
		;
	if (!*k)
		return fail(c, "unknown top-level key '%s'", it->string);
	if (cJSON_IsNull(it) || (cJSON_IsArray(it) && !cJSON_GetArraySize(it)))
		return 0;
	return fail(c, "'%s' is not supported by this microvm version yet",
		    it->string);
}

static int parse_root(struct parse_ctx *c, const cJSON *root,
		      struct vm_boot_config *cfg)
{
	const cJSON *it;
	bool have_boot = false;
	int ret = 0;

	if (!cJSON_IsObject(root))
		return fail(c, "the config must be a JSON object");
	cJSON_ArrayForEach(it, root) {
		if (!strcmp(it->string, "boot-source")) {
			ret = parse_boot_source(c, it, cfg);
			have_boot = true;
		} else if (!strcmp(it->string, "machine-config")) {
			ret = parse_machine_config(c, it, cfg);
		} else {
			ret = check_unsupported(c, it);
		}
		if (ret)
			return ret;
	}
	if (!have_boot)
		return fail(c, "missing 'boot-source'");
	return 0;
}

int config_parse(const char *json, size_t len, struct vm_boot_config *cfg,
		 char *err, size_t err_size)
{
	struct parse_ctx c = { err, err_size };
	cJSON *root;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->boot_args, DEFAULT_BOOT_ARGS);
	cfg->vcpu_count = 1;
	cfg->mem_size_mib = 128;
	err[0] = '\0';
	if (len > CONFIG_MAX_FILE_SIZE)
		return fail(&c, "config larger than %u bytes",
			    CONFIG_MAX_FILE_SIZE);
	root = cJSON_ParseWithLength(json, len);
	if (!root)
		return fail(&c, "invalid JSON near byte %ld",
			    (long)(cJSON_GetErrorPtr() ?
					   cJSON_GetErrorPtr() - json :
					   0));
	ret = parse_root(&c, root, cfg);
	cJSON_Delete(root);
	return ret;
}

int config_load(const char *path, struct vm_boot_config *cfg, char *err,
		size_t err_size)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;
	int ret;

	if (!f) {
		snprintf(err, err_size, "cannot open config file %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	buf = malloc(CONFIG_MAX_FILE_SIZE + 1);
	n = buf ? fread(buf, 1, CONFIG_MAX_FILE_SIZE + 1, f) : 0;
	fclose(f);
	if (!buf) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	ret = config_parse(buf, n, cfg, err, err_size);
	free(buf);
	return ret;
}
