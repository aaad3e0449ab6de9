// SPDX-License-Identifier: Apache-2.0
/* A small HTTP/1.1 request parser and response formatter for the API
 * socket. Hand-written rather than Debian's http-parser: the API needs a
 * request line, three headers and a Content-Length body, and a parser this
 * size is easy to bound and to fuzz (tests/fuzz/fuzz_http.c). Every length
 * is capped: headers at HTTP_MAX_HEADER_BYTES, bodies at max_body. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"

/* Finds the blank line ending the header section; returns the offset of
 * the first body byte, or 0 when it is not in buf yet. */
static size_t header_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Copies the line starting at *pos into line (without CR/LF), advances. */
static bool next_line(const char *buf, size_t end, size_t *pos, char *line,
		      size_t size)
{
	size_t start = *pos, n;

	while (*pos < end && buf[*pos] != '\n')
		(*pos)++;
	if (*pos >= end)
		return false;
	n = *pos - start;
	if (n && buf[start + n - 1] == '\r')
		n--;
	(*pos)++;
	if (n >= size || memchr(buf + start, '\0', n))
		return false;
	memcpy(line, buf + start, n);
	line[n] = '\0';
	return true;
}

static long parse_request_line(char *line, struct http_request *req,
			       const char **why)
{
	char *method = line, *target, *version, *q;

	target = strchr(method, ' ');
	if (!target)
		return *why = "malformed request line", -400;
	*target++ = '\0';
	version = strchr(target, ' ');
	if (!version)
		return *why = "malformed request line", -400;
	*version++ = '\0';
	if (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0"))
		return *why = "unsupported HTTP version", -400;
	req->close = !strcmp(version, "HTTP/1.0");
	req->method = !strcmp(method, "GET")   ? HTTP_GET :
		      !strcmp(method, "PUT")   ? HTTP_PUT :
		      !strcmp(method, "PATCH") ? HTTP_PATCH :
						 HTTP_OTHER;
	q = strchr(target, '?');
	if (q)
		*q = '\0';
	if (target[0] != '/' || strlen(target) >= sizeof(req->path))
		return *why = "invalid request target", -400;
	strcpy(req->path, target);
	return 0;
}

static long parse_content_length(const char *v, struct http_request *req,
				 const char **why)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)*v))
		return *why = "invalid Content-Length", -400;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || (req->has_content_length && n != req->body_len))
		return *why = "invalid Content-Length", -400;
	req->has_content_length = true;
	req->body_len = (size_t)n;
	return 0;
}

static long parse_header(char *line, struct http_request *req, const char **why)
{
	char *v = strchr(line, ':');

	if (!v || v == line)
		return *why = "malformed header", -400;
	*v++ = '\0';
	while (*v == ' ' || *v == '\t')
		v++;
	for (char *end = v + strlen(v);
	     end > v && isspace((unsigned char)end[-1]);)
		*--end = '\0';
	if (!strcasecmp(line, "Content-Length"))
		return parse_content_length(v, req, why);
	if (!strcasecmp(line, "Transfer-Encoding"))
		return *why = "Transfer-Encoding is not supported; send Content-Length",
		       -400;
	if (!strcasecmp(line, "Connection"))
		req->close = !strcasecmp(v, "close")	  ? true :
			     !strcasecmp(v, "keep-alive") ? false :
							    req->close;
	else if (!strcasecmp(line, "Expect") && !strcasecmp(v, "100-continue"))
		req->expect_continue = true;
	return 0;
}

static long parse_head(const char *buf, size_t head, struct http_request *req,
		       const char **why)
{
	char line[HTTP_MAX_HEADER_BYTES];
	size_t pos = 0;
	long ret;

	if (!next_line(buf, head, &pos, line, sizeof(line)))
		return *why = "malformed request line", -400;
	ret = parse_request_line(line, req, why);
	while (!ret && next_line(buf, head, &pos, line, sizeof(line)) &&
	       line[0])
		ret = parse_header(line, req, why);
	if (!ret && pos != head)
		return *why = "malformed header", -400;
	return ret;
}

long http_parse_request(const char *buf, size_t len, size_t max_body,
			struct http_request *req, const char **why)
{
	size_t scan = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES;
	size_t head = header_end(buf, scan);
	long ret;

	memset(req, 0, sizeof(*req));
	*why = "";
	if (!head)
		return len >= HTTP_MAX_HEADER_BYTES ?
			       (*why = "request headers too large", -400) :
			       0;
	ret = parse_head(buf, head, req, why);
	if (ret)
		return ret;
	if (req->body_len > max_body)
		return *why = "request body too large", -400;
	if (len - head < req->body_len)
		return 0;
	req->body = buf + head;
	return (long)(head + req->body_len);
}

static const char *reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 500:
		return "Internal Server Error";
	default:
		return "Unknown";
	}
}

char *http_format_response(int status, const char *body, bool deprecation,
			   size_t *out_len)
{
	size_t body_len = body ? strlen(body) : 0;
	size_t size = body_len + 256;
	char *out = malloc(size);
	int n;

	if (!out)
		return NULL;
	n = snprintf(out, size, "HTTP/1.1 %d %s\r\nServer: microvm\r\n%s",
		     status, reason(status),
		     deprecation ? "Deprecation: true\r\n" : "");
	if (status != 204 && status != 100)
		n += snprintf(
			out + n, size - (size_t)n,
			"Content-Type: application/json\r\nContent-Length: %zu\r\n",
			body_len);
	n += snprintf(out + n, size - (size_t)n, "\r\n");
	if (body_len)
		memcpy(out + n, body, body_len);
	*out_len = (size_t)n + body_len;
	return out;
}
