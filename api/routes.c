// SPDX-License-Identifier: Apache-2.0
/* The route table: method + path + JSON body -> a typed api_request, or a
 * 400 with {"fault_message"} saying what is wrong. Runs on the API thread. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static int parse_action(const cJSON *j, struct api_request *req,
			struct config_err *e)
{
	static const char *const names[] = { "InstanceStart", "SendCtrlAltDel",
					     "FlushMetrics", NULL };
	static const enum api_op ops[] = { OP_INSTANCE_START,
					   OP_SEND_CTRL_ALT_DEL,
					   OP_FLUSH_METRICS };
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "action_type");
	unsigned i;

	if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != 1 ||
	    !cJSON_IsString(t))
		return config_fail(
			e,
			"actions: expected {\"action_type\": \"InstanceStart\" | \"SendCtrlAltDel\" | \"FlushMetrics\"}");
	for (i = 0; names[i]; i++) {
		if (!strcmp(t->valuestring, names[i])) {
			req->op = ops[i];
			return 0;
		}
	}
	return config_fail(e, "actions.action_type: unknown action '%s'",
			   t->valuestring);
}

static int parse_vm_state(const cJSON *j, struct api_request *req,
			  struct config_err *e)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "state");

	if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != 1 ||
	    !cJSON_IsString(s))
		return config_fail(
			e,
			"vm: expected {\"state\": \"Paused\" | \"Resumed\"}");
	if (!strcmp(s->valuestring, "Paused"))
		req->u.pause = true;
	else if (!strcmp(s->valuestring, "Resumed"))
		req->u.pause = false;
	else
		return config_fail(
			e, "vm.state: '%s' is not one of Paused, Resumed",
			s->valuestring);
	return 0;
}

/* PUT /snapshot/rewind, microvm's own: {"resume_vm": bool}, which may be
 * left out (false), as in /snapshot/load. */
static int parse_rewind(const cJSON *j, struct api_request *req,
			struct config_err *e)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "resume_vm");

	if (!cJSON_IsObject(j) || cJSON_GetArraySize(j) != (r ? 1 : 0) ||
	    (r && !cJSON_IsBool(r)))
		return config_fail(
			e,
			"snapshot/rewind: expected {\"resume_vm\": true | false}");
	req->u.rewind_resume = cJSON_IsTrue(r);
	return 0;
}

/* Checks that the id in the path equals the one the body carries. */
static int check_path_id(const char *path_id, const char *body_id,
			 const char *what, struct config_err *e)
{
	if (strcmp(path_id, body_id))
		return config_fail(
			e,
			"the %s in the path ('%s') differs from the one in the body ('%s')",
			what, path_id, body_id);
	return 0;
}

/* Resources with an id in the path. */
struct id_route {
	const char *prefix; /* "/drives/" */
	const char *where; /* the resource in messages */
	const char *key; /* the body's id field */
	const struct schema *schema;
	enum api_op put, patch;
};

static const struct id_route id_routes[] = {
	{ "/drives/", "drive", "drive_id", &drive_schema, OP_PUT_DRIVE,
	  OP_PATCH_DRIVE },
	{ "/network-interfaces/", "network-interface", "iface_id", &net_schema,
	  OP_PUT_NET, OP_PATCH_NET },
};

/* Returns -ENOENT when the path is none of id_routes. */
static int route_with_id(const char *path, enum http_method m, const cJSON *j,
			 struct api_request *req, struct config_err *e)
{
	const struct id_route *r = id_routes, *end = r + ARRAY_SIZE(id_routes);
	bool patch = m == HTTP_PATCH;
	const char *id;
	int ret;

	while (r < end && strncmp(path, r->prefix, strlen(r->prefix)))
		r++;
	if (r == end)
		return -ENOENT;
	id = path + strlen(r->prefix);
	if (!config_valid_id(id))
		return config_fail(
			e, "invalid id in path '%s': use 1-63 of [A-Za-z0-9_]",
			path);
	req->op = patch ? r->patch : r->put;
	ret = config_read(r->schema, j, r->where, patch, &req->u,
			  &req->deprecated, e);
	return ret ? ret :
		     check_path_id(id, config_key(r->schema, patch, &req->u),
				   r->key, e);
}

struct body_route {
	enum http_method method;
	const char *path; /* without its '/': the resource in messages */
	enum api_op op;
	const struct schema *schema; /* NULL: parsed here (/actions...) */
};

