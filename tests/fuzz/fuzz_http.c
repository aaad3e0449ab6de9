// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: bytes from a client -> the HTTP parser, and every
 * complete request -> the router and the JSON handlers behind it. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0;

	while (off < size) {
		struct http_request http;
		struct api_request req;
		struct api_response resp = { 0 };
		const char *why;
		long n = http_parse_request(buf + off, size - off, 4096, &http,
					    &why);

		if (n <= 0)
			break;
		if (!route_request(&http, &req, &resp) && resp.body)
			abort(); /* a routed request carries no error body */
		free(resp.body);
		off += (size_t)n;
	}
	return 0;
}
