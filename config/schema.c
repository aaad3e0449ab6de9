// SPDX-License-Identifier: Apache-2.0
/* The engine behind the resource tables (resources.c): one table per
 * resource drives reading its PUT and PATCH bodies (the API and the config
 * file), applying a PATCH, and writing its JSON (GET /vm/config).
 * Untrusted input: unknown fields, wrong types and values out of range are
 * rejected with a message that names the field. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

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

/* One body being read. */
struct reader {
	const char *where; /* the object's name in messages */
	bool *deprecated; /* may be NULL */
	struct config_err *e;
};

static void *at(void *base, size_t off)
{
	return (char *)base + off;
}

/* The bool at offset + 1 `off1` (0: none): set, and read. */
static void mark(void *base, size_t off1)
{
	if (off1)
		*(bool *)at(base, off1 - 1) = true;
}

static bool marked(const void *base, size_t off1)
{
	return off1 && *(const bool *)((const char *)base + off1 - 1);
}

/* Integers, bools and enums live in members of 1, 2, 4 or 8 bytes. */
static void store_uint(void *p, size_t size, uint64_t v)
{
	uint8_t u8 = (uint8_t)v;
	uint16_t u16 = (uint16_t)v;
	uint32_t u32 = (uint32_t)v;

	if (size == 1)
		memcpy(p, &u8, 1);
	else if (size == 2)
		memcpy(p, &u16, 2);
	else if (size == 4)
		memcpy(p, &u32, 4);
	else if (size == 8)
		memcpy(p, &v, 8);
}

static uint64_t load_uint(const void *p, size_t size)
{
	uint8_t u8 = 0;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;

	if (size == 1)
		return memcpy(&u8, p, 1), u8;
	if (size == 2)
		return memcpy(&u16, p, 2), u16;
	if (size == 4)
		return memcpy(&u32, p, 4), u32;
	return memcpy(&u64, p, 8), u64;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNull(v) ? NULL : v;
}

static int fail(const struct reader *r, const struct field *f, const char *what)
{
	return config_fail(r->e, "%s.%s: %s", r->where, f->name, what);
}

static int read_string(const struct field *f, const cJSON *v,
		       const struct reader *r, char *dst)
{
	const char *s = v->valuestring;

	if (!cJSON_IsString(v))
		return fail(r, f, "expected a string");
	if (f->size && strlen(s) >= f->size)
		return config_fail(r->e, "%s.%s: longer than %zu bytes",
				   r->where, f->name, f->size - 1);
	if ((f->flags & F_NONEMPTY) && !s[0])
		return fail(r, f, "must not be empty");
	if (f->type == T_ID && !config_valid_id(s))
		return config_fail(
			r->e, "%s.%s: '%.64s' must be 1-63 of [A-Za-z0-9_]",
			r->where, f->name, s);
	if ((f->flags & F_READABLE) && (s[0] || (f->flags & F_REQUIRED)) &&
	    access(s, R_OK))
		return config_fail(r->e, "%s.%s: cannot read '%s': %s",
				   r->where, f->name, s, strerror(errno));
	if (dst)
		strcpy(dst, s);
	return 0;
}

static int read_int(const struct field *f, const cJSON *v,
		    const struct reader *r, void *dst)
{
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
		return fail(r, f, "expected an integer");
	if (v->valuedouble < f->min || v->valuedouble > f->max)
		return config_fail(r->e,
				   "%s.%s: %.0f is out of range [%.0f, %.0f]",
				   r->where, f->name, v->valuedouble, f->min,
				   f->max);
	store_uint(dst, f->size, (uint64_t)v->valuedouble);
	return 0;
}

/* A deprecated bool is an alias: it can only turn its field on. */
static int read_bool(const struct field *f, const cJSON *v,
		     const struct reader *r, void *dst)
{
	if (!cJSON_IsBool(v))
		return fail(r, f, "expected true or false");
	if (cJSON_IsTrue(v) || !(f->flags & F_DEPRECATED))
		store_uint(dst, f->size, cJSON_IsTrue(v));
	return 0;
}

static int read_enum(const struct field *f, const cJSON *v,
		     const struct reader *r, void *dst)
{
	char list[128] = "";
	unsigned i;

	if (!cJSON_IsString(v))
		return fail(r, f, "expected a string");
	for (i = 0; f->names[i]; i++) {
		if (!strcmp(v->valuestring, f->names[i])) {
			store_uint(dst, f->size, i);
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i ? ", " : "", f->names[i]);
	}
	return config_fail(r->e, "%s.%s: '%.64s' is not one of %s", r->where,
			   f->name, v->valuestring, list);
}

