// SPDX-License-Identifier: Apache-2.0
/* The HTTP/1.1 responder the guest talks to, answering as Firecracker's
 * MMDS does (its micro_http parser and mmds/mod.rs): the same accepted
 * requests, status codes, headers and message bodies. A request is its
 * head only: a PUT or PATCH body is not read (Firecracker refuses any
 * Content-Length but 0). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mmds/mmds.h"

#define SERVER "microvm"
#define TOKEN_PATH "/latest/api/token"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Room for ": <ttl>\r\n", Content-Type and Content-Length lines. */
#define TAIL_HEADERS_MAX 128

struct span {
	const char *p;
	size_t n;
};

enum method { GET, PUT, PATCH, DELETE };

struct request {
	enum method method;
	bool http10, accept_json;
	struct span uri;
	struct span token; /* X-metadata-token / X-aws-ec2-metadata-token */
	struct span ttl_name, ttl; /* X-metadata-token-ttl-seconds, aws */
	struct span forwarded; /* X-Forwarded-For's name as sent */
	bool has_token, has_ttl, has_forwarded;
};

struct response {
	int status;
	bool http10, json;
	bool allow; /* Allow: GET, PUT */
	struct span header_name;
	uint32_t header_value;
	const char *body;
	size_t body_len;
	char *owned; /* freed with the response */
};

