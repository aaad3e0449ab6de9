// SPDX-License-Identifier: Apache-2.0
/* The MMDS's HTTP responder, request head in, response bytes out, held to
 * Firecracker's answers (its mmds/mod.rs, data_store.rs and micro_http
 * tests): formats, V1 and V2 tokens with a controlled clock, and every
 * error status and message. */
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds.h"

#define DATA                                                                  \
	"{\"name\":{\"first\":\"John\",\"second\":\"Doe\"},\"age\":43,"       \
	"\"phones\":{\"home\":{\"RO\":\"+401234567\",\"UK\":\"+441234567\"}," \
	"\"mobile\":\"+442345678\"},\"list\":[\"a\",\"b\"],"                  \
	"\"json_string\":\"{\\n  \\\"hello\\\": \\\"world\\\"\\n}\"}"

static struct mmds m;
static char *resp;

static int setup(void **state)
{
	cJSON *v = cJSON_Parse(DATA);
	const char *err;

	(void)state;
	assert_int_equal(mmds_init(&m, MMDS_DEFAULT_SIZE_LIMIT), 0);
	assert_int_equal(mmds_store_put(&m.store, v, &err), 0);
	cJSON_Delete(v);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mmds_destroy(&m);
	free(resp);
	resp = NULL;
	return 0;
}

/* The whole response to req, NUL-terminated. */
static const char *ask(const char *req, uint64_t now_ms)
{
	size_t len;
	char *out;

	free(resp);
	assert_int_equal(mmds_http_respond(&m, (const uint8_t *)req,
					   strlen(req), now_ms, &out, &len),
			 0);
	resp = malloc(len + 1);
	memcpy(resp, out, len);
	resp[len] = '\0';
	free(out);
	return resp;
}

static const char *body(const char *r)
{
	const char *b = strstr(r, "\r\n\r\n");

	assert_non_null(b);
	return b + 4;
}

/* Status line, content type and body of a response. */
static void expect(const char *r, const char *status, const char *type,
		   const char *want_body)
{
	char line[64], ct[64];

	snprintf(line, sizeof(line), "%s \r\n", status);
	assert_true(!strncmp(r, line, strlen(line)));
	snprintf(ct, sizeof(ct), "\r\nContent-Type: %s\r\n", type);
	assert_non_null(strstr(r, ct));
	assert_string_equal(body(r), want_body);
}

#define GET(path) "GET " path " HTTP/1.1\r\n"
#define JSON "Accept: application/json\r\n"
#define END "\r\n"

static void test_exact_response_bytes(void **state)
{
	(void)state;
	assert_string_equal(
		ask("GET http://169.254.169.254/ HTTP/1.0\r\n\r\n", 0),
		"HTTP/1.0 200 \r\nServer: microvm\r\nConnection: keep-alive\r\n"
		"Content-Type: text/plain\r\nContent-Length: 34\r\n\r\n"
		"age\njson_string\nlist\nname/\nphones/");
}

static void test_formats(void **state)
{
	(void)state;
	expect(ask(GET("/") JSON END, 0), "HTTP/1.1 200", "application/json",
	       "{\"age\":43,\"json_string\":\"{\\n  \\\"hello\\\": "
	       "\\\"world\\\"\\n}\",\"list\":[\"a\",\"b\"],\"name\":{\"first\":"
	       "\"John\",\"second\":\"Doe\"},\"phones\":{\"home\":{\"RO\":"
	       "\"+401234567\",\"UK\":\"+441234567\"},\"mobile\":"
	       "\"+442345678\"}}");
	expect(ask(GET("/name") END, 0), "HTTP/1.1 200", "text/plain",
	       "first\nsecond");
	expect(ask(GET("/name") "Accept: text/plain\r\n" END, 0),
	       "HTTP/1.1 200", "text/plain", "first\nsecond");
	expect(ask(GET("/name") "Accept: */*\r\n" END, 0), "HTTP/1.1 200",
	       "text/plain", "first\nsecond");
	expect(ask(GET("/name") JSON END, 0), "HTTP/1.1 200",
	       "application/json", "{\"first\":\"John\",\"second\":\"Doe\"}");
	expect(ask(GET("/name/first") END, 0), "HTTP/1.1 200", "text/plain",
	       "John");
	expect(ask(GET("/name/first") JSON END, 0), "HTTP/1.1 200",
	       "application/json", "\"John\"");
	expect(ask(GET("/json_string") END, 0), "HTTP/1.1 200", "text/plain",
	       "{\n  \"hello\": \"world\"\n}");
	expect(ask(GET("/age") JSON END, 0), "HTTP/1.1 200", "application/json",
	       "43");
	expect(ask(GET("/list/1") END, 0), "HTTP/1.1 200", "text/plain", "b");
	expect(ask(GET("/list") JSON END, 0), "HTTP/1.1 200",
	       "application/json", "[\"a\",\"b\"]");
	/* a trailing '/' and repeated '/' are the same path */
	expect(ask(GET("//name///first/") END, 0), "HTTP/1.1 200", "text/plain",
	       "John");
	expect(ask(GET("/phones/") END, 0), "HTTP/1.1 200", "text/plain",
	       "home/\nmobile");
}

