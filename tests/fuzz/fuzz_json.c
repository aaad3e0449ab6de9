// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: one JSON body sent to every PUT/PATCH route (the first
 * byte picks the route), through route_request and the resource parsers,
 * then serialised back with config_to_json when it is a drive or iface. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
	enum http_method method;
	const char *path;
} routes[] = {
	{ HTTP_PUT, "/actions" },
	{ HTTP_PUT, "/boot-source" },
	{ HTTP_PUT, "/machine-config" },
	{ HTTP_PATCH, "/machine-config" },
	{ HTTP_PUT, "/drives/a" },
	{ HTTP_PATCH, "/drives/a" },
	{ HTTP_PUT, "/network-interfaces/a" },
	{ HTTP_PATCH, "/network-interfaces/a" },
	{ HTTP_PUT, "/vsock" },
	{ HTTP_PUT, "/entropy" },
	{ HTTP_PUT, "/logger" },
	{ HTTP_PUT, "/metrics" },
	{ HTTP_PATCH, "/vm" },
	{ HTTP_PUT, "/snapshot/create" },
	{ HTTP_PUT, "/snapshot/load" },
};

static void apply(const struct api_request *req)
{
	static struct vm_config cfg;
	struct config_err e;
	char *json;

	if (req->op == OP_PUT_DRIVE &&
	    config_put_drive(&cfg, &req->u.drive, &e))
		return;
	if (req->op == OP_PUT_NET && config_put_net(&cfg, &req->u.net, &e))
		return;
	if (req->op == OP_PATCH_MACHINE &&
	    config_patch_machine(&cfg, &req->u.machine, &e))
		return;
	json = config_to_json(&cfg);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request http = { 0 };
	struct api_request req;
	struct api_response resp = { 0 };

	if (size < 1)
		return 0;
	http.method =
		routes[data[0] % (sizeof(routes) / sizeof(routes[0]))].method;
	strcpy(http.path,
	       routes[data[0] % (sizeof(routes) / sizeof(routes[0]))].path);
	http.body = (const char *)data + 1;
	http.body_len = size - 1;
	if (!route_request(&http, &req, &resp))
		apply(&req);
	free(resp.body);
	return 0;
}
