// SPDX-License-Identifier: Apache-2.0
/* The MMDS data store: RFC 7396's merge-patch examples, key order, the size
 * cap measured as Firecracker measures it, JSON pointers, and the session
 * tokens' MAC (SipHash-2-4-128 reference vectors) and expiry. */
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"

static int put_text(struct mmds_store *s, const char *json, const char **err)
{
	cJSON *v = cJSON_Parse(json);
	int ret;

	assert_non_null(v);
	ret = mmds_store_put(s, v, err);
	cJSON_Delete(v);
	return ret;
}

static int patch_text(struct mmds_store *s, const char *json, const char **err)
{
	cJSON *v = cJSON_Parse(json);
	int ret;

	assert_non_null(v);
	ret = mmds_store_patch(s, v, err);
	cJSON_Delete(v);
	return ret;
}

static void assert_store(const struct mmds_store *s, const char *want)
{
	char *got = mmds_store_json(s);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* RFC 7396, Appendix A: target, patch, result (null shows as {}). */
static void test_rfc7396_examples(void **state)
{
	static const char *const cases[][3] = {
		{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"b\":\"c\"}",
		  "{\"a\":\"b\",\"b\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
		{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}",
		  "{\"b\":\"c\"}" },
		{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
		{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
		  "{\"a\":{\"b\":\"d\"}}" },
		{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
		{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
		{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
		{ "{\"a\":\"foo\"}", "null", "{}" },
		{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
		{ "{\"e\":null}", "{\"a\":1}", "{\"a\":1,\"e\":null}" },
		{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
		{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}",
		  "{\"a\":{\"bb\":{}}}" },
	};
	const char *err = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mmds_store s;

		mmds_store_init(&s, MMDS_DEFAULT_SIZE_LIMIT);
		assert_int_equal(put_text(&s, cases[i][0], &err), 0);
		assert_int_equal(patch_text(&s, cases[i][1], &err), 0);
		assert_store(&s, cases[i][2]);
		mmds_store_destroy(&s);
	}
}

static void test_empty_and_not_initialized(void **state)
{
	struct mmds_store s;
	const char *err = NULL;

	(void)state;
	mmds_store_init(&s, MMDS_DEFAULT_SIZE_LIMIT);
	assert_store(&s, "{}");
	assert_int_equal(patch_text(&s, "{\"a\":1}", &err), -EINVAL);
	assert_string_equal(
		err, "MMDS error: The MMDS data store is not initialized.");
	assert_store(&s, "{}");
	assert_int_equal(put_text(&s, "{}", &err), 0);
	assert_int_equal(patch_text(&s, "{\"a\":1}", &err), 0);
	assert_store(&s, "{\"a\":1}");
	mmds_store_destroy(&s);
}

/* Objects come out sorted by key and with unique keys (the last wins), as
 * serde_json's maps do: listings and sizes then match Firecracker's. */
static void test_keys_sorted_and_unique(void **state)
{
	struct mmds_store s;
	const char *err = NULL;

	(void)state;
	mmds_store_init(&s, MMDS_DEFAULT_SIZE_LIMIT);
	assert_int_equal(put_text(&s,
				  "{\"b\":1,\"a\":{\"z\":1,\"y\":2},\"b\":3,"
				  "\"B\":4}",
				  &err),
			 0);
	assert_store(&s, "{\"B\":4,\"a\":{\"y\":2,\"z\":1},\"b\":3}");
	assert_int_equal(
		patch_text(&s, "{\"0\":true,\"a\":{\"x\":null}}", &err), 0);
	assert_store(&s,
		     "{\"0\":true,\"B\":4,\"a\":{\"y\":2,\"z\":1},\"b\":3}");
	mmds_store_destroy(&s);
}

/* Firecracker's own size-limit sequence (data_store.rs,
 * test_update_data_store): the same sizes are accepted and refused. */
static void test_size_limit(void **state)
{
	struct mmds_store s;
	const char *err = NULL;
	char *big = malloc(51400), *got;

	(void)state;
	assert_non_null(big);
	mmds_store_init(&s, MMDS_DEFAULT_SIZE_LIMIT);
	assert_int_equal(put_text(&s,
				  "{\"name\":{\"first\":\"John\",\"second\":"
				  "\"Doe\"},\"age\":43}",
				  &err),
			 0);
	assert_int_equal(patch_text(&s,
				    "{\"name\":{\"first\":\"John\",\"second\":"
				    "null},\"age\":\"43\"}",
				    &err),
			 0);
	strcpy(big, "{\"new_key\": \"");
	memset(big + strlen(big), 'X', 51151);
	strcpy(big + 13 + 51151, "\"}");
	assert_int_equal(patch_text(&s, big, &err), 0); /* exactly 51200 */
	assert_int_equal(patch_text(&s, "{\"new_key2\" : \"smth\"}", &err),
			 -E2BIG);
	assert_string_equal(
		err,
		"MMDS limit exceeded error: The MMDS patch request doesn't fit.");
	got = mmds_store_json(&s);
	assert_null(strstr(got, "smth"));
	assert_int_equal(strlen(got), 51200);
	free(got);
	assert_int_equal(patch_text(&s, "{\"new_key\" : \"smth\"}", &err), 0);
	got = mmds_store_json(&s);
	assert_int_equal(strlen(got), 53);
	free(got);
	assert_int_equal(patch_text(&s, "{\"new_key2\" : \"smth2\"}", &err), 0);
	got = mmds_store_json(&s);
	assert_int_equal(strlen(got), 72);
	free(got);
	/* a PUT over the limit leaves the store as it was */
	strcpy(big, "{\"key\": \"");
	memset(big + 9, 'X', 51300);
	strcpy(big + 9 + 51300, "\"}");
	assert_int_equal(put_text(&s, big, &err), -E2BIG);
	got = mmds_store_json(&s);
	assert_int_equal(strlen(got), 72);
	free(got);
	mmds_store_destroy(&s);
	free(big);
}

static const char *lookup_text(const struct mmds_store *s, const char *ptr)
{
	static char buf[256];
	const cJSON *v = mmds_store_lookup(s, ptr);
	char *t;

	if (!v)
		return "(none)";
	t = cJSON_PrintUnformatted(v);
	snprintf(buf, sizeof(buf), "%s", t);
	free(t);
	return buf;
}

static void test_json_pointer(void **state)
{
	struct mmds_store s;
	const char *err = NULL;

	(void)state;
	mmds_store_init(&s, MMDS_DEFAULT_SIZE_LIMIT);
	assert_string_equal(lookup_text(&s, ""), "null");
	assert_string_equal(lookup_text(&s, "/a"), "(none)");
	assert_int_equal(put_text(&s,
				  "{\"a/b\":1,\"m~n\":2,\"arr\":[10,11,12],"
				  "\"o\":{\"\":3}}",
				  &err),
			 0);
	assert_string_equal(lookup_text(&s, "/a~1b"), "1");
	assert_string_equal(lookup_text(&s, "/m~0n"), "2");
	assert_string_equal(lookup_text(&s, "/arr/0"), "10");
	assert_string_equal(lookup_text(&s, "/arr/2"), "12");
	assert_string_equal(lookup_text(&s, "/arr/3"), "(none)");
	assert_string_equal(lookup_text(&s, "/arr/01"), "(none)");
	assert_string_equal(lookup_text(&s, "/arr/+1"), "(none)");
	assert_string_equal(lookup_text(&s, "/arr/-"), "(none)");
	assert_string_equal(lookup_text(&s, "/o/"), "3");
	assert_string_equal(lookup_text(&s, "/arr/0/x"), "(none)");
	assert_string_equal(lookup_text(&s, "a"), "(none)");
	mmds_store_destroy(&s);
}

static void hex(const char *h, uint8_t *out)
{
	size_t i;

	for (i = 0; h[2 * i]; i++)
		sscanf(h + 2 * i, "%2hhx", &out[i]);
}

/* The reference implementation's vectors.h (vectors_sip128): key 00..0f,
 * message 00..(len-1). */
static void test_siphash128_vectors(void **state)
{
	static const struct {
		size_t len;
		const char *tag;
	} v[] = {
		{ 0, "a3817f04ba25a8e66df67214c7550293" },
		{ 1, "da87c1d86b99af44347659119b22fc45" },
		{ 7, "a1f1ebbed8dbc153c0b84aa61ff08239" },
		{ 8, "3b62a9ba6258f5610f83e264f31497b4" },
		{ 9, "264499060ad9baabc47f8b02bb6d71ed" },
	};
	uint8_t key[16], msg[16], want[16], got[16];
	size_t i;

	(void)state;
	for (i = 0; i < 16; i++)
		key[i] = msg[i] = (uint8_t)i;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		hex(v[i].tag, want);
		mmds_siphash128(key, msg, v[i].len, got);
		assert_memory_equal(got, want, 16);
	}
}

static void test_tokens(void **state)
{
	struct mmds_tokens a, b;
	char tok[MMDS_TOKEN_LEN + 1], forged[MMDS_TOKEN_LEN + 1];

	(void)state;
	assert_int_equal(mmds_tokens_init(&a), 0);
	assert_int_equal(mmds_tokens_init(&b), 0);
	mmds_token_new(&a, 60, 1000, tok);
	assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
	assert_true(mmds_token_valid(&a, tok, MMDS_TOKEN_LEN, 1000));
	assert_true(mmds_token_valid(&a, tok, MMDS_TOKEN_LEN, 60999));
	assert_false(mmds_token_valid(&a, tok, MMDS_TOKEN_LEN, 61000));
	/* another key (another VM, or this one after a snapshot load) */
	assert_false(mmds_token_valid(&b, tok, MMDS_TOKEN_LEN, 1000));
	/* any changed character is refused: the expiry cannot be moved */
	for (size_t i = 0; i < MMDS_TOKEN_LEN; i++) {
		memcpy(forged, tok, sizeof(tok));
		forged[i] = forged[i] == 'A' ? 'B' : 'A';
		assert_false(
			mmds_token_valid(&a, forged, MMDS_TOKEN_LEN, 1000));
	}
	assert_false(mmds_token_valid(&a, tok, MMDS_TOKEN_LEN - 1, 1000));
	assert_false(mmds_token_valid(&a, "", 0, 1000));
	memset(forged, '=', MMDS_TOKEN_LEN);
	assert_false(mmds_token_valid(&a, forged, MMDS_TOKEN_LEN, 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7396_examples),
		cmocka_unit_test(test_empty_and_not_initialized),
		cmocka_unit_test(test_keys_sorted_and_unique),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_json_pointer),
		cmocka_unit_test(test_siphash128_vectors),
		cmocka_unit_test(test_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
