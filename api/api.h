/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api/ — the control plane's adapter: Firecracker's HTTP/JSON API on a Unix
 * socket, turned into typed requests for the VMM thread.
 *
 * Contract:
 * - An HTTP request becomes a typed api_request (routes.c), its body parsed
 *   and checked by config/ (parse_*); phase rules (pre-boot / post-boot)
 *   are the VMM thread's (microvm/controller.c).
 * - The API thread (server.c) owns the socket and the connections; it hands
 *   each typed request to the VMM thread through api_channel and waits for
 *   the reply. It never calls KVM and never touches VM state.
 * - Everything read from a client or a config file is size-capped.
 */
#ifndef MICROVM_API_H
#define MICROVM_API_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

#define API_DEFAULT_MAX_BODY 51200

/* ---- http.c: HTTP/1.1 requests and responses ---- */
#define HTTP_MAX_HEADER_BYTES 8192
#define HTTP_MAX_PATH 1024

enum http_method { HTTP_GET, HTTP_PUT, HTTP_PATCH, HTTP_OTHER };

struct http_request {
	enum http_method method;
	char path[HTTP_MAX_PATH];
	const char *body; /* points into the parse buffer */
	size_t body_len;
	bool has_content_length;
	bool close; /* "Connection: close", or HTTP/1.0 without keep-alive */
	bool expect_continue; /* "Expect: 100-continue" (set even when 0 is
				 returned once the headers are complete) */
};

/* Parses one request at the start of buf. Returns the number of bytes it
 * spans when complete, 0 when more bytes are needed, or -status (400,
 * 413...) for a malformed or oversized request; *why then says what. */
MUST_CHECK long http_parse_request(const char *buf, size_t len, size_t max_body,
				   struct http_request *req, const char **why);
/* Formats a response into a malloc'd buffer; *out_len gets its length.
 * body may be NULL (no body). */
char *http_format_response(int status, const char *body, bool deprecation,
			   size_t *out_len);

/* ---- routes.c: method + path + body -> typed request ---- */
/* Turns a parsed HTTP request into a typed one. Returns 0, or fills resp
 * with the error (400 + fault_message) and returns -EINVAL. */
MUST_CHECK int route_request(const struct http_request *http,
			     struct api_request *req,
			     struct api_response *resp);

/* ---- server.c: the API thread ---- */
struct api_server;
/* Binds and listens on path (which must not exist yet), then starts the API
 * thread. Returns NULL with errno set on failure. */
struct api_server *api_server_start(const char *path, size_t max_body,
				    struct api_channel *ch);
/* Stops the thread, closes every connection and unlinks the socket. */
void api_server_stop(struct api_server *s);

#endif