static int read_text(const struct field *f, const cJSON *v,
		     const struct reader *r, void *dst)
{
	if (!cJSON_IsString(v))
		return fail(r, f, "expected a string");
	if (f->codec->parse(v->valuestring, dst))
		return config_fail(r->e, "%s.%s: '%.64s' is not %s", r->where,
				   f->name, v->valuestring, f->codec->expect);
	return 0;
}

/* Each string in an element of size / max_items bytes. */
static int read_strings(const struct field *f, const cJSON *v,
			const struct reader *r, char *dst)
{
	size_t each = f->size / f->max_items;
	unsigned *count = (unsigned *)(dst - f->off + f->count);
	const cJSON *it;

	if (!cJSON_IsArray(v))
		return fail(r, f, "expected an array");
	cJSON_ArrayForEach(it, v) {
		if (*count == f->max_items)
			return config_fail(r->e, "%s.%s: more than %u entries",
					   r->where, f->name, f->max_items);
		if (!cJSON_IsString(it) || strlen(it->valuestring) >= each)
			return config_fail(
				r->e,
				"%s.%s: expected strings of at most %zu bytes",
				r->where, f->name, each - 1);
		strcpy(dst + *count * each, it->valuestring);
		(*count)++;
	}
	return 0;
}

static int read_object(const struct schema *s, const cJSON *j, bool patch,
		       void *base, const struct reader *r);

/* A nested object or list: its messages name it after its parent. */
static int read_nested(const struct field *f, const cJSON *v,
		       const struct reader *r, void *dst)
{
	char where[128];
	struct reader nested = *r;
	unsigned *count = (unsigned *)((char *)dst - f->off + f->count);
	const cJSON *it;
	int ret = 0;

	snprintf(where, sizeof(where), "%s.%s", r->where, f->name);
	nested.where = where;
	if (f->type == T_OBJECT)
		return read_object(f->sub, v, false, dst, &nested);
	if (!cJSON_IsArray(v))
		return config_fail(r->e, "%s: expected an array", where);
	cJSON_ArrayForEach(it, v) {
		if (*count == f->max_items)
			return config_fail(r->e, "%s: more than %u entries",
					   where, f->max_items);
		ret = read_object(f->sub, it, false,
				  at(dst, *count * f->sub->size), &nested);
		if (ret)
			return ret;
		(*count)++;
	}
	return 0;
}

static int read_value(const struct field *f, const cJSON *v,
		      const struct reader *r, void *dst)
{
	switch (f->type) {
	case T_STRING:
	case T_ID:
		return read_string(f, v, r, f->size ? dst : NULL);
	case T_BOOL:
		return read_bool(f, v, r, dst);
	case T_INT:
		return read_int(f, v, r, dst);
	case T_ENUM:
		return read_enum(f, v, r, dst);
	case T_TEXT:
		return read_text(f, v, r, dst);
	case T_STRINGS:
		return read_strings(f, v, r, dst);
	case T_OBJECT:
	case T_LIST:
		return read_nested(f, v, r, dst);
	case T_IGNORED:
		return 0;
	default: /* T_REFUSED */
		return fail(r, f, f->why);
	}
}