static void test_unsupported_and_not_found(void **state)
{
	(void)state;
	expect(ask(GET("/age") END, 0), "HTTP/1.1 501", "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");
	expect(ask(GET("/list") END, 0), "HTTP/1.1 501", "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");
	expect(ask("GET http://169.254.169.254/invalid HTTP/1.0\r\n\r\n", 0),
	       "HTTP/1.0 404", "text/plain", "Resource not found: /invalid.");
	expect(ask(GET("//a//b") END, 0), "HTTP/1.1 404", "text/plain",
	       "Resource not found: //a//b.");
	expect(ask("GET http:// HTTP/1.0\r\n\r\n", 0), "HTTP/1.0 400",
	       "text/plain", "Invalid URI.");
	expect(ask("GET relative HTTP/1.0\r\n\r\n", 0), "HTTP/1.0 400",
	       "text/plain", "Invalid URI.");
}

static void test_imds_compat(void **state)
{
	(void)state;
	m.imds_compat = true;
	/* EC2 ignores Accept; the content type still follows it */
	expect(ask(GET("/name") JSON END, 0), "HTTP/1.1 200",
	       "application/json", "first\nsecond");
	expect(ask(GET("/age") JSON END, 0), "HTTP/1.1 501", "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");
	m.imds_compat = false;
}

static void test_methods(void **state)
{
	const char *r;

	(void)state;
	r = ask("PATCH http://169.254.169.255/ HTTP/1.0\r\n\r\n", 0);
	expect(r, "HTTP/1.0 405", "text/plain", "Not allowed HTTP method.");
	assert_non_null(strstr(r, "\r\nAllow: GET, PUT\r\n"));
	expect(ask("DELETE / HTTP/1.1\r\n\r\n", 0), "HTTP/1.1 405",
	       "text/plain", "Not allowed HTTP method.");
	/* the parser's own refusals: HTTP/1.1, application/json */
	expect(ask("POST / HTTP/1.0\r\n\r\n", 0), "HTTP/1.1 501",
	       "application/json", "Unsupported HTTP method.");
	expect(ask("get / HTTP/1.0\r\n\r\n", 0), "HTTP/1.1 501",
	       "application/json", "Unsupported HTTP method.");
	expect(ask("GET / HTTP/2.0\r\n\r\n", 0), "HTTP/1.1 501",
	       "application/json", "Unsupported HTTP version.");
	expect(ask("GET / HTTP/1.1 x\r\n\r\n", 0), "HTTP/1.1 501",
	       "application/json", "Unsupported HTTP version.");
	expect(ask("GET  HTTP/1.0 \r\n\r\n", 0), "HTTP/1.1 400",
	       "application/json", "Empty URI not allowed.");
	expect(ask("GET  HTTP/1.0\r\n\r\n", 0), "HTTP/1.1 400", /* short */
	       "application/json", "Invalid request.");
	expect(ask("GET /\xff HTTP/1.0\r\n\r\n", 0), "HTTP/1.1 400",
	       "application/json", "Cannot parse URI as UTF-8.");
	expect(ask("GET / HTTP/1\r\n\r\n", 0), "HTTP/1.1 400",
	       "application/json", "Invalid request.");
	expect(ask("GETnospacesatall\r\n\r\n", 0), "HTTP/1.1 400",
	       "application/json", "Invalid request.");
	expect(ask("GET / HTTP/1.1\n\n", 0), "HTTP/1.1 400", "application/json",
	       "Invalid request.");
}