size_t mmds_http_request_end(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; len > 2 && i < len - 1; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (i + 3 <= len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static struct span trim(struct span s)
{
	while (s.n && is_space(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n && is_space(s.p[s.n - 1]))
		s.n--;
	return s;
}

static bool span_is(struct span s, const char *lit)
{
	return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

static bool span_is_nocase(struct span s, const char *lit)
{
	return s.n == strlen(lit) && !strncasecmp(s.p, lit, s.n);
}

static const char *find(struct span s, const char *seq)
{
	return memmem(s.p, s.n, seq, strlen(seq));
}

/* Rust's str::parse::<u32>(): an optional '+', then decimal digits. */
static bool parse_u32(struct span s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i = s.n && s.p[0] == '+';

	if (i == s.n)
		return false;
	for (; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

/* Length of the UTF-8 sequence at p (well-formed, no overlong form, no
 * surrogate, at most U+10FFFF), 0 if it is not one. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	size_t len, i;
	uint32_t c;

	if (p[0] < 0x80)
		return 1;
	len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
	if (!len || len > n || p[0] > 0xf4)
		return 0;
	c = p[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

static bool is_utf8(struct span s)
{
	const uint8_t *p = (const uint8_t *)s.p;
	size_t i = 0;

	while (i < s.n) {
		size_t len = utf8_seq(p + i, s.n - i);

		if (!len)
			return false;
		i += len;
	}
	return true;
}

/* ---- responses ---- */

static int text(struct response *r, int status, const char *msg)
{
	r->status = status;
	r->json = false;
	r->body = msg;
	r->body_len = strlen(msg);
	return 0;
}

/* A body built with printf: 0, or -ENOMEM. */
static int textf(struct response *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int textf(struct response *r, int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&r->owned, fmt, ap);
	va_end(ap);
	if (n < 0) {
		r->owned = NULL;
		return -ENOMEM;
	}
	text(r, status, r->owned);
	return 0;
}

static int render(const struct response *r, char **out, size_t *out_len)
{
	char head[256], *buf;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.%d %03d \r\nServer: " SERVER
			 "\r\nConnection: keep-alive\r\n%s",
			 r->http10 ? 0 : 1, r->status,
			 r->allow ? "Allow: GET, PUT\r\n" : "");
	size_t len =
		(size_t)n + r->header_name.n + TAIL_HEADERS_MAX + r->body_len;

	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, head, (size_t)n);
	if (r->header_name.n) {
		memcpy(buf + n, r->header_name.p, r->header_name.n);
		n += (int)r->header_name.n;
		n += sprintf(buf + n, ": %u\r\n", r->header_value);
	}
	n += sprintf(buf + n, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
		     r->json ? "application/json" : "text/plain", r->body_len);
	memcpy(buf + n, r->body, r->body_len);
	*out = buf;
	*out_len = (size_t)n + r->body_len;
	return 0;
}

/* ---- parsing (micro_http's rules) ---- */

/* A parse error: Firecracker answers those as HTTP/1.1 application/json
 * with the bare message. */
static int parse_error(struct response *r, int status, const char *msg)
{
	text(r, status, msg);
	r->http10 = false;
	r->json = true;
	return -1;
}

static int parse_request_line(struct span line, struct request *q,
			      struct response *r)
{
	static const char *const methods[] = { "GET", "PUT", "PATCH",
					       "DELETE" };
	const char *sp1 = memchr(line.p, ' ', line.n), *sp2;
	struct span method, version;
	unsigned i;

	if (line.n < 14 || !sp1)
		return parse_error(r, 400, "Invalid request.");
	method = (struct span){ line.p, (size_t)(sp1 - line.p) };
	q->uri.p = sp1 + 1;
	sp2 = memchr(q->uri.p, ' ', (size_t)(line.p + line.n - q->uri.p));
	if (!sp2)
		return parse_error(r, 400, "Invalid request.");
	q->uri.n = (size_t)(sp2 - q->uri.p);
	version = (struct span){ sp2 + 1, (size_t)(line.p + line.n - sp2 - 1) };
	for (i = 0; i < ARRAY_LEN(methods) && !span_is(method, methods[i]); i++)
		;
	if (i == ARRAY_LEN(methods))
		return parse_error(r, 501, "Unsupported HTTP method.");
	q->method = (enum method)i;
	if (!q->uri.n)
		return parse_error(r, 400, "Empty URI not allowed.");
	if (!is_utf8(q->uri))
		return parse_error(r, 400, "Cannot parse URI as UTF-8.");
	if (!span_is(version, "HTTP/1.0") && !span_is(version, "HTTP/1.1"))
		return parse_error(r, 501, "Unsupported HTTP version.");
	q->http10 = span_is(version, "HTTP/1.0");
	return 0;
}

static int invalid_value(struct response *r, struct span name,
			 struct span value)
{
	textf(r, 400, "Invalid value. Key:%.*s; Value:%.*s", (int)name.n,
	      name.p, (int)value.n, value.p);
	r->http10 = false;
	r->json = true;
	return r->owned ? -1 : -ENOMEM;
}

/* Accept-Encoding: refusing identity is refused. */
static int accept_encoding(struct span value, struct response *r)
{
	static const struct span name = { "Accept-Encoding", 15 };
	struct span all = trim(value), rest = all;

	if (!all.n)
		return parse_error(r, 400, "Invalid request.");
	while (rest.p) {
		const char *comma = memchr(rest.p, ',', rest.n);
		struct span piece = { rest.p, comma ? (size_t)(comma - rest.p) :
						      rest.n };

		if (span_is(trim(piece), "identity;q=0") ||
		    (span_is(trim(piece), "*;q=0") && !find(all, "identity")))
			return invalid_value(r, name, piece);
		rest = comma ? (struct span){ comma + 1,
					      (size_t)(all.p + all.n - comma -
						       1) } :
			       (struct span){ NULL, 0 };
	}
	return 0;
}

static void custom_header(struct span name, struct span value,
			  struct request *q)
{
	name = trim(name);
	value = trim(value);
	if (span_is_nocase(name, "x-metadata-token") ||
	    span_is_nocase(name, "x-aws-ec2-metadata-token")) {
		q->token = value;
		q->has_token = true;
	} else if (span_is_nocase(name, "x-metadata-token-ttl-seconds") ||
		   span_is_nocase(name,
				  "x-aws-ec2-metadata-token-ttl-seconds")) {
		q->ttl_name = name;
		q->ttl = value;
		q->has_ttl = true;
	} else if (span_is_nocase(name, "x-forwarded-for")) {
		q->forwarded = name;
		q->has_forwarded = true;
	}
}

static int header_line(struct span line, struct request *q, struct response *r,
		       uint32_t *content_length)
{
	const char *colon = memchr(line.p, ':', line.n);
	struct span name, value, key;

	if (!colon) {
		textf(r, 400, "Header is incorrectly formatted. Key: %.*s",
		      (int)line.n, line.p);
		r->json = true;
		r->http10 = false;
		return r->owned ? -1 : -ENOMEM;
	}
	name = (struct span){ line.p, (size_t)(colon - line.p) };
	value = (struct span){ colon + 1,
			       (size_t)(line.p + line.n - colon - 1) };
	key = trim(name);
	if (span_is_nocase(key, "content-length")) {
		if (!parse_u32(trim(value), content_length))
			return invalid_value(r, name, value);
	} else if (span_is_nocase(key, "accept")) {
		if (span_is(trim(value), "application/json"))
			q->accept_json = true;
		else if (span_is(trim(value), "text/plain"))
			q->accept_json = false;
	} else if (span_is_nocase(key, "accept-encoding")) {
		return accept_encoding(value, r);
	} else if (!span_is_nocase(key, "content-type") &&
		   !span_is_nocase(key, "transfer-encoding") &&
		   !span_is_nocase(key, "expect") &&
		   !span_is_nocase(key, "server")) {
		custom_header(name, value, q);
	}
	return 0;
}

static int parse_headers(struct span block, struct request *q,
			 struct response *r)
{
	uint32_t content_length = 0;
	int ret;

	if (!is_utf8(block))
		return parse_error(r, 400, "Invalid request.");
	while (block.n) {
		const char *crlf = find(block, "\r\n");
		struct span line = { block.p, crlf ? (size_t)(crlf - block.p) :
						     block.n };

		if (!line.n)
			break;
		ret = header_line(line, q, r, &content_length);
		if (ret)
			return ret;
		block.p += line.n + (crlf ? 2 : 0);
		block.n -= line.n + (crlf ? 2 : 0);
	}
	/* a body never arrives with the head: refused, as Firecracker does */
	if (content_length)
		return parse_error(r, 400, "Invalid request.");
	return 0;
}

static int parse(struct span req, struct request *q, struct response *r)
{
	const char *eol = find(req, "\r\n"), *end;
	struct span rest;
	int ret;

	if (!eol)
		return parse_error(r, 400, "Invalid request.");
	ret = parse_request_line((struct span){ req.p, (size_t)(eol - req.p) },
				 q, r);
	if (ret)
		return ret;
	rest = (struct span){ eol, (size_t)(req.p + req.n - eol) };
	end = find(rest, "\r\n\r\n");
	if (!end)
		return parse_error(r, 400, "Invalid request.");
	if (end == eol)
		return 0;
	return parse_headers((struct span){ eol + 2, (size_t)(end - eol - 2) },
			     q, r);
}

/* ---- answering (Firecracker's mmds/mod.rs) ---- */

/* The URI's absolute path: "http://host/p" and "/p" give "/p". */
static struct span abs_path(struct span uri)
{
	if (uri.n >= 7 && !memcmp(uri.p, "http://", 7)) {
		struct span rest = { uri.p + 7, uri.n - 7 };
		const char *slash = memchr(rest.p, '/', rest.n);

		return slash ? (struct span){ slash, (size_t)(rest.p + rest.n -
							      slash) } :
			       (struct span){ uri.p, 0 };
	}
	return uri.p[0] == '/' ? uri : (struct span){ uri.p, 0 };
}

/* The path with every run of '/' made one: a NUL-terminated copy. */
static char *sanitize(struct span path)
{
	char *out = malloc(path.n + 1);
	size_t i, o = 0;

	if (!out)
		return NULL;
	for (i = 0; i < path.n; i++)
		if (path.p[i] != '/' || !o || out[o - 1] != '/')
			out[o++] = path.p[i];
	out[o] = '\0';
	return out;
}

static int not_found(struct response *r, struct span path)
{
	return textf(r, 404, "Resource not found: %.*s.", (int)path.n, path.p);
}

/* The IMDS format: an object lists its keys (objects get a '/'), a string
 * is itself; anything else cannot be shown (501). */
static int imds_format(const cJSON *v, struct response *r)
{
	const cJSON *it;
	size_t len = 0;
	char *p;

	if (cJSON_IsString(v))
		return text(r, 200, v->valuestring);
	if (!cJSON_IsObject(v))
		return text(r, 501,
			    "Cannot retrieve value. The value has an "
			    "unsupported type.");
	cJSON_ArrayForEach(it, v) {
		len += strlen(it->string) + 2; /* '/' and '\n' */
	}
	r->owned = p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	*p = '\0'; /* an empty object lists nothing */
	cJSON_ArrayForEach(it, v) {
		p += sprintf(p, "%s%s%s", p == r->owned ? "" : "\n", it->string,
			     cJSON_IsObject(it) ? "/" : "");
	}
	return text(r, 200, r->owned);
}

static int answer_get(struct mmds *m, const struct request *q, struct span path,
		      struct response *r)
{
	char *pointer = sanitize(path);
	size_t n;
	const cJSON *v;
	int ret;

	if (!pointer)
		return -ENOMEM;
	n = strlen(pointer);
	if (n && pointer[n - 1] == '/')
		pointer[n - 1] = '\0';
	v = mmds_store_lookup(&m->store, pointer);
	free(pointer);
	if (!v)
		return not_found(r, path);
	if (m->imds_compat || !q->accept_json)
		ret = imds_format(v, r);
	else if (!(r->owned = cJSON_PrintUnformatted(v)))
		ret = -ENOMEM;
	else
		ret = text(r, 200, r->owned);
	if (r->status == 200)
		r->json = q->accept_json;
	return ret;
}

static int check_token(struct mmds *m, const struct request *q, uint64_t now_ms,
		       struct response *r)
{
	if (m->version == MMDS_V1)
		return 0; /* V1 answers with any token or none */
	if (!q->has_token)
		return text(r, 401,
			    "No MMDS token provided. Use `X-metadata-token` or "
			    "`X-aws-ec2-metadata-token` header to specify the "
			    "session token.");
	if (!mmds_token_valid(&m->tokens, q->token.p, q->token.n, now_ms))
		return text(r, 401, "MMDS token not valid.");
	return 0;
}

static int new_token(struct mmds *m, const struct request *q, uint64_t now_ms,
		     struct response *r)
{
	uint32_t ttl;

	if (!q->has_ttl)
		return text(r, 400,
			    "Token time to live value not found. Use "
			    "`X-metadata-token-ttl-seconds` or "
			    "`X-aws-ec2-metadata-token-ttl-seconds` header to "
			    "specify the token's lifetime.");
	if (!parse_u32(q->ttl, &ttl))
		return textf(r, 400,
			     "Invalid header. Reason: Invalid value. Key:%.*s; "
			     "Value:%.*s",
			     (int)q->ttl_name.n, q->ttl_name.p, (int)q->ttl.n,
			     q->ttl.p);
	if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
		return textf(r, 400,
			     "Invalid time to live value provided for token: "
			     "%u. Please provide a value between %d and %d.",
			     ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
	r->owned = malloc(MMDS_TOKEN_LEN + 1);
	if (!r->owned)
		return -ENOMEM;
	mmds_token_new(&m->tokens, ttl, now_ms, r->owned);
	r->header_name = q->ttl_name;
	r->header_value = ttl;
	return text(r, 200, r->owned);
}

static int answer_put(struct mmds *m, const struct request *q, struct span path,
		      uint64_t now_ms, struct response *r)
{
	char *clean;
	bool is_token_path;

	if (q->has_forwarded)
		return textf(r, 400,
			     "Invalid header. Reason: Unsupported header name. "
			     "Key: %.*s",
			     (int)q->forwarded.n, q->forwarded.p);
	clean = sanitize(path);
	if (!clean)
		return -ENOMEM;
	is_token_path = !strcmp(clean, TOKEN_PATH);
	free(clean);
	if (!is_token_path)
		return not_found(r, path);
	return new_token(m, q, now_ms, r);
}

static int answer(struct mmds *m, const struct request *q, uint64_t now_ms,
		  struct response *r)
{
	struct span path = abs_path(q->uri);
	int ret;

	r->http10 = q->http10;
	if (!path.n)
		return text(r, 400, "Invalid URI.");
	switch (q->method) {
	case GET:
		ret = check_token(m, q, now_ms, r);
		return ret || r->status ? ret : answer_get(m, q, path, r);
	case PUT:
		return answer_put(m, q, path, now_ms, r);
	default:
		r->allow = true;
		return text(r, 405, "Not allowed HTTP method.");
	}
}

int mmds_http_respond(struct mmds *m, const uint8_t *req, size_t len,
		      uint64_t now_ms, char **out, size_t *out_len)
{
	struct request q = { 0 };
	struct response r = { 0 };
	int ret = parse((struct span){ (const char *)req, len }, &q, &r);

	if (ret == 0)
		ret = answer(m, &q, now_ms, &r);
	ret = ret == -ENOMEM ? ret : render(&r, out, out_len);
	free(r.owned);
	return ret;
}