static const struct field *find_field(const struct schema *s, const char *name)
{
	const struct field *f;

	for (f = s->fields; f->name; f++)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

/* Whether a body of this kind takes the field at all. */
static bool takes(const struct field *f, bool patch)
{
	return !patch || f->patch_off || (f->flags & F_KEY);
}

/* Refuses a non-object, and a member the table does not know. */
static int check_members(const struct schema *s, const cJSON *j, bool patch,
			 const struct reader *r)
{
	const cJSON *it;

	if (!cJSON_IsObject(j))
		return config_fail(r->e, "%s: expected a JSON object",
				   r->where);
	cJSON_ArrayForEach(it, j) {
		const struct field *f = find_field(s, it->string);

		if (!f && !s->open)
			return config_fail(r->e, "%s: unknown field '%s'",
					   r->where, it->string);
		if (f && !takes(f, patch))
			return config_fail(
				r->e, "%s: '%s' cannot be changed by a PATCH",
				r->where, it->string);
	}
	return 0;
}

static int read_field(const struct field *f, const cJSON *j, bool patch,
		      void *base, const struct reader *r)
{
	const cJSON *v = member(j, f->name);
	unsigned need = patch ? F_KEY : F_REQUIRED | F_KEY;
	void *dst = at(base, patch ? f->patch_off - 1 : f->off);

	if (!v && (f->flags & need))
		return config_fail(r->e, "%s: missing '%s'", r->where, f->name);
	if (!v && f->dflt && !patch)
		strcpy(dst, f->dflt);
	if (!v)
		return 0;
	mark(base, patch ? f->patch_given : f->given);
	if ((f->flags & F_DEPRECATED) && r->deprecated)
		*r->deprecated = true;
	return read_value(f, v, r, dst);
}

static int read_object(const struct schema *s, const cJSON *j, bool patch,
		       void *base, const struct reader *r)
{
	const struct field *f;
	int ret = check_members(s, j, patch, r);

	for (f = s->fields; f->name && !ret; f++)
		if (takes(f, patch))
			ret = read_field(f, j, patch, base, r);
	if (!ret && !patch)
		mark(base, s->set);
	if (!ret && !patch && s->check)
		ret = s->check(base, j, r->where, r->e);
	return ret;
}

int config_read(const struct schema *s, const cJSON *j, const char *where,
		bool patch, void *out, bool *deprecated, struct config_err *e)
{
	struct reader r = { .where = where, .deprecated = deprecated, .e = e };

	if (patch && !s->patch_size)
		return config_fail(e, "%s: cannot be changed by a PATCH",
				   where);
	memset(out, 0, patch ? s->patch_size : s->size);
	return read_object(s, j, patch, out, &r);
}

const char *config_key(const struct schema *s, bool patch, const void *out)
{
	const struct field *f;

	for (f = s->fields; f->name; f++)
		if (f->flags & F_KEY)
			return (const char *)out +
			       (patch ? f->patch_off - 1 : f->off);
	return NULL;
}

/* Copies the fields of `src` that were given (nested objects: theirs). */
static void merge_given(const struct schema *s, void *obj, const void *src)
{
	const struct field *f;

	for (f = s->fields; f->name; f++)
		if (marked(src, f->given))
			memcpy(at(obj, f->off), (const char *)src + f->off,
			       f->size);
}

void config_apply_patch(const struct schema *s, void *obj, const void *patch)
{
	const struct field *f;

	for (f = s->fields; f->name; f++) {
		const void *v = (const char *)patch + f->patch_off - 1;

		if (!f->patch_off || (f->flags & F_KEY))
			continue;
		if (f->type == T_OBJECT)
			merge_given(f->sub, at(obj, f->off), v);
		else if (marked(patch, f->patch_given))
			memcpy(at(obj, f->off), v, f->size);
	}
}

void config_patch_rate_limiter(struct rate_limiter_cfg *cfg,
			       const struct rate_limiter_cfg *p)
{
	merge_given(&rate_limiter_schema, cfg, p);
}

bool config_is_set(const struct schema *s, const void *obj)
{
	return !s->set || marked(obj, s->set);
}

/* Whether a field is written out: kept, named, and not empty. */
static bool writes(const struct field *f, const void *obj)
{
	const void *p = (const char *)obj + f->off;

	if (!f->size || (f->flags & F_QUIET) || f->type >= T_LIST)
		return false;
	if (f->given && !marked(obj, f->given))
		return false;
	if (f->type == T_OBJECT && !config_is_set(f->sub, p))
		return false;
	if (!(f->flags & F_OMIT_EMPTY))
		return true;
	return f->type == T_STRING ? *(const char *)p != 0 :
				     load_uint(p, f->size) != 0;
}

static void write_strings(cJSON *o, const struct field *f, const void *p)
{
	size_t each = f->size / f->max_items;
	unsigned i,
		n = *(const unsigned *)((const char *)p - f->off + f->count);
	cJSON *arr = cJSON_AddArrayToObject(o, f->name);

	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(
			arr, cJSON_CreateString((const char *)p + i * each));
}

static void write_field(cJSON *o, const struct field *f, const void *p)
{
	char text[64];
	cJSON *sub;

	switch (f->type) {
	case T_STRING:
	case T_ID:
		cJSON_AddStringToObject(o, f->name, p);
		break;
	case T_BOOL:
		cJSON_AddBoolToObject(o, f->name, load_uint(p, f->size));
		break;
	case T_INT:
		cJSON_AddNumberToObject(o, f->name,
					(double)load_uint(p, f->size));
		break;
	case T_ENUM:
		cJSON_AddStringToObject(o, f->name,
					f->names[load_uint(p, f->size)]);
		break;
	case T_TEXT:
		f->codec->print(p, text, sizeof(text));
		cJSON_AddStringToObject(o, f->name, text);
		break;
	case T_STRINGS:
		write_strings(o, f, p);
		break;
	default: /* T_OBJECT: left out when it has nothing to say */
		sub = config_write(f->sub, p);
		if (cJSON_GetArraySize(sub))
			cJSON_AddItemToObject(o, f->name, sub);
		else
			cJSON_Delete(sub);
	}
}

cJSON *config_write(const struct schema *s, const void *obj)
{
	cJSON *o = cJSON_CreateObject();
	const struct field *f;

	for (f = s->fields; f->name; f++)
		if (writes(f, obj))
			write_field(o, f, (const char *)obj + f->off);
	return o;
}