static void test_headers(void **state)
{
	(void)state;
	expect(ask(GET("/name/first") "Content-Length: 0\r\n" END, 0),
	       "HTTP/1.1 200", "text/plain", "John");
	expect(ask("PUT /latest/api/token HTTP/1.1\r\nContent-Length: 5\r\n"
		   "X-metadata-token-ttl-seconds: 5\r\n\r\n",
		   0),
	       "HTTP/1.1 400", "application/json", "Invalid request.");
	expect(ask(GET("/") "Content-Length: abc\r\n" END, 0), "HTTP/1.1 400",
	       "application/json",
	       "Invalid value. Key:Content-Length; Value: abc");
	expect(ask(GET("/") "NoColonHere\r\n" END, 0), "HTTP/1.1 400",
	       "application/json",
	       "Header is incorrectly formatted. Key: NoColonHere");
	expect(ask(GET("/") "Accept-Encoding: identity;q=0\r\n" END, 0),
	       "HTTP/1.1 400", "application/json",
	       "Invalid value. Key:Accept-Encoding; Value:identity;q=0");
	expect(ask(GET("/") "Accept-Encoding: gzip, *;q=0\r\n" END, 0),
	       "HTTP/1.1 400", "application/json",
	       "Invalid value. Key:Accept-Encoding; Value: *;q=0");
	expect(ask(GET("/name/first") "Accept-Encoding: gzip\r\n" END, 0),
	       "HTTP/1.1 200", "text/plain", "John");
	expect(ask(GET("/name/first") "Content-Type: foo\r\n"
				      "Transfer-Encoding: gzip\r\n" END,
		   0),
	       "HTTP/1.1 200", "text/plain", "John");
	expect(ask(GET("/") "X: \xc3\x28\r\n" END, 0), "HTTP/1.1 400",
	       "application/json", "Invalid request.");
}

static const char *token(uint32_t ttl, uint64_t now_ms)
{
	static char tok[64];
	char req[128];
	const char *r;

	snprintf(req, sizeof(req),
		 "PUT http://169.254.169.254/latest/api/token HTTP/1.0\r\n"
		 "X-metadata-token-ttl-seconds: %u\r\n\r\n",
		 ttl);
	r = ask(req, now_ms);
	expect(r, "HTTP/1.0 200", "text/plain", body(r));
	snprintf(req, sizeof(req), "\r\nX-metadata-token-ttl-seconds: %u\r\n",
		 ttl);
	assert_non_null(strstr(r, req));
	snprintf(tok, sizeof(tok), "%s", body(r));
	return tok;
}

static const char *get_with(const char *hdr, const char *tok, uint64_t now)
{
	char req[256];

	snprintf(req, sizeof(req), GET("/name/first") "%s: %s\r\n" END, hdr,
		 tok);
	return ask(req, now);
}

#define NO_TOKEN                                                    \
	"No MMDS token provided. Use `X-metadata-token` or "        \
	"`X-aws-ec2-metadata-token` header to specify the session " \
	"token."

static void test_v1_tokens_optional(void **state)
{
	const char *tok;

	(void)state;
	m.version = MMDS_V1;
	expect(ask(GET("/name/first") END, 0), "HTTP/1.1 200", "text/plain",
	       "John");
	expect(get_with("X-metadata-token", "INVALID_TOKEN", 0), "HTTP/1.1 200",
	       "text/plain", "John");
	tok = token(60, 0);
	expect(get_with("X-metadata-token", tok, 0), "HTTP/1.1 200",
	       "text/plain", "John");
}

static void test_v2_tokens(void **state)
{
	char tok[64], req[256];

	(void)state;
	m.version = MMDS_V2;
	expect(ask(GET("/name/first") END, 5000), "HTTP/1.1 401", "text/plain",
	       NO_TOKEN);
	snprintf(tok, sizeof(tok), "%s", token(60, 5000));
	expect(get_with("X-metadata-token", tok, 5000), "HTTP/1.1 200",
	       "text/plain", "John");
	expect(get_with("x-AWS-ec2-metadata-token", tok, 64999), "HTTP/1.1 200",
	       "text/plain", "John");
	expect(get_with("X-metadata-token", tok, 65000), "HTTP/1.1 401",
	       "text/plain", "MMDS token not valid.");
	expect(get_with("X-metadata-token", "INVALID_TOKEN", 5000),
	       "HTTP/1.1 401", "text/plain", "MMDS token not valid.");
	/* a token of another VM (another key) */
	assert_int_equal(mmds_tokens_init(&m.tokens), 0);
	expect(get_with("X-metadata-token", tok, 5000), "HTTP/1.1 401",
	       "text/plain", "MMDS token not valid.");
	/* a bad TTL header on a GET is not looked at */
	snprintf(tok, sizeof(tok), "%s", token(1, 0));
	snprintf(req, sizeof(req),
		 GET("/name/first") "X-metadata-token: %s\r\n"
				    "X-metadata-token-ttl-seconds: "
				    "application/json\r\n" END,
		 tok);
	expect(ask(req, 999), "HTTP/1.1 200", "text/plain", "John");
	expect(ask(req, 1000), "HTTP/1.1 401", "text/plain",
	       "MMDS token not valid.");
	m.version = MMDS_V1;
}

