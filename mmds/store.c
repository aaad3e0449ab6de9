// SPDX-License-Identifier: Apache-2.0
/* The MMDS data store: a cJSON tree replaced by PUT, merged by PATCH (RFC
 * 7396), read by GET and by the guest through JSON pointers. Objects are
 * kept sorted by key with unique keys, so listings and sizes come out as
 * Firecracker's (serde_json's ordered maps); the size is the length of the
 * compact JSON text, checked on a copy before the store changes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"

#define ERR_LIMIT \
	"MMDS limit exceeded error: The MMDS patch request doesn't fit."
#define ERR_NOT_INIT "MMDS error: The MMDS data store is not initialized."
#define ERR_NOMEM "MMDS error: out of memory."

void mmds_store_init(struct mmds_store *s, size_t limit)
{
	s->root = NULL; /* NULL stands for the JSON null of an empty store */
	s->initialized = false;
	s->limit = limit;
}

void mmds_store_destroy(struct mmds_store *s)
{
	cJSON_Delete(s->root);
	s->root = NULL;
}

struct member {
	cJSON *item;
	size_t index;
};

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->item->string, y->item->string);

	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Rebuilds an object's member list sorted by key, keeping the last of
 * duplicate keys. */
static int sort_object(cJSON *obj)
{
	struct member *m;
	size_t n = 0, i, kept = 0;
	cJSON *it;

	for (it = obj->child; it; it = it->next)
		n++;
	if (n < 2)
		return 0;
	m = calloc(n, sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (it = obj->child, i = 0; it; it = it->next, i++)
		m[i] = (struct member){ it, i };
	qsort(m, n, sizeof(*m), member_cmp);
	obj->child = NULL;
	for (i = 0; i < n; i++) {
		if (i + 1 < n &&
		    !strcmp(m[i].item->string, m[i + 1].item->string)) {
			m[i].item->next =
				NULL; /* cJSON_Delete frees the chain */
			cJSON_Delete(m[i].item);
			continue;
		}
		m[kept++] = m[i];
	}
	for (i = 0; i < kept; i++) {
		m[i].item->prev = i ? m[i - 1].item : m[kept - 1].item;
		m[i].item->next = i + 1 < kept ? m[i + 1].item : NULL;
	}
	obj->child = m[0].item;
	free(m);
	return 0;
}

/* Sorts every object in the tree (see the file comment). */
static int normalize(cJSON *v)
{
	cJSON *it;

	if (cJSON_IsObject(v) && sort_object(v))
		return -ENOMEM;
	for (it = v ? v->child : NULL; it; it = it->next)
		if (normalize(it))
			return -ENOMEM;
	return 0;
}

/* The compact JSON text's length, 0 when it cannot be printed. */
static size_t json_size(const cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);
	size_t n = text ? strlen(text) : 0;

	free(text);
	return n;
}

/* Takes ownership of v: it becomes the store, or is freed. */
static int replace(struct mmds_store *s, cJSON *v, const char **err)
{
	size_t size;

	if (!v || normalize(v)) {
		cJSON_Delete(v);
		*err = ERR_NOMEM;
		return -ENOMEM;
	}
	size = json_size(v);
	if (!size) {
		cJSON_Delete(v);
		*err = ERR_NOMEM;
		return -ENOMEM;
	}
	if (size > s->limit) {
		cJSON_Delete(v);
		*err = ERR_LIMIT;
		return -E2BIG;
	}
	cJSON_Delete(s->root);
	s->root = cJSON_IsNull(v) ? (cJSON_Delete(v), NULL) : v;
	s->initialized = true;
	return 0;
}

int mmds_store_put(struct mmds_store *s, const cJSON *value, const char **err)
{
	return replace(s, cJSON_Duplicate(value, true), err);
}

/* Replaces target (freed) with a fresh empty object. */
static cJSON *as_object(cJSON *target)
{
	if (cJSON_IsObject(target))
		return target;
	cJSON_Delete(target);
	return cJSON_CreateObject();
}

cJSON *mmds_merge_patch(cJSON *target, const cJSON *patch)
{
	const cJSON *p;

	if (!cJSON_IsObject(patch)) {
		cJSON_Delete(target);
		return cJSON_Duplicate(patch, true);
	}
	target = as_object(target);
	cJSON_ArrayForEach(p, patch) {
		cJSON *old, *merged;

		if (!target)
			return NULL;
		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target,
								p->string);
			continue;
		}
		old = cJSON_DetachItemFromObjectCaseSensitive(target,
							      p->string);
		merged = mmds_merge_patch(old, p);
		if (!merged ||
		    !cJSON_AddItemToObject(target, p->string, merged)) {
			cJSON_Delete(merged);
			cJSON_Delete(target);
			return NULL;
		}
	}
	return target;
}

int mmds_store_patch(struct mmds_store *s, const cJSON *patch, const char **err)
{
	cJSON *copy;

	if (!s->initialized) {
		*err = ERR_NOT_INIT;
		return -EINVAL;
	}
	copy = s->root ? cJSON_Duplicate(s->root, true) : cJSON_CreateNull();
	if (!copy) {
		*err = ERR_NOMEM;
		return -ENOMEM;
	}
	return replace(s, mmds_merge_patch(copy, patch), err);
}

char *mmds_store_json(const struct mmds_store *s)
{
	if (!s->root)
		return strdup("{}");
	return cJSON_PrintUnformatted(s->root);
}

/* An array index as RFC 6901 (and serde_json) reads it: digits, no
 * leading zero, no sign. -1 if the token is not one. */
static long array_index(const char *tok, size_t len)
{
	long v = 0;
	size_t i;

	if (!len || len > 9 || (tok[0] == '0' && len > 1))
		return -1;
	for (i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (tok[i] - '0');
	}
	return v;
}

/* Unescapes a reference token (~1 is '/', ~0 is '~') into key. */
static void unescape_token(const char *tok, size_t len, char *key)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (tok[i] == '~' && i + 1 < len &&
		    (tok[i + 1] == '0' || tok[i + 1] == '1')) {
			key[o++] = tok[i + 1] == '1' ? '/' : '~';
			i++;
		} else {
			key[o++] = tok[i];
		}
	}
	key[o] = '\0';
}

static const cJSON *step(const cJSON *v, const char *tok, size_t len)
{
	const cJSON *found = NULL;
	char *key;

	if (cJSON_IsArray(v)) {
		long i = array_index(tok, len);

		return i < 0 ? NULL : cJSON_GetArrayItem(v, (int)i);
	}
	if (!cJSON_IsObject(v))
		return NULL;
	key = malloc(len + 1);
	if (!key)
		return NULL;
	unescape_token(tok, len, key);
	found = cJSON_GetObjectItemCaseSensitive(v, key);
	free(key);
	return found;
}

const cJSON *mmds_store_lookup(const struct mmds_store *s, const char *pointer)
{
	static const cJSON null_value = { .type = cJSON_NULL };
	const cJSON *v = s->root ? s->root : &null_value;

	if (!*pointer)
		return v;
	if (*pointer != '/')
		return NULL;
	while (v && *pointer == '/') {
		const char *tok = pointer + 1;
		size_t len = strcspn(tok, "/");

		v = step(v, tok, len);
		pointer = tok + len;
	}
	return v;
}