/* PUT and PATCH routes without an id in the path. */
static const struct body_route body_routes[] = {
	{ HTTP_PUT, "/actions", OP_INSTANCE_START, NULL }, /* by the body */
	{ HTTP_PUT, "/boot-source", OP_PUT_BOOT_SOURCE, &boot_source_schema },
	{ HTTP_PUT, "/machine-config", OP_PUT_MACHINE, &machine_schema },
	{ HTTP_PATCH, "/machine-config", OP_PATCH_MACHINE, &machine_schema },
	{ HTTP_PUT, "/cpu-config", OP_PUT_CPU_CONFIG, NULL }, /* a template */
	{ HTTP_PUT, "/vsock", OP_PUT_VSOCK, &vsock_schema },
	{ HTTP_PUT, "/entropy", OP_PUT_ENTROPY, &entropy_schema },
	{ HTTP_PUT, "/logger", OP_PUT_LOGGER, &logger_schema },
	{ HTTP_PUT, "/metrics", OP_PUT_METRICS, &metrics_schema },
	{ HTTP_PATCH, "/vm", OP_PATCH_VM, NULL },
	{ HTTP_PUT, "/snapshot/create", OP_SNAPSHOT_CREATE,
	  &snapshot_create_schema },
	{ HTTP_PUT, "/snapshot/load", OP_SNAPSHOT_LOAD, &snapshot_load_schema },
	{ HTTP_PUT, "/snapshot/rewind", OP_SNAPSHOT_REWIND, NULL },
	{ HTTP_PUT, "/mmds/config", OP_PUT_MMDS_CONFIG, &mmds_schema },
	{ HTTP_PUT, "/balloon", OP_PUT_BALLOON, &balloon_schema },
	{ HTTP_PATCH, "/balloon", OP_PATCH_BALLOON, &balloon_schema },
	{ HTTP_PATCH, "/balloon/statistics", OP_PATCH_BALLOON_STATS,
	  &balloon_stats_schema },
	{ HTTP_PUT, "/hotplug/memory", OP_PUT_HOTPLUG, &hotplug_schema },
	{ HTTP_PATCH, "/hotplug/memory", OP_PATCH_HOTPLUG,
	  &hotplug_patch_schema },
};

static int parse_body(const struct body_route *r, const cJSON *j,
		      struct api_request *req, struct config_err *e)
{
	int ret;

	req->op = r->op;
	if (r->schema) {
		ret = config_read(r->schema, j, r->path + 1,
				  r->method == HTTP_PATCH, &req->u,
				  &req->deprecated, e);
		if (r->op == OP_PUT_MMDS_CONFIG) /* as Firecracker says */
			req->deprecated = !req->u.mmds_cfg.v2; /* V1 */
		return ret;
	}
	if (r->op == OP_INSTANCE_START)
		return parse_action(j, req, e);
	if (r->op == OP_PUT_CPU_CONFIG)
		return cpu_template_parse(j, &req->u.cpu_config, e);
	if (r->op == OP_SNAPSHOT_REWIND)
		return parse_rewind(j, req, e);
	return parse_vm_state(j, req, e);
}

/* PUT and PATCH routes; -ENOENT when none matches. */
static int route_body(const char *path, enum http_method m, const cJSON *j,
		      struct api_request *req, struct config_err *e)
{
	unsigned i;

	for (i = 0; i < sizeof(body_routes) / sizeof(body_routes[0]); i++) {
		if (body_routes[i].method == m &&
		    !strcmp(body_routes[i].path, path))
			return parse_body(&body_routes[i], j, req, e);
	}
	return route_with_id(path, m, j, req, e);
}

static int route_get(const char *path, struct api_request *req)
{
	if (!strcmp(path, "/"))
		req->op = OP_GET_INFO;
	else if (!strcmp(path, "/version"))
		req->op = OP_GET_VERSION;
	else if (!strcmp(path, "/machine-config"))
		req->op = OP_GET_MACHINE;
	else if (!strcmp(path, "/vm/config"))
		req->op = OP_GET_VM_CONFIG;
	else if (!strcmp(path, "/mmds"))
		req->op = OP_GET_MMDS;
	else if (!strcmp(path, "/balloon"))
		req->op = OP_GET_BALLOON;
	else if (!strcmp(path, "/balloon/statistics"))
		req->op = OP_GET_BALLOON_STATS;
	else if (!strcmp(path, "/hotplug/memory"))
		req->op = OP_GET_HOTPLUG;
	else
		return -ENOENT;
	return 0;
}