static void test_token_put_errors(void **state)
{
	static const char *const xff[] = { "X-Forwarded-For", "x-forwarded-for",
					   "X-fOrWaRdEd-FoR" };
	char req[256], want[128];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		snprintf(req, sizeof(req),
			 "PUT http://169.254.169.254/latest/api/token "
			 "HTTP/1.0\r\n%s: 203.0.113.195\r\n\r\n",
			 xff[i]);
		snprintf(want, sizeof(want),
			 "Invalid header. Reason: Unsupported header name. "
			 "Key: %s",
			 xff[i]);
		expect(ask(req, 0), "HTTP/1.0 400", "text/plain", want);
	}
	expect(ask("PUT http://169.254.169.254/token HTTP/1.0\r\n"
		   "X-metadata-token-ttl-seconds: 60\r\n\r\n",
		   0),
	       "HTTP/1.0 404", "text/plain", "Resource not found: /token.");
	expect(ask("PUT /latest/api/token HTTP/1.0\r\n"
		   "X-metadata-token-ttl-seconds: application/json\r\n\r\n",
		   0),
	       "HTTP/1.0 400", "text/plain",
	       "Invalid header. Reason: Invalid value. "
	       "Key:X-metadata-token-ttl-seconds; Value:application/json");
	expect(ask("PUT /latest/api/token HTTP/1.0\r\n"
		   "X-metadata-token-ttl-seconds: 0\r\n\r\n",
		   0),
	       "HTTP/1.0 400", "text/plain",
	       "Invalid time to live value provided for token: 0. Please "
	       "provide a value between 1 and 21600.");
	expect(ask("PUT /latest/api/token HTTP/1.0\r\n"
		   "X-aws-ec2-metadata-token-ttl-seconds: 21601\r\n\r\n",
		   0),
	       "HTTP/1.0 400", "text/plain",
	       "Invalid time to live value provided for token: 21601. Please "
	       "provide a value between 1 and 21600.");
	expect(ask("PUT /latest/api/token HTTP/1.0\r\n\r\n", 0), "HTTP/1.0 400",
	       "text/plain",
	       "Token time to live value not found. Use "
	       "`X-metadata-token-ttl-seconds` or "
	       "`X-aws-ec2-metadata-token-ttl-seconds` header to specify the "
	       "token's lifetime.");
	/* the TTL header echoes back as the client spelled it */
	assert_non_null(strstr(ask("PUT //latest//api/token HTTP/1.1\r\n"
				   "x-aws-EC2-metadata-token-ttl-seconds: "
				   "+21600\r\n\r\n",
				   0),
			       "\r\nx-aws-EC2-metadata-token-ttl-seconds: "
			       "21600\r\n"));
}

static void test_empty_store(void **state)
{
	const char *err;
	cJSON *v;

	(void)state;
	mmds_store_destroy(&m.store);
	mmds_store_init(&m.store, MMDS_DEFAULT_SIZE_LIMIT);
	expect(ask(GET("/latest/meta-data") END, 0), "HTTP/1.1 404",
	       "text/plain", "Resource not found: /latest/meta-data.");
	expect(ask(GET("/") JSON END, 0), "HTTP/1.1 200", "application/json",
	       "null");
	expect(ask(GET("/") END, 0), "HTTP/1.1 501", "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");
	/* an empty object lists nothing */
	v = cJSON_Parse("{\"e\":{}}");
	assert_int_equal(mmds_store_put(&m.store, v, &err), 0);
	cJSON_Delete(v);
	expect(ask(GET("/e") END, 0), "HTTP/1.1 200", "text/plain", "");
	expect(ask(GET("/e") JSON END, 0), "HTTP/1.1 200", "application/json",
	       "{}");
}

static void test_request_end(void **state)
{
	(void)state;
#define END_OF(s) mmds_http_request_end((const uint8_t *)(s), strlen(s))
	assert_int_equal(END_OF("GET / HTTP/1.1\r\n\r\nGET"), 18);
	assert_int_equal(END_OF("GET / HTTP/1.1\n\nx"), 16);
	assert_int_equal(END_OF("GET / HTTP/1.1\r\nA: b\r\n"), 0);
	assert_int_equal(END_OF("\n\n"), 0); /* as Firecracker: 3 bytes min */
	assert_int_equal(END_OF("x\n\n"), 3);
	assert_int_equal(END_OF(""), 0);
#undef END_OF
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_response_bytes),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_unsupported_and_not_found),
		cmocka_unit_test(test_imds_compat),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_v1_tokens_optional),
		cmocka_unit_test(test_v2_tokens),
		cmocka_unit_test(test_token_put_errors),
		cmocka_unit_test(test_empty_store),
		cmocka_unit_test(test_request_end),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