static int route_with_body(const struct http_request *http,
			   struct api_request *req, struct api_response *resp)
{
	struct config_err e = { "" };
	cJSON *j = cJSON_ParseWithLength(http->body, http->body_len);
	int ret;

	if (!j) {
		api_error(resp, 400, "invalid JSON body");
		return -EINVAL;
	}
	if (!strcmp(http->path, "/mmds")) { /* any JSON: the store's data */
		req->op = http->method == HTTP_PUT ? OP_PUT_MMDS :
						     OP_PATCH_MMDS;
		req->u.mmds_data = j; /* api_request_release frees it */
		return 0;
	}
	ret = route_body(http->path, http->method, j, req, &e);
	cJSON_Delete(j);
	if (ret == -ENOENT) {
		req->op = OP_UNKNOWN;
		api_error(resp, 400,
			  "Invalid request method and/or path: %s %s",
			  http->method == HTTP_PUT ? "PUT" : "PATCH",
			  http->path);
	} else if (ret) {
		api_error(resp, 400, "%s", e.msg);
	}
	return ret ? -EINVAL : 0;
}

/* PATCH /balloon/hinting/start's optional body, as Firecracker's
 * BalloonStartCmd: {"acknowledge_on_stop": bool}, true when not given. */
static int parse_hint_start(const struct http_request *http,
			    struct api_request *req, struct api_response *resp)
{
	cJSON *j = NULL, *ack = NULL;
	int ret = 0;

	req->u.hint_ack_on_stop = true;
	if (!http->body_len)
		return 0;
	j = cJSON_ParseWithLength(http->body, http->body_len);
	if (cJSON_IsObject(j))
		ack = cJSON_GetObjectItemCaseSensitive(j,
						       "acknowledge_on_stop");
	if (!cJSON_IsObject(j) || (ack && !cJSON_IsBool(ack))) {
		api_error(
			resp, 400,
			"balloon/hinting/start: expected {\"acknowledge_on_stop\": bool}");
		ret = -EINVAL;
	} else if (ack) {
		req->u.hint_ack_on_stop = cJSON_IsTrue(ack);
	}
	cJSON_Delete(j);
	return ret;
}

/* /balloon/hinting/{start,stop,status}: 1 when the path is another one.
 * The stop's body, if any, is ignored (as Firecracker does). */
static int route_hinting(const struct http_request *http,
			 struct api_request *req, struct api_response *resp)
{
	bool patch = http->method == HTTP_PATCH;

	if (strncmp(http->path, "/balloon/hinting/", 17))
		return 1;
	if (patch && !strcmp(http->path + 17, "start")) {
		req->op = OP_BALLOON_HINT_START;
		return parse_hint_start(http, req, resp);
	}
	if (patch && !strcmp(http->path + 17, "stop")) {
		req->op = OP_BALLOON_HINT_STOP;
		return 0;
	}
	if (http->method == HTTP_GET && !http->body_len &&
	    !strcmp(http->path + 17, "status")) {
		req->op = OP_GET_BALLOON_HINTING;
		return 0;
	}
	api_error(resp, 400, "Invalid request method and/or path: %s",
		  http->path);
	return -EINVAL;
}

int route_request(const struct http_request *http, struct api_request *req,
		  struct api_response *resp)
{
	int ret;

	memset(req, 0, sizeof(*req));
	req->op = OP_UNKNOWN;
	ret = route_hinting(http, req, resp);
	if (ret <= 0)
		return ret;
	if (http->method == HTTP_GET) {
		if (http->body_len) {
			api_error(resp, 400, "GET requests take no body");
			return -EINVAL;
		}
		if (!route_get(http->path, req))
			return 0;
	} else if (http->method != HTTP_OTHER) {
		if (!http->body_len) {
			api_error(resp, 400, "%s %s needs a JSON body",
				  http->method == HTTP_PUT ? "PUT" : "PATCH",
				  http->path);
			return -EINVAL;
		}
		return route_with_body(http, req, resp);
	}
	api_error(resp, 400, "Invalid request method and/or path");
	return -EINVAL;
}
